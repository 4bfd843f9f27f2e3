"""The invariant code's corners that mutation testing found untested (docs/mutants.md).

Each test here kills at least one mutant that survived the rest of the suite: tests/mutants/equivalent.toml
names which, and `make mutants` checks that it still does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, Request, get
from litestar.testing import TestClient
from sqlalchemy import text

from tests.conftest import (
    BASE_URL,
    PASSWORD,
    Shopper,
    api_checkout,
    change_sessions,
    login,
    register,
    session_records,
    sql,
    stored_sessions,
    variant_id,
)
from tests.factories import set_stock, withdraw
from tests.test_live import Recorder
from tests.test_sessions import saved
from tests.test_throttle import WRONG, from_address
from web.app import create_app
from web.cart import store
from web.orders import service as orders
from web.sessions import SqlSessionStore, session_key
from web.settings import Settings
from web.unit import Visit
from web.visit import visit


def line_of(shopper: Shopper, slug: str) -> int:
    return int(next(item["id"] for item in shopper.cart()["items"] if item["productId"] == slug))


def stored_lines(app: Litestar) -> list[tuple[int, int]]:
    return [(int(line_id), int(quantity)) for line_id, quantity in sql(app, "SELECT id, quantity FROM cart_lines")]


def test_setting_the_quantity_of_a_withdrawn_product_removes_its_line(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-1", 2)
    line = line_of(shopper, "test-1")
    withdraw(app, "test-1")
    response = shopper.post(f"/cart/lines/{line}/quantity", {"quantity": "3"}, htmx=True, page="/cart")
    assert response.status_code == 200
    assert "is sold out and was removed" in response.text
    assert stored_lines(app) == []


def test_setting_the_quantity_of_the_last_unit_in_stock_keeps_the_line(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-1", 2)
    line = line_of(shopper, "test-1")
    set_stock(app, "test-1", 1)
    response = shopper.post(f"/cart/lines/{line}/quantity", {"quantity": "1"}, htmx=True, page="/cart")
    assert response.status_code == 200
    assert stored_lines(app) == [(line, 1)]


def test_setting_a_quantity_marks_the_line_as_touched(shopper: Shopper, app: Litestar) -> None:
    """A guest cart with a recently touched line is kept by the purge (purge_carts())."""
    shopper.add("test-1", 1)
    line = line_of(shopper, "test-1")
    sql(app, "UPDATE cart_lines SET updated_at = 0")
    shopper.post(f"/cart/lines/{line}/quantity", {"quantity": "2"}, htmx=True, page="/cart")
    assert sql(app, "SELECT quantity, updated_at > 0 FROM cart_lines") == [(2, 1)]


def test_other_carts_keep_their_unavailable_lines_until_their_owners_read_them(
    shopper: Shopper, other_shopper: Shopper, app: Litestar
) -> None:
    """Each owner is told what left their cart: one shopper's read must not clear another's lines."""
    shopper.add("test-1", 1)
    other_shopper.add("test-1", 2)
    withdraw(app, "test-1")
    assert shopper.cart()["items"] == []
    assert [quantity for _line, quantity in stored_lines(app)] == [2]
    assert other_shopper.cart()["notices"] == ["Test product 1 is no longer available and was removed from your cart."]


def test_the_read_clamp_changes_only_the_lines_above_their_limit(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-1", 1)  # below its stock of 50: untouched
    shopper.add("tea-tin", 3)  # exactly its stock once it is 3: untouched
    shopper.add("test-2", 5)  # above its stock once it is 2: clamped, and marked as touched
    set_stock(app, "tea-tin", 3)
    set_stock(app, "test-2", 2)
    sql(app, "UPDATE cart_lines SET updated_at = 0")
    shopper.cart()
    touched = sql(
        app,
        "SELECT p.slug, l.quantity, l.updated_at > 0 FROM cart_lines l JOIN variants v ON v.id = l.variant_id "
        "JOIN products p ON p.id = v.product_id ORDER BY l.id",
    )
    assert touched == [("test-1", 1, 0), ("tea-tin", 3, 0), ("test-2", 2, 1)]


@pytest.fixture
def fresh_add_statement() -> Iterator[None]:
    """The add's upsert is built once per process (add_upsert() is cached): build it again from the
    code under test, as a new worker does, so a change to its ON CONFLICT clause shows."""
    store.add_upsert.cache_clear()
    yield
    store.add_upsert.cache_clear()


@pytest.mark.usefixtures("fresh_add_statement")
@pytest.mark.parametrize(("stock", "first", "second", "kept"), [(3, 2, 2, 3), (500, 60, 60, 99)])
def test_a_second_add_stores_the_sum_clamped_to_stock_and_limit(
    shopper: Shopper, app: Litestar, stock: int, first: int, second: int, kept: int
) -> None:
    set_stock(app, "tea-tin", stock)
    shopper.add("tea-tin", first)
    again = shopper.client.post("/api/cart", json={"productId": "tea-tin", "qty": second})
    assert again.status_code == 201, again.text
    assert [quantity for _line, quantity in stored_lines(app)] == [kept]


@pytest.mark.parametrize(("stock", "mine", "guest", "kept"), [(5, 3, 4, 5), (500, 60, 60, 99)])
def test_the_login_merge_stores_the_sum_clamped_to_stock_and_limit(
    shopper: Shopper, other_shopper: Shopper, app: Litestar, stock: int, mine: int, guest: int, kept: int
) -> None:
    """Checked in the row straight after the login, before a read could clamp it."""
    set_stock(app, "tea-tin", stock)
    register(app, "clamp@example.com")
    login(other_shopper, "clamp@example.com")
    other_shopper.visit("/")
    other_shopper.add("tea-tin", mine)
    shopper.add("tea-tin", guest)
    assert login(shopper, "clamp@example.com").status_code == 303
    assert [quantity for _line, quantity in stored_lines(app)] == [kept]


def test_a_users_cart_gone_under_a_live_login_is_made_again_for_the_user(shopper: Shopper, app: Litestar) -> None:
    user_id = register(app, "again@example.com")
    login(shopper, "again@example.com")
    shopper.visit("/")
    shopper.add("test-1", 1)
    sql(app, "DELETE FROM carts")
    assert shopper.add("test-2", 2).status_code == 303
    assert sql(app, "SELECT user_id FROM carts") == [(user_id,)]
    assert [(item["productId"], item["qty"]) for item in shopper.cart()["items"]] == [("test-2", 2)]


def test_an_add_stores_the_clamp_of_the_stale_lines_it_read(shopper: Shopper, app: Litestar) -> None:
    """The add answers with the cart as read_cart() shows it, so it also stores what that read clamps."""
    shopper.add("test-1", 5)
    set_stock(app, "test-1", 2)
    assert shopper.add("test-2", 1).status_code == 303
    quantities = sql(app, "SELECT v.sku, l.quantity FROM cart_lines l JOIN variants v ON v.id = l.variant_id")
    assert sorted(quantities) == [("test-1", 2), ("test-2", 1)]


@pytest.mark.parametrize(
    ("product", "variant_of", "status"),
    [
        ("no-such-product", "test-1", 404),
        ("test-2", "test-1", 400),
        ("TEST-2", "test-1", 400),
        ("cotton-cap", "test-1", 404),
    ],
    ids=["unknown", "another-product", "capitals", "withdrawn"],
)
def test_an_add_naming_another_product_than_its_variants_is_refused(
    shopper: Shopper, app: Litestar, product: str, variant_of: str, status: int
) -> None:
    """An unknown or withdrawn product is not found; a known one that does not have the option is bad input."""
    withdraw(app, "cotton-cap")
    form = {"product": product, "variant_id": str(variant_id(app, variant_of)), "quantity": "1"}
    assert shopper.post("/cart/items", form).status_code == status
    assert stored_lines(app) == []


def test_the_add_answers_with_the_cart_as_a_read_shows_it(shopper: Shopper, app: Litestar) -> None:
    shopper.add("tea-tin", 2)
    added = shopper.client.post(
        "/api/cart", json={"productId": "linen-shirt", "variantId": variant_id(app, "linen-shirt", "M"), "qty": 1}
    )
    again = shopper.client.post("/api/cart", json={"productId": "cotton-cap", "qty": 1})
    at_most = shopper.client.post("/api/cart", json={"productId": "cotton-cap", "qty": 1})
    assert "already have the most" in at_most.json()["message"]
    read = shopper.cart()
    assert [item["title"] for item in added.json()["items"]] == ["Tea tin", "Linen shirt (M)"]
    assert again.json()["items"] == at_most.json()["items"] == read["items"]


def test_the_add_answers_with_the_lines_pictures_and_where_they_cannot_go(shopper: Shopper, app: Litestar) -> None:
    shopper.add("chef-knife", 1)
    shopper.post("/deliver-to", {"country": "FR", "postcode": "75001", "next": "/"})
    sql(app, "UPDATE products SET photo = 'a1b2c3d4e5f6' WHERE slug = 'tea-tin'")
    answer = shopper.add("tea-tin", 1, htmx=True).text
    assert "a1b2c3d4e5f6" in answer
    assert "Cannot be delivered to FR" in answer
    assert "img/products/test-1" in shopper.add("test-1", 1, htmx=True).text


def test_the_cart_page_shows_each_lines_photo(shopper: Shopper, app: Litestar) -> None:
    """The read of a stored cart carries the photo staff uploaded, not only the add's answer."""
    shopper.add("tea-tin", 1)
    sql(app, "UPDATE products SET photo = 'a1b2c3d4e5f6' WHERE slug = 'tea-tin'")
    page = shopper.visit("/cart").text
    assert "a1b2c3d4e5f6-64.webp" in page and "a1b2c3d4e5f6-128.webp 2x" in page


