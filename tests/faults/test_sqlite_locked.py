"""Another process holds SQLite's write lock past the busy timeout: a write is a 503 that changes
nothing, reads go on (WAL), and the same request succeeds once the lock is released."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from litestar import Litestar

from tests.conftest import Shopper, add_form, change_sessions
from tests.faults.conftest import everything, shown_error_id
from web.app import create_app
from web.settings import Settings

pytestmark = pytest.mark.sqlite_only
BUSY_TIMEOUT_MS = 100
LOCKER = """
import sqlite3, sys
outsider = sqlite3.connect(sys.argv[1], isolation_level=None)
outsider.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
outsider.rollback()
"""


@pytest.fixture
def app(settings: Settings) -> Iterator[Litestar]:
    app = create_app(settings.with_overrides(sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS))
    yield app
    app.state.shop.db.dispose()


@contextmanager
def locked_by_another_process(app: Litestar) -> Iterator[None]:
    """A `sqlite3` in another process holding the database's write lock until the block ends."""
    path = app.state.shop.db.url.split(":///", 1)[1]
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
    try:
        yield
    finally:
        locker.communicate("\n", timeout=10)


def test_a_write_past_the_busy_timeout_is_a_503_reads_go_on_and_the_same_request_then_succeeds(
    app: Litestar, shopper: Shopper
) -> None:
    shopper.add("test-1")
    shopper.visit("/products/test-1")  # its "added" message shown (a read that writes, to take it)
    form = {**add_form(app, "test-1"), "next": "/products/test-1"}

    def add() -> Any:
        return shopper.post("/cart/items", form, htmx=True, page="/products/test-1", target="catalog-add-status")

    cart = shopper.quantities()
    change_sessions(app, expires_at=lambda at: at - 3600)  # so the next read would refresh its expiry
    before = everything(app)
    with locked_by_another_process(app):
        refused = add()
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert 'id="toast"' in refused.text and "Nothing was changed" in refused.text
        shown_error_id(refused)
        api = shopper.client.post("/api/cart", json={"productId": "test-1", "qty": 1})
        assert api.status_code == 503 and api.json()["error"] == "UNAVAILABLE"
        assert shopper.quantities() == cart  # reads go on
        assert "test-1" in shopper.visit("/cart").text
        assert shopper.visit("/products/test-1").status_code == 200
        assert everything(app) == before
    assert add().status_code == 200
    assert list(shopper.quantities().values()) == [2]
