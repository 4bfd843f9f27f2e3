"""Cart routes with and without htmx.

Without JavaScript every form posts and gets a 303 back with a flash on the next page; with htmx the
same forms get the target fragment plus out-of-band badge, drawer and toast. The badge always shows
the cart's total quantity.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from litestar import Litestar, Response, get
from litestar.testing import TestClient

from tests.conftest import BASE_URL, HTMX_GET, Shopper, add_form, htmx_headers, login, register, sql, variant_id
from tests.factories import make_staff
from tests.test_static_and_compression import fingerprinted
from web.cart.store import purge_carts

BADGE = re.compile(
    r'<a id="cart-badge"[^>]*>.*?>Cart</span> <span class="cart-count" data-count="(\d+)">(\d+)</span>',
    re.S,
)
# A message (templates/partials/alert.html): its level, then its words.
FLASH = re.compile(r'<div class="alert alert-(\w+)"[^>]*>.*?<span class="alert-text">([^<]*)</span>', re.S)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def badge_count(html: str) -> int:
    found = BADGE.search(html)
    assert found, "no cart badge"
    assert found.group(1) == found.group(2)
    return int(found.group(1))


def cart_count(shopper: Shopper) -> int:
    return int(shopper.cart()["totals"]["count"])


def opening_tag(html: str, element_id: str) -> str:
    found = re.search(rf'<[a-z]+ id="{element_id}"[^>]*>', html)
    assert found, f"#{element_id} is missing"
    return found.group(0)


def is_oob(html: str, element_id: str) -> bool:
    return 'hx-swap-oob="true"' in opening_tag(html, element_id)


def first_id(html: str) -> str:
    found = re.match(r'\s*<[a-z]+ id="([^"]+)"', html)
    assert found, html[:200]
    return found.group(1)


def flashes(html: str) -> list[tuple[str, str]]:
    return FLASH.findall(html)


def quantities(shopper: Shopper) -> dict[str, int]:
    return {item["title"]: item["qty"] for item in shopper.cart()["items"]}


def line_id(shopper: Shopper, title: str) -> int:
    return int(next(item["id"] for item in shopper.cart()["items"] if item["title"] == title))


def assert_htmx_update(
    response: Any, shopper: Shopper, target: str, message: str, *, on_cart_page: bool | None = None
) -> None:
    """The target fragment first, then the badge, drawer and toast out of band, all agreeing with the cart.

    On the cart page, which has no drawer, the page's contents take the drawer's place."""
    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    assert "<html" not in response.text
    assert first_id(response.text) == target
    assert not is_oob(response.text, target)
    if on_cart_page is None:
        on_cart_page = target == "cart-contents"
    live_part = "cart-contents" if on_cart_page else "cart-drawer"
    for element in ("cart-badge", live_part, "toast"):
        if element != target:
            assert is_oob(response.text, element), element
    if on_cart_page and target != "cart-drawer":
        assert 'id="cart-drawer"' not in response.text
    assert badge_count(response.text) == cart_count(shopper)
    toast = response.text.split('id="toast"')[1]
    if target == "catalog-add-status":  # the status says it; the toast is emptied so it is not read twice
        assert message in response.text.split('id="catalog-add-status"')[1] and 'class="alert' not in toast
    elif target == "cart-drawer":  # the page behind the open drawer is out of reach: the drawer says it
        drawer_status = response.text.split('id="cart-drawer-status"')[1].split("</div>")[0]
        assert message in drawer_status and 'class="alert' not in toast
    else:
        assert message in toast


def assert_redirect_with_flash(
    response: Any, shopper: Shopper, location: str, message: str, level: str = "success"
) -> None:
    """303 to `location`; the page there shows the flash once and a badge that matches the cart."""
    assert response.status_code == 303, response.text
    assert response.headers["location"] == location
    page = shopper.visit(location)
    assert page.status_code == 200
    assert (level, message) in flashes(page.text)
    assert badge_count(page.text) == cart_count(shopper)
    assert flashes(shopper.visit(location).text) == []


@pytest.fixture
def stocked(shopper: Shopper) -> Shopper:
    """Linen shirt S × 2 (stock 4), M × 1 (stock 2) and Test product 1 × 3 in the cart."""
    shopper.visit("/products/linen-shirt")
    assert shopper.add("linen-shirt", 2, label="S").status_code == 303
    assert shopper.add("linen-shirt", 1, label="M").status_code == 303
    assert shopper.add("test-1", 3).status_code == 303
    shopper.visit("/cart")
    return shopper


# Add to cart


def test_add_without_js_redirects_back_with_a_flash(shopper: Shopper) -> None:
    shopper.visit("/products/test-1")
    response = shopper.add("test-1", 2)
    back = f"/products/test-1?variant={variant_id(shopper.app, 'test-1')}&quantity=2"
    assert_redirect_with_flash(response, shopper, back, "Added 2 × Test product 1 to your cart.")
    assert quantities(shopper) == {"Test product 1": 2}


def test_without_js_the_product_page_comes_back_with_the_option_just_added(shopper: Shopper) -> None:
    """Choose M and add: the page comes back with M chosen, so the next add is an M too (not an S)."""
    medium = variant_id(shopper.app, "linen-shirt", "M")
    shopper.visit("/products/linen-shirt")
    response = shopper.add("linen-shirt", 1, label="M")
    assert response.headers["location"] == f"/products/linen-shirt?variant={medium}"
    page = shopper.visit(response.headers["location"]).text
    assert re.search(rf'value="{medium}" checked', page)
    again = shopper.post(
        "/cart/items", {**add_form(shopper.app, "linen-shirt", label="M"), "next": response.headers["location"]}
    )
    assert again.headers["location"] == f"/products/linen-shirt?variant={medium}"
    assert quantities(shopper) == {"Linen shirt (M)": 2}


def test_without_js_the_product_page_comes_back_with_the_quantity_just_added(shopper: Shopper) -> None:
    """Add 3 of L: the page comes back with L chosen and 3 in the quantity field, as the shopper left them."""
    large = variant_id(shopper.app, "linen-shirt", "L")
    shopper.visit("/products/linen-shirt")
    back = shopper.add("linen-shirt", 3, label="L").headers["location"]
    assert back == f"/products/linen-shirt?variant={large}&quantity=3"
    page = shopper.visit(back).text
    assert re.search(rf'value="{large}" checked', page)
    assert re.search(r'id="quantity"[^>]* value="3"', page)


def test_add_without_next_returns_to_the_cart(shopper: Shopper) -> None:
    shopper.visit("/products/test-1")
    form = add_form(shopper.app)
    response = shopper.post("/cart/items", form)
    assert_redirect_with_flash(response, shopper, "/cart", "Added 1 × Test product 1 to your cart.")


def test_add_with_htmx_answers_the_status_badge_and_open_drawer(shopper: Shopper) -> None:
    shopper.add("test-2", 1)
    shopper.visit("/products/test-1")
    response = shopper.add("test-1", 2, htmx=True, page="/")
    assert_htmx_update(response, shopper, "catalog-add-status", "Added 2 × Test product 1 to your cart.")
    status = response.text.split('id="cart-badge"')[0]
    assert "Added 2 × Test product 1 to your cart." in status
    assert "catalog-in-cart" not in response.text  # the page it came from is not a product page
    assert 'data-open="true"' in opening_tag(response.text, "cart-drawer")
    assert "Test product 1" in response.text.split('id="cart-drawer"')[1]
    assert badge_count(response.text) == 3
    assert "cart-contents" not in response.text
    assert flashes(shopper.visit("/products/test-1").text) == []


def test_a_cart_change_on_a_product_page_refreshes_its_in_cart_count(shopper: Shopper) -> None:
    shopper.add("test-1", 1)
    response = shopper.add("test-2", 2, htmx=True, page="/products/test-1")
    assert '<a href="/cart">1 of this in your cart</a>' in response.text.split('id="catalog-in-cart"')[1]
    line = shopper.cart()["items"][0]["id"]
    edit = shopper.post(
        f"/cart/lines/{line}/quantity", {"quantity": "4"}, htmx=True, page="/products/test-1", target="cart-drawer"
    )
    assert 'hx-swap-oob="true"' in edit.text.split('id="catalog-in-cart"')[1].split(">")[0]
    assert "4 of this in your cart" in edit.text


def test_add_beyond_stock_clamps_and_says_so(shopper: Shopper) -> None:
    shopper.visit("/products/linen-shirt")
    response = shopper.add("linen-shirt", 9, label="S", htmx=True)
    assert_htmx_update(response, shopper, "catalog-add-status", "Only 4 in stock: you now have 4.")
    assert 'class="add-status add-status-warning"' in response.text  # fewer than asked: not a success
    assert badge_count(response.text) == 4
    response = shopper.add("linen-shirt", 1, label="S")
    message = "You already have the most we can sell of Linen shirt (S) in your cart (4)."
    assert response.status_code == 303
    assert ("info", message) in flashes(shopper.visit("/products/linen-shirt").text)


# Set quantity


def test_set_quantity_without_js(stocked: Shopper) -> None:
    line = line_id(stocked, "Test product 1")
    response = stocked.post(f"/cart/lines/{line}/quantity", {"quantity": "5", "next": "/cart"})
    assert_redirect_with_flash(response, stocked, "/cart", "Test product 1: quantity set to 5.")
    assert quantities(stocked)["Test product 1"] == 5


def test_set_quantity_with_htmx_on_the_cart_page_swaps_the_contents(stocked: Shopper) -> None:
    line = line_id(stocked, "Test product 1")
    headers = htmx_headers(stocked.csrf, "/cart", "cart-contents")
    response = stocked.post(f"/cart/lines/{line}/quantity", {"quantity": "5"}, headers=headers)
    assert_htmx_update(response, stocked, "cart-contents", "Test product 1: quantity set to 5.")
    contents = response.text.split('id="cart-badge"')[0]
    assert re.search(rf'id="qty-page-{line}"[^>]*value="5"', contents)
    assert "Subtotal (8 items)" in contents


def test_set_quantity_with_htmx_in_the_drawer_swaps_the_drawer(stocked: Shopper) -> None:
    line = line_id(stocked, "Test product 1")
    headers = htmx_headers(stocked.csrf, "/products/test-1", "cart-drawer")
    response = stocked.post(f"/cart/lines/{line}/quantity", {"quantity": "4"}, headers=headers)
    assert_htmx_update(response, stocked, "cart-drawer", "Test product 1: quantity set to 4.")
    assert re.search(rf'id="qty-drawer-{line}"[^>]*value="4"', response.text)
    assert "cart-contents" not in response.text


def test_cart_page_has_no_drawer_and_its_badge_is_a_plain_link(stocked: Shopper) -> None:
    """The cart page shows the cart itself; a second copy in a drawer would only repeat it."""
    page = stocked.visit("/cart")
    assert 'id="cart-drawer"' not in page.text
    assert 'href="/cart"' in opening_tag(page.text, "cart-badge")
    assert 'id="cart-drawer"' in stocked.visit("/products/test-1").text


def test_an_edit_from_a_drawer_left_on_the_cart_page_updates_both(stocked: Shopper) -> None:
    """A cart page loaded before drawers left it (an old tab) still gets its contents updated."""
    line = line_id(stocked, "Test product 1")
    headers = htmx_headers(stocked.csrf, "/cart", "cart-drawer")
    response = stocked.post(f"/cart/lines/{line}/quantity", {"quantity": "4"}, headers=headers)
    assert_htmx_update(response, stocked, "cart-drawer", "Test product 1: quantity set to 4.", on_cart_page=True)
    assert is_oob(response.text, "cart-contents")
    assert re.search(rf'id="qty-page-{line}"[^>]*value="4"', response.text)


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page", "htmx"])
def test_set_quantity_zero_removes_the_line(stocked: Shopper, with_htmx: bool) -> None:
    line = line_id(stocked, "Test product 1")
    headers = htmx_headers(stocked.csrf, "/cart", "cart-contents") if with_htmx else {}
    response = stocked.post(f"/cart/lines/{line}/quantity", {"quantity": "0", "next": "/cart"}, headers=headers)
    message = "Removed Test product 1 from your cart."
    if with_htmx:
        assert_htmx_update(response, stocked, "cart-contents", message)
        assert f"cart-line-{line}" not in response.text
    else:
        assert_redirect_with_flash(response, stocked, "/cart", message)
    assert quantities(stocked) == {"Linen shirt (S)": 2, "Linen shirt (M)": 1}


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page", "htmx"])
def test_set_quantity_over_stock_clamps_with_a_message(stocked: Shopper, with_htmx: bool) -> None:
    line = line_id(stocked, "Linen shirt (S)")
    headers = htmx_headers(stocked.csrf, "/cart", "cart-contents") if with_htmx else {}
    response = stocked.post(f"/cart/lines/{line}/quantity", {"quantity": "9", "next": "/cart"}, headers=headers)
    message = "Only 4 of Linen shirt (S) can be bought: quantity set to 4."
    if with_htmx:
        assert_htmx_update(response, stocked, "cart-contents", message)
        assert 'class="alert alert-warning"' in response.text.split('id="toast"')[1]
    else:
        assert_redirect_with_flash(response, stocked, "/cart", message, level="warning")  # a clamp is no success
    assert quantities(stocked)["Linen shirt (S)"] == 4
    assert sql(stocked.app, "SELECT quantity FROM cart_lines WHERE id = :id", id=line) == [(4,)]


# Remove and clear


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page", "htmx"])
def test_remove_a_line(stocked: Shopper, with_htmx: bool) -> None:
    line = line_id(stocked, "Linen shirt (M)")
    headers = htmx_headers(stocked.csrf, "/cart", "cart-contents") if with_htmx else {}
    response = stocked.post(f"/cart/lines/{line}/remove", {"next": "/cart"}, headers=headers)
    message = "Removed Linen shirt (M) from your cart."
    if with_htmx:
        assert_htmx_update(response, stocked, "cart-contents", message)
        assert f"cart-line-{line}" not in response.text
    else:
        assert_redirect_with_flash(response, stocked, "/cart", message)
    assert quantities(stocked) == {"Linen shirt (S)": 2, "Test product 1": 3}


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("slug", ["linen-shirt", "Linen-Shirt"])
def test_remove_a_product_removes_all_its_variants(stocked: Shopper, slug: str, with_htmx: bool) -> None:
    headers = htmx_headers(stocked.csrf, "/cart", "cart-contents") if with_htmx else {}
    response = stocked.post(f"/cart/products/{slug}/remove", {"next": "/cart"}, headers=headers)
    message = "Removed Linen shirt from your cart."
    if with_htmx:
        assert_htmx_update(response, stocked, "cart-contents", message)
        assert "Linen shirt (S)" not in response.text
    else:
        assert_redirect_with_flash(response, stocked, "/cart", message)
    assert quantities(stocked) == {"Test product 1": 3}


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page", "htmx"])
def test_clear_the_cart(stocked: Shopper, with_htmx: bool) -> None:
    headers = htmx_headers(stocked.csrf, "/cart", "cart-contents") if with_htmx else {}
    response = stocked.post("/cart/clear", {"next": "/cart"}, headers=headers)
    emptied = "Your cart is now empty. Changed your mind? Put them back below."
    if with_htmx:
        assert_htmx_update(response, stocked, "cart-contents", emptied)
        assert "Your cart is empty." in response.text.split('id="cart-badge"')[0]
    else:
        assert_redirect_with_flash(response, stocked, "/cart", emptied)
    assert stocked.cart()["items"] == []
    assert badge_count(stocked.visit("/cart").text) == 0


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page", "htmx"])
def test_an_emptied_cart_can_be_put_back_once(stocked: Shopper, with_htmx: bool) -> None:
    before = quantities(stocked)
    assert stocked.post("/cart/clear", {"next": "/cart"}).status_code == 303
    page = stocked.visit("/cart").text
    assert 'action="/cart/put-back"' in page
    assert page.count('href="/"') == 2  # the brand and "Continue shopping": no second link beside the empty cart
    headers = htmx_headers(stocked.csrf, "/cart", "cart-contents") if with_htmx else {}
    response = stocked.post("/cart/put-back", {"next": "/cart"}, headers=headers)
    put_back = f"{sum(before.values())} items were put back in your cart."
    if with_htmx:
        assert_htmx_update(response, stocked, "cart-contents", put_back)
    else:
        assert_redirect_with_flash(response, stocked, "/cart", put_back)
    assert quantities(stocked) == before
    assert 'action="/cart/put-back"' not in stocked.visit("/cart").text
    again = stocked.post("/cart/put-back", {"next": "/cart"})
    assert again.status_code == 303 and ("info", "There is nothing to put back.") in flashes(
        stocked.visit("/cart").text
    )
    assert quantities(stocked) == before


@pytest.mark.parametrize("as_user", [False, True], ids=["guest", "user"])
def test_putting_back_after_housekeeping_purged_the_emptied_cart_makes_a_new_one(
    shopper: Shopper, as_user: bool
) -> None:
    """The emptied cart is an empty cart: housekeeping deletes it after a day. Put back still works."""
    if as_user:
        register(shopper.app, "back@example.com")
        login(shopper, "back@example.com")
    shopper.visit("/products/test-1")
    shopper.add("test-1", 2)
    sql(shopper.app, "UPDATE carts SET created_at = created_at - 2 * 86400")
    assert shopper.post("/cart/clear", {"next": "/cart"}).status_code == 303
    with shopper.app.state.shop.db.engine.begin() as conn:
        assert purge_carts(conn, int(time.time()), 30) == (0, 1)
    response = shopper.post("/cart/put-back", {"next": "/cart"})
    assert response.status_code == 303
    assert quantities(shopper) == {"Test product 1": 2}


def test_housekeeping_keeps_the_newest_cart_so_no_id_is_handed_out_twice(
    shopper: Shopper, other_shopper: Shopper
) -> None:
    """SQLite gives a new row the highest id plus one: a purged newest cart's id would go to the
    next cart, and the shopper whose session still names it would see someone else's cart."""
    shopper.visit("/products/test-1")
    shopper.add("test-1", 1)
    shopper.post(f"/cart/lines/{line_id(shopper, 'Test product 1')}/remove", {"next": "/cart"})
    sql(shopper.app, "UPDATE carts SET created_at = created_at - 2 * 86400")
    with shopper.app.state.shop.db.engine.begin() as conn:
        assert purge_carts(conn, int(time.time()), 30) == (0, 0)  # empty and old, but the newest
    other_shopper.visit("/products/test-2")
    other_shopper.add("test-2", 2)
    assert quantities(shopper) == {} and quantities(other_shopper) == {"Test product 2": 2}
    sql(shopper.app, "UPDATE carts SET created_at = created_at - 2 * 86400")
    with shopper.app.state.shop.db.engine.begin() as conn:
        assert purge_carts(conn, int(time.time()), 30) == (0, 1)  # no longer the newest: it goes
    assert quantities(shopper) == {} and quantities(other_shopper) == {"Test product 2": 2}