def test_an_add_over_the_limit_still_stores_the_clamp_of_the_stale_lines(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-1", 5)
    shopper.add("cotton-cap", 1)
    set_stock(app, "test-1", 2)
    assert shopper.add("cotton-cap", 1).status_code == 303  # already the most: nothing added
    quantities = sql(app, "SELECT v.sku, l.quantity FROM cart_lines l JOIN variants v ON v.id = l.variant_id")
    assert sorted(quantities) == [("cotton-cap", 1), ("test-1", 2)]


def test_a_second_add_says_how_many_it_added(shopper: Shopper) -> None:
    shopper.add("tea-tin", 2)
    assert "Added 3 × Tea tin to your cart." in shopper.add("tea-tin", 3, htmx=True).text


def test_stock_sold_between_the_cart_read_and_the_decrement_refuses_the_whole_order(
    client: TestClient[Litestar], app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL another placement can take the stock after this one priced the cart; take_stock()'s
    row count then refuses the order and names the short lines. SQLite's one writer never lets that
    happen, so here the sale is made inside the placement, right after its cart was priced."""
    client.post("/api/cart", json={"productId": "tea-tin", "qty": 2})
    client.post("/api/cart", json={"productId": "chef-knife", "qty": 1})
    line = next(item["id"] for item in client.get("/api/cart").json()["items"] if item["productId"] == "tea-tin")
    quote = orders.quote

    def quote_then_sell(v: Visit, method_code: str | None) -> orders.Quote:
        priced = quote(v, method_code)
        v.conn.execute(text("UPDATE variants SET stock = 1 WHERE sku = 'tea-tin'"))
        return priced

    monkeypatch.setattr(orders, "quote", quote_then_sell)
    stock = sql(app, "SELECT sku, stock FROM variants ORDER BY sku")
    body = api_checkout("late@example.com", "Late")
    answer = client.post("/api/checkout", json=body, headers={"Idempotency-Key": "sold-meanwhile-0001"})
    assert answer.status_code == 409 and answer.json()["error"] == "OUT_OF_STOCK", answer.text
    tea_tin = {"lineId": line, "variantId": variant_id(app, "tea-tin"), "title": "Tea tin", "qty": 2, "available": 1}
    assert answer.json()["lines"] == [tea_tin]
    assert "Tea tin: 1 left" in answer.json()["message"]
    assert sql(app, "SELECT count(*) FROM orders") == [(0,)]
    assert sql(app, "SELECT sku, stock FROM variants ORDER BY sku") == stock  # nothing taken, the knife included


@pytest.fixture
def tight(settings: Settings) -> Iterator[Litestar]:
    """Behind a proxy it trusts (X-Forwarded-For is the address), with small limits: 3 failures per
    account and address, 4 per address, 6 per account (then one attempt per 5 s)."""
    app = create_app(
        settings.with_overrides(
            trusted_proxies=("testclient",),
            login_max_failures_per_account_and_address=3,
            login_max_failures_per_address=4,
            login_max_failures_per_account=6,
            login_slow_seconds=5,
        )
    )
    yield app
    app.state.shop.db.dispose()


def logins(app: Litestar, address: str, email: str, password: str, times: int = 1) -> list[int]:
    return [login(from_address(app, address), email, password).status_code for _ in range(times)]


def test_a_right_password_gives_back_exactly_its_own_attempt_to_its_address(tight: Litestar) -> None:
    """Three failures, then a success: the address has counted four attempts and given one back,
    so it has one failure left before its limit of four (throttle_release() takes back one)."""
    register(tight, "right@example.com")
    assert logins(tight, "10.9.0.1", "nobody@example.com", WRONG, 3) == [401, 401, 401]
    assert logins(tight, "10.9.0.1", "right@example.com", PASSWORD) == [303]
    assert logins(tight, "10.9.0.1", "nobody2@example.com", WRONG, 2) == [401, 429]


def test_an_attempt_turned_away_by_its_locked_pair_is_not_counted_against_the_account(tight: Litestar) -> None:
    """Its account was not tried, so the account's counter gets exactly that attempt back: after
    three failures and three turned-away attempts from one address, the account has three left
    below its ceiling of six, then one per pace."""
    register(tight, "pair@example.com")
    assert logins(tight, "10.9.1.1", "pair@example.com", WRONG, 6) == [401, 401, 401, 429, 429, 429]
    others = [logins(tight, f"10.9.2.{n}", "pair@example.com", WRONG)[0] for n in range(5)]
    assert others == [401, 401, 401, 401, 429]


def test_a_success_gives_back_only_its_own_counters(tight: Litestar) -> None:
    """Another shopper's good login, from another address, leaves this pair's count as it was."""
    register(tight, "mine@example.com")
    register(tight, "theirs@example.com")
    assert logins(tight, "10.9.3.1", "mine@example.com", WRONG, 2) == [401, 401]
    assert logins(tight, "10.9.4.1", "theirs@example.com", PASSWORD) == [303]
    assert logins(tight, "10.9.3.1", "mine@example.com", WRONG, 2) == [401, 429]


def test_a_counter_given_back_more_often_than_counted_stays_at_zero(app: Litestar) -> None:
    """A release after its window began again (its count started over at 1) can meet a counter at
    0: it stays at 0, so the next window still allows exactly its limit."""
    store = app.state.shop.sessions
    with app.state.shop.db.engine.begin() as conn:
        assert store.throttle_take(conn, {"login:floor": 1}, 60) == 0
        store.throttle_release(conn, ["login:floor"])
        store.throttle_release(conn, ["login:floor"])
        assert store.throttle_take(conn, {"login:floor": 1}, 60) == 0
        assert store.throttle_take(conn, {"login:floor": 1}, 60) == 60


def test_a_pages_csrf_token_is_a_full_256_bit_mac_of_its_session(shopper: Shopper) -> None:
    """The token is the whole HMAC-SHA-256 of the session's ID (43 URL-safe characters), not a
    shortened one: guessing it is as hard as the key."""
    shopper.visit("/")
    assert len(shopper.csrf) == 43
    assert set(shopper.csrf) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def users_lines(app: Litestar, user_id: int) -> list[tuple[str, int]]:
    """The user's cart as stored, read straight after the login (a page's read would clamp it again)."""
    rows = sql(
        app,
        "SELECT v.sku, l.quantity FROM cart_lines l JOIN carts c ON c.id = l.cart_id"
        " JOIN variants v ON v.id = l.variant_id WHERE c.user_id = :user ORDER BY v.sku",
        user=user_id,
    )
    return [(str(sku), int(quantity)) for sku, quantity in rows]


def test_a_merge_lists_its_notes_in_the_order_the_guest_added_the_lines(app: Litestar, shopper: Shopper) -> None:
    register(app, "order@example.com")
    shopper.add("test-2", 3)
    shopper.add("test-1", 3)
    set_stock(app, "test-1", 1)
    set_stock(app, "test-2", 1)
    login(shopper, "order@example.com")
    page = shopper.visit("/cart").text
    assert page.index("Test product 2: only 1 left") < page.index("Test product 1: only 1 left")


def test_a_merge_that_takes_exactly_the_stock_left_reduces_nothing(app: Litestar, shopper: Shopper) -> None:
    user_id = register(app, "exact@example.com")
    shopper.add("test-1", 2)
    set_stock(app, "test-1", 2)
    login(shopper, "exact@example.com")
    assert users_lines(app, user_id) == [("test-1", 2)]
    page = shopper.visit("/cart").text
    assert "2 items from your guest cart were added to your cart." in page
    assert "only 2 left" not in page


def test_a_merge_leaves_out_a_withdrawn_product_and_says_so(app: Litestar, shopper: Shopper) -> None:
    user_id = register(app, "gone@example.com")
    shopper.add("test-1", 1)
    shopper.add("test-2", 2)
    withdraw(app, "test-2")  # still 50 in stock, but no longer sold
    login(shopper, "gone@example.com")
    assert users_lines(app, user_id) == [("test-1", 1)]
    page = shopper.visit("/cart").text
    assert "1 item from your guest cart was added to your cart." in page
    assert "Test product 2 is sold out and was not added." in page


def test_a_merged_line_is_stored_clamped_to_the_stock_left(app: Litestar, shopper: Shopper) -> None:
    user_id = register(app, "stock@example.com")
    shopper.add("test-1", 5)
    set_stock(app, "test-1", 2)
    login(shopper, "stock@example.com")
    assert users_lines(app, user_id) == [("test-1", 2)]


def test_a_merged_line_is_stored_clamped_to_the_limit_in_force(app: Litestar, shopper: Shopper) -> None:
    user_id = register(app, "limit@example.com")
    shopper.add("test-1", 5)
    shop = app.state.shop
    shop.settings = shop.settings.with_overrides(max_line_quantity=3)
    login(shopper, "limit@example.com")
    assert users_lines(app, user_id) == [("test-1", 3)]


def test_a_merge_moves_the_last_unit_in_stock(app: Litestar, shopper: Shopper) -> None:
    user_id = register(app, "last@example.com")
    shopper.add("test-1", 1)
    set_stock(app, "test-1", 1)
    login(shopper, "last@example.com")
    assert users_lines(app, user_id) == [("test-1", 1)]


def test_a_merged_line_keeps_the_price_it_was_added_at(app: Litestar, shopper: Shopper) -> None:
    """The price when the guest added it, which the cart compares with today's."""
    user_id = register(app, "price@example.com")
    shopper.add("test-1", 1)
    added = sql(app, "SELECT added_price_cents FROM cart_lines")
    assert added[0][0] is not None
    login(shopper, "price@example.com")
    kept = sql(
        app,
        "SELECT l.added_price_cents FROM cart_lines l JOIN carts c ON c.id = l.cart_id WHERE c.user_id = :user",
        user=user_id,
    )
    assert kept == added


def test_a_cancellation_puts_back_each_lines_own_quantity(shopper: Shopper, app: Litestar) -> None:
    """per_variant()'s CASE gives each variant its own line's quantity back, not one for all."""
    before = dict(sql(app, "SELECT sku, stock FROM variants WHERE sku IN ('test-1', 'test-2')"))
    shopper.add("test-1", 2)
    shopper.add("test-2", 5)
    number = shopper.checkout()
    assert dict(sql(app, "SELECT sku, stock FROM variants WHERE sku IN ('test-1', 'test-2')")) == {
        "test-1": before["test-1"] - 2,
        "test-2": before["test-2"] - 5,
    }
    cancelled = shopper.client.post(f"/api/orders/{number}/cancel", json={})
    assert cancelled.json()["order"]["status"] == "cancelled"
    assert dict(sql(app, "SELECT sku, stock FROM variants WHERE sku IN ('test-1', 'test-2')")) == before


def test_a_refused_placement_names_every_short_line_and_only_those(
    client: TestClient[Litestar], app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two lines sold meanwhile are both named, one after the other; a third that takes exactly the
    stock left was not short and is not named."""
    set_stock(app, "test-1", 2)
    client.post("/api/cart", json={"productId": "tea-tin", "qty": 2})
    client.post("/api/cart", json={"productId": "chef-knife", "qty": 1})
    client.post("/api/cart", json={"productId": "test-1", "qty": 2})
    quote = orders.quote

    def quote_then_sell(v: Visit, method_code: str | None) -> orders.Quote:
        priced = quote(v, method_code)
        v.conn.execute(text("UPDATE variants SET stock = 1 WHERE sku = 'tea-tin'"))
        v.conn.execute(text("UPDATE variants SET stock = 0 WHERE sku = 'chef-knife'"))
        return priced

    monkeypatch.setattr(orders, "quote", quote_then_sell)
    body = api_checkout("short@example.com", "Short")
    answer = client.post("/api/checkout", json=body, headers={"Idempotency-Key": "short-lines-0001"})
    assert answer.status_code == 409 and answer.json()["error"] == "OUT_OF_STOCK", answer.text
    assert [line["title"] for line in answer.json()["lines"]] == ["Tea tin", "Chef's knife"]
    assert "(Tea tin: 1 left; Chef's knife: 0 left)" in answer.json()["message"]


def test_an_old_review_sent_again_after_a_new_checkout_began_goes_to_its_order(shopper: Shopper, app: Litestar) -> None:
    """The first review's form, sent again from a tab left open after a new checkout began (and its
    cart was emptied): place_order() finds its key's order and answers with it, placing nothing."""
    shopper.add("tea-tin", 1)
    review = shopper.review()
    first = shopper.place(review)
    assert first.status_code == 303
    number = first.headers["location"].rsplit("/", 1)[1]
    assert "Thank you! Your order" in shopper.client.get(f"/orders/{number}").text  # its message, seen once
    shopper.add("test-1", 1)
    shopper.review()  # a new checkout of a new cart
    line = line_of(shopper, "test-1")
    assert shopper.post(f"/cart/lines/{line}/remove", {}).status_code == 303
    again = shopper.place(review)
    assert again.status_code == 303 and again.headers["location"] == f"/orders/{number}", again.text
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]
    page = shopper.client.get(f"/orders/{number}")
    assert page.status_code == 200 and "Thank you! Your order" not in page.text  # a replay is not placed again


