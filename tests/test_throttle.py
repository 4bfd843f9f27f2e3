"""The login throttle under concurrency and from many addresses, and the current-password check.

Run on SQLite with counters in the database, and (in the PostgreSQL + Redis pass) on PostgreSQL
with counters in Redis. Each address is an X-Forwarded-For from a proxy the test trusts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, PASSWORD, Shopper, login, register
from web.accounts.service import address_key
from web.app import create_app
from web.settings import Settings

WRONG = "not the password at all"


@pytest.fixture
def proxied(settings: Settings) -> Iterator[Litestar]:
    """The shop behind a proxy it trusts (the test client), with a low per-account ceiling."""
    app = create_app(
        settings.with_overrides(trusted_proxies=("testclient",), login_max_failures_per_account=8, login_slow_seconds=2)
    )
    yield app
    app.state.shop.db.dispose()


def from_address(app: Litestar, address: str) -> Shopper:
    """A shopper whose requests come through the proxy from `address` (not entered: no lifespan)."""
    client = TestClient(app, base_url=BASE_URL)
    client.headers["x-forwarded-for"] = address
    shopper = Shopper(client)
    shopper.visit("/login")
    return shopper


def statuses(answers: list[Any]) -> Counter[int]:
    return Counter(answer.status_code for answer in answers)


def concurrently(attempts: list[tuple[Shopper, str, str]]) -> Counter[int]:
    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return statuses(list(pool.map(lambda a: login(*a), attempts)))


def test_thirty_concurrent_wrong_passwords_for_one_account_get_exactly_five_tries(proxied: Litestar) -> None:
    register(proxied, "target@example.com")
    attempts = [(from_address(proxied, "10.0.0.1"), "target@example.com", WRONG) for _ in range(30)]
    assert concurrently(attempts) == {401: 5, 429: 25}


def test_forty_concurrent_wrong_logins_from_one_address_get_exactly_twenty_tries(app: Litestar) -> None:
    with TestClient(app, base_url=BASE_URL) as client:
        attempts = []
        for i in range(40):
            shopper = Shopper(client)
            shopper.visit("/login")
            attempts.append((shopper, f"guess{i}@example.com", WRONG))
        assert concurrently(attempts) == {401: 20, 429: 20}


def test_failures_from_other_addresses_do_not_lock_the_owner_out(proxied: Litestar) -> None:
    register(proxied, "owner@example.com")
    for n in range(5):
        assert login(from_address(proxied, f"10.0.1.{n}"), "owner@example.com", WRONG).status_code == 401
    assert login(from_address(proxied, "10.0.2.1"), "owner@example.com").status_code == 303


def test_past_the_accounts_ceiling_logins_slow_down_and_never_lock(proxied: Litestar) -> None:
    """Ceiling 8, one attempt per 2 s past it: an attacker on many addresses gets one guess per
    pace, and so does the owner, who gets in once the pace allows it."""
    register(proxied, "popular@example.com")
    answers = [login(from_address(proxied, f"10.1.0.{n}"), "popular@example.com", WRONG) for n in range(8)]
    assert statuses(answers) == {401: 8}
    assert login(from_address(proxied, "10.1.1.1"), "popular@example.com", WRONG).status_code == 401
    slowed = login(from_address(proxied, "10.1.1.2"), "popular@example.com")
    assert slowed.status_code == 429
    assert 1 <= int(slowed.headers["retry-after"]) <= 2
    assert "Please wait 2 seconds" in slowed.text or "Please wait 1 second" in slowed.text
    time.sleep(2.1)
    assert login(from_address(proxied, "10.1.1.2"), "popular@example.com").status_code == 303


def test_right_passwords_do_not_count_against_the_address(settings: Settings) -> None:
    app = create_app(settings.with_overrides(login_max_failures_per_address=2))
    try:
        register(app, "often@example.com")
        with TestClient(app, base_url=BASE_URL) as client:
            shopper = Shopper(client)
            for _ in range(4):
                assert login(shopper, "often@example.com").status_code == 303
                shopper.post("/logout")
                shopper.csrf = ""
    finally:
        app.state.shop.db.dispose()


def test_the_current_password_check_is_throttled_like_a_login(app: Litestar, shopper: Shopper) -> None:
    register(app, "changer@example.com")
    assert login(shopper, "changer@example.com").status_code == 303
    shopper.visit("/account")
    change = {"new_password": "another long passphrase"}
    wrong = [shopper.post("/account/password", {**change, "current_password": WRONG}) for _ in range(6)]
    assert [answer.status_code for answer in wrong] == [400] * 5 + [429]
    assert "Too many wrong current passwords" in wrong[-1].text
    right = shopper.post("/account/password", {**change, "current_password": PASSWORD})
    assert right.status_code == 429  # still locked: a stolen session cannot go on guessing
    # The same counters as logging in: this address may not try the account's password either.
    assert login(Shopper(TestClient(app, base_url=BASE_URL)), "changer@example.com").status_code == 429


def test_throttle_counters_count_atomically_and_end_with_their_window(app: Litestar) -> None:
    """The same on every store: the SQL store compares times, Redis lets the counter's TTL run out."""
    store = app.state.shop.sessions
    with app.state.shop.db.engine.begin() as conn:
        assert store.throttle_take(conn, {"login:test": 2}, 1) == 0
        assert store.throttle_take(conn, {"login:test": 2}, 1) == 0
        assert store.throttle_take(conn, {"login:test": 2}, 1) == 1
        store.throttle_release(conn, ["login:test"])
        store.throttle_release(conn, ["login:test"])
        assert store.throttle_take(conn, {"login:test": 2}, 1) == 0
        time.sleep(1.1)
        assert store.throttle_take(conn, {"login:test": 1}, 60) == 0  # a new window from 1
        assert store.throttle_take(conn, {"login:test": 1}, 60) == 60
        store.throttle_release(conn, [], clear=("login:test",))
        assert store.throttle_take(conn, {"login:test": 1}, 60) == 0
        store.throttle_release(conn, ["login:gone"])  # nothing to take back: nothing happens
        assert store.throttle_take(conn, {"login:gone": 1}, 60) == 0


def test_attempts_the_slow_down_turns_away_do_not_lock_the_owner(proxied: Litestar) -> None:
    """An attacker who keeps taking the one attempt per pace must not use up the owner's own tries."""
    register(proxied, "held@example.com")
    for n in range(9):  # past the ceiling (8), and the pace's one attempt taken
        login(from_address(proxied, f"10.2.0.{n}"), "held@example.com", WRONG)
    owner = from_address(proxied, "10.2.1.1")
    assert [login(owner, "held@example.com").status_code for _ in range(6)] == [429] * 6
    time.sleep(2.1)
    assert login(owner, "held@example.com").status_code == 303


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("testclient") == "testclient"
