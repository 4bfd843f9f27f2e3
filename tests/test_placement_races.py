"""Placement under concurrency, on SQLite and (in the PostgreSQL + Redis pass) on PostgreSQL: the
last units go to exactly as many shoppers as there are units, and one checkout is one order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, REVIEW_FIELD, Shopper, api_checkout, sql
from tests.factories import set_stock

SHOPPERS = 10
LAST_UNITS = 3


def prepared(app: Litestar, slug: str) -> tuple[str, str, dict[str, str]]:
    """A shopper with one `slug` in the cart at the review step: (cookie, CSRF token, review form)."""
    with TestClient(app, base_url=BASE_URL) as client:
        shopper = Shopper(client)
        shopper.add(slug, 1)
        review = shopper.review()
        fields = dict(REVIEW_FIELD.findall(review.text))
        shopper.visit("/")
        return shopper.session_cookie or "", shopper.csrf, fields


def place(app: Litestar, cookie: str, csrf: str, fields: dict[str, str]) -> Any:
    # Not entered as a context manager: several clients must not run the app's lifespan at once.
    tab = TestClient(app, base_url=BASE_URL)
    tab.cookies.set("session", cookie)
    return tab.post("/checkout/place", data={"csrf_token": csrf, **fields}, follow_redirects=False)


def test_ten_shoppers_racing_for_the_last_three_units_make_exactly_three_orders(app: Litestar) -> None:
    set_stock(app, "tea-tin", 100)
    shoppers = [prepared(app, "tea-tin") for _ in range(SHOPPERS)]
    set_stock(app, "tea-tin", LAST_UNITS)
    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        answers = list(pool.map(lambda s: place(app, *s), shoppers))
    won = [a for a in answers if a.status_code == 303 and a.headers["location"].startswith("/orders/")]
    lost = [a for a in answers if a not in won]
    assert len(won) == LAST_UNITS, [(a.status_code, a.headers.get("location")) for a in answers]
    # Every loser is told: back to the cart (its only line sold out), with the reason waiting there.
    assert all(a.status_code == 303 and a.headers["location"] == "/cart" for a in lost)
    assert sql(app, "SELECT stock FROM variants WHERE sku = 'tea-tin'") == [(0,)]
    assert sql(app, "SELECT count(*), sum(quantity) FROM order_lines") == [(LAST_UNITS, LAST_UNITS)]
    assert sql(app, "SELECT count(*) FROM orders") == [(LAST_UNITS,)]
    assert sql(app, "SELECT count(*) FROM outbox") == [(LAST_UNITS,)]


def test_ten_concurrent_submits_of_one_checkout_make_one_order(app: Litestar) -> None:
    cookie, csrf, fields = prepared(app, "desk-tray")
    before = sql(app, "SELECT stock FROM variants WHERE sku = 'desk-tray'")[0][0]
    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        answers = list(pool.map(lambda _: place(app, cookie, csrf, fields), range(SHOPPERS)))
    locations = {a.headers.get("location") for a in answers}
    assert [a.status_code for a in answers] == [303] * SHOPPERS
    assert len(locations) == 1 and next(iter(locations)).startswith("/orders/")
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]
    assert sql(app, "SELECT stock FROM variants WHERE sku = 'desk-tray'") == [(before - 1,)]


def test_concurrent_api_checkouts_with_one_key_make_one_order(app: Litestar) -> None:
    with TestClient(app, base_url=BASE_URL) as client:
        client.post("/api/cart", json={"productId": "wall-clock", "qty": 1})
        cookie = client.cookies.get("session") or ""
    body = api_checkout("race@example.com", "Racer")

    def checkout(_: int) -> Any:
        tab = TestClient(app, base_url=BASE_URL)
        tab.cookies.set("session", cookie)
        return tab.post("/api/checkout", json=body, headers={"Idempotency-Key": "one-key-for-all-10"})

    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        answers = list(pool.map(checkout, range(SHOPPERS)))
    assert sorted(a.status_code for a in answers) == [200] * (SHOPPERS - 1) + [201]
    assert len({a.json()["order"]["number"] for a in answers}) == 1
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]