def test_another_account_logging_in_is_not_offered_what_the_first_emptied(shopper: Shopper) -> None:
    for email in ("first@example.com", "second@example.com"):
        register(shopper.app, email)
    login(shopper, "first@example.com")
    shopper.visit("/products/test-1")
    shopper.add("test-1", 2)
    shopper.post("/cart/clear", {"next": "/cart"})
    login(shopper, "second@example.com")  # from a login form left open, without logging out
    assert 'action="/cart/put-back"' not in shopper.visit("/cart").text
    shopper.post("/cart/put-back", {"next": "/cart"})
    assert quantities(shopper) == {}


def test_a_parked_cart_whose_id_now_names_another_cart_is_not_put_back(stocked: Shopper) -> None:
    """SQLite may give a purged cart's id to a new cart: the id the session keeps is checked with its
    creation time, so a put-back never takes another shopper's cart. Here that cart's row is made to
    look like another (created at another second)."""
    stocked.post("/cart/clear", {"next": "/cart"})
    ((parked,),) = sql(stocked.app, "SELECT DISTINCT cart_id FROM cart_lines")
    sql(stocked.app, "UPDATE carts SET created_at = created_at + 1 WHERE id = :id", id=parked)
    stocked.post("/cart/put-back", {"next": "/cart"})
    assert quantities(stocked) == {}
    assert sql(stocked.app, "SELECT count(*) FROM cart_lines WHERE cart_id = :id", id=parked) != [(0,)]


