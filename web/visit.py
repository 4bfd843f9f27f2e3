"""One request's unit of work: its session, its CSRF check and its database transaction.

A route parses its input first, then calls `visit()` with a plain synchronous function that does
all of the request's database work on one connection, then renders. The session is loaded and
saved on that same connection (inside the write transaction when there is one), so a failed
request changes neither the cart nor the session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from litestar import Request
from sqlalchemy import Connection

from web.db import Database
from web.headers import cookie, header
from web.metrics import Metrics
from web.problems import Forbidden
from web.sessions import Session, SessionStore
from web.settings import Settings

T = TypeVar("T")
SAFE_FETCH_SITES = {"same-origin", "none"}


class CsrfRejected(Forbidden):
    code = "CSRF_FAILED"


@dataclass
class Visit:
    conn: Connection
    session: Session
    settings: Settings
    db: Database
    now: int
    metrics: Metrics
    in_write: bool = False

    @contextmanager
    def writing(self) -> Iterator[None]:
        """The unit's write transaction, opened once however often it is asked for."""
        if self.in_write:
            yield
            return
        with self.db.write(self.conn):
            self.in_write = True
            try:
                yield
            finally:
                self.in_write = False


@dataclass
class Shop:
    """Everything a request's unit of work needs, built once by create_app()."""

    settings: Settings
    db: Database
    sessions: SessionStore
    metrics: Metrics


def check_origin(request: Request) -> None:
    """Refuse unsafe requests that a browser says come from another site."""
    origin = header(request, "origin")
    expected = f"{request.scope['scheme']}://{header(request, 'host') or ''}"
    fetch_site = header(request, "sec-fetch-site")
    if (origin is not None and origin != expected) or (fetch_site is not None and fetch_site not in SAFE_FETCH_SITES):
        request.app.state.shop.metrics.csrf_rejections.inc()
        raise CsrfRejected("This form was sent from another site, so it was refused.")


async def visit(
    request: Request,
    work: Callable[[Visit], T],
    *,
    write: bool = False,
    csrf: str | bool | None = False,
) -> T:
    """Run `work` as this request's unit of work.

    `csrf=False` skips the token check (safe methods, and /api whose JSON content type is its
    defence); otherwise `csrf` is the token the client sent and must match the session's.
    """
    shop: Shop = request.app.state.shop
    session_id = cookie(request, shop.settings.cookie_name)
    if csrf is not False:
        check_origin(request)

    def checked(conn: Connection) -> Session:
        session = shop.sessions.load(conn, session_id)
        if csrf is not False and not session.csrf_matches(csrf if isinstance(csrf, str) else None):
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
                result = work(Visit(conn, session, shop.settings, shop.db, now, shop.metrics, in_write=True))
                shop.sessions.save(conn, session)
            return result, session
        session = checked(conn)
        result = work(Visit(conn, session, shop.settings, shop.db, now, shop.metrics))
        if session.changed and not session.is_new:
            with shop.db.write(conn):
                shop.db.serialise(conn, session.id)
                shop.sessions.save(conn, session, merge=True)
        else:
            shop.sessions.save(conn, session)
        return result, session

    result, session = await shop.db.run(unit)
    request.scope.setdefault("state", {})["session"] = session
    return result
