"""Whatever a client sends, a bad request is a clear 4xx that changes nothing and never shows a traceback.

htmx requests get the message as an out-of-band toast with `HX-Reswap: none` (the target keeps its
content); plain requests get an error page; /api gets JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, HTMX_GET, Shopper, add_form, htmx_headers, sql, variant_id
from tests.factories import withdraw

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LIMIT = 64 * 1024
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def seeded(shopper: Shopper) -> Shopper:
    """A shopper with 2 × test-1 in the cart, so "nothing changed" has something to lose."""
    shopper.visit("/products/test-1")
    assert shopper.add("test-1", 2).status_code == 303
    return shopper


def stored(app: Litestar) -> list[tuple[Any, ...]]:
    """Every cart line of every cart, straight from the database."""
    return [tuple(row) for row in sql(app, "SELECT cart_id, variant_id, quantity FROM cart_lines ORDER BY id")]


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text
    assert 'File "' not in text


def assert_refused(response: Any, status: int, message: str, *, htmx: bool) -> None:
    """A readable refusal: an out-of-band toast for htmx, an error page otherwise."""
    assert response.status_code == status, response.text
    assert_no_traceback(response.text)
    assert response.headers["content-type"].startswith("text/html")
    if htmx:
        assert response.headers["hx-reswap"] == "none"
        assert response.text.lstrip().startswith('<div id="toast"')
        assert 'hx-swap-oob="true"' in response.text
        assert "<html" not in response.text
    else:
        assert "hx-reswap" not in response.headers
        assert response.text.startswith("<!doctype html>")
        assert 'id="errors-error"' in response.text
    assert message in response.text


def signed_add(app: Litestar, csrf: str, **fields: str) -> dict[str, str]:
    """test-1's add form with the CSRF token and without a quantity, with `fields` changed or added."""
    form = {**add_form(app), "csrf_token": csrf, **fields}
    return form if "quantity" in fields else {name: value for name, value in form.items() if name != "quantity"}


def from_product_page(shopper: Shopper) -> dict[str, str]:
    return htmx_headers(shopper.csrf, "/products/test-1", "catalog-add-status")


