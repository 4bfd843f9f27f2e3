"""Every failure as the client can read it: a page, an htmx toast, or JSON under /api.

Shoppers never see a traceback; unexpected errors are logged with the request path and answered
with a generic 500. A database that is down or locked for too long answers 503 with Retry-After.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from litestar import HttpMethod, Request, Response, route
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.status_codes import HTTP_405_METHOD_NOT_ALLOWED, HTTP_413_REQUEST_ENTITY_TOO_LARGE
from redis.exceptions import RedisError

from web.db import DatabaseUnavailable
from web.forms import safe_next
from web.headers import header, is_api, is_htmx
from web.pages import current_path, go_to, html, renderer, split_url
from web.problems import LoginRequired, NotFound, Problem
from web.template_faults import TemplateFault, template_fault
from web.unit import Visit
from web.visit import REQUEST_ID_KEY, visit

log = logging.getLogger("storefront")
RETRY_AFTER_SECONDS = "5"
NO_PAGE = "There is no page at this address."

TITLES = {
    400: "That did not look right",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Not possible right now",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Back in a moment",
}
CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE", 500: "INTERNAL_ERROR"}
HTML_SIGNIFICANT = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def safe_json(body: dict[str, Any]) -> bytes:
    """JSON whose echoed values (a product id from the URL, say) can never be read as markup."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).translate(HTML_SIGNIFICANT).encode()


def respond(
    request: Request[Any, Any, Any],
    status: int,
    message: str,
    code: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    details: dict[str, object] | None = None,
    error_id: str | None = None,
    fault: TemplateFault | None = None,
    layout: dict[str, object] | None = None,
) -> Response[Any]:
    """The answer; `error_id` (a failure on our side) is shown for the shopper to quote, and is the
    id its log line names. `fault` (development only) is the template that failed, for the designer.
    `layout` is what the page's header shows of the visitor, when the unit that refused read it."""
    headers = dict(headers or {})
    if is_api(request):
        body: dict[str, Any] = {"error": code, "message": message, **(details or {})}
        if field:
            body["field"] = field
        if error_id:
            body["errorId"] = error_id
        return Response(safe_json(body), status_code=status, media_type=MediaType.JSON, headers=headers)
    context = {
        "status": status,
        "title": TITLES.get(status, "Error"),
        "message": message,
        "level": "error",
        "error_id": error_id,
        "template_fault": fault,
    }
    if is_htmx(request):
        # The target keeps its content; the message arrives out of band in the toast region, or
        # for a form in the open cart drawer, in the drawer's own (the page behind it is out of reach).
        headers["HX-Reswap"] = "none"
        # (A tab's background refresh of a closed drawer is a GET: its refusal goes to the page's.)
        from_drawer = header(request, "hx-target") == "cart-drawer" and request.method == "POST"
        region = "cart-drawer-status" if from_drawer else "toast"
        toast = {**context, "oob": True, "region": region}
        return html(renderer(request).render("partials/toast.html", toast), status, headers)
    if layout is not None:
        # A page that is not there, read for a visitor the unit knew: the header stays as on every page.
        page = renderer(request).shown_at(current_path(request), {**layout, **context})
    else:
        page = {**context, "cart": None, "csrf_token": "", "flashes": [], "drawer_open": False}
    try:
        return html(renderer(request).render("errors/error.html", page), status, headers)
    except Exception:
        if fault is None:
            raise
        # The broken template is one the error page uses too (base.html, say): the designer still
        # needs to read where.
        return Response(message, status_code=status, media_type=MediaType.TEXT, headers=headers)


def return_address(request: Request[Any, Any, Any]) -> str:
    """Where to come back to after logging in: the page asked for (an htmx request's page), or for a
    plain form the page it was sent from when that is ours."""
    if is_htmx(request) or request.method in ("GET", "HEAD"):
        return safe_next(current_path(request))
    referer = split_url(header(request, "referer") or "")
    if referer is None or (referer.netloc and referer.netloc != header(request, "host")):
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))


def login_required_handler(request: Request[Any, Any, Any], error: LoginRequired) -> Response[Any]:
    """Pages send the visitor to log in and back (htmx by HX-Redirect, as a 303 would replace only
    the target); /api answers 401."""
    if is_api(request):
        return problem_handler(request, error)
    return go_to(request, f"/login?next={quote(return_address(request), safe='/')}")


def problem_handler(request: Request[Any, Any, Any], error: Problem) -> Response[Any]:
    retry_after = getattr(error, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    failure = error_id(request) if error.status >= 500 else None  # ours to look into: a 503 shows its id
    return respond(
        request,
        error.status,
        error.message,
        error.code,
        error.field,
        headers,
        error.details(),
        failure,
        layout=error.layout,
    )


def http_handler(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    status = error.status_code
    if status >= 500:
        return server_error_handler(request, error)
    if isinstance(error, NotFoundException) and error.detail in ("Not Found", ""):
        message = NO_PAGE
    elif status == HTTP_405_METHOD_NOT_ALLOWED:
        message = f"This address does not accept {request.method} requests."
    elif status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        message = "That request is too large."
    elif status == 400:
        message = "The request could not be understood. Check the address and the values sent."
    else:
        message = error.detail
    headers = {k: v for k, v in (error.headers or {}).items() if k.lower() in {"allow", "retry-after"}}
    return respond(request, status, message, CODES.get(status, "ERROR"), headers=headers)


def error_id(request: Request[Any, Any, Any]) -> str:
    """The request's id (web/ops.py's, in the access line too), which names a failure on our side."""
    return str(request.scope.get("state", {}).get(REQUEST_ID_KEY, "-"))


def unavailable_handler(request: Request[Any, Any, Any], error: DatabaseUnavailable | RedisError) -> Response[Any]:
    """The database or the session store is down, or locked for too long: the unit of work rolled
    back, so nothing was changed, and no session (nor cookie) was made."""
    failure = error_id(request)
    store = "database" if isinstance(error, DatabaseUnavailable) else "session store"
    log.warning("error %s: %s unavailable on %s %s: %s", failure, store, request.method, request.url.path, error)
    return respond(
        request,
        503,
        "The shop is busy or under maintenance. Nothing was changed; please try again in a few seconds.",
        "UNAVAILABLE",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
        error_id=failure,
    )


def server_error_handler(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    failure = error_id(request)
    log.exception("error %s: unhandled on %s %s", failure, request.method, request.url.path, exc_info=error)
    out = renderer(request)
    fault = template_fault(error, out.templates_dir) if out.shows_template_faults else None
    message = "Something went wrong on our side. Please try again." if fault is None else str(fault)
    return respond(request, 500, message, "INTERNAL_ERROR", error_id=failure, fault=fault)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    LoginRequired: login_required_handler,
    Problem: problem_handler,
    HTTPException: http_handler,
    DatabaseUnavailable: unavailable_handler,
    RedisError: unavailable_handler,
    Exception: server_error_handler,
}


def no_page(_visit: Visit) -> Response[Any]:
    raise NotFound(NO_PAGE)


@route("/{rest:path}", http_method=list(HttpMethod), name="errors.no_page", include_in_schema=False)
async def no_page_here(request: Request[Any, Any, Any]) -> Response[Any]:
    """Any address under no route of the shop's: the 404, read in a unit of work for a page, so that
    it keeps the header (links, "Deliver to", the cart badge) as every page does. (An address under
    a route's prefix, /products/a/b, is Litestar's own 404: the plain error page.)"""
    if request.method not in ("GET", "HEAD"):
        raise NotFound(NO_PAGE)
    return await visit(request, no_page)