def test_a_users_idempotency_key_is_theirs_in_every_session(app: Litestar) -> None:
    """Scoped by the user, not by the session: the same key from the user's second device is the
    same checkout, answered with the order it placed."""
    register(app, "devices@example.com")
    body = api_checkout("devices@example.com", "Two Devices")
    numbers = []
    for _ in range(2):
        with TestClient(app, base_url=BASE_URL) as device:
            shopper = Shopper(device)
            assert login(shopper, "devices@example.com").status_code == 303
            device.post("/api/cart", json={"productId": "tea-tin", "qty": 1})
            answer = device.post("/api/checkout", json=body, headers={"Idempotency-Key": "same-key-two-devices"})
            numbers.append((answer.status_code, answer.json()["order"]["number"]))
    assert [status for status, _ in numbers] == [201, 200]
    assert numbers[0][1] == numbers[1][1]
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]


def test_a_placement_of_lines_reduced_since_they_were_added_names_each_of_them(
    client: TestClient[Litestar], app: Litestar
) -> None:
    client.post("/api/cart", json={"productId": "test-1", "qty": 3})
    client.post("/api/cart", json={"productId": "test-2", "qty": 3})
    lines = {item["productId"]: item["id"] for item in client.get("/api/cart").json()["items"]}
    set_stock(app, "test-1", 1)
    set_stock(app, "test-2", 2)
    body = api_checkout("reduced@example.com", "Reduced")
    answer = client.post("/api/checkout", json=body, headers={"Idempotency-Key": "reduced-lines-0001"})
    assert answer.status_code == 409 and answer.json()["error"] == "OUT_OF_STOCK", answer.text
    assert "(Test product 1: 1 left; Test product 2: 2 left)" in answer.json()["message"]
    # Each line as the take_stock() refusal names it (the same fields for a script to act on).
    assert answer.json()["lines"] == [
        {"lineId": lines[slug], "variantId": variant_id(app, slug), "title": title, "qty": 3, "available": left}
        for slug, title, left in (("test-1", "Test product 1", 1), ("test-2", "Test product 2", 2))
    ]
    assert sql(app, "SELECT count(*) FROM orders") == [(0,)]


