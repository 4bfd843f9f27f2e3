"""The database stops answering under a running shop: every request is a 503 with Retry-After (a
page, an htmx toast, or JSON under /api) naming an error id that the log names too, never a
traceback; nothing is half-written, even when the database goes in the middle of placing an order;
the first request after it is back works.

On SQLite the shop's own connection is made to fail every statement with SQLite's own
OperationalError (a progress handler that interrupts); on PostgreSQL the test database stops taking
connections and its open ones are terminated (pg_terminate_backend), as when the server restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Connection, create_engine, text

from tests.conftest import BASE_URL, TEST_DATABASE_URL, Shopper, add_form, sql
from tests.faults.conftest import everything, shown_error_id, wait_for_file
from web.app import create_app
from web.db import sqlalchemy_url, sqlite_driver
from web.settings import Settings


class Outage(Protocol):
    def start(self) -> None: ...

    def end(self) -> None: ...

    def reach(self, client: TestClient[Litestar]) -> None:
        """Take down the database for this client too (each in-process client has its own connection)."""


class SqliteOutage:
    """Every statement on the client's connection (the one its event loop's units run on) fails
    with `sqlite3.OperationalError: interrupted` while the outage lasts."""

    def __init__(self, app: Litestar, client: TestClient[Litestar]) -> None:
        self.app = app
        self.down = threading.Event()
        self.reach(client)

    def reach(self, client: TestClient[Litestar]) -> None:
        def interrupt(conn: Connection) -> None:
            sqlite_driver(conn).set_progress_handler(lambda: int(self.down.is_set()), 1)

        client.blocking_portal.call(self.app.state.shop.db.run_sync, interrupt)

    def start(self) -> None:
        self.down.set()

    def end(self) -> None:
        self.down.clear()


class PostgresOutage:
    """The test database refuses new connections and loses its open ones, as in a restart."""

    def __init__(self, database_url: str) -> None:
        self.name = urlsplit(database_url).path.lstrip("/")
        self.admin = create_engine(sqlalchemy_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")

    def start(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": self.name},
            )

    def end(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true'))
        self.admin.dispose()

    def reach(self, client: TestClient[Litestar]) -> None:
        pass  # every client's connections are the server's


def outage_of(app: Litestar, client: TestClient[Litestar]) -> Outage:
    if TEST_DATABASE_URL:
        return PostgresOutage(app.state.shop.settings.database_url)
    return SqliteOutage(app, client)


@pytest.fixture
def outage(app: Litestar, client: TestClient[Litestar]) -> Iterator[Outage]:
    down = outage_of(app, client)
    yield down
    down.end()


def assert_unavailable(response: Any, logged: list[str]) -> str:
    """A 503 that says to come back, names an error id its log line names, and sets no cookie."""
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert "Traceback" not in response.text and "OperationalError" not in response.text
    assert response.headers.get_list("set-cookie") == []
    failure = response.json()["errorId"] if response.headers["content-type"].startswith("application/json") else None
    failure = failure or shown_error_id(response)
    assert failure == response.headers["x-request-id"]
    assert any(line.startswith(f"error {failure}: database unavailable") for line in logged), logged
    return str(failure)


def add_from_product_page(shopper: Shopper, form: dict[str, str]) -> Any:
    """An htmx add from test-1's page, with a form made while the database answered."""
    return shopper.post("/cart/items", form, htmx=True, page="/products/test-1", target="catalog-add-status")


