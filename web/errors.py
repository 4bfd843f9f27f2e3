"""Every failure as the client can read it: a page, an htmx toast, or JSON under /api.

Shoppers never see a traceback; unexpected errors are logged with the request path and answered
with a generic 500. A database that is down or locked for too long answers 503 with Retry-After.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.status_codes import HTTP_405_METHOD_NOT_ALLOWED, HTTP_413_REQUEST_ENTITY_TOO_LARGE
from redis.exceptions import RedisError

from web.db import DatabaseUnavailable
from web.forms import safe_next
from web.headers import header
from web.pages import current_path, go_to, html, is_htmx, renderer, split_url
from web.problems import LoginRequired, Problem
from web.visit import REQUEST_ID_KEY

log = logging.getLogger("storefront")
RETRY_AFTER_SECONDS = "5"

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
) -> Response[Any]:
    """The answer; `error_id` (a failure on our side) is shown for the shopper to quote, and is the
    id its log line names."""
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
    }
    if is_htmx(request):
        # The target keeps its content; the message arrives out of band in the toast region.
        headers["HX-Reswap"] = "none"
        return html(renderer(request).render("partials/toast.html", {**context, "oob": True}), status, headers)
    page = {**context, "cart": None, "csrf_token": "", "flashes": [], "drawer_open": False}
    return html(renderer(request).render("errors/error.html", page), status, headers)


def is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


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
    return respond(request, error.status, error.message, error.code, error.field, headers, error.details(), failure)


def http_handler(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    status = error.status_code
    if status >= 500:
        return server_error_handler(request, error)
    if isinstance(error, NotFoundException) and error.detail in ("Not Found", ""):
        message = "There is no page at this address."
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
    message = "Something went wrong on our side. Please try again."
    return respond(request, 500, message, "INTERNAL_ERROR", error_id=failure)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    LoginRequired: login_required_handler,
    Problem: problem_handler,
    HTTPException: http_handler,
    DatabaseUnavailable: unavailable_handler,
    RedisError: unavailable_handler,
    Exception: server_error_handler,
}