def test_an_orders_first_event_names_the_user_who_placed_it(shopper: Shopper, app: Litestar) -> None:
    user_id = register(app, "first-event@example.com")
    login(shopper, "first-event@example.com")
    shopper.visit("/")  # a page after the login, with the session's new token
    shopper.add("tea-tin", 1)
    shopper.checkout()
    assert sql(app, "SELECT to_status, actor, actor_user_id FROM order_events") == [("placed", "shopper", user_id)]


def test_a_placement_to_where_a_line_cannot_go_names_that_line(client: TestClient[Litestar], app: Litestar) -> None:
    """The knife goes to Germany only, and here the lamp too: an /api checkout to France is refused,
    naming both."""
    sql(
        app,
        "INSERT INTO product_zones (product_id, zone_id) SELECT p.id, z.id FROM products p, shipping_zones z"
        " WHERE p.slug = 'table-lamp' AND z.code = 'home'",
    )
    client.post("/api/cart", json={"productId": "chef-knife", "qty": 1})
    client.post("/api/cart", json={"productId": "table-lamp", "qty": 1})
    client.post("/api/cart", json={"productId": "tea-tin", "qty": 1})
    body = api_checkout("abroad@example.com", "Abroad")
    body["address"] = {"line1": "1 rue de Rivoli", "city": "Paris", "postcode": "75001", "country": "FR"}
    answer = client.post("/api/checkout", json=body, headers={"Idempotency-Key": "abroad-knife-0001"})
    assert answer.status_code in {409, 422}, answer.text
    assert "Chef's knife, Table lamp cannot be delivered to FR" in answer.json()["message"], answer.text
    assert sql(app, "SELECT count(*) FROM orders") == [(0,)]


