"""Search (/search?q=), sorting and the quantity in the address, on the engine the suite runs on
(SQLite's FTS5 by default, PostgreSQL's full-text search with TEST_DATABASE_URL)."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, TEST_DATABASE_URL, variant_id
from tests.factories import rename
from tests.test_catalog_routes import LISTED_SLUGS, cards
from web.app import create_app
from web.catalog import service as catalog
from web.demo import PRODUCTS
from web.settings import Settings

PRICE = {product.slug: product.price for product in PRODUCTS}


def search(client: TestClient[Litestar], query: str) -> dict[str, str]:
    response = client.get("/search", params={"q": query})
    assert response.status_code == 200, response.text
    return cards(response.text)


def test_the_engine_is_the_full_text_one(app: Litestar) -> None:
    """The suite exercises FTS5 or PostgreSQL, not the LIKE fallback for an SQLite without FTS5."""
    with app.state.shop.db.engine.connect() as conn:
        assert conn.dialect.name == ("postgresql" if TEST_DATABASE_URL else "sqlite")
        if not TEST_DATABASE_URL:
            assert catalog.has_fts5_table(conn)


def test_search_finds_words_in_the_name_and_the_description(client: TestClient[Litestar]) -> None:
    assert set(search(client, "linen")) == {"linen-shirt", "linen-cushion", "linen-apron", "table-lamp"}
    assert set(search(client, "steel")) == {"chef-knife", "fountain-pen", "desk-tray"}
    assert set(search(client, "LINEN shade")) == {"table-lamp"}, "every word must match"


def test_a_word_matches_by_its_beginning(client: TestClient[Litestar]) -> None:
    assert set(search(client, "cush")) == {"linen-cushion"}
    assert set(search(client, "notebook")) == {"dot-notebook"}


def test_the_name_matching_ranks_first(client: TestClient[Litestar]) -> None:
    """ "Linen" is in three names and one description (the lamp's shade): the lamp comes last."""
    assert list(search(client, "linen"))[-1] == "table-lamp"


def test_the_words_found_are_marked(client: TestClient[Litestar]) -> None:
    found = search(client, "linen shade")["table-lamp"]
    assert '<span class="product-snippet">Brass lamp with a <mark>linen</mark> <mark>shade</mark>.</span>' in found
    assert '<span class="product-name">Table lamp</span>' in found


def test_a_product_name_with_markup_is_escaped_in_results(client: TestClient[Litestar], app: Litestar) -> None:
    rename(app, "tea-tin", "Tea <img src=x onerror=alert(1)> & co")
    response = client.get("/search", params={"q": "tea"})
    assert "<img src=x" not in response.text
    assert "<mark>Tea</mark> &lt;img src=x onerror=alert(1)&gt; &amp; co" in response.text


def test_an_empty_result_says_so_and_offers_the_categories(client: TestClient[Litestar]) -> None:
    response = client.get("/search", params={"q": "unicorn"})
    assert response.status_code == 200
    assert "No products match “unicorn”." in response.text
    no_results = response.text.split('id="catalog-no-results"')[1]
    for slug in ("apparel", "home", "kitchen", "stationery"):
        assert f'href="/?category={slug}"' in no_results
    assert "category=test" not in no_results


def test_the_search_box_alone_shows_no_results_message(client: TestClient[Litestar]) -> None:
    response = client.get("/search")
    assert response.status_code == 200
    assert "No products match" not in response.text
    assert 'id="catalog-search-form"' in response.text


@pytest.mark.parametrize(
    ("query", "finds_linen"),
    [
        ('"', False),
        ("'; DROP TABLE products; --", False),
        ('linen" OR "', False),  # two words, "linen" and "or": no product has both
        ("linen*", True),
        ("NEAR(linen shirt)", False),
        ("name:linen", False),
        ("linen AND NOT shirt", False),
        ("^linen", True),
        ("-linen", True),
        ("linen & | ! <-> :*", True),
        ("(((", False),
        ("%_%", False),
        ("\\", False),
        ("🙂", False),
        ("linen " * 30, True),
    ],
)
def test_hostile_searches_are_words_or_nothing_never_an_error(
    client: TestClient[Litestar], query: str, finds_linen: bool
) -> None:
    """Quotes, FTS5 and tsquery operators and LIKE wildcards are not passed on: only words are searched for."""
    response = client.get("/search", params={"q": query})
    assert response.status_code == 200, response.text
    found = cards(response.text)
    assert set(found) <= LISTED_SLUGS
    assert ("linen-shirt" in found) == finds_linen


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("linen\x00shirt", "control characters"),
        ("a" * 201, "at most 200 characters"),
    ],
)
def test_unusable_searches_are_a_clear_400(client: TestClient[Litestar], query: str, message: str) -> None:
    response = client.get("/search", params={"q": query})
    assert response.status_code == 400
    assert message in response.text


