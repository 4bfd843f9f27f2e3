"""Who may enter: the one place that says which visitors a route serves.

`requires_user` and `requires_staff` are Litestar guards, declared on a route or a whole router:
an anonymous visitor is sent to log in and back (a 303; for htmx an HX-Redirect; for /api a 401),
a logged-in shopper who is not staff gets a 403. A guard decides from the session at the door;
the route's own unit of work then asks `user_of()` / `staff_of()`, the same checks, for the id it
acts for, so a session ended between the two is refused there too.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import select

from web import owner
from web.models import users
from web.problems import LoginRequired, StaffOnly
from web.unit import Visit
from web.visit import visit

LOGIN_FIRST = "Please log in to see this page."
STAFF_ONLY = "This page is for the shop's staff only."


def user_of(v: Visit) -> int:
    """The logged-in user this request acts for; LoginRequired for a guest."""
    user = owner.resolve_owner(v).user_id
    if user is None:
        raise LoginRequired(LOGIN_FIRST)
    return user


def staff_of(v: Visit) -> int:
    """The staff member this request acts for, checked in the database (a flag taken away counts at once)."""
    user = user_of(v)
    if not v.conn.execute(select(users.c.is_staff).where(users.c.id == user)).scalar():
        raise StaffOnly(STAFF_ONLY)
    return user


async def requires_user(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    await visit(connection, user_of)


async def requires_staff(connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler) -> None:
    await visit(connection, staff_of)
