"""Catalogue pages: the index with its category filter and pagination, and the product page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, CSRF, HTMX_GET, Shopper, htmx_headers, variant_id
from tests.factories import sell_out, set_stock, withdraw, withdraw_category
from web import demo
from web.app import create_app
from web.settings import Settings

CARD = re.compile(r'<li id="product-card-([^"]+)" class="product-card[^"]*">(.*?)</li>', re.DOTALL)
VARIANT = re.compile(r'<label class="variant[^"]*">(.*?)</label>', re.DOTALL)
DEMO_SLUGS = {product.slug for product in demo.PRODUCTS}
LISTED_SLUGS = {product.slug for product in demo.PRODUCTS if product.category != "test"}
APPAREL = {product.slug for product in demo.PRODUCTS if product.category == "apparel"}


def cards(html: str) -> dict[str, str]:
    """The product cards on a listing page, by slug, in page order."""
    return dict(CARD.findall(html))


def stock_state(html: str) -> str:
    found = re.search(r'<span class="stock stock-\w+">([^<]+)</span>', html)
    assert found, html
    return found.group(1)


def variants(html: str) -> dict[str, str]:
    """Each option on a product page: its label and its whole <label> markup."""
    options = {}
    for block in VARIANT.findall(html):
        label = re.search(r'<span class="variant-label">([^<]*)</span>', block)
        assert label
        options[label.group(1)] = block
    return options


def h1(html: str) -> str:
    found = re.search(r"<h1>([^<]*)</h1>", html)
    assert found
    return found.group(1)


# The index


def test_the_index_lists_the_first_page_of_products(client: TestClient[Litestar]) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert h1(response.text) == "All products"
    listed = cards(response.text)
    assert len(listed) == 12
    assert list(listed)[:2] == ["linen-shirt", "merino-sweater"]
    assert ">Linen shirt</span>" in listed["linen-shirt"]
    assert "€59.00" in listed["linen-shirt"]
    assert '<span aria-current="page"><span class="visually-hidden">Page </span>1</span>' in response.text
    assert '<a href="/?page=2"><span class="visually-hidden">Page </span>2</a>' in response.text
    assert '<a href="/?page=2" rel="next">Next' in response.text
    assert 'rel="prev"' not in response.text


def test_the_test_products_are_out_of_the_menu_and_the_listing_but_keep_their_pages(
    client: TestClient[Litestar],
) -> None:
    everything = {**cards(client.get("/").text), **cards(client.get("/?page=2").text)}
    assert set(everything) == LISTED_SLUGS
    assert "?category=test" not in client.get("/").text
    assert set(cards(client.get("/?category=test").text)) == {"test-1", "test-2"}
    assert client.get("/products/test-1").status_code == 200
    assert "product-card-test-1" not in client.get("/search?q=product").text


def test_two_pages_hold_the_whole_catalogue_once(client: TestClient[Litestar]) -> None:
    first = cards(client.get("/").text)
    second_page = client.get("/?page=2")
    assert second_page.status_code == 200
    second = cards(second_page.text)
    assert len(second) == len(LISTED_SLUGS) - 12
    assert not set(first) & set(second)
    assert set(first) | set(second) == LISTED_SLUGS
    assert '<span aria-current="page"><span class="visually-hidden">Page </span>2</span>' in second_page.text
    assert '<a href="/"><span class="visually-hidden">Page </span>1</a>' in second_page.text
    assert '<a href="/" rel="prev">‹ Previous' in second_page.text
    assert 'rel="next"' not in second_page.text


def test_cards_show_stock_states(client: TestClient[Litestar]) -> None:
    listed = {**cards(client.get("/").text), **cards(client.get("/?page=2").text)}
    assert stock_state(listed["silk-scarf"]) == "Sold out"
    assert stock_state(listed["cotton-cap"]) == "Only 1 left"
    assert stock_state(listed["tea-tin"]) == "In stock"
    assert stock_state(listed["linen-shirt"]) == "In stock"
    both_pages = client.get("/").text + client.get("/?page=2").text
    assert 'id="product-card-silk-scarf" class="product-card product-card-sold-out"' in both_pages
    assert 'id="product-card-tea-tin" class="product-card"' in both_pages


def test_the_category_filter(client: TestClient[Litestar]) -> None:
    response = client.get("/?category=apparel")
    assert response.status_code == 200
    assert h1(response.text) == "Apparel"
    assert set(cards(response.text)) == APPAREL
    assert '<a href="/?category=apparel" aria-current="page">Apparel</a>' in response.text
    assert '<a href="/" aria-current="page">' not in response.text
    assert 'id="pagination"' not in response.text


def test_the_category_filter_hides_other_categories(client: TestClient[Litestar]) -> None:
    listed = cards(client.get("/?category=kitchen").text)
    assert listed
    assert not set(listed) & APPAREL
    assert "chef-knife" in listed


def test_an_unknown_category_is_404(client: TestClient[Litestar]) -> None:
    response = client.get("/?category=garden")
    assert response.status_code == 404
    assert "There is no category called “garden”." in response.text


def test_an_empty_category_says_so(client: TestClient[Litestar]) -> None:
    withdraw_category(client.app, "home")
    response = client.get("/?category=home")
    assert response.status_code == 200
    assert cards(response.text) == {}
    assert "No products here yet." in response.text


@pytest.fixture
def small_pages(settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(settings.with_overrides(page_size=3)), base_url=BASE_URL) as client:
        yield client


def test_pagination_keeps_the_category(small_pages: TestClient[Litestar]) -> None:
    response = small_pages.get("/?category=apparel")
    assert len(cards(response.text)) == 3
    assert '<a href="/?category=apparel&amp;page=2"><span class="visually-hidden">Page </span>2</a>' in response.text
    assert '<a href="/?category=apparel&amp;page=3"><span class="visually-hidden">Page </span>3</a>' in response.text
    assert "page=4" not in response.text
    pages = [cards(small_pages.get(f"/?category=apparel&page={n}").text) for n in (1, 2, 3)]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert set().union(*pages) == APPAREL


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("page=0", 400),
        ("page=abc", 400),
        ("page=-1", 400),
        ("page=1.5", 400),
        ("page=２", 400),
        ("page=", 400),
        ("page=1&page=2", 400),
        ("page=99999999999999999999", 400),
        ("page=3", 404),
        ("page=999", 404),
        ("category=apparel&page=2", 404),
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_bad_page_number_is_a_clear_4xx(client: TestClient[Litestar], query: str, status: int, htmx: bool) -> None:
    response = client.get(f"/?{query}", headers=HTMX_GET if htmx else {})
    assert response.status_code == status
    assert "Traceback" not in response.text
    if htmx:
        assert response.headers["hx-reswap"] == "none"
        assert 'id="toast"' in response.text
    else:
        assert 'id="errors-error"' in response.text
    if status == 404:
        assert "the last page is" in response.text


def test_an_inactive_product_is_not_listed(client: TestClient[Litestar]) -> None:
    withdraw(client.app, "tea-tin")
    first = cards(client.get("/").text)
    second = cards(client.get("/?page=2").text)
    assert "tea-tin" not in first | second
    assert len(first) + len(second) == len(LISTED_SLUGS) - 1


# The product page


def test_a_product_page_shows_its_options_with_stock_states(client: TestClient[Litestar]) -> None:
    response = client.get("/products/linen-shirt")
    assert response.status_code == 200
    assert h1(response.text) == "Linen shirt"
    options = variants(response.text)
    assert list(options) == ["S", "M", "L", "XL"]
    assert {label: stock_state(block) for label, block in options.items()} == {
        "S": "Only 4 left",
        "M": "Only 2 left",
        "L": "In stock",
        "XL": "Sold out",
    }
    assert " disabled>" in options["XL"]
    assert all(" disabled" not in options[label] for label in ("S", "M", "L"))
    assert " checked" in options["S"]
    assert "€59.00" in options["M"]
    assert '<button type="submit" class="button">Add to cart</button>' in response.text


def test_the_first_option_in_stock_is_chosen(client: TestClient[Litestar]) -> None:
    set_stock(client.app, "linen-shirt-s", 0)
    options = variants(client.get("/products/linen-shirt").text)
    assert " checked" in options["M"]
    assert " checked" not in options["S"]


def test_an_option_can_be_chosen_in_the_address(client: TestClient[Litestar]) -> None:
    large = variant_id(client.app, "linen-shirt", "L")
    options = variants(client.get(f"/products/linen-shirt?variant={large}").text)
    assert " checked" in options["L"]
    assert " checked" not in options["S"]
    for junk in ("abc", "-1", "٣", str(2**63)):
        response = client.get(f"/products/linen-shirt?variant={junk}")
        assert response.status_code == 200
        assert " checked" in variants(response.text)["S"]


def test_a_sold_out_option_in_the_address_is_not_preselected(client: TestClient[Litestar]) -> None:
    """It is disabled, so a checked sold-out option would leave the form with no option to send."""
    extra_large = variant_id(client.app, "linen-shirt", "XL")
    options = variants(client.get(f"/products/linen-shirt?variant={extra_large}").text)
    assert " checked" not in options["XL"]
    assert " checked" in options["S"]


def test_adding_without_choosing_an_option_says_what_is_missing(shopper: Shopper) -> None:
    shopper.visit("/products/linen-shirt")
    response = shopper.post("/cart/items", {"product": "linen-shirt", "quantity": "1"})
    assert response.status_code == 400
    assert "<p>Please give the option.</p>" in response.text


def test_a_product_without_options_has_one_hidden_variant(client: TestClient[Litestar]) -> None:
    response = client.get("/products/cotton-cap")
    assert response.status_code == 200
    assert variants(response.text) == {}
    cap = variant_id(client.app, "cotton-cap")
    assert f'<input type="hidden" name="variant_id" value="{cap}">' in response.text
    assert stock_state(response.text.split('id="catalog-add-form"')[1]) == "Only 1 left"
    assert stock_state(client.get("/products/test-1").text.split('id="catalog-add-form"')[1]) == "In stock"


def test_a_sold_out_product_has_no_add_button(client: TestClient[Litestar]) -> None:
    response = client.get("/products/silk-scarf")
    assert response.status_code == 200
    form = response.text.split('id="catalog-add-form"')[1]
    assert stock_state(form) == "Sold out"
    assert response.text.count("old out") == 1, "the page says it is sold out once"
    assert "Add to cart" not in response.text
    assert 'name="quantity"' not in response.text


def test_a_sold_out_product_offers_others_in_stock_from_its_category(client: TestClient[Litestar]) -> None:
    sell_out(client.app, "merino-sweater")
    related = cards(client.get("/products/silk-scarf").text.split('id="catalog-related"')[1])
    assert list(related) == ["linen-shirt", "canvas-tote", "wool-socks", "rain-jacket"]
    assert all(stock_state(card) != "Sold out" for card in related.values())
    assert 'id="catalog-related"' not in client.get("/products/linen-shirt").text


def test_a_product_whose_options_all_sold_out_has_no_add_button(client: TestClient[Litestar]) -> None:
    sell_out(client.app, "canvas-tote")
    response = client.get("/products/canvas-tote")
    assert all(stock_state(block) == "Sold out" for block in variants(response.text).values())
    assert "Add to cart" not in response.text
    assert 'id="catalog-related"' in response.text


@pytest.mark.parametrize("slug", ["no-such-product", "test-3", "linen", "linen-shirt-s"])
def test_an_unknown_product_is_a_404_page(client: TestClient[Litestar], slug: str) -> None:
    response = client.get(f"/products/{slug}")
    assert response.status_code == 404
    assert response.text.startswith("<!doctype html>")
    assert "<title>Not found · Storefront</title>" in response.text
    assert "That product does not exist or is no longer sold." in response.text
    assert 'id="catalog-add-form"' not in response.text


@pytest.mark.parametrize("path", ["/products/no-such-product", "/no-such-page", "/a/b/c", "/categories"])
def test_a_404_page_keeps_the_header_with_the_shoppers_cart_and_login(shopper: Shopper, path: str) -> None:
    shopper.visit("/products/test-1")
    shopper.add("test-1", 2)
    response = shopper.client.get(path)
    assert response.status_code == 404 and "<title>Not found · Storefront</title>" in response.text
    assert 'data-count="2"' in response.text.split('id="cart-badge"')[1].split("</a>")[0]
    assert 'id="accounts-user-nav"' in response.text and 'id="locality-deliver-to"' in response.text
    assert 'id="cart-drawer"' in response.text  # the badge opens it, as on every page
    assert f"/login?next={path}" in response.text  # "Log in" comes back here


def test_a_first_visitor_landing_on_a_404_can_use_its_forms(client: TestClient[Litestar]) -> None:
    """The page carries a session's CSRF token, so its cookie comes with it."""
    page = client.get("/products/no-such-product")
    assert page.status_code == 404
    token = CSRF.search(page.text)
    assert token is not None
    headers = htmx_headers(token.group(1), "/products/no-such-product", "locality-deliver-to")
    chosen = client.post("/deliver-to", data={"country": "DE", "postcode": "10117", "next": "/"}, headers=headers)
    assert chosen.status_code == 200, chosen.text