def test_a_login_that_first_stores_a_visitors_session_leaves_no_mark_of_its_minted_id(
    shopper: Shopper, app: Litestar
) -> None:
    """A visitor whose first write is the login: the ID minted for its login page was never stored,
    so rotating it away leaves one record, the user's, no "ended" mark for an ID no one holds, and
    no announcement that its streams end (a session never stored has none)."""
    register(app, "first@example.com")
    recorder = Recorder()
    app.state.shop.live = recorder
    before = len(session_records(app))
    assert login(shopper, "first@example.com").status_code == 303
    assert len(session_records(app)) == before + 1
    assert recorder.said == []


def test_an_unchanged_session_past_its_refresh_interval_has_only_its_expiry_moved(
    shopper: Shopper, app: Litestar, settings: Settings
) -> None:
    """A read that changes nothing, an hour after the expiry was set: the expiry moves to the full
    idle timeout from now, the data stays as stored."""
    shopper.add("test-1")
    shopper.visit("/")  # shows the add's message: nothing is left to change
    change_sessions(app, expires_at=lambda at: at - 3600)
    [stale] = stored_sessions(app).values()
    started = int(time.time())
    assert shopper.client.get("/api/cart").status_code == 200
    [fresh] = stored_sessions(app).values()
    assert fresh.data == stale.data
    assert (
        started + settings.session_idle_seconds <= fresh.expires_at <= int(time.time()) + settings.session_idle_seconds
    )