def test_putting_back_sums_with_what_was_added_since_and_keeps_to_the_stock(stocked: Shopper) -> None:
    """Linen shirt (S) has 4 in stock: 3 emptied, then 2 added, puts back 2 of the 3 and says so."""
    line = line_id(stocked, "Linen shirt (S)")
    stocked.post(f"/cart/lines/{line}/quantity", {"quantity": "3", "next": "/cart"})
    others = {title: qty for title, qty in quantities(stocked).items() if title != "Linen shirt (S)"}
    stocked.post("/cart/clear", {"next": "/cart"})
    stocked.add("linen-shirt", 2, label="S")
    stocked.post("/cart/put-back", {"next": "/cart"})
    assert quantities(stocked) == {**others, "Linen shirt (S)": 4}
    said = flashes(stocked.visit("/cart").text)
    assert said[-1][0] == "warning" and "Linen shirt (S): only 4 left, quantity reduced." in said[-1][1]
    assert sql(
        stocked.app,
        "SELECT count(*) FROM carts WHERE user_id IS NULL AND id NOT IN (SELECT DISTINCT cart_id FROM cart_lines)",
    ) == [(0,)]


def test_clearing_one_cart_leaves_another_alone(stocked: Shopper, other_shopper: Shopper) -> None:
    other_shopper.visit("/products/test-2")
    other_shopper.add("test-2", 2)
    theirs = other_shopper.cart()
    assert stocked.post("/cart/clear", {"next": "/cart"}).status_code == 303
    assert other_shopper.cart() == theirs


