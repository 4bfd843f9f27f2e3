"""Redis, which holds the sessions, goes down: the shop fails closed. Nobody is taken for logged in
or for a new visitor (no fresh cookie that would leave a cart behind): every request that needs
its session is a 503, and nothing is written. When Redis is back, the same cookies find the same
sessions and carts.

The Redis is the test's own (a redis-server on a free port, with every write on disk before it
is acknowledged, as a production Redis keeps its data across a restart), killed and started again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, Shopper, add_form, login, register
from tests.faults.conftest import CART_AND_ORDERS, everything, shown_error_id
from tests.livestreams import RedisServer
from web.app import create_app
from web.settings import Settings

EMAIL = "ada@example.com"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path, persist=True) as server:
        yield server


@pytest.fixture
def app(settings: Settings, redis: RedisServer) -> Iterator[Litestar]:
    app = create_app(settings.with_overrides(session_store_url=redis.url, events_url=""))
    yield app
    app.state.shop.db.dispose()


def assert_refused(response: Any) -> None:
    """A 503 that takes nobody for anybody: no cookie, no redirect to log in, no page of the shop."""
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["retry-after"] == "5"
    assert response.headers.get_list("set-cookie") == []
    if not response.headers["content-type"].startswith("application/json"):
        shown_error_id(response)


@pytest.fixture
def newcomer(app: Litestar) -> Iterator[Shopper]:
    """A first visit: no cookie yet."""
    with TestClient(app, base_url=BASE_URL) as client:
        yield Shopper(client)


def test_with_redis_down_nobody_is_logged_in_or_given_a_cookie_and_afterwards_the_same_cookies_work(
    app: Litestar, redis: RedisServer, shopper: Shopper, other_shopper: Shopper, newcomer: Shopper
) -> None:
    register(app, EMAIL)
    assert login(shopper, EMAIL).status_code == 303
    shopper.add("test-1", 2)
    other_shopper.add("tea-tin")  # a guest
    form = {**add_form(app, "test-1"), "next": "/products/test-1"}
    cookies = {id(who): dict(who.client.cookies) for who in (shopper, other_shopper)}
    carts = {id(who): who.quantities() for who in (shopper, other_shopper)}
    before = everything(app, CART_AND_ORDERS)

    redis.stop()
    for who in (shopper, other_shopper):
        assert_refused(who.client.get("/cart"))
        assert_refused(who.client.get("/account", follow_redirects=False))  # not sent to log in
        assert_refused(who.client.get("/api/auth/me"))
        assert_refused(who.client.get("/api/cart"))
        assert_refused(who.post("/cart/items", form, htmx=True, page="/products/test-1", target="catalog-add-status"))
        assert_refused(who.client.post("/api/cart", json={"productId": "test-1", "qty": 1}))
        assert dict(who.client.cookies) == cookies[id(who)]
    assert_refused(other_shopper.post("/login", {"email": EMAIL, "password": "a long enough passphrase"}))
    # A first visit needs no stored session: the catalogue is shown to a new visitor, whose first
    # add is refused like everyone's.
    assert newcomer.visit("/products/test-1").status_code == 200
    assert_refused(newcomer.post("/cart/items", form, htmx=True, page="/products/test-1", target="catalog-add-status"))
    assert shopper.client.get("/readyz").json()["sessions"].startswith("unavailable")
    assert everything(app, CART_AND_ORDERS) == before

    redis.start()
    assert shopper.client.get("/api/auth/me").json()["user"]["email"] == EMAIL
    assert other_shopper.client.get("/api/auth/me").json()["user"] is None
    for who in (shopper, other_shopper):
        assert who.quantities() == carts[id(who)]
        assert dict(who.client.cookies) == cookies[id(who)]
    added = other_shopper.post("/cart/items", form, htmx=True, page="/products/test-1", target="catalog-add-status")
    assert added.status_code == 200
    assert sorted(other_shopper.quantities().values()) == [1, 1]
    added = newcomer.post("/cart/items", form, htmx=True, page="/products/test-1", target="catalog-add-status")
    assert added.status_code == 200 and list(newcomer.quantities().values()) == [1]
