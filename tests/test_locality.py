"""Deliver to: choosing where, what it allows on the product page and in the cart, and /api."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, Shopper, login, register, sql, stored_sessions
from web.owner import CART_ID


def deliver_to(shopper: Shopper, country: str, postcode: str, **kwargs: object) -> object:
    return shopper.post("/deliver-to", {"country": country, "postcode": postcode, "next": "/"}, **kwargs)  # type: ignore[arg-type]


def header_control(html: str) -> str:
    found = re.search(r'<div id="locality-deliver-to".*?</div>', html, re.S)
    assert found, "no Deliver to control"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


def delivery_line(html: str) -> str:
    found = re.search(r'<div id="catalog-delivery".*?</div>', html, re.S)
    assert found, "no delivery line"
    return found.group(0)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def chosen_places(app: Litestar) -> list[object]:
    return [record.data.get("deliver_to") for record in stored_sessions(app).values()]


def test_without_javascript_the_choice_is_a_page_that_returns_to_where_the_shopper_was(shopper: Shopper) -> None:
    page = shopper.visit("/deliver-to?next=/products/tea-tin")
    assert page.status_code == 200 and 'id="locality-page"' in page.text
    assert 'name="next" value="/products/tea-tin"' in page.text
    response = shopper.post("/deliver-to", {"country": "DE", "postcode": " 10115 ", "next": "/products/tea-tin"})
    assert response.status_code == 303 and response.headers["location"] == "/products/tea-tin"
    shown = shopper.visit("/products/tea-tin").text
    assert "Delivering to DE 10115." in shown
    assert header_control(shown) == "Deliver to DE 10115"


@pytest.mark.parametrize(
    ("country", "postcode", "field", "message"),
    [
        ("DE", "1011", "postcode", "A postcode in DE is five digits"),
        ("DE", "abcde", "postcode", "A postcode in DE is five digits"),
        ("NL", "10121", "postcode", "four digits and two letters"),
        ("US", "<script>", "postcode", "2 to 10 letters, digits"),
        ("US", "x" * 11, "postcode", "2 to 10 letters, digits"),
        ("DE", "", "postcode", "Please give the postcode."),
        ("", "10115", "country", "Choose a country"),
        ("D€", "10115", "country", "Choose a country"),
        ("AQ", "1234", "country", "we do not deliver to AQ"),
    ],
)
def test_a_bad_choice_is_refused_next_to_its_field_and_changes_nothing(
    shopper: Shopper, country: str, postcode: str, field: str, message: str
) -> None:
    shopper.visit("/")
    before = chosen_places(shopper.app)
    response = shopper.post("/deliver-to", {"country": country, "postcode": postcode, "next": "/"})
    assert response.status_code == (422 if country == "AQ" else 400)
    error = re.search(rf'<p id="{field}-error" class="field-error">([^<]*)</p>', response.text)
    assert error and message in error.group(1).replace("&#39;", "'"), response.text[-2000:]
    assert "<script>" not in response.text
    assert chosen_places(shopper.app) == before


def test_with_htmx_the_control_opens_into_its_form_and_a_choice_refreshes_what_depends_on_it(shopper: Shopper) -> None:
    shopper.add("chef-knife", 1)
    opened = shopper.client.get("/deliver-to", headers={"HX-Request": "true"})
    assert opened.text.lstrip().startswith('<div id="locality-deliver-to" class="deliver-to deliver-to-open"')
    assert 'name="postcode"' in opened.text and "Cancel" in opened.text
    answer = deliver_to(shopper, "US", "94103", htmx=True, page="/products/chef-knife", target="locality-deliver-to")
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<div id="locality-deliver-to" class="deliver-to">')
    assert header_control(answer.text) == "Deliver to US 94103"
    for oob in ("cart-drawer", "cart-badge", "catalog-delivery"):
        assert re.search(rf'id="{oob}"[^>]*hx-swap-oob="true"', answer.text), oob
    assert "catalog-in-cart" not in answer.text  # what the cart holds did not change
    assert "Not available for delivery to US." in delivery_line(answer.text)
    assert "Cannot be delivered to US: remove it or" in text_of(answer.text.split('id="cart-drawer"')[1])
    toast = re.search(
        r'<div id="toast".*?class="alert alert-(\w+)".*?<span class="alert-text">([^<]*)</span>', answer.text, re.S
    )
    assert toast and toast.group(1) == "warning" and "1 item in your cart cannot be delivered there" in toast.group(2)


def test_a_bad_choice_with_htmx_reopens_the_form_with_the_message(shopper: Shopper) -> None:
    response = deliver_to(shopper, "DE", "123", htmx=True, target="locality-deliver-to")
    assert response.status_code == 400
    assert response.text.lstrip().startswith('<div id="locality-deliver-to" class="deliver-to deliver-to-open"')
    assert "A postcode in DE is five digits" in response.text
    assert 'value="123"' in response.text  # what was typed stays in the box


def test_cancel_closes_the_control_again(shopper: Shopper) -> None:
    closed = shopper.client.get("/deliver-to/control", headers={"HX-Request": "true"})
    assert header_control(closed.text) == "Choose where to deliver"
    assert shopper.client.get("/deliver-to/control?next=/cart", follow_redirects=False).headers["location"] == "/cart"


def test_the_product_page_says_what_the_choice_means(shopper: Shopper) -> None:
    assert "Choose where to deliver" in text_of(delivery_line(shopper.visit("/products/chef-knife").text))
    deliver_to(shopper, "DE", "10115")
    line = text_of(delivery_line(shopper.visit("/products/chef-knife").text))
    assert "Delivers to DE 10115 in 1-2 working days, from €4.90." in line
    assert "Free delivery on orders of €50.00 or more." in line
    deliver_to(shopper, "US", "94103")
    blocked = delivery_line(shopper.visit("/products/chef-knife").text)
    assert "Not available for delivery to US." in text_of(blocked)
    assert re.search(r"<button[^>]*disabled[^>]*>Add to cart</button>", blocked)
    other = text_of(delivery_line(shopper.visit("/products/tea-tin").text))
    assert "Delivers to US 94103 in 5-10 working days, from €24.90." in other
    assert "Free delivery" not in other  # the rest of the world has no threshold


@pytest.mark.parametrize("how", ["page", "htmx", "api"])
def test_an_add_that_cannot_be_delivered_is_refused_and_changes_nothing(shopper: Shopper, how: str) -> None:
    shopper.add("tea-tin", 1)
    deliver_to(shopper, "FR", "75001")
    before = shopper.quantities()
    if how == "api":
        response = shopper.client.post("/api/cart", json={"productId": "chef-knife", "qty": 1})
        assert response.status_code == 409 and response.json()["error"] == "NOT_DELIVERABLE"
    else:
        response = shopper.add("chef-knife", 1, htmx=how == "htmx")
        assert response.status_code == 409
        assert "Chef&#39;s knife cannot be delivered to FR" in response.text
    assert shopper.quantities() == before


def test_changing_the_choice_flags_lines_and_never_removes_them(shopper: Shopper) -> None:
    deliver_to(shopper, "DE", "10115")
    shopper.add("chef-knife", 2)
    shopper.add("tea-tin", 1)
    deliver_to(shopper, "JP", "100-0001")
    cart_page = shopper.visit("/cart").text
    lines = re.findall(r'<li id="cart-line-(\d+)".*?</li>', cart_page, re.S)
    assert len(lines) == 2
    assert text_of(cart_page).count("Cannot be delivered to JP") == 1
    status = shopper.client.get("/api/locality/status").json()
    knife = next(item["id"] for item in shopper.cart()["items"] if item["productId"] == "chef-knife")
    assert status["undeliverable"] == [knife]
    assert shopper.quantities() and sum(shopper.quantities().values()) == 3
    deliver_to(shopper, "DE", "80331")
    assert "Cannot be delivered" not in shopper.visit("/cart").text


def test_the_api_reads_and_sets_the_choice(client: TestClient[Litestar]) -> None:
    empty = client.get("/api/locality/status").json()
    assert empty == {"locality": None, "zone": None, "methods": [], "undeliverable": []}
    set_ = client.post("/api/locality", json={"country": "de", "postcode": "10115"})
    assert set_.status_code == 200, set_.text
    body = set_.json()
    assert body["locality"] == {"country": "DE", "postcode": "10115"} and body["zone"] == "home"
    assert [method["id"] for method in body["methods"]] == ["standard", "express", "pickup"]
    assert body["methods"][0] == {"id": "standard", "name": "Standard delivery", "price": 490, "days": [1, 2]}
    assert client.get("/api/locality/status").json() == body


def test_free_delivery_is_priced_in_once_the_cart_reaches_the_threshold(client: TestClient[Litestar]) -> None:
    client.post("/api/locality", json={"country": "DE", "postcode": "10115"})
    client.post("/api/cart", json={"productId": "chef-knife", "qty": 1})  # €89.00, over the €50 threshold
    prices = {method["id"]: method["price"] for method in client.get("/api/locality/status").json()["methods"]}
    assert prices == {"standard": 0, "express": 0, "pickup": 0}


@pytest.mark.parametrize(
    ("body", "status", "error", "field"),
    [
        ({"country": "AQ", "postcode": "1234"}, 422, "NOT_SERVED", "country"),
        ({"country": "DE", "postcode": "12"}, 400, "INVALID_BODY", "postcode"),
        ({"country": "DE", "postcode": 10115}, 400, "INVALID_BODY", "postcode"),
        ({"country": "Germany", "postcode": "10115"}, 400, "INVALID_BODY", "country"),
        ({"postcode": "10115"}, 400, "INVALID_BODY", "country"),
    ],
)
def test_the_api_refuses_bad_choices_and_changes_nothing(
    client: TestClient[Litestar], body: dict[str, object], status: int, error: str, field: str
) -> None:
    response = client.post("/api/locality", json=body)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["field"] == field
    assert client.get("/api/locality/status").json()["locality"] is None


def test_the_choice_follows_a_user_to_another_device_and_a_new_choice_wins_at_login(app: Litestar) -> None:
    register(app, "traveller@example.com")
    with TestClient(app, base_url=BASE_URL) as first:
        laptop = Shopper(first)
        laptop.visit("/login")
        login(laptop, "traveller@example.com")
        laptop.visit("/")  # the login gave the session a new CSRF token
        assert deliver_to(laptop, "AT", "1010").status_code == 303
    with TestClient(app, base_url=BASE_URL) as second:
        phone = Shopper(second)
        phone.visit("/login")
        login(phone, "traveller@example.com")
        assert header_control(phone.visit("/").text) == "Deliver to AT 1010"
    with TestClient(app, base_url=BASE_URL) as third:
        tablet = Shopper(third)
        deliver_to(tablet, "IT", "00184")  # chosen as a guest, before logging in: this one wins
        login(tablet, "traveller@example.com")
        assert header_control(tablet.visit("/").text) == "Deliver to IT 00184"
    rows = sql(app, "SELECT delivery_country, delivery_postcode FROM users WHERE email = 'traveller@example.com'")
    assert tuple(rows[0]) == ("IT", "00184")


def test_the_identity_keys_stay_the_owners(shopper: Shopper) -> None:
    """The choice is kept under its own session key, never mixed with whose cart it is."""
    deliver_to(shopper, "DE", "10115")
    shopper.add("tea-tin", 1)
    (record,) = stored_sessions(shopper.app).values()
    assert record.data["deliver_to"]["country"] == "DE" and CART_ID in record.data


def test_the_page_without_javascript_has_one_form_and_the_header_stays_closed(shopper: Shopper) -> None:
    page = shopper.visit("/deliver-to?next=/cart").text
    assert page.count('id="deliver-country"') == 1 and page.count('id="deliver-postcode"') == 1
    assert header_control(page) == "Choose where to deliver"
    refused = shopper.post("/deliver-to", {"country": "DE", "postcode": "1", "next": "/cart"})
    assert refused.text.count('id="deliver-postcode"') == 1


def test_a_history_restore_gets_the_whole_page(shopper: Shopper) -> None:
    """With htmx's history cache off, Back refetches the page with HX-Request: it must not get a fragment."""
    restored = shopper.client.get("/deliver-to", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert restored.text.startswith("<!doctype html>")
