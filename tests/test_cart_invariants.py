"""The database enforces the cart's invariants, and concurrent adds never lose an update."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.exc import IntegrityError

from tests.conftest import BASE_URL, Shopper, add_form, htmx_headers, sql
from tests.factories import set_stock, withdraw

PARALLEL = 20


def add_in_parallel(app: Litestar, shopper: Shopper, slug: str, quantity: int, label: str = "") -> list[int]:
    """PARALLEL adds from as many clients sharing the shopper's cookie, each on its own event loop thread."""
    shopper.visit("/")
    cookie, token = shopper.session_cookie or "", shopper.csrf
    form = add_form(app, slug, quantity, label=label)

    def one_add(_: int) -> int:
        # Not entered as a context manager: several clients must not run the app's lifespan at once.
        tab = TestClient(app, base_url=BASE_URL)
        tab.cookies.set("session", cookie)
        headers = htmx_headers(token, f"/products/{slug}", "catalog-add-status")
        return tab.post("/cart/items", data=form, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one_add, range(PARALLEL)))


def test_concurrent_adds_sum_exactly_on_one_line(app: Litestar, shopper: Shopper) -> None:
    statuses = add_in_parallel(app, shopper, "test-1", 2)
    assert statuses == [200] * PARALLEL
    assert sql(app, "SELECT count(*), sum(quantity) FROM cart_lines") == [(1, 2 * PARALLEL)]
    assert sql(app, "SELECT count(*) FROM carts") == [(1,)]


def test_concurrent_adds_clamp_to_stock(app: Litestar, shopper: Shopper) -> None:
    statuses = add_in_parallel(app, shopper, "test-2", 5)  # 100 asked for, 50 in stock
    assert statuses == [200] * PARALLEL
    assert sql(app, "SELECT count(*), sum(quantity) FROM cart_lines") == [(1, 50)]


def test_concurrent_adds_clamp_to_the_per_line_maximum(app: Litestar, shopper: Shopper) -> None:
    set_stock(app, "test-1", 500)
    add_in_parallel(app, shopper, "test-1", 9)  # 180 asked for, at most 99 per line
    assert sql(app, "SELECT quantity FROM cart_lines") == [(99,)]


def test_adding_more_than_stock_clamps_and_says_so(shopper: Shopper, app: Litestar) -> None:
    response = shopper.add("cotton-cap", 5, htmx=True)  # stock 1
    assert response.status_code == 200
    assert "Only 1 in stock" in response.text
    assert sql(app, "SELECT quantity FROM cart_lines") == [(1,)]
    again = shopper.add("cotton-cap", 1, htmx=True)
    assert "already have the most" in again.text
    assert sql(app, "SELECT quantity FROM cart_lines") == [(1,)]


def test_a_second_add_clamps_to_stock_in_its_own_answer_and_in_the_row(shopper: Shopper, app: Litestar) -> None:
    """The add's ON CONFLICT branch clamps the sum to stock itself: the read-time clamp would hide
    a missing one on the next read, but not in the add's own answer nor in the row until then."""
    set_stock(app, "tea-tin", 3)
    assert shopper.add("tea-tin", 2, htmx=True).status_code == 200
    again = shopper.client.post("/api/cart", json={"productId": "tea-tin", "qty": 2})
    assert again.status_code == 201, again.text
    assert [item["qty"] for item in again.json()["items"]] == [3]
    assert sql(app, "SELECT quantity FROM cart_lines") == [(3,)]


def test_sold_out_variant_cannot_be_added(shopper: Shopper, app: Litestar) -> None:
    response = shopper.add("silk-scarf", 1)
    assert response.status_code == 409
    assert "sold out" in response.text
    assert sql(app, "SELECT count(*) FROM cart_lines") == [(0,)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE cart_lines SET quantity = 0",
        "UPDATE cart_lines SET quantity = -1",
        "UPDATE variants SET stock = -1 WHERE sku = 'test-1'",
        "INSERT INTO cart_lines (cart_id, variant_id, quantity, updated_at) "
        "SELECT cart_id, variant_id, 1, 0 FROM cart_lines",
        "INSERT INTO cart_lines (cart_id, variant_id, quantity, updated_at) VALUES (999, 1, 1, 0)",
    ],
)
def test_database_refuses_broken_carts(shopper: Shopper, app: Litestar, statement: str) -> None:
    shopper.add("test-1", 1)
    with pytest.raises(IntegrityError):
        sql(app, statement)


def test_stale_stock_is_clamped_on_read_and_the_shopper_told(shopper: Shopper, app: Litestar) -> None:
    shopper.add("linen-shirt", 3, label="L")
    shopper.add("test-1", 2)
    set_stock(app, "linen-shirt-l", 2)
    set_stock(app, "test-1", 0)
    page = shopper.visit("/cart")
    assert "Only 2 left of Linen shirt (L): quantity reduced to 2." in page.text
    assert "Test product 1 is no longer available and was removed from your cart." in page.text
    assert 'data-count="2"' in page.text
    assert sql(app, "SELECT quantity FROM cart_lines") == [(2,)]
    assert shopper.cart()["totals"]["count"] == 2


def test_archived_product_leaves_the_cart_on_read(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-2", 2)
    withdraw(app, "test-2")
    cart = shopper.cart()
    assert cart["items"] == [] and cart["notices"] == [
        "Test product 2 is no longer available and was removed from your cart."
    ]
    assert sql(app, "SELECT count(*) FROM cart_lines") == [(0,)]


def test_guest_cart_purged_under_a_live_session_is_replaced(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-1", 1)
    sql(app, "DELETE FROM carts")
    assert shopper.add("test-2", 2).status_code == 303
    assert [(i["productId"], i["qty"]) for i in shopper.cart()["items"]] == [("test-2", 2)]