def test_a_session_written_again_after_its_login_still_ends_with_a_password_change(
    app: Litestar, shopper: Shopper, other_shopper: Shopper
) -> None:
    """The other device's session is rewritten after its login (an add's message): it stays the
    user's, so the password change on this device ends it too."""
    register(app, "twice@example.com")
    login(shopper, "twice@example.com")
    login(other_shopper, "twice@example.com")
    other_shopper.visit("/")
    other_shopper.add("test-1")  # its session's data changes: written again, not issued anew
    shopper.visit("/account")
    changed = shopper.post("/account/password", {"current_password": PASSWORD, "new_password": "another passphrase"})
    assert changed.status_code == 303
    assert other_shopper.client.get("/api/auth/me").json() == {"user": None}


def test_choosing_the_same_place_again_does_not_rewrite_the_session(shopper: Shopper, app: Litestar) -> None:
    """A value set to what the session already holds is no change: nothing to write."""
    shopper.add("test-1")
    shopper.visit("/")  # shows the add's message
    assert shopper.client.post("/api/locality", json={"country": "DE", "postcode": "50667"}).status_code == 200
    change_sessions(app, expires_at=lambda at: at - 10)
    [before] = stored_sessions(app).values()
    assert shopper.client.post("/api/locality", json={"country": "DE", "postcode": "50667"}).status_code == 200
    [after] = stored_sessions(app).values()
    assert (after.data, after.expires_at) == (before.data, before.expires_at)