def test_with_the_database_down_pages_htmx_and_api_are_503s_and_the_next_request_after_works(
    app: Litestar, shopper: Shopper, outage: Outage, logged: list[str]
) -> None:
    shopper.add("test-1")
    review = shopper.review()
    form = {**add_form(app, "test-1"), "next": "/products/test-1"}
    before = everything(app)
    outage.start()

    page = shopper.client.get("/cart")
    assert_unavailable(page, logged)
    assert "Back in a moment" in page.text and "Nothing was changed" in page.text
    added = add_from_product_page(shopper, form)
    assert_unavailable(added, logged)
    assert 'id="toast"' in added.text and 'hx-swap-oob="true"' in added.text and "<html" not in added.text
    assert added.headers["hx-reswap"] == "none"
    api = shopper.client.post("/api/cart", json={"productId": "test-1", "qty": 1})
    assert_unavailable(api, logged)
    assert api.json()["error"] == "UNAVAILABLE" and "Nothing was changed" in api.json()["message"]
    assert_unavailable(shopper.place(review), logged)
    with TestClient(app, base_url=BASE_URL) as newcomer:  # a first visit: no session, no cookie
        outage.reach(newcomer)
        assert_unavailable(newcomer.get("/"), logged)

    outage.end()
    assert everything(app) == before
    placed = shopper.place(review)
    assert placed.status_code == 303, placed.text
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]
    assert add_from_product_page(shopper, form).status_code == 200


def test_a_database_lost_in_the_middle_of_placing_an_order_writes_none_of_it(
    app: Litestar, shopper: Shopper, settings: Settings, tmp_path: Path, logged: list[str]
) -> None:
    shopper.add("test-1", 2)
    review = shopper.review()
    before = everything(app)
    paused = tmp_path / "paused"
    pausing = create_app(settings.with_overrides(test_pause=f"placement:{paused}"))
    try:
        with TestClient(pausing, base_url=BASE_URL, cookies=shopper.client.cookies) as client:
            same_browser = Shopper(client)
            same_browser.csrf = shopper.csrf
            outage = outage_of(pausing, client)
            answers: list[Any] = []
            placing = threading.Thread(target=lambda: answers.append(same_browser.place(review)))
            placing.start()
            try:
                wait_for_file(paused)  # stock taken, the order and its mail written, not committed
                outage.start()
            finally:
                paused.unlink(missing_ok=True)
                placing.join(timeout=15)
            try:
                assert_unavailable(answers[0], logged)
            finally:
                outage.end()
    finally:
        pausing.state.shop.db.dispose()

    assert everything(app) == before
    placed = shopper.place(review)  # the same form again, once the database is back
    assert placed.status_code == 303 and placed.headers["location"].startswith("/orders/"), placed.headers
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]
    assert shopper.visit(placed.headers["location"]).text.count("Thank you!") == 1


@pytest.mark.postgres_only
def test_pooled_connections_the_server_closed_while_idle_cost_no_request_its_answer(
    app: Litestar, shopper: Shopper
) -> None:
    """No pre-ping: a unit that finds its pooled connection closed (a server restart while the shop
    was idle) runs again on a new one, having committed nothing (web/db.py, run_sync())."""
    shopper.add("test-1")
    database = app.state.shop.db.engine.url.database
    admin = create_engine(sqlalchemy_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            closed = conn.execute(
                text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :db"),
                {"db": database},
            ).scalar()
    finally:
        admin.dispose()
    assert closed
    added = shopper.add("test-1", htmx=True)  # a write: the lock, the cart read, the upsert
    assert added.status_code == 200, added.text
    assert shopper.cart()["items"][0]["qty"] == 2
    assert shopper.client.get("/cart").status_code == 200


@pytest.mark.postgres_only
def test_a_worker_whose_pool_is_all_in_use_answers_503_after_the_pool_timeout(
    settings: Settings, logged: list[str]
) -> None:
    """DB_POOL_SIZE, DB_MAX_OVERFLOW, DB_POOL_TIMEOUT_SECONDS: a unit that finds no free connection
    in time is a 503 with Retry-After, not a 500; once one is free, the next request works."""
    small = create_app(settings.with_overrides(db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=1))
    engine = small.state.shop.db.engine
    assert (engine.pool.size(), engine.pool._max_overflow) == (1, 0)  # type: ignore[attr-defined]
    try:
        with TestClient(small, base_url=BASE_URL) as client:
            with engine.connect():  # the pool's one connection, held
                assert_unavailable(client.get("/cart"), logged)
            assert client.get("/cart").status_code == 200
    finally:
        small.state.shop.db.dispose()
