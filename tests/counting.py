"""SQL statements per request, counted the one way the tests and the benchmark (bench/sql_counts.py) share.

The count is the app's `db.statements`: every statement the database runs (on SQLite from sqlite3's
trace hook, `BEGIN IMMEDIATE` included and the driver's own COMMIT not; elsewhere from SQLAlchemy's
`before_cursor_execute`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from httpx import Response
    from litestar import Litestar


class UnexpectedStatus(AssertionError):
    """The request did not answer 200, so its count is not the one meant (a failed assertion in a test)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"status {status}: {text}")
        self.status = status
        self.text = text


def statements(app: Litestar, call: Callable[[], Response]) -> int:
    """How many SQL statements `app` ran for `call()`, one request that must answer 200."""
    db = app.state.shop.db
    before = db.statements
    response = call()
    if response.status_code != 200:
        raise UnexpectedStatus(response.status_code, response.text)
    return int(db.statements - before)
