"""An order's message thread between the shopper who placed it and the shop's staff. No HTTP here.

Messages are rows of order_messages whose ids only grow, so a live stream can say which it has
sent (web/live.py) and a reconnecting one be given what it missed.

A message is 1 to 2,000 characters after trimming, line breaks kept (as LF), no other control
characters; a session posts at most `messages_per_minute` of them a minute. Each order keeps, per
side, the last message that side has seen (`shopper_read_message_id`, `staff_read_message_id`):
what the other side wrote after it is unread, counted on the staff's order list and marked on
"My orders" (docs/design.md §9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Column, Connection, func, insert, select, update

from web import owner
from web.models import order_messages, orders, users
from web.orders.service import Order
from web.problems import InvalidInput, TooManyAttempts
from web.sessions import SessionStore, session_key
from web.text import has_controls, storable
from web.unit import Visit

Side = Literal["shopper", "staff"]
MOST_CHARACTERS = 2000
PACE_WINDOW_SECONDS = 60
KEPT_CONTROLS = "\n\t"  # line breaks and tabs are part of a message; other controls are not
# The last message each side has seen of an order's thread.
READ_MARKS: dict[Side, Column[int]] = {
    "shopper": orders.c.shopper_read_message_id,
    "staff": orders.c.staff_read_message_id,
}


@dataclass(frozen=True)
class Message:
    id: int
    order_id: int
    author: str  # "shopper" or "staff"
    author_name: str  # a staff member's display name when they wrote it ("" for the shopper)
    text: str
    at: int

    @property
    def from_staff(self) -> bool:
        return self.author == "staff"


def message_of(row: object) -> Message:
    r = row  # a row of order_messages
    return Message(r.id, r.order_id, r.author, r.author_name, r.body, r.at)  # type: ignore[attr-defined]


def since(conn: Connection, order_id: int, after_id: int = 0) -> list[Message]:
    """The order's messages after `after_id`, oldest first (all of them for 0)."""
    rows = conn.execute(
        select(order_messages)
        .where(order_messages.c.order_id == order_id, order_messages.c.id > after_id)
        .order_by(order_messages.c.id)
    )
    return [message_of(row) for row in rows]


def checked_text(raw: str) -> str:
    """A message's text as stored: line breaks as LF, trimmed, 1 to 2,000 characters, no control
    characters but line breaks and tabs, nothing UTF-8 cannot hold (a lone surrogate)."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise InvalidInput("Write your message first: it is empty.", field="text")
    if has_controls(text, keep=KEPT_CONTROLS):
        raise InvalidInput(
            "The message contains control characters (other than line breaks and tabs): remove them and send it again.",
            field="text",
        )
    if not storable(text):
        raise InvalidInput(
            "The message contains characters that cannot be stored: remove them and send it again.", field="text"
        )
    if len(text) > MOST_CHARACTERS:
        raise InvalidInput(
            f"A message can be at most {MOST_CHARACTERS:,} characters; this one has {len(text):,}.", field="text"
        )
    return text


def pace_key(v: Visit) -> str:
    """The session's message counter, named by a hash of its id (never the id itself)."""
    return f"order-messages:{session_key(v.session.id)[:32]}"


def keep_pace(v: Visit, counters: SessionStore) -> None:
    """TooManyAttempts, with the wait, once this session has posted its messages for the minute."""
    limit = v.settings.messages_per_minute
    wait = counters.throttle_take(v.conn, {pace_key(v): limit}, PACE_WINDOW_SECONDS)
    if wait:
        raise TooManyAttempts(
            f"You have sent {limit} messages within a minute. Please wait {seconds(wait)} and send this one again.",
            wait,
        )


def seconds(count: int) -> str:
    return "1 second" if count == 1 else f"{count} seconds"


def display_name(conn: Connection, user_id: int | None) -> str:
    if user_id is None:
        return ""
    return str(conn.execute(select(users.c.display_name).where(users.c.id == user_id)).scalar() or "")


def post(v: Visit, order: Order, author: Side, text: str, counters: SessionStore) -> Message:
    """Add a message to the order's thread as `author` (for staff, with their display name as it is
    now), counted against the session's pace in `counters`. The order's live streams are told after
    commit. InvalidInput for text that is not a message, TooManyAttempts past the pace; nothing is
    written then. Writing is not reading: the author's read mark stays (their own messages never
    count as unread to them), so a reply by script leaves the other side's messages unread.

    The order's row is locked before the message gets its id, so two posts to one thread commit in
    the order of their ids, and a stream that has sent message N never misses a lower one."""
    with v.writing():
        body = checked_text(text)
        keep_pace(v, counters)  # counted before the insert, atomically: concurrent posts cannot pass it
        v.conn.execute(select(orders.c.id).where(orders.c.id == order.id).with_for_update())
        user_id = owner.resolve_owner(v).user_id
        name = display_name(v.conn, user_id) if author == "staff" else ""
        message_id = v.conn.execute(
            insert(order_messages)
            .values(order_id=order.id, author=author, author_user_id=user_id, author_name=name, body=body, at=v.now)
            .returning(order_messages.c.id)
        ).scalar_one()
        v.order_changed(order.number)
    return Message(message_id, order.id, author, name, body, v.now)


def read(v: Visit, order: Order, reader: Side) -> list[Message]:
    """The order's thread, oldest first, as `reader` sees it: what the other side wrote is read
    from now on (written only when some of it was unread)."""
    thread = since(v.conn, order.id)
    last_from_other = max((message.id for message in thread if message.author != reader), default=0)
    if last_from_other:
        seen = v.conn.execute(select(READ_MARKS[reader]).where(orders.c.id == order.id)).scalar_one()
        if seen < last_from_other:
            mark_read(v, order.id, reader, thread[-1].id)
    return thread


def mark_read(v: Visit, order_id: int, reader: Side, up_to: int) -> None:
    """`reader` has seen the order's thread up to message `up_to` (a mark never moves back)."""
    mark = READ_MARKS[reader]
    with v.writing():
        v.conn.execute(update(orders).where(orders.c.id == order_id, mark < up_to).values({mark.name: up_to}))


def unread(conn: Connection, order_ids: list[int], reader: Side) -> dict[int, int]:
    """How many messages of the other side `reader` has not seen, by order (orders with none left
    out), for a page of orders in one statement."""
    if not order_ids:
        return {}
    other: Side = "shopper" if reader == "staff" else "staff"
    rows = conn.execute(
        select(order_messages.c.order_id, func.count())
        .select_from(order_messages.join(orders, orders.c.id == order_messages.c.order_id))
        .where(
            order_messages.c.order_id.in_(order_ids),
            order_messages.c.author == other,
            order_messages.c.id > READ_MARKS[reader],
        )
        .group_by(order_messages.c.order_id)
    ).all()
    return {int(order_id): int(count) for order_id, count in rows}