# Reading the cart


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page", "htmx"])
def test_the_cart_page_shows_lines_and_subtotal(stocked: Shopper, with_htmx: bool) -> None:
    response = stocked.client.get("/cart", headers=HTMX_GET if with_htmx else {})
    assert response.status_code == 200
    page = response.text
    assert "<title>Your cart · Storefront</title>" in page
    contents = page.split('id="cart-contents"')[1].split("</section>")[0]
    for title in ("Linen shirt (S)", "Linen shirt (M)", "Test product 1"):
        assert f">{title}</a>" in contents
    assert 'data-line-total="11800"' in contents
    assert "Subtotal (6 items)" in contents
    assert 'data-subtotal="19200"' in contents
    assert "€192.00" in contents
    assert badge_count(page) == cart_count(stocked) == 6


def test_an_empty_cart_page(client: TestClient[Litestar]) -> None:
    response = client.get("/cart")
    assert response.status_code == 200
    assert "Your cart is empty." in response.text
    assert badge_count(response.text) == 0


def test_the_drawer_with_htmx_is_the_drawer_and_the_badge(stocked: Shopper) -> None:
    response = stocked.client.get("/cart/drawer", headers=htmx_headers(stocked.csrf, "/products/test-1", "cart-drawer"))
    assert response.status_code == 200
    assert first_id(response.text) == "cart-drawer"
    assert not is_oob(response.text, "cart-drawer")
    assert is_oob(response.text, "cart-badge")
    assert badge_count(response.text) == cart_count(stocked) == 6
    assert "data-open" not in opening_tag(response.text, "cart-drawer")
    assert "<html" not in response.text


