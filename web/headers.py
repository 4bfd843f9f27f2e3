"""Request headers and the session cookie, read straight from the ASGI scope.

Litestar's `request.headers` decodes every header into a case-insensitive multidict on first use,
and `request.cookies` parses every cookie: together about 5 µs a request, more than the few
headers a request of ours reads cost to find in the raw list (bench/README.md). Names are given in
lower case, as ASGI servers pass them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection

# A page that needs a policy of its own (the development API docs) puts it in the scope's state
# under this key; finish_headers (web/app.py) sends it instead of the site's.
OWN_POLICY = "content_security_policy"


def header(request: ASGIConnection[Any, Any, Any, Any], name: str) -> str | None:
    """The first value of a header, or None when the request has none."""
    return raw_header(request.scope["headers"], name)


def raw_header(headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    """The first value of a header in an ASGI header list, or None."""
    wanted = name.encode("latin-1")
    for key, value in headers:
        if key == wanted:
            return str(value.decode("latin-1"))
    return None


def is_htmx(request: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """An htmx request that wants a fragment; a history restore (Back, with htmx's cache off) wants the page."""
    return header(request, "hx-request") == "true" and header(request, "hx-history-restore-request") != "true"


def is_api(request: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """A call to the JSON API (/api and below): its answers, refusals included, are JSON."""
    path = request.scope["path"]
    return bool(path == "/api" or path.startswith("/api/"))


def media_type(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The Content-Type without its parameters, in lower case ("" when there is none)."""
    return (header(request, "content-type") or "").split(";", 1)[0].strip().lower()


def cookie(request: ASGIConnection[Any, Any, Any, Any], name: str) -> str | None:
    """The value of the named cookie (the last one when a browser sends the name twice), or None."""
    found = None
    for raw in request.scope["headers"]:
        if raw[0] == b"cookie":
            for pair in raw[1].decode("latin-1").split(";"):
                key, _, value = pair.partition("=")
                if key.strip() == name:
                    found = value.strip()
    return found
