"""The back office's rules: who is staff, the orders they work through, and the audit of what they
changed. No HTTP here; every route under /staff is guarded by requires_staff (web/guards.py).

Every change staff make writes an audit row (who, when, what, before and after) in the change's
own transaction: a change that fails leaves no audit row, and an audit row never lacks its change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from web import text
from web.models import audit, orders, users
from web.orders import service as order_service
from web.problems import InvalidInput
from web.unit import Visit

PAGE_SIZE = 20
DAY_SECONDS = 86_400
MAX_SECONDS = 2**63 - 1  # orders.placed_at is a 64-bit integer (web/models.py Seconds)


def make_staff(conn: Connection, email: str, password_hash: str, now: int) -> tuple[int, bool]:
    """Make `email` a staff member: a new account, or an existing one promoted (its password then set
    to the one given). Returns the user id and whether the account is new."""
    existing = conn.execute(select(users.c.id).where(users.c.email == email)).scalar()
    if existing is not None:
        conn.execute(
            update(users)
            .where(users.c.id == existing)
            .values(is_staff=True, password_hash=password_hash, confirmed_at=func.coalesce(users.c.confirmed_at, now))
        )
        return int(existing), False
    # Made by the shop's operator, who vouches for the address: confirmed at once.
    new_id = conn.execute(
        insert(users)
        .values(
            email=email, password_hash=password_hash, display_name="", created_at=now, is_staff=True, confirmed_at=now
        )
        .returning(users.c.id)
    ).scalar_one()
    return int(new_id), True


def record(v: Visit, staff_id: int, action: str, subject: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    """One audit row, in the unit's write transaction (the change's own)."""
    email = v.conn.execute(select(users.c.email).where(users.c.id == staff_id)).scalar() or ""
    with v.writing():
        v.conn.execute(
            insert(audit).values(
                at=v.now,
                actor_user_id=staff_id,
                actor_email=email,
                action=action,
                subject=subject,
                before=json.dumps(before, sort_keys=True),
                after=json.dumps(after, sort_keys=True),
            )
        )


@dataclass(frozen=True)
class OrderFilter:
    status: str = ""
    since: date | None = None
    until: date | None = None
    search: str = ""
    page: int = 1

    @classmethod
    def parse(
        cls, status: str | None, since: str | None, until: str | None, search: str | None, page: int
    ) -> OrderFilter:
        if status and status not in order_service.TRANSITIONS:
            raise InvalidInput(f"There is no order status “{status}”.", field="status")
        search = text.check(search or "", "q", "search").strip()[:254]
        return cls(status or "", day(since, "since"), day(until, "until"), search, page)


def day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("A date is written YYYY-MM-DD, such as 2026-12-02.", field=name) from None


def start_of(day_: date, *, days_after: int = 0) -> int:
    """The first second of the day (or of the one `days_after` it), held within what the orders'
    times can be (a 64-bit integer), so that a filter from year 1 or until 9999-12-31 means
    "from the first order" or "until the last", never an error."""
    seconds = int(datetime(day_.year, day_.month, day_.day, tzinfo=UTC).timestamp()) + days_after * DAY_SECONDS
    return min(max(seconds, 0), MAX_SECONDS)


def find_orders(v: Visit, wanted: OrderFilter) -> tuple[list[order_service.Order], int, int]:
    """One page of orders matching the filter, newest first; the page count and the total."""
    query = select(orders)
    if wanted.status:
        query = query.where(orders.c.status == wanted.status)
    if wanted.since:
        query = query.where(orders.c.placed_at >= start_of(wanted.since))
    if wanted.until:
        query = query.where(orders.c.placed_at < start_of(wanted.until, days_after=1))
    if wanted.search:
        query = query.where(or_(orders.c.number == wanted.search.upper(), orders.c.email == wanted.search.lower()))
    return order_service.page_of(v.conn, query, wanted.page, PAGE_SIZE)


def order(v: Visit, number: str) -> order_service.Order:
    """Any order, by its number: staff see them all."""
    return order_service.by_number(v.conn, number)


def move(v: Visit, staff_id: int, number: str, to: str) -> order_service.Order:
    """Move an order to `to` as staff (any allowed transition, cancellation with its stock put back),
    audited in the same transaction."""
    current = order(v, number)
    with v.writing():
        moved = order_service.change_status(v, current, to, "staff")
        record(
            v, staff_id, "order.status", f"order:{current.number}", {"status": current.status}, {"status": moved.status}
        )
    return moved


def audit_entries(v: Visit, subject: str = "", page: int = 1, *, subjects: Sequence[str] = ()) -> list[Any]:
    """The newest audit rows about `subject`, or about any of `subjects` (a product and its variants)."""
    query = select(audit)
    if subject:
        query = query.where(audit.c.subject == subject)
    if subjects:
        query = query.where(audit.c.subject.in_(subjects))
    return list(v.conn.execute(query.order_by(audit.c.id.desc()).limit(50).offset((page - 1) * 50)).all())