def test_the_refresh_on_the_cart_page_is_its_contents_and_the_badge(stocked: Shopper) -> None:
    """A cart page shown again after another tab changed the cart: its lines and badge both catch up."""
    stocked.add("test-2", 1)
    response = stocked.client.get("/cart/drawer", headers=htmx_headers(stocked.csrf, "/cart", "cart-contents"))
    assert response.status_code == 200
    assert first_id(response.text) == "cart-contents"
    assert not is_oob(response.text, "cart-contents")
    assert is_oob(response.text, "cart-badge")
    assert 'id="cart-drawer"' not in response.text
    assert ">Test product 2</a>" in response.text.split('id="cart-badge"')[0]
    assert badge_count(response.text) == cart_count(stocked) == 7


def test_the_drawer_without_js_redirects_to_the_cart(stocked: Shopper) -> None:
    response = stocked.client.get("/cart/drawer", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/cart"


def test_the_badge_matches_the_cart_after_every_change(shopper: Shopper) -> None:
    shopper.visit("/products/test-1")
    steps = [
        lambda: shopper.add("test-1", 2, htmx=True),
        lambda: shopper.add("linen-shirt", 3, label="M", htmx=True),
        lambda: shopper.post(
            f"/cart/lines/{line_id(shopper, 'Test product 1')}/quantity", {"quantity": "7"}, htmx=True
        ),
        lambda: shopper.client.get("/cart/drawer", headers=HTMX_GET),
        lambda: shopper.post(f"/cart/lines/{line_id(shopper, 'Linen shirt (M)')}/remove", {}, htmx=True),
        lambda: shopper.client.get("/cart"),
        lambda: shopper.client.get("/"),
        lambda: shopper.client.get("/products/linen-shirt"),
        lambda: shopper.post("/cart/clear", {}, htmx=True),
    ]
    for step in steps:
        response = step()
        assert response.status_code == 200, response.text
        assert badge_count(response.text) == cart_count(shopper)
    assert cart_count(shopper) == 0


# Redirects stay on this site


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/cart",
        "https://evil.example",
        "http://shop.test.evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\tevil",
        "/\r\nSet-Cookie: evil=1",
    ],
)
@pytest.mark.parametrize("route", ["add", "clear", "quantity", "remove"])
def test_next_never_leaves_the_site(stocked: Shopper, route: str, target: str) -> None:
    line = line_id(stocked, "Test product 1")
    if route == "add":
        form = add_form(stocked.app)
        response = stocked.post("/cart/items", {**form, "next": target})
    elif route == "clear":
        response = stocked.post("/cart/clear", {"next": target})
    elif route == "quantity":
        response = stocked.post(f"/cart/lines/{line}/quantity", {"quantity": "1", "next": target})
    else:
        response = stocked.post(f"/cart/lines/{line}/remove", {"next": target})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "\\" not in location
    assert "evil" not in location
    assert "evil" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("target", ["/products/test-1", "/?category=home&page=1", "/cart"])
