"""What the fault tests share: every row the shop has stored, the shop's log, and waiting for a
server to reach a pause point (web/faults.py)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.conftest import TABLES, Shopper, login, register, sql
from tests.livestreams import Server

CART_AND_ORDERS = ("variants", "carts", "cart_lines", "orders", "order_lines", "order_events", "outbox")
# A login's attempt is counted in a unit of its own, committed before the password is checked.
SHOP_BUT_THROTTLES = [table for table in TABLES if table != "throttles"]
EMAIL = "ada@example.com"


def everything(app: Litestar, tables: Sequence[str] = TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `tables` (by default every table, the SQL store's sessions too), to compare
    before and after a fault."""
    return {table: sorted((tuple(row) for row in sql(app, f"SELECT * FROM {table}")), key=repr) for table in tables}


def guest_and_account_carts(app: Litestar, shopper: Shopper, user: Shopper) -> None:
    """An account (EMAIL) whose cart, filled by `user`, holds one test-1, and a guest, `shopper`,
    with two test-1 and a tea tin: merged at login, test-1 becomes 3."""
    register(app, EMAIL)
    assert login(user, EMAIL).status_code == 303
    user.csrf = ""  # a login issues a new token
    assert user.add("test-1").status_code == 303
    shopper.add("test-1", 2)
    shopper.add("tea-tin")


def send(server: Server, path: str, form: dict[str, str], cookie: str) -> Any:
    """A form posted to a live server with a browser's session cookie; None if it never answered
    (killed first)."""
    try:
        return httpx.post(f"{server.url}{path}", data=form, cookies={"session": cookie}, timeout=30)
    except httpx.TransportError:
        return None


def wait_for_file(path: Path, seconds: float = 15) -> None:
    """Until the server has reached its pause point, which creates `path`."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not reach its pause point ({path.name})")
        time.sleep(0.01)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """The lines the shop writes to its `storefront` log during the test."""
    handler = Lines()
    logger = logging.getLogger("storefront")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


ERROR_ID = re.compile(r"Error id: <code>([A-Za-z0-9._-]+)</code>")


def shown_error_id(response: Any) -> str:
    """The error id a 5xx page or toast shows: the request's id, which its log line names too."""
    found = ERROR_ID.search(response.text)
    assert found, response.text
    assert found.group(1) == response.headers["x-request-id"]
    return found.group(1)