# Add to cart: quantities and repeated fields


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(
    "quantity",
    ["0", "-1", "1.5", "1e3", str(2**63), "٣", "３", "+1", "0x10", "1_0", " ", "100", "ten"],
)
def test_add_refuses_a_quantity_that_is_not_a_whole_number_in_range(seeded: Shopper, quantity: str, htmx: bool) -> None:
    before = stored(seeded.app)
    response = seeded.add("test-1", quantity, htmx=htmx)
    assert_refused(response, 400, "The quantity must be a whole number from 1 to 99.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_refuses_an_empty_or_missing_quantity(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    assert_refused(seeded.add("test-1", "", htmx=htmx), 400, "Please give the quantity.", htmx=htmx)
    form = signed_add(seeded.app, seeded.csrf)
    response = seeded.post("/cart/items", form, htmx=htmx)
    assert_refused(response, 400, "Please give the quantity.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("repeated", "message"),
    [
        ("quantity=1&quantity=2", "The quantity was sent more than once."),
        ("product=test-1", "The product was sent more than once."),
        ("variant_id={variant}", "The option was sent more than once."),
        ("next=/a&next=/b", "The next was sent more than once."),
    ],
)
def test_add_refuses_a_repeated_field(seeded: Shopper, repeated: str, message: str, htmx: bool) -> None:
    """A raw body, so the field really arrives twice; the add must not be committed before the refusal."""
    variant = variant_id(seeded.app, "test-1")
    body = f"csrf_token={seeded.csrf}&product=test-1&variant_id={variant}&" + repeated.format(variant=variant)
    if "quantity" not in repeated:
        body += "&quantity=1"
    headers = {**FORM, **(from_product_page(seeded) if htmx else {})}
    before = stored(seeded.app)
    response = seeded.client.post("/cart/items", content=body, headers=headers, follow_redirects=False)
    assert_refused(response, 400, message, htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_refuses_a_field_sent_as_a_file(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    response = seeded.client.post(
        "/cart/items",
        data=signed_add(seeded.app, seeded.csrf),
        files={"quantity": ("quantity.txt", b"1")},
        headers=from_product_page(seeded) if htmx else {},
        follow_redirects=False,
    )
    assert_refused(response, 400, "The quantity must be text.", htmx=htmx)
    assert stored(seeded.app) == before


# Cart edits: quantities and repeated fields


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("quantity", ["-1", "1.5", "1e3", str(2**63), "٣", "３", "100", ""])
def test_set_quantity_refuses_a_quantity_that_is_not_a_whole_number_in_range(
    seeded: Shopper, quantity: str, htmx: bool
) -> None:
    line = seeded.cart()["items"][0]["id"]
    before = stored(seeded.app)
    response = seeded.post(f"/cart/lines/{line}/quantity", {"quantity": quantity}, htmx=htmx)
    message = "The quantity must be a whole number from 0 to 99." if quantity else "Please give the quantity."
    assert_refused(response, 400, message, htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        ("lines/{line}/quantity", "quantity=0&quantity=5", "The quantity was sent more than once."),
        ("lines/{line}/quantity", "quantity=0&next=/a&next=/b", "The next was sent more than once."),
        ("lines/{line}/remove", "next=/a&next=/b", "The next was sent more than once."),
        ("products/test-1/remove", "next=/a&next=/b", "The next was sent more than once."),
        ("clear", "next=/a&next=/b", "The next was sent more than once."),
    ],
)
def test_cart_edits_refuse_a_repeated_field(
    seeded: Shopper, action: str, fields: str, message: str, htmx: bool
) -> None:
    """Refused before the edit is made: never a committed change answered with an error."""
    path = "/cart/" + action.format(line=seeded.cart()["items"][0]["id"])
    headers = {**FORM, **(from_product_page(seeded) if htmx else {})}
    before = stored(seeded.app)
    body = f"csrf_token={seeded.csrf}&{fields}"
    response = seeded.client.post(path, content=body, headers=headers, follow_redirects=False)
    assert_refused(response, 400, message, htmx=htmx)
    assert stored(seeded.app) == before


# Add to cart: products and variants that do not fit


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_refuses_an_unknown_product(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    form = signed_add(seeded.app, seeded.csrf, product="no-such-product", quantity="1")
    response = seeded.post("/cart/items", form, htmx=htmx)
    assert_refused(response, 404, "That product is not available.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_refuses_an_unknown_variant(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    form = signed_add(seeded.app, seeded.csrf, variant_id="999999", quantity="1")
    assert_refused(seeded.post("/cart/items", form, htmx=htmx), 404, "That product is not available.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_refuses_a_variant_of_another_product(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    form = signed_add(seeded.app, seeded.csrf, variant_id=str(variant_id(seeded.app, "test-2")), quantity="1")
    response = seeded.post("/cart/items", form, htmx=htmx)
    assert_refused(response, 400, "That option does not belong to this product.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_refuses_a_deleted_product(seeded: Shopper, htmx: bool) -> None:
    withdraw(seeded.app, "test-2")
    before = stored(seeded.app)
    form = {"product": "test-2", "variant_id": str(variant_id(seeded.app, "test-2")), "quantity": "1"}
    assert_refused(seeded.post("/cart/items", form, htmx=htmx), 404, "That product is not available.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_refuses_a_deleted_variant(seeded: Shopper, htmx: bool) -> None:
    small = variant_id(seeded.app, "linen-shirt", "S")
    sql(seeded.app, "DELETE FROM variants WHERE id = :id", id=small)
    before = stored(seeded.app)
    form = {"product": "linen-shirt", "variant_id": str(small), "quantity": "1"}
    assert_refused(seeded.post("/cart/items", form, htmx=htmx), 404, "That product is not available.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_refuses_a_sold_out_variant(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    form = {"product": "silk-scarf", "variant_id": str(variant_id(seeded.app, "silk-scarf")), "quantity": "1"}
    assert_refused(seeded.post("/cart/items", form, htmx=htmx), 409, "Sorry, Silk scarf is sold out.", htmx=htmx)
    assert stored(seeded.app) == before


# Lines that are not the shopper's


@pytest.fixture
def foreign_line(other_shopper: Shopper) -> Iterator[int]:
    other_shopper.visit("/products/test-2")
    assert other_shopper.add("test-2", 3).status_code == 303
    before = other_shopper.cart()
    yield before["items"][0]["id"]
    assert other_shopper.cart() == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("action", ["quantity", "remove"])
def test_a_line_of_another_cart_is_not_found(seeded: Shopper, foreign_line: int, action: str, htmx: bool) -> None:
    before = stored(seeded.app)
    response = seeded.post(f"/cart/lines/{foreign_line}/{action}", {"quantity": "1"}, htmx=htmx)
    assert_refused(response, 404, "That item is not in your cart.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("action", ["quantity", "remove"])
def test_a_line_is_not_found_for_a_shopper_without_a_cart(shopper: Shopper, foreign_line: int, action: str) -> None:
    shopper.visit("/")
    before = stored(shopper.app)
    response = shopper.post(f"/cart/lines/{foreign_line}/{action}", {"quantity": "1"})
    assert_refused(response, 404, "That item is not in your cart.", htmx=False)
    assert stored(shopper.app) == before


def test_the_api_cannot_delete_a_line_of_another_cart(seeded: Shopper, foreign_line: int) -> None:
    before = stored(seeded.app)
    response = seeded.client.delete(f"/api/cart/items/{foreign_line}", headers=JSON)
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("line", ["0", str(2**31), str(2**63), str(10**30)])
@pytest.mark.parametrize("action", ["quantity", "remove"])
def test_a_line_id_beyond_the_database_range_is_refused(seeded: Shopper, action: str, line: str, htmx: bool) -> None:
    before = stored(seeded.app)
    response = seeded.post(f"/cart/lines/{line}/{action}", {"quantity": "1"}, htmx=htmx)
    assert_refused(response, 400, "The request could not be understood.", htmx=htmx)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("line", [str(2**63), str(10**30)])
def test_the_api_refuses_a_line_id_beyond_the_database_range(seeded: Shopper, line: str) -> None:
    before = stored(seeded.app)
    response = seeded.client.delete(f"/api/cart/items/{line}", headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "BAD_REQUEST"
    assert stored(seeded.app) == before


# Prices come from the database


def test_prices_sent_in_a_form_are_ignored(seeded: Shopper) -> None:
    form = {
        "product": "test-2",
        "variant_id": str(variant_id(seeded.app, "test-2")),
        "quantity": "2",
        "price_cents": "1",
        "unit_price": "1",
        "price": "0.01",
        "subtotal": "1",
    }
    assert seeded.post("/cart/items", form).status_code == 303
    cart = seeded.cart()
    line = next(item for item in cart["items"] if item["productId"] == "test-2")
    assert (line["unitPrice"], line["lineTotal"]) == (750, 1500)
    assert cart["totals"]["subtotal"] == 2 * 500 + 2 * 750
    assert sql(seeded.app, "SELECT price_cents FROM variants WHERE sku = 'test-2'") == [(750,)]


def test_prices_sent_in_json_are_ignored(seeded: Shopper) -> None:
    body = {"productId": "test-2", "qty": 2, "unitPrice": 1, "price_cents": 1, "lineTotal": 1, "subtotal": 1}
    response = seeded.client.post("/api/cart", json=body)
    assert response.status_code == 201, response.text
    line = next(item for item in response.json()["items"] if item["productId"] == "test-2")
    assert (line["unitPrice"], line["lineTotal"]) == (750, 1500)
    assert response.json()["totals"]["subtotal"] == 2 * 500 + 2 * 750
    assert seeded.cart()["totals"]["subtotal"] == 2 * 500 + 2 * 750


# Echoed text is escaped


def assert_not_markup(text: str) -> None:
    assert SCRIPT not in text
    assert IMG not in text
    assert "<script>" not in text


def test_an_unknown_product_id_in_api_errors_is_not_markup(seeded: Shopper) -> None:
    before = stored(seeded.app)
    for payload in (SCRIPT, IMG):
        response = seeded.client.post("/api/cart", json={"productId": payload, "qty": 1})
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        assert "<" not in response.text and ">" not in response.text
        assert response.json() == {"error": "NOT_FOUND", "message": f"There is no product “{payload}”."}
    response = seeded.client.delete(f"/api/cart/product/{IMG}", headers=JSON)
    assert response.status_code == 404
    assert "<" not in response.text
    assert IMG in response.json()["message"]
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("payload", [SCRIPT, IMG, '"><svg onload=alert(1)>'])
def test_a_product_slug_in_the_address_is_not_echoed_as_markup(
    client: TestClient[Litestar], payload: str, htmx: bool
) -> None:
    response = client.get(f"/products/{payload}", headers=HTMX_GET if htmx else {})
    assert_refused(response, 404, "", htmx=htmx)
    assert_not_markup(response.text)
    assert "<svg onload" not in response.text  # the page's own icons are <svg class="icon ...">


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_category_filter_is_escaped_when_echoed(client: TestClient[Litestar], htmx: bool) -> None:
    response = client.get("/", params={"category": SCRIPT}, headers=HTMX_GET if htmx else {})
    assert_refused(response, 404, "There is no category called “&lt;script&gt;alert(1)&lt;/script&gt;”.", htmx=htmx)
    assert_not_markup(response.text)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_product_to_remove_is_escaped_when_echoed(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    response = seeded.post(f"/cart/products/{IMG}/remove", {}, htmx=htmx)
    assert_refused(response, 404, "There is no product “&lt;img src=x onerror=alert(1)&gt;”.", htmx=htmx)
    assert_not_markup(response.text)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_product_field_with_markup_is_refused_without_echo(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    form = signed_add(seeded.app, seeded.csrf, product=SCRIPT, quantity="1")
    response = seeded.post("/cart/items", form, htmx=htmx)
    assert_refused(response, 404, "That product is not available.", htmx=htmx)
    assert_not_markup(response.text)
    assert stored(seeded.app) == before


# Sizes and methods


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_form_over_the_body_limit_is_413(seeded: Shopper, htmx: bool) -> None:
    before = stored(seeded.app)
    form = signed_add(seeded.app, seeded.csrf, quantity="1", padding="x" * LIMIT)
    assert_refused(seeded.post("/cart/items", form, htmx=htmx), 413, "That request is too large.", htmx=htmx)
    assert stored(seeded.app) == before


def test_a_form_just_under_the_body_limit_is_accepted(seeded: Shopper) -> None:
    form = signed_add(seeded.app, seeded.csrf, quantity="1", padding="x" * (LIMIT - 1024))
    assert seeded.post("/cart/items", form).status_code == 303
    assert seeded.quantities() == {f"test-1:{variant_id(seeded.app, 'test-1')}": 3}


def test_a_streamed_form_over_the_body_limit_is_413(seeded: Shopper) -> None:
    """Without a Content-Length the limit holds while the body streams in."""
    head = f"csrf_token={seeded.csrf}&product=test-1&variant_id={variant_id(seeded.app, 'test-1')}&quantity=1&pad="

    def chunks() -> Iterator[bytes]:
        yield head.encode()
        for _ in range(80):
            yield b"x" * 1024

    before = stored(seeded.app)
    response = seeded.client.post("/cart/items", content=chunks(), headers=FORM, follow_redirects=False)
    assert_refused(response, 413, "That request is too large.", htmx=False)
    assert stored(seeded.app) == before


@pytest.mark.parametrize("streamed", [False, True], ids=["sized", "streamed"])
def test_api_json_over_the_body_limit_is_413(seeded: Shopper, streamed: bool) -> None:
    body = b'{"productId": "test-1", "qty": 1, "padding": "' + b"x" * LIMIT + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    before = stored(seeded.app)
    response = seeded.client.post("/api/cart", content=chunks() if streamed else body, headers=JSON)
    assert response.status_code == 413
    assert response.json() == {"error": "TOO_LARGE", "message": "That request is too large."}
    assert stored(seeded.app) == before


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/cart/items", "POST"), ("GET", "/cart/clear", "POST"), ("POST", "/cart", "GET"), ("DELETE", "/", "GET")],
)
def test_a_wrong_method_is_405_with_a_readable_message(
    seeded: Shopper, method: str, path: str, allowed: str, htmx: bool
) -> None:
    before = stored(seeded.app)
    headers = from_product_page(seeded) if htmx else {}
    response = seeded.client.request(method, path, headers=headers, follow_redirects=False)
    assert_refused(response, 405, f"This address does not accept {method} requests.", htmx=htmx)
    assert allowed in response.headers["allow"]
    assert stored(seeded.app) == before


@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/api/cart"), ("PATCH", "/api/cart"), ("GET", "/api/cart/items/1")]
)
def test_a_wrong_method_on_the_api_is_405_json(seeded: Shopper, method: str, path: str) -> None:
    before = stored(seeded.app)
    response = seeded.client.request(method, path, json={"productId": "test-1", "qty": 1})
    assert response.status_code == 405
    assert response.json() == {
        "error": "METHOD_NOT_ALLOWED",
        "message": f"This address does not accept {method} requests.",
    }
    assert response.headers["allow"]
    assert stored(seeded.app) == before


# The JSON API: bodies, content types and origins


@pytest.mark.parametrize(
    "body", [b"{", b'{"productId": "test-1", "qty": 1', b"", b"\xff\xfe", b"{'qty': 1}", b'{"qty": 1,}']
)
def test_api_malformed_json_is_400(seeded: Shopper, body: bytes) -> None:
    before = stored(seeded.app)
    response = seeded.client.post("/api/cart", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "INVALID_BODY", "message": "The body is not valid JSON."}
    assert stored(seeded.app) == before


@pytest.mark.parametrize("body", [b"[]", b'[{"productId": "test-1", "qty": 1}]', b'"test-1"', b"null", b"1", b"true"])
def test_api_json_that_is_not_an_object_is_400(seeded: Shopper, body: bytes) -> None:
    before = stored(seeded.app)
    response = seeded.client.post("/api/cart", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "INVALID_BODY", "message": "The body must be a JSON object."}
    assert stored(seeded.app) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"productId": "test-1", "qty": "2"}, "qty"),
        ({"productId": "test-1", "qty": True}, "qty"),
        ({"productId": "test-1", "qty": 1.5}, "qty"),
        ({"productId": "test-1", "qty": 2.0}, "qty"),
        ({"productId": "test-1", "qty": 0}, "qty"),
        ({"productId": "test-1", "qty": -1}, "qty"),
        ({"productId": "test-1", "qty": 100}, "qty"),
        ({"productId": "test-1", "qty": 2**63}, "qty"),
        ({"productId": "test-1", "qty": None}, "qty"),
        ({"productId": "test-1"}, "qty"),
        ({"productId": "test-1", "qty": 1, "variantId": "1"}, "variantId"),
        ({"productId": "test-1", "qty": 1, "variantId": 1.0}, "variantId"),
        ({"productId": "test-1", "qty": 1, "variantId": 2**63}, "variantId"),
        ({"productId": 1, "qty": 1}, "productId"),
        ({"productId": "", "qty": 1}, "productId"),
        ({"productId": "x" * 81, "qty": 1}, "productId"),
        ({"qty": 1}, "productId"),
    ],
)
def test_api_fields_of_the_wrong_type_are_400(seeded: Shopper, body: dict[str, Any], field: str) -> None:
    before = stored(seeded.app)
    response = seeded.client.post("/api/cart", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_BODY"
    assert response.json()["field"] == field
    assert stored(seeded.app) == before


def test_api_refuses_a_variant_of_another_product(seeded: Shopper) -> None:
    before = stored(seeded.app)
    body = {"productId": "test-1", "qty": 1, "variantId": variant_id(seeded.app, "test-2")}
    response = seeded.client.post("/api/cart", json=body)
    assert response.status_code == 400
    assert response.json()["field"] == "variantId"
    assert stored(seeded.app) == before


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/cart"), ("DELETE", "/api/cart/product/test-1"), ("DELETE", "/api/cart/items/1")]
)
def test_api_unsafe_calls_need_json_content_type(seeded: Shopper, method: str, path: str, content_type: str) -> None:
    before = stored(seeded.app)
    headers = {"content-type": content_type} if content_type else {}
    content = b'{"productId": "test-1", "qty": 1}' if method == "POST" else None
    response = seeded.client.request(method, path, content=content, headers=headers)
    assert response.status_code == 415
    assert response.json()["error"] == "UNSUPPORTED_MEDIA_TYPE"
    assert stored(seeded.app) == before


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://shop.test.evil.example", "null", "https://shop.test"]
)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/cart"), ("DELETE", "/api/cart/product/test-1"), ("DELETE", "/api/cart/items/1")]
)
def test_api_unsafe_calls_from_a_foreign_origin_are_403(seeded: Shopper, method: str, path: str, origin: str) -> None:
    before = stored(seeded.app)
    content = b'{"productId": "test-1", "qty": 1}' if method == "POST" else None
    response = seeded.client.request(method, path, content=content, headers={**JSON, "origin": origin})
    assert response.status_code == 403
    assert response.json()["error"] == "CSRF_FAILED"
    assert stored(seeded.app) == before


def test_api_unsafe_calls_from_our_own_origin_are_accepted(seeded: Shopper) -> None:
    response = seeded.client.post("/api/cart", json={"productId": "test-1", "qty": 1}, headers={"origin": BASE_URL})
    assert response.status_code == 201
    assert response.json()["totals"]["count"] == 3


# How failures reach the shopper


def test_an_htmx_failure_swaps_nothing_but_the_toast(seeded: Shopper) -> None:
    response = seeded.add("test-1", "0", htmx=True)
    assert response.status_code == 400
    assert response.headers["hx-reswap"] == "none"
    assert response.text.count(' id="') == 1
    assert 'id="catalog-add-status"' not in response.text
    assert 'id="cart-badge"' not in response.text
    assert 'class="alert alert-error"' in response.text


def test_a_plain_failure_is_a_page_with_the_message_and_a_way_back(seeded: Shopper) -> None:
    response = seeded.add("test-1", "0")
    assert response.status_code == 400
    assert "<title>That did not look right · Storefront</title>" in response.text
    assert "<p>The quantity must be a whole number from 1 to 99.</p>" in response.text
    assert '<a href="/">Back to the shop</a>' in response.text
    assert "location" not in response.headers