def test_next_within_the_site_is_kept(stocked: Shopper, target: str) -> None:
    response = stocked.post("/cart/clear", {"next": target})
    assert response.status_code == 303
    assert response.headers["location"] == target


# Headers and markup every page must have


def pages(shopper: Shopper) -> dict[str, Any]:
    """Every kind of HTML response the shop gives a shopper with a session and a cart."""
    line = line_id(shopper, "Test product 1")
    return {
        "index": shopper.client.get("/"),
        "category": shopper.client.get("/?category=apparel"),
        "page 2": shopper.client.get("/?page=2"),
        "product": shopper.client.get("/products/linen-shirt"),
        "sold out": shopper.client.get("/products/silk-scarf"),
        "cart": shopper.client.get("/cart"),
        "drawer": shopper.client.get("/cart/drawer", headers=HTMX_GET),
        "htmx add": shopper.add("test-1", 1, htmx=True),
        "htmx quantity": shopper.post(f"/cart/lines/{line}/quantity", {"quantity": "2"}, htmx=True),
        "redirect": shopper.add("test-1", 1),
        "not found": shopper.client.get("/products/no-such-product"),
        "bad page": shopper.client.get("/?page=0"),
        "wrong method": shopper.client.get("/cart/items"),
        "htmx error": shopper.add("test-1", 0, htmx=True),
    }


