"""Redis, which holds the sessions, goes down: the shop fails closed. Nobody is taken for logged in
or for a new visitor (no fresh cookie that would leave a cart behind): every request that needs
its session is a 503, and nothing is written. When Redis is back, the same cookies find the same
sessions and carts.

The Redis is the test's own (a redis-server on a free port, with every write on disk before it
is acknowledged, as a production Redis keeps its data across a restart), killed and started again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, Shopper, add_form, login, register, sql
from tests.faults.conftest import CART_AND_ORDERS, everything, shown_error_id, wait_for_file
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


def lost_after_commit(
    app: Litestar, settings: Settings, redis: RedisServer, shopper: Shopper, point: str, send: Any, tmp_path: Path
) -> Any:
    """`send(same_browser)`'s answer, from a server of `shopper`'s browser that reaches the pause
    point (after its unit's writes, before its commit) while Redis is up, and goes on with it down:
    its database commits, then its session cannot be written."""
    paused = tmp_path / "paused"
    pausing = create_app(
        settings.with_overrides(session_store_url=redis.url, events_url="", test_pause=f"{point}:{paused}")
    )
    try:
        with TestClient(pausing, base_url=BASE_URL, cookies=shopper.client.cookies) as client:
            same_browser = Shopper(client)
            same_browser.csrf = shopper.csrf
            answers: list[Any] = []
            sending = threading.Thread(target=lambda: answers.append(send(same_browser)))
            sending.start()
            try:
                wait_for_file(paused)
                redis.stop()
            finally:
                paused.unlink(missing_ok=True)
                sending.join(timeout=15)
    finally:
        pausing.state.shop.db.dispose()
    redis.start()
    return answers[0]


def test_redis_lost_after_a_placement_committed_answers_it_placed_and_the_same_form_finds_it(
    app: Litestar, settings: Settings, redis: RedisServer, shopper: Shopper, tmp_path: Path
) -> None:
    register(app, EMAIL)
    assert login(shopper, EMAIL).status_code == 303
    shopper.visit("/")  # the login gave the session a new CSRF token
    shopper.add("test-1", 2)
    review = shopper.review(email=EMAIL)
    cookies = dict(shopper.client.cookies)

    placed = lost_after_commit(app, settings, redis, shopper, "placement", lambda same: same.place(review), tmp_path)
    assert placed.status_code == 303 and placed.headers["location"].startswith("/orders/"), placed.text
    assert placed.headers.get_list("set-cookie") == []
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]

    # The session is as it was before (its checkout still open, no flash), and the cart is empty.
    assert dict(shopper.client.cookies) == cookies and shopper.cart()["items"] == []
    again = shopper.place(review)
    assert again.headers["location"] == placed.headers["location"]  # the same key finds the same order
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]
    assert placed.headers["location"].removeprefix("/orders/") in shopper.visit("/orders").text


def test_redis_lost_after_a_login_committed_says_it_did_not_log_in_and_sets_no_cookie(
    app: Litestar, settings: Settings, redis: RedisServer, shopper: Shopper, tmp_path: Path
) -> None:
    register(app, EMAIL)
    shopper.add("test-1", 2)
    shopper.visit("/login")
    cookies = dict(shopper.client.cookies)

    answer = lost_after_commit(app, settings, redis, shopper, "merge", lambda same: login(same, EMAIL), tmp_path)
    assert_refused(answer)  # the new ID was never stored: not a login, and no cookie naming nothing
    assert "could not log you in" in answer.text and "Your cart is safe" in answer.text

    # The browser is still the guest it was; the cart went to the account, and a login finds it there.
    assert dict(shopper.client.cookies) == cookies
    assert shopper.client.get("/api/auth/me").json()["user"] is None
    assert login(shopper, EMAIL).status_code == 303
    assert list(shopper.quantities().values()) == [2]


def test_redis_lost_after_a_logout_committed_says_it_did_not_log_out(
    app: Litestar, settings: Settings, redis: RedisServer, shopper: Shopper, tmp_path: Path
) -> None:
    register(app, EMAIL)
    assert login(shopper, EMAIL).status_code == 303
    shopper.visit("/")  # the login gave the session a new CSRF token
    cookies = dict(shopper.client.cookies)

    def log_out(same: Shopper) -> Any:
        return same.post("/logout", {})

    answer = lost_after_commit(app, settings, redis, shopper, "logout", log_out, tmp_path)
    assert_refused(answer)  # not "You have been logged out" while the session is still logged in
    assert "could not log you out" in answer.text
    assert dict(shopper.client.cookies) == cookies
    assert shopper.client.get("/api/auth/me").json()["user"]["email"] == EMAIL
    # With Redis back, the same button logs out.
    assert shopper.post("/logout", {}).status_code == 303
    assert shopper.client.get("/api/auth/me").json()["user"] is None
