"""What an order's live stream shows, and to whom. No HTTP here (the stream is web/streams.py).

A stream is for the order's shopper (the same rule as the order page: orders.visible) or for staff
(any order). Each look at the order is a `Follow`: the order as it is now, and what changed since
the stream's cursor, the last status row and the last message it has shown. Both kinds of row have
ids that only grow, so the cursor is all a reconnecting stream needs to be given what it missed,
from the database, whatever the pub/sub lost meanwhile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from web import owner
from web.models import order_messages, users
from web.orders import messages, service
from web.problems import InvalidInput, NotFound
from web.unit import Visit

FINAL = ("delivered", "cancelled")
Side = messages.Side
CURSOR = re.compile(r"(\d{1,18})-(\d{1,18})")


@dataclass(frozen=True)
class Cursor:
    """Where a stream stands: the last status row and the last message it has shown (0 for none).
    Written "<status>-<message>" as the SSE event id, so a browser sends it back as Last-Event-ID."""

    status: int = 0
    message: int = 0

    @classmethod
    def parse(cls, raw: str | None) -> Cursor:
        if not raw:
            return cls()
        found = CURSOR.fullmatch(raw.strip())
        if found is None:
            raise InvalidInput("The stream position is written <status>-<message>, such as 3-0.", field="after")
        return cls(int(found[1]), int(found[2]))

    def __str__(self) -> str:
        return f"{self.status}-{self.message}"


@dataclass(frozen=True)
class Follow:
    """One look at a followed order: the order now, who looks, and what is new since `since`."""

    order: service.Order
    audience: str  # "shopper" or "staff"
    status_changed: bool
    messages: tuple[messages.Message, ...]
    cursor: Cursor

    @property
    def final(self) -> bool:
        """A delivered or cancelled order changes no more: its stream sends this and closes."""
        return self.order.status in FINAL


def page_cursor(conn: Connection, order: service.Order) -> str | None:
    """Where the stream of a page showing this order starts (what the page shows: its history and
    the thread so far); None for an order in a final state, which a page does not follow."""
    if order.status in FINAL:
        return None
    last = conn.execute(select(func.max(order_messages.c.id)).where(order_messages.c.order_id == order.id)).scalar()
    return str(Cursor(order.events[-1].id if order.events else 0, int(last or 0)))


def is_staff(v: Visit) -> bool:
    user = owner.resolve_owner(v).user_id
    return user is not None and bool(v.conn.execute(select(users.c.is_staff).where(users.c.id == user)).scalar())


def follow(v: Visit, number: str, since: Cursor, audience: Side = "shopper") -> Follow:
    """The order as this session may follow it from the `audience`'s page (the shopper's order
    page, or the staff's, for staff only), and what changed after `since`; NotFound for an order it
    may not see there (alike for one that does not exist), which also ends a stream whose session
    has logged out."""
    if audience == "staff" and not is_staff(v):
        raise NotFound("There is no order with that number.")
    order = service.by_number(v.conn, number) if audience == "staff" else service.visible(v, number)
    new = tuple(messages.since(v.conn, order.id, since.message))
    if any(message.author != audience for message in new):
        messages.mark_read(v, order.id, audience, new[-1].id)  # shown on the open page: read
    now = Cursor(order.events[-1].id if order.events else 0, new[-1].id if new else since.message)
    return Follow(order, audience, now.status > since.status, new, now)