SESSION_BEARING = ["index", "category", "page 2", "product", "sold out", "cart", "drawer", "htmx add", "htmx quantity"]


def test_session_bearing_html_is_never_cached(stocked: Shopper) -> None:
    responses = pages(stocked)
    for name in [*SESSION_BEARING, "redirect"]:
        assert responses[name].headers.get("cache-control") == "no-store", name


def test_the_first_page_of_a_new_visitor_is_never_cached(client: TestClient[Litestar]) -> None:
    response = client.get("/")
    assert "set-cookie" in response.headers
    assert response.headers["cache-control"] == "no-store"


def beyond_the_shop_pages(shopper: Shopper) -> dict[str, Any]:
    """The responses that are not a shopper's HTML: JSON, a static file, an order's event stream (its
    HEAD, which answers with the stream's headers at once, see test_headers.py) and a staff page.
    Places the shopper's cart as an order and ends logged in as staff."""
    answers = {"api": shopper.client.get("/api/cart"), "static": shopper.client.get("/static/css/shop.css")}
    number = shopper.checkout()
    answers["event stream"] = shopper.client.head(f"/orders/{number}/events")
    register(shopper.app, "staff@example.com")
    make_staff(shopper.app, "staff@example.com")
    assert login(shopper, "staff@example.com").status_code == 303
    answers["staff page"] = shopper.client.get("/staff/orders")
    answers["staff order"] = shopper.client.get(f"/staff/orders/{number}")
    return answers


