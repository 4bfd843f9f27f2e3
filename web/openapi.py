"""The API's OpenAPI document, `GET /api/openapi.json`, built from the routes themselves: each /api
handler's path, methods, docstring and status, and from its `opt` the shapes of web/api_types.py it
decodes ("body") and answers ("answer"), its query parameters and headers. In development
`GET /api/docs` shows it with RapiDoc (a vendored file, as htmx is), to read and to try.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router, get
from litestar.routes import HTTPRoute

from web import api_types
from web.forms import MAX_ID
from web.headers import OWN_POLICY
from web.pages import html, renderer

VERSION = "1"
# RapiDoc styles its elements inline: the docs page (development only) allows inline styles, and
# nothing more than the site's policy otherwise (scripts from this site alone).
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
PARAMETER = re.compile(r"{(?P<name>\w+):(?P<kind>\w+)}")
PATH_SCHEMAS = {"int": {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "str": {"type": "string"}}
DESCRIPTION = """\
The shop's JSON API: the same cart, orders and rules as its pages, for scripts and other programs.

- **Who you are** is the `session` cookie, as in a browser: log in with `POST /api/auth/email-login`,
  keep the cookie it sets, send it back. A guest's cart is the session's; logging in merges it.
- **Unsafe calls** (POST, PATCH, DELETE) send `Content-Type: application/json`, and an `Origin`
  header, when sent, must be the shop's own. Bodies are JSON objects, strictly typed: `"2"` is not a
  number, `2.0` is not a whole one.
- **Money** is in cents of the shop's currency (`totals.currency`).
- **Every refusal** is `{"error", "message", "field"?}` with a 4xx status; the shop's own failures
  are 5xx with an `errorId` naming the log line, and 503 with `Retry-After` when it is busy.
"""


def path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": found["name"], "in": "path", "required": True, "schema": PATH_SCHEMAS[found["kind"]]}
        for found in PARAMETER.finditer(path)
    ]


def operation(handler: Any, path: str, method: str) -> dict[str, Any]:
    opt = handler.opt
    doc = (handler.fn.__doc__ or "").strip()
    summary, _, rest = doc.partition("\n\n")
    answer = opt.get("answer")
    success: dict[str, Any] = {"description": "Done."}
    if answer is not None:
        success["content"] = {"application/json": {"schema": reference(answer)}}
    parameters = path_parameters(path)
    parameters += [{"name": name, "in": "query", **spec} for name, spec in opt.get("query", {}).items()]
    parameters += [{"name": name, "in": "header", **spec} for name, spec in opt.get("headers", {}).items()]
    described: dict[str, Any] = {
        "operationId": (handler.name or handler.fn.__name__).removeprefix("api."),
        "summary": " ".join(summary.split()),
        "tags": [opt.get("tag", "shop")],
        "parameters": parameters,
        "responses": {
            str(handler.status_code): success,
            **(
                {"200": {**success, "description": "The same call again: what it did the first time."}}
                if opt.get("replayable")
                else {}
            ),
            "default": {
                "description": "Refused (4xx) or failed (5xx): nothing was changed.",
                "content": {"application/json": {"schema": reference(api_types.Error)}},
            },
        },
    }
    if rest.strip():
        described["description"] = " ".join(rest.split())
    body = opt.get("body")
    if body is not None:
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": reference(body)}}}
    if method != "GET" or opt.get("tag") == "staff":
        described["security"] = [{"session": []}]
    return described


def reference(shape: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{shape.__name__}"}


def document(app: Litestar) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of the app's /api routes (those that document themselves)."""
    paths: dict[str, dict[str, Any]] = {}
    shapes: set[type[msgspec.Struct]] = {api_types.Error}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/"):
            continue
        for handler in route.route_handlers:
            if "answer" not in handler.opt and "body" not in handler.opt:
                continue  # not part of the published API (the schema itself, development helpers)
            path = PARAMETER.sub(lambda found: "{" + found["name"] + "}", route.path)
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                paths.setdefault(path, {})[method.lower()] = operation(handler, route.path, method)
            shapes.update(handler.opt[key] for key in ("answer", "body") if key in handler.opt)
    _refs, schemas = msgspec.json.schema_components(
        sorted(shapes, key=lambda shape: shape.__name__), ref_template="#/components/schemas/{name}"
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "storefront API", "version": VERSION, "description": DESCRIPTION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"}},
        },
    }


def encoded(app: Litestar) -> bytes:
    """The document as JSON, made on its first request and kept with the app (its routes never change)."""
    found: bytes | None = getattr(app.state, "openapi_json", None)
    if found is None:
        found = app.state.openapi_json = msgspec.json.encode(document(app))
    return found


@get("/api/openapi.json", name="api.openapi", include_in_schema=False)
async def openapi_json(request: Request) -> Response[bytes]:
    """The OpenAPI document; it names no session, so it is the same for every visitor."""
    return Response(encoded(request.app), media_type="application/json")


@get("/api/docs", name="api.docs", include_in_schema=False)
async def api_docs(request: Request) -> Response[str]:
    """Development only: the OpenAPI document to read and try, in RapiDoc."""
    request.scope["state"][OWN_POLICY] = DOCS_POLICY
    return html(renderer(request).render("api/docs.html", {}))


def router(development: bool) -> Router:
    return Router(path="/", route_handlers=[openapi_json, *([api_docs] if development else [])])