def test_a_search_of_no_letters_says_what_to_type(client: TestClient[Litestar]) -> None:
    response = client.get("/search", params={"q": "*** ???"})
    assert "has none" in response.text


def test_search_results_are_paged_and_keep_the_query(settings: Settings) -> None:
    with TestClient(create_app(settings.with_overrides(page_size=2)), base_url=BASE_URL) as small:
        first = small.get("/search", params={"q": "linen"})
        assert len(cards(first.text)) == 2
        assert '<a href="/search?q=linen&amp;page=2" rel="next">' in first.text
        second = small.get("/search", params={"q": "linen", "page": "2"})
        assert not set(cards(first.text)) & set(cards(second.text))
        assert small.get("/search", params={"q": "linen", "page": "3"}).status_code == 404


# Sorting


@pytest.mark.parametrize(("sort", "descending"), [("price-asc", False), ("price-desc", True)])
def test_sorting_by_price(client: TestClient[Litestar], sort: str, descending: bool) -> None:
    listed = list(cards(client.get(f"/?category=kitchen&sort={sort}").text))
    assert len(listed) == 6
    assert [PRICE[slug] for slug in listed] == sorted((PRICE[slug] for slug in listed), reverse=descending)
    assert listed != sorted(listed, key=lambda slug: PRICE[slug], reverse=not descending)


def test_sorting_by_newest_puts_the_last_added_first(client: TestClient[Litestar]) -> None:
    listed = list(cards(client.get("/?category=stationery&sort=newest").text))
    assert listed == ["desk-tray", "fountain-pen", "dot-notebook"]


def test_the_sort_is_kept_by_the_pages_and_shown_chosen(client: TestClient[Litestar]) -> None:
    response = client.get("/?sort=price-desc")
    assert '<option value="price-desc" selected>' in response.text
    assert '<a href="/?sort=price-desc&amp;page=2" rel="next">' in response.text
    assert next(iter(cards(response.text))) == "rain-jacket"


@pytest.mark.parametrize("query", ["sort=cheapest", "sort=newest&sort=featured", "sort=%00"])
def test_an_unknown_sort_is_a_clear_400(client: TestClient[Litestar], query: str) -> None:
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    assert "Traceback" not in response.text


# Breadcrumbs


def test_breadcrumbs_end_with_the_current_page(client: TestClient[Litestar]) -> None:
    product = client.get("/products/linen-shirt").text
    crumbs = product.split('id="catalog-breadcrumbs"')[1].split("</nav>")[0]
    assert '<a href="/">Shop</a>' in crumbs
    assert '<a href="/?category=apparel">Apparel</a>' in crumbs
    assert '<span aria-current="page">Linen shirt</span>' in crumbs
    assert '<span aria-current="page">Apparel</span>' in client.get("/?category=apparel").text


# The quantity and option in the address


def test_the_quantity_in_the_address_fills_the_field_and_the_steps(client: TestClient[Litestar]) -> None:
    large = variant_id(client.app, "linen-shirt", "L")
    page = client.get(f"/products/linen-shirt?variant={large}&quantity=3").text
    assert re.search(r'id="quantity"[^>]* value="3"', page)
    assert f'href="/products/linen-shirt?variant={large}&amp;quantity=2" data-step="-1"' in page
    assert f'href="/products/linen-shirt?variant={large}&amp;quantity=4" data-step="1"' in page


@pytest.mark.parametrize(("raw", "shown"), [("0", "1"), ("abc", "1"), ("-2", "1"), ("9" * 5000, "99"), ("", "1")])
def test_an_unusable_quantity_in_the_address_is_one_or_the_most(
    client: TestClient[Litestar], raw: str, shown: str
) -> None:
    response = client.get("/products/tea-tin", params={"quantity": raw})
    assert response.status_code == 200
    assert re.search(rf'id="quantity"[^>]* value="{shown}"', response.text)


def test_the_steps_stop_at_one_and_at_the_most(client: TestClient[Litestar]) -> None:
    step = re.compile(r'<a class="stepper-step" href="([^"]+)" data-step="(-?1)"[^>]*?( aria-disabled="true")?>')
    tea = variant_id(client.app, "tea-tin")
    lowest = step.findall(client.get("/products/tea-tin").text)
    assert lowest == [
        (f"/products/tea-tin?variant={tea}&amp;quantity=1", "-1", ' aria-disabled="true"'),
        (f"/products/tea-tin?variant={tea}&amp;quantity=2", "1", ""),
    ]
    highest = step.findall(client.get("/products/tea-tin?quantity=99").text)
    assert highest[1] == (f"/products/tea-tin?variant={tea}&amp;quantity=99", "1", ' aria-disabled="true"')
    assert highest[0][2] == ""
