"""One request's unit of work, as the services see it: a connection, the session, the clock.

web/visit.py builds a Visit for each request and runs the route's work function with it; services
take it and know nothing of HTTP. Everything a unit needs lives on the Shop, made once by create_app().
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection

from web.db import Database
from web.mail import Postman
from web.metrics import Metrics
from web.sessions import Session, SessionStore
from web.settings import Settings


class Announcer(Protocol):
    """Where committed changes are announced to live streams (web/live.py; a no-op in scripts)."""

    def order_changed(self, number: str) -> None: ...

    def session_ended(self, session_id: str, *, signed_in: bool) -> None: ...


class Silent:
    def order_changed(self, number: str) -> None:
        pass

    def session_ended(self, session_id: str, *, signed_in: bool) -> None:
        pass


@dataclass
class Shop:
    """Everything a request's unit of work needs, built once by create_app()."""

    settings: Settings
    db: Database
    sessions: SessionStore
    metrics: Metrics
    # The background mail sender, rung after a commit that wrote mail (None when it does not run).
    postman: Postman | None = None
    # Tells open order streams, after a commit, that an order changed or a session ended.
    live: Announcer = field(default_factory=Silent)
    # What a page's layout shows of the visitor (web.pages.layout, which this layer cannot import):
    # a page's 404 renders with it, so the header, its links and the badge stay.
    page_layout: Callable[[Visit], dict[str, Any]] | None = None

    def mail_written(self) -> None:
        if self.postman is not None:
            self.postman.ring()


@dataclass
class Visit:
    conn: Connection
    session: Session
    settings: Settings
    db: Database
    now: int
    metrics: Metrics
    in_write: bool = False
    # Orders this unit changed (status, messages): announced to their live streams after it commits.
    changed_orders: list[str] = field(default_factory=list)

    def order_changed(self, number: str) -> None:
        """Say that this unit changed an order its streams show; visit() announces it after commit,
        so a stream never shows a change that was rolled back."""
        if number not in self.changed_orders:
            self.changed_orders.append(number)

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
