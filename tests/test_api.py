"""The JSON API under /api: the same cart, services and owner resolver as the pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, Shopper, sql, variant_id
from tests.factories import set_stock, withdraw
from web.app import create_app
from web.settings import Settings

JSON = {"content-type": "application/json"}
ITEM_KEYS = {"id", "productId", "variantId", "qty", "unitPrice", "lineTotal"}


def add(client: TestClient[Litestar], product_id: str, qty: int = 1, **extra: Any) -> Any:
    return client.post("/api/cart", json={"productId": product_id, "qty": qty, **extra})


def session_count(app: Litestar) -> int:
    return int(sql(app, "SELECT count(*) FROM sessions")[0][0])


def test_an_empty_cart(client: TestClient[Litestar]) -> None:
    response = client.get("/api/cart")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["items"] == []
    assert body["totals"] == {"count": 0, "subtotal": 0, "currency": "EUR"}


def test_the_cart_has_items_and_totals_computed_on_the_server(shopper: Shopper) -> None:
    shopper.visit("/products/linen-shirt")
    assert shopper.add("linen-shirt", 2, label="M").status_code == 303
    assert add(shopper.client, "test-1", 3).status_code == 201
    body = shopper.client.get("/api/cart").json()
    assert set(body) >= {"items", "totals"}
    assert set(body["totals"]) == {"count", "subtotal", "currency"}
    for item in body["items"]:
        assert set(item) >= ITEM_KEYS
        assert all(type(item[key]) is int for key in ITEM_KEYS - {"productId"})
    stored = sql(shopper.app, "SELECT id, variant_id, quantity FROM cart_lines ORDER BY id")
    assert [(item["id"], item["variantId"], item["qty"]) for item in body["items"]] == [tuple(r) for r in stored]
    assert [(item["productId"], item["unitPrice"], item["lineTotal"]) for item in body["items"]] == [
        ("linen-shirt", 5900, 11800),
        ("test-1", 500, 1500),
    ]
    assert body["totals"] == {"count": 5, "subtotal": 11800 + 1500, "currency": "EUR"}


def test_add_answers_201_with_the_cart_and_matches_the_id_case_insensitively(client: TestClient[Litestar]) -> None:
    response = add(client, "TEST-1", 2)
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(i["productId"], i["variantId"], i["qty"]) for i in body["items"]] == [
        ("test-1", variant_id(client.app, "test-1"), 2)
    ]
    assert body["totals"] == {"count": 2, "subtotal": 1000, "currency": "EUR"}
    assert body["message"] == "Added 2 × Test product 1 to your cart."
    assert add(client, "Test-1", 1).json()["totals"]["count"] == 3
    assert len(client.get("/api/cart").json()["items"]) == 1


def test_add_without_a_variant_takes_the_default_one(client: TestClient[Litestar]) -> None:
    assert add(client, "test-2").json()["items"][0]["variantId"] == variant_id(client.app, "test-2")
    items = add(client, "linen-shirt").json()["items"]
    assert items[-1]["variantId"] == variant_id(client.app, "linen-shirt", "S")


def test_the_default_variant_is_one_in_stock(client: TestClient[Litestar]) -> None:
    """As on the product page: a sold-out first option does not make the whole product unbuyable."""
    set_stock(client.app, "linen-shirt-s", 0)
    response = add(client, "linen-shirt")
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["variantId"] == variant_id(client.app, "linen-shirt", "M")


def test_add_with_an_explicit_variant(client: TestClient[Litestar]) -> None:
    large = variant_id(client.app, "linen-shirt", "L")
    response = add(client, "linen-shirt", 2, variantId=large)
    assert response.status_code == 201
    assert [(i["variantId"], i["qty"]) for i in response.json()["items"]] == [(large, 2)]


def test_add_clamps_to_stock_and_says_so(client: TestClient[Litestar]) -> None:
    response = add(client, "cotton-cap", 5)
    assert response.status_code == 201
    assert response.json()["items"][0]["qty"] == 1
    assert "Only 1 in stock" in response.json()["message"]


def test_add_of_a_sold_out_product_is_409(client: TestClient[Litestar]) -> None:
    response = add(client, "silk-scarf")
    assert response.status_code == 409
    assert response.json() == {"error": "CONFLICT", "message": "Sorry, Silk scarf is sold out."}
    assert client.get("/api/cart").json()["items"] == []


@pytest.mark.parametrize("product_id", ["no-such-product", "test-10", "test"])
def test_an_unknown_product_is_404(client: TestClient[Litestar], product_id: str) -> None:
    response = add(client, product_id)
    assert response.status_code == 404
    assert response.json() == {"error": "NOT_FOUND", "message": f"There is no product “{product_id}”."}
    response = client.delete(f"/api/cart/product/{product_id}", headers=JSON)
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


def test_an_inactive_product_is_404(client: TestClient[Litestar]) -> None:
    withdraw(client.app, "test-1")
    assert add(client, "test-1").status_code == 404


def test_delete_a_product_removes_all_its_variants(client: TestClient[Litestar]) -> None:
    for label in ("S", "M"):
        add(client, "linen-shirt", variantId=variant_id(client.app, "linen-shirt", label))
    add(client, "test-1", 2)
    response = client.delete("/api/cart/product/LINEN-SHIRT", headers=JSON)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(i["productId"], i["qty"]) for i in body["items"]] == [("test-1", 2)]
    assert body["totals"]["count"] == 2
    assert body["message"] == "Removed Linen shirt from your cart."
    assert client.get("/api/cart").json()["items"] == body["items"]


def test_delete_an_item(client: TestClient[Litestar]) -> None:
    add(client, "test-1", 2)
    items = add(client, "test-2", 1).json()["items"]
    line = next(i["id"] for i in items if i["productId"] == "test-1")
    response = client.delete(f"/api/cart/items/{line}", headers=JSON)
    assert response.status_code == 200
    assert [i["productId"] for i in response.json()["items"]] == ["test-2"]
    assert response.json()["message"] == "Removed Test product 1 from your cart."
    again = client.delete(f"/api/cart/items/{line}", headers=JSON)
    assert again.status_code == 404
    assert again.json() == {"error": "NOT_FOUND", "message": "That item is not in your cart."}


def test_an_item_of_another_cart_cannot_be_deleted(shopper: Shopper, other_shopper: Shopper) -> None:
    add(other_shopper.client, "test-2", 3)
    theirs = other_shopper.cart()
    add(shopper.client, "test-1")
    response = shopper.client.delete(f"/api/cart/items/{theirs['items'][0]['id']}", headers=JSON)
    assert response.status_code == 404
    assert other_shopper.cart() == theirs


def test_reading_without_a_cookie_sets_no_cookie_and_stores_no_session(client: TestClient[Litestar]) -> None:
    before = session_count(client.app)
    response = client.get("/api/cart")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert not client.cookies
    assert session_count(client.app) == before


def test_reading_with_an_unknown_cookie_does_not_adopt_it(client: TestClient[Litestar]) -> None:
    client.cookies.set("session", "planted-by-an-attacker")
    response = client.get("/api/cart")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert response.json()["items"] == []


def test_the_first_add_sets_the_one_session_cookie(client: TestClient[Litestar]) -> None:
    response = add(client, "test-1")
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1
    assert cookies[0].startswith("session=")
    assert "HttpOnly" in cookies[0] and "SameSite=Lax" in cookies[0]
    assert client.get("/api/cart").json()["totals"]["count"] == 1


def test_the_api_and_the_pages_share_one_cart(shopper: Shopper) -> None:
    add(shopper.client, "test-1", 2)
    page = shopper.visit("/cart")
    assert 'data-count="2"' in page.text
    assert "Test product 1" in page.text
    assert shopper.add("test-2", 1).status_code == 303
    assert shopper.client.get("/api/cart").json()["totals"]["count"] == 3


def test_debug_endpoints_in_development(client: TestClient[Litestar]) -> None:
    anonymous = client.get("/api/debug/session")
    assert anonymous.status_code == 200
    assert anonymous.json() == {"sessionHash": None, "userId": None, "cookieNames": []}
    add(client, "test-1", 2)
    cookie = client.cookies["session"]
    session = client.get("/api/debug/session")
    assert session.status_code == 200
    body = session.json()
    assert len(body["sessionHash"]) == 12 and body["sessionHash"] != cookie[:12]
    assert body["userId"] is None
    assert body["cookieNames"] == ["session"]
    assert cookie not in session.text
    cart = client.get("/api/cart/debug")
    assert cart.status_code == 200
    assert cart.json() == {"owner": {"kind": "guest", "userId": None}, "itemCount": 2}
    assert cookie not in cart.text


@pytest.fixture
def production(settings: Settings) -> Iterator[TestClient[Litestar]]:
    app = create_app(
        settings.with_overrides(app_env="production", cookie_secure=True, session_store_url="", secret_key="k" * 32)
    )
    with TestClient(app, base_url=BASE_URL.replace("http:", "https:")) as client:
        yield client
    app.state.shop.db.dispose()


@pytest.mark.parametrize("path", ["/api/debug/session", "/api/cart/debug"])
def test_debug_endpoints_do_not_exist_in_production(production: TestClient[Litestar], path: str) -> None:
    response = production.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"


def test_the_api_itself_works_in_production(production: TestClient[Litestar]) -> None:
    response = add(production, "test-1", 2)
    assert response.status_code == 201
    assert response.headers["set-cookie"].startswith("__Host-session=")
    assert production.get("/api/cart").json()["totals"]["count"] == 2