def test_a_minted_id_is_taken_back_until_the_idle_timeout_and_not_at_it(settings: Settings) -> None:
    """An ID minted at minute m is good while less than the idle timeout has passed since then."""
    store = SqlSessionStore(settings)
    minted_at = 1_800_000_000  # on a whole minute
    minted = store.mint(minted_at)
    assert store.minted_by_us(minted, minted_at)
    assert store.minted_by_us(minted, minted_at + settings.session_idle_seconds - 1)
    assert not store.minted_by_us(minted, minted_at + settings.session_idle_seconds)
    assert not store.minted_by_us(minted, minted_at - 1), "minted in the future: forged or a clock gone back"


def test_the_mark_of_a_minted_id_that_ended_outlives_the_purge_of_expired_sessions(
    shopper: Shopper, app: Litestar
) -> None:
    """A guest's minted ID ended by its login stays refused, with its pages' token, after the
    housekeeping purge: its mark lasts as long as the ID could be taken back."""
    register(app, "marked@example.com")
    shopper.add("test-1")  # the guest's session is stored under its minted ID
    shopper.visit("/login")
    old_cookie, old_token = shopper.session_cookie or "", shopper.csrf
    assert login(shopper, "marked@example.com").status_code == 303
    store = app.state.shop.sessions
    with app.state.shop.db.engine.begin() as conn:
        store.purge_expired(conn)
    with TestClient(app, base_url=BASE_URL) as replay:
        replay.cookies.set("session", old_cookie)
        assert replay.post("/cart/clear", data={"csrf_token": old_token}).status_code == 403