def test_every_response_has_a_strict_content_security_policy_and_the_site_headers(stocked: Shopper) -> None:
    responses = {**pages(stocked), **beyond_the_shop_pages(stocked)}
    assert responses["api"].headers["content-type"].startswith("application/json")
    assert responses["event stream"].headers["content-type"].startswith("text/event-stream")
    assert responses["staff page"].status_code == responses["staff order"].status_code == 200
    for name, response in responses.items():
        policy = response.headers.get("content-security-policy", "")
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives.get("script-src") == "'self'", name
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, name
        assert directives.get("frame-ancestors") == "'none'", name
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], name
        assert response.headers.get_list("referrer-policy") == ["same-origin"], name


def test_the_site_wide_headers_replace_any_a_response_sets_itself(app: Litestar) -> None:
    """One value per header, the site's: a handler cannot weaken the frame or cache policy by accident."""

    @get("/own-headers", sync_to_thread=False)
    def own_headers() -> Response[str]:
        return Response("x", headers={"X-Frame-Options": "SAMEORIGIN", "Cache-Control": "public"})

    app.register(own_headers)
    with TestClient(app, base_url=BASE_URL) as client:
        response = client.get("/own-headers")
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.headers.get_list("cache-control") == ["public"]  # no session here, so not no-store
    assert len(response.headers.get_list("content-security-policy")) == 1


def test_no_page_has_inline_script(stocked: Shopper) -> None:
    for name, response in pages(stocked).items():
        assert not INLINE_SCRIPT.search(response.text), name
        assert not EVENT_HANDLER.search(response.text), name
        assert "javascript:" not in response.text, name
    index = stocked.client.get("/").text
    assert re.findall(r'<script src="([^"]+)"', index) == [
        fingerprinted("vendor/htmx-2.0.11.min.js"),
        fingerprinted("js/shop.js"),
    ]


def test_removing_a_product_that_is_not_in_the_cart_says_so(shopper: Shopper) -> None:
    shopper.add("test-1", 1)
    response = shopper.post("/cart/products/test-2/remove", htmx=True)
    assert response.status_code == 200
    assert "Test product 2 was not in your cart." in response.text
    assert shopper.quantities() != {}
