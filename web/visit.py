"""One request's unit of work over HTTP: its session, its CSRF check and its database transaction.

A route parses its input first, then calls `visit()` with a plain synchronous function that does
all of the request's database work on one connection (web/unit.py's Visit), then renders. The
session is loaded and saved on that same connection (inside the write transaction when there is
one; a session kept in Redis is written once that transaction has committed, still serialised), so
a failed request changes neither the cart nor the session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from litestar import Request
from litestar.connection import ASGIConnection
from sqlalchemy import Connection

from web import owner
from web.headers import cookie, header, is_api, is_htmx
from web.problems import CsrfRejected, NotFound
from web.sessions import Session, short_hash
from web.unit import Shop, Visit

T = TypeVar("T")
log = logging.getLogger("storefront")
SAFE_FETCH_SITES = {"same-origin", "none"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# The key in a request's scope state that marks a GET run to answer a HEAD (web/ops.py sends only
# its headers): visit() then saves no session.
HEAD = "answering_head"
# The key in a request's scope state that holds its request id (web/ops.py, the access line's): a
# failed request's answer shows it as its error id, and the error's log line names it.
REQUEST_ID_KEY = "request_id"


@dataclass(frozen=True)
class FormToken:
    """The synchronizer token an HTML form or htmx request sent (None when it sent none), which
    visit() checks against the session's, together with the request's origin."""

    value: str | None


class JsonCall:
    """The CSRF defence of an /api call: require_json() has checked its JSON content type (a
    cross-site form cannot send it without a preflight we never grant) and its origin."""


JSON_CALL = JsonCall()


def shop_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Shop:
    """The shop a request is served by: what a handler needs outside its unit of work (the settings
    a form is parsed with, say). One plain lookup: Litestar's dependency injection costs about 4 µs
    a request more (docs/design.md §8, "Request context")."""
    return connection.app.state.shop  # type: ignore[no-any-return]


def form_token(request: Request, form: Any) -> FormToken:
    """The token an unsafe request carries: htmx's header, else the form's one hidden field."""
    sent = header(request, "x-csrf-token")
    if sent:
        return FormToken(sent)
    values = form.getall("csrf_token", [])
    return FormToken(values[0] if len(values) == 1 and isinstance(values[0], str) else None)


def check_origin(request: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Refuse unsafe requests that a browser says come from another site."""
    origin = header(request, "origin")
    expected = f"{request.scope['scheme']}://{header(request, 'host') or ''}"
    fetch_site = header(request, "sec-fetch-site")
    if (origin is not None and origin != expected) or (fetch_site is not None and fetch_site not in SAFE_FETCH_SITES):
        shop_of(request).metrics.csrf_rejections.inc()
        raise CsrfRejected("This form was sent from another site, so it was refused.")


async def visit(
    request: ASGIConnection[Any, Any, Any, Any],
    work: Callable[[Visit], T],
    *,
    write: bool = False,
    csrf: FormToken | JsonCall | None = None,
    keep_alive: bool = True,
) -> T:
    """Run `work` as this request's unit of work.

    `csrf` says how this request is defended against cross-site forgery: a FormToken is checked
    (with the origin) against the session's token; JSON_CALL is an /api call that require_json()
    checked. A write on an unsafe method must say one or the other: leaving it out is a bug, and
    is refused before anything runs.

    `keep_alive=False` is for what the shopper did not do: a live stream's looks read the session
    without refreshing its expiry, so an order page left open does not keep a login alive.
    """
    shop = shop_of(request)
    session_id = cookie(request, shop.settings.cookie_name)
    head = HEAD in request.scope.get("state", ())
    token = csrf if isinstance(csrf, FormToken) else None
    if token is not None:
        check_origin(request)
    elif csrf is None and write and request.scope.get("method") not in SAFE_METHODS:
        raise TypeError(f"{request.scope['path']}: an unsafe write needs csrf=FormToken(...) or csrf=JSON_CALL")

    def checked(conn: Connection) -> Session:
        session = shop.sessions.load(conn, session_id)
        if token is not None and not session.csrf_matches(token.value):
            shop.metrics.csrf_rejections.inc()
            raise CsrfRejected("Your session has expired or this form is out of date. Reload the page and try again.")
        return session

    def unit(conn: Connection) -> tuple[T, Session]:
        now = int(shop.sessions.now())
        if write:
            # The session is read inside the write transaction, serialised per session, so two
            # requests of one shopper cannot both create a cart or overwrite each other's changes.
            with shop.db.write(conn):
                if session_id:
                    shop.db.serialise(conn, session_id)
                session = checked(conn)
                done = Visit(conn, session, shop.settings, shop.db, now, shop.metrics, in_write=True)
                result = work(done)
                changed.extend(done.changed_orders)
                shop.sessions.save(conn, session)
            return result, session
        session = checked(conn)
        done = Visit(conn, session, shop.settings, shop.db, now, shop.metrics)
        try:
            result = work(done)
        except NotFound as missing:
            if shop.page_layout is not None and not is_htmx(request) and not is_api(request):  # a page's 404
                missing.layout = shop.page_layout(done)
                # The 404 page's forms carry this session's token: its cookie goes with the page.
                request.scope.setdefault("state", {})["session"] = session
            raise
        changed.extend(done.changed_orders)
        if head:
            return result, session  # a HEAD saves nothing: no new session, no refreshed expiry, no flash taken
        if session.changed and not session.minted:
            # Its browser holds this ID, so another of its requests may be saving it too.
            with shop.db.write(conn):
                shop.db.serialise(conn, session.id)
                shop.sessions.save(conn, session, merge=True)
        elif session.changed:
            shop.sessions.save(conn, session)
        elif keep_alive:
            # At most its expiry to refresh, which a later request can do as well: a database locked
            # by another process past the busy timeout skips it rather than failing the read.
            shop.db.unless_locked(lambda: shop.sessions.save(conn, session))
        return result, session

    changed: list[str] = []

    def unit_of(conn: Connection) -> tuple[T, Session]:
        changed.clear()  # a unit retried after a lost race announces only what its last run did
        return unit(conn)

    result, session = await shop.db.run(unit_of)
    state = request.scope.setdefault("state", {})
    state["session"] = session
    if session.save_error is not None:
        # What the database committed stands, and is answered as done; the session stays as it was.
        log.warning(
            "request %s: session %s not saved after its unit committed: %s",
            state.get(REQUEST_ID_KEY, "-"),
            short_hash(session_id),
            session.save_error,
        )
    for number in changed:
        shop.live.order_changed(number)
    if session_id and session.rotated:
        # Logged out, or rotated (logging in, a password change): the old ID's streams end. (A
        # cookie naming no stored session has no streams: nothing to announce.)
        shop.live.session_ended(session_id, signed_in=owner.signed_in(session) is not None)
    return result