def test_an_unchanged_sessions_expiry_is_refreshed_once_exactly_the_refresh_interval_has_passed(
    shopper: Shopper, app: Litestar, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    shopper.add("test-1")
    shopper.visit("/")  # shows the add's message: nothing is left to change
    now = int(time.time())
    due = now + settings.session_idle_seconds
    change_sessions(app, expires_at=lambda _: due - settings.session_refresh_seconds)
    monkeypatch.setattr(app.state.shop.sessions, "now", lambda: now)
    assert shopper.client.get("/api/cart").status_code == 200
    [record] = stored_sessions(app).values()
    assert record.expires_at == due


def test_a_visitors_first_stored_change_can_come_from_a_page_that_only_reads(client: TestClient[Litestar]) -> None:
    """The checkout of an empty cart sends a new visitor back with a message: a read whose only
    change is that message stores the session under the ID its first page was given."""
    client.get("/")
    minted = client.cookies["session"]
    gone = client.get("/checkout", follow_redirects=False)
    assert (gone.status_code, gone.headers["location"]) == (303, "/cart")
    assert "Your cart is empty: add something before checking out." in client.get("/cart").text
    assert client.cookies["session"] == minted


def test_a_new_visitors_change_joins_the_session_another_of_its_requests_stored_meanwhile(app: Litestar) -> None:
    """Two requests of a new visitor with the ID its first page was given: one stores the session
    (a cart) while the other, a read that leaves a message, is under way; the read's message joins
    the stored session instead of overwriting it."""
    store = app.state.shop.sessions
    engine = app.state.shop.db.engine
    with engine.connect() as conn:
        minted = store.load(conn, None).id
        reading = store.load(conn, minted)
    assert reading.is_new and not reading.minted, "an ID the browser brought back, not stored yet"
    with engine.connect() as conn:
        adding = store.load(conn, minted)
    adding.set("cart_id", 7)
    saved(app, lambda conn: store.save(conn, adding))
    reading.flash("Your cart is empty: add something before checking out.")
    saved(app, lambda conn: store.save(conn, reading, merge=True))
    record = stored_sessions(app)[session_key(minted)]
    assert record.data["cart_id"] == 7
    # Its lifetime runs from when the other request stored it, in the store and in this request.
    assert record.created_at == adding.created_at == reading.created_at
    assert record.data["flash"] == [
        {"message": "Your cart is empty: add something before checking out.", "level": "info"}
    ]


def test_two_reads_that_show_the_same_message_both_answer(app: Litestar, shopper: Shopper) -> None:
    """Two tabs of one shopper load a page each while a message waits: both show it and take it;
    the second to save finds it already gone, which is no error."""
    shopper.add("test-1")  # its message waits for the next page
    store = app.state.shop.sessions
    engine = app.state.shop.db.engine
    key = session_key(shopper.session_cookie or "")
    with engine.connect() as conn:
        first, second = store.load(conn, shopper.session_cookie), store.load(conn, shopper.session_cookie)
    assert first.take_flashes() == second.take_flashes() != []
    saved(app, lambda conn: store.save(conn, first, merge=True))
    saved(app, lambda conn: store.save(conn, second, merge=True))
    assert "flash" not in stored_sessions(app)[key].data


def test_a_session_is_over_at_the_second_it_expires(
    shopper: Shopper, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    shopper.add("test-1")
    now = int(time.time())
    change_sessions(app, expires_at=lambda _: now)
    monkeypatch.setattr(app.state.shop.sessions, "now", lambda: now)
    assert shopper.cart()["items"] == []


def test_an_api_404_and_an_htmx_404_set_no_cookie_for_a_visitor_without_one(client: TestClient[Litestar]) -> None:
    """Only a whole 404 page, whose forms carry its session's token, sends that session's cookie:
    a JSON or fragment answer has no form of a new session to carry."""
    api = client.get("/api/orders/ZZZZZZZZ")
    assert api.status_code == 404 and api.json()["error"] == "NOT_FOUND", api.text
    assert api.headers.get_list("set-cookie") == []
    fragment = client.get("/orders/ZZZZZZZZ", headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    assert fragment.headers.get_list("set-cookie") == []
    page = client.get("/orders/ZZZZZZZZ")
    assert page.status_code == 404 and len(page.headers.get_list("set-cookie")) == 1


@get("/_test/shows-its-message-meanwhile", name="test.shows_its_message_meanwhile")
async def shows_its_message_meanwhile(request: Request) -> dict[str, Any]:
    """A read that takes the session's message while another request of the session writes it."""
    store = request.app.state.shop.sessions
    cookie = request.cookies["session"]

    def work(v: Visit) -> dict[str, Any]:
        shown = v.session.take_flashes()
        with request.app.state.shop.db.engine.connect() as conn:
            other = store.load(conn, cookie)
        other.set("chosen", "meanwhile")
        saved(request.app, lambda conn: store.save(conn, other))
        return {"shown": len(shown)}

    return await visit(request, work)


def test_a_read_that_changes_its_session_keeps_what_another_request_wrote_meanwhile(
    app: Litestar, shopper: Shopper
) -> None:
    app.register(shows_its_message_meanwhile)
    shopper.add("test-1")  # a message waits, and the session is stored
    assert shopper.client.get("/_test/shows-its-message-meanwhile").json() == {"shown": 1}
    [record] = stored_sessions(app).values()
    assert record.data.get("chosen") == "meanwhile"
    assert "flash" not in record.data


def test_a_session_saved_as_usual_logs_no_warning(shopper: Shopper, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        shopper.add("test-1")
        shopper.visit("/cart")
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