def test_an_address_of_no_page_is_404_for_every_method_and_json_under_api(client: TestClient[Litestar]) -> None:
    assert client.post("/no-such-page").status_code == 404
    head = client.head("/no-such-page")
    assert head.status_code == 404 and head.content == b""
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.json()["error"] == "NOT_FOUND"


def test_an_inactive_product_page_is_404(client: TestClient[Litestar]) -> None:
    withdraw(client.app, "test-2")
    assert client.get("/products/test-2").status_code == 404


@pytest.mark.parametrize("slug", ["LINEN-SHIRT", "Linen-Shirt", "linen-SHIRT"])
def test_the_slug_is_matched_case_insensitively(client: TestClient[Litestar], slug: str) -> None:
    response = client.get(f"/products/{slug}")
    assert response.status_code == 200
    assert h1(response.text) == "Linen shirt"
    assert '<input type="hidden" name="product" value="linen-shirt">' in response.text
    assert '<input type="hidden" name="next" value="/products/linen-shirt">' in response.text


def test_the_product_page_shows_how_many_are_in_the_cart(shopper: Shopper) -> None:
    shopper.visit("/products/test-1")
    assert "of this in your cart" not in shopper.visit("/products/test-1").text
    assert shopper.add("test-1", 2).status_code == 303
    page = shopper.visit("/products/test-1").text
    assert '<a href="/cart">2 of this in your cart</a>' in page
    assert 'data-count="2"' in page
    assert "of this in your cart" not in shopper.visit("/products/test-2").text


def test_the_breadcrumb_links_to_the_category(client: TestClient[Litestar]) -> None:
    response = client.get("/products/chef-knife")
    assert '<a href="/?category=kitchen">Kitchen</a>' in response.text
    assert h1(response.text) == "Chef&#39;s knife"
