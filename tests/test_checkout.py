"""Checkout: the steps with and without htmx, placement, replays, stale reviews, short stock and bad input."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import ADDRESS, BASE_URL, REVIEW_FIELD, Shopper, api_checkout, login, register, sql
from tests.factories import set_stock
from web.app import create_app
from web.settings import Settings


def stock(app: Litestar, sku: str) -> int:
    return int(sql(app, "SELECT stock FROM variants WHERE sku = :sku", sku=sku)[0][0])


def counts(app: Litestar) -> tuple[int, ...]:
    """Orders, order lines, history rows and outbox messages: what a placement writes."""
    return tuple(
        int(sql(app, f"SELECT count(*) FROM {table}")[0][0])
        for table in ("orders", "order_lines", "order_events", "outbox")
    )


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace("&#39;", "'")


@pytest.fixture
def filled(shopper: Shopper) -> Shopper:
    shopper.add("tea-tin", 2)
    shopper.add("linen-shirt", 1, label="M")
    return shopper


def test_a_guest_checks_out_without_javascript(filled: Shopper, app: Litestar) -> None:
    tea_before, shirt_before = stock(app, "tea-tin"), stock(app, "linen-shirt-m")
    assert filled.visit("/checkout").status_code == 200
    contact = filled.post("/checkout/contact", ADDRESS)
    assert contact.status_code == 303 and contact.headers["location"] == "/checkout/delivery"
    delivery_page = filled.visit("/checkout/delivery")
    assert "Standard delivery" in delivery_page.text and "Pick up at our Berlin shop" in delivery_page.text
    assert "Free delivery on orders of €50.00 or more: yours is one" in text_of(delivery_page.text)
    delivery = filled.post("/checkout/delivery", {"method": "express"})
    assert delivery.status_code == 303 and delivery.headers["location"] == "/checkout/review"
    review = filled.visit("/checkout/review")
    shown = text_of(review.text)
    assert "Tea tin 2 €14.00 €28.00" in shown and "Linen shirt (M) 1 €59.00 €59.00" in shown
    assert "Express delivery Free" in shown and "Total (prices include VAT) €87.00" in shown
    assert "Pay on delivery" in shown
    placed = filled.place(review)
    assert placed.status_code == 303
    number = placed.headers["location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"[A-HJ-KM-NP-Z2-9]{8}", number)
    page = filled.visit(placed.headers["location"])
    assert f"Thank you! Your order {number} is placed." in page.text
    assert "Status: Placed" in text_of(page.text) and "Keep track of this order" in page.text
    assert filled.cart()["items"] == []
    assert (stock(app, "tea-tin"), stock(app, "linen-shirt-m")) == (tea_before - 2, shirt_before - 1)
    assert counts(app) == (1, 2, 1, 1)
    row = sql(
        app,
        "SELECT email, status, payment_method, payment_status, subtotal_cents, delivery_cents, total_cents FROM orders",
    )
    assert tuple(row[0]) == ("ada@example.com", "placed", "pay_on_delivery", "pending", 8700, 0, 8700)


def test_with_htmx_each_step_swaps_in_place_and_the_address_bar_follows(filled: Shopper) -> None:
    filled.visit("/checkout")
    contact = filled.post("/checkout/contact", ADDRESS, htmx=True, page="/checkout", target="checkout-contact")
    assert contact.status_code == 200 and contact.headers["hx-push-url"] == "/checkout/delivery"
    assert contact.text.lstrip().startswith('<section id="checkout-delivery"')
    assert 'id="locality-deliver-to"' in contact.text and 'hx-swap-oob="true"' in contact.text
    delivery = filled.post("/checkout/delivery", {"method": "standard"}, htmx=True, target="checkout-delivery")
    assert delivery.headers["hx-push-url"] == "/checkout/review"
    assert delivery.text.lstrip().startswith('<section id="checkout-review"')
    placed = filled.post(
        "/checkout/place", dict(REVIEW_FIELD.findall(delivery.text)), htmx=True, target="checkout-review"
    )
    assert placed.status_code == 200 and placed.headers["hx-redirect"].startswith("/orders/")


def test_the_price_paid_is_the_one_reviewed_and_kept_when_prices_change_later(filled: Shopper, app: Litestar) -> None:
    number = filled.checkout()
    sql(app, "UPDATE variants SET price_cents = 99900 WHERE sku = 'tea-tin'")
    order = filled.client.get(f"/api/orders/{number}").json()["order"]
    tea = next(item for item in order["items"] if item["productId"] == "tea-tin")
    assert (tea["unitPrice"], tea["lineTotal"], tea["title"]) == (1400, 2800, "Tea tin")


def test_a_price_changed_since_the_add_is_said_on_the_review(filled: Shopper, app: Litestar) -> None:
    sql(app, "UPDATE variants SET price_cents = 1600 WHERE sku = 'tea-tin'")
    review = text_of(filled.review().text)
    assert "The price of Tea tin changed since you added it: it was €14.00, it is now €16.00." in review
    assert "Tea tin 2 €16.00 €32.00" in review


def test_a_double_submit_or_a_replay_places_one_order(filled: Shopper, app: Litestar) -> None:
    review = filled.review()
    first = filled.place(review)
    again = filled.place(review)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert counts(app)[0] == 1


def test_two_tabs_placing_the_same_cart_get_the_same_order(filled: Shopper, app: Litestar) -> None:
    first_tab = filled.review()
    second_tab = filled.visit("/checkout/review")
    assert (
        dict(REVIEW_FIELD.findall(first_tab.text))["idempotency_key"]
        == dict(REVIEW_FIELD.findall(second_tab.text))["idempotency_key"]
    )
    a, b = filled.place(first_tab), filled.place(second_tab)
    assert a.headers["location"] == b.headers["location"] and counts(app)[0] == 1


def test_the_next_checkout_gets_a_new_key_and_a_new_order(filled: Shopper, app: Litestar) -> None:
    first = filled.checkout()
    filled.add("tea-tin", 1)
    second = filled.checkout()
    assert first != second and counts(app)[0] == 2


def test_a_key_this_session_was_not_given_is_refused_and_nothing_is_written(filled: Shopper, app: Litestar) -> None:
    review = filled.review()
    fields = dict(REVIEW_FIELD.findall(review.text))
    response = filled.post("/checkout/place", {**fields, "idempotency_key": "made-up-key-123"})
    assert response.status_code == 400 and "out of date" in response.text
    assert counts(app) == (0, 0, 0, 0)


def test_a_review_made_stale_in_another_tab_is_shown_again_with_what_changed(filled: Shopper, app: Litestar) -> None:
    review = filled.review()
    filled.add("tea-tin", 1)  # another tab adds one more
    response = filled.place(review)
    assert response.status_code == 409
    assert "changed since you reviewed your order" in text_of(response.text)
    assert "Tea tin 3 €14.00 €42.00" in text_of(response.text)
    assert counts(app) == (0, 0, 0, 0)
    assert filled.place(response).status_code == 303  # the review shown again can be placed


def test_a_short_line_places_nothing_and_is_named_and_clamped(filled: Shopper, app: Litestar) -> None:
    review = filled.review()
    set_stock(app, "tea-tin", 1)
    before_shirt = stock(app, "linen-shirt-m")
    response = filled.place(review)
    assert response.status_code == 409
    shown = text_of(response.text)
    assert "Tea tin: 1 left" in shown and "Nothing was ordered" in shown
    assert "Only 1 left of Tea tin: quantity reduced to 1." in shown
    assert counts(app) == (0, 0, 0, 0)
    assert (stock(app, "tea-tin"), stock(app, "linen-shirt-m")) == (1, before_shirt)
    assert filled.quantities()[next(k for k in filled.quantities() if k.startswith("tea-tin"))] == 1


def test_an_undeliverable_line_blocks_checkout_until_resolved(shopper: Shopper, app: Litestar) -> None:
    shopper.add("chef-knife", 1)
    shopper.add("tea-tin", 1)
    review = shopper.review(country="FR", postcode="75001", city="Paris")
    assert "Some items cannot be delivered to FR" in text_of(review.text)
    assert "Place order" not in review.text
    assert "Cannot be delivered to FR" in shopper.visit("/cart").text
    forced = shopper.post("/checkout/place", {"idempotency_key": "x" * 24, "reviewed": "y"})
    assert forced.status_code == 400  # no key was issued for a review that cannot be placed
    knife = next(item["id"] for item in shopper.cart()["items"] if item["productId"] == "chef-knife")
    shopper.post(f"/cart/lines/{knife}/remove", {})
    assert shopper.place().status_code == 303


def test_an_address_elsewhere_becomes_deliver_to_and_the_method_is_asked_again(filled: Shopper) -> None:
    filled.review()
    moved = filled.contact(country="NL", postcode="1012 ab", city="Amsterdam")
    assert moved.status_code == 303
    assert "Deliver to NL 1012 AB" in text_of(filled.visit("/").text)
    review = filled.client.get("/checkout/review", follow_redirects=False)
    assert review.status_code == 303 and review.headers["location"] == "/checkout/delivery"
    delivery = text_of(filled.visit("/checkout/delivery").text)
    assert "Pick up" not in delivery and "Standard delivery €9.90" in delivery  # EU methods, under €100


def test_checkout_of_an_empty_cart_goes_back_to_the_cart(shopper: Shopper) -> None:
    response = shopper.client.get("/checkout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/cart"
    assert "Your cart is empty: add something before checking out." in shopper.visit("/cart").text


def test_the_steps_cannot_be_skipped(filled: Shopper) -> None:
    filled.visit("/")
    assert filled.client.get("/checkout/review", follow_redirects=False).headers["location"] == "/checkout"
    assert filled.post("/checkout/delivery", {"method": "standard"}).headers["location"] == "/checkout"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "", "Please enter your email address."),
        ("email", "not-an-email", "Please enter a valid email address"),
        ("email", "a\x00b@example.com", "valid email address"),
        ("name", "", "Please give the name."),
        ("name", "x" * 101, "at most 100 characters"),
        ("name", "Ada\x07", "cannot be printed"),
        ("line1", "", "Please give the address."),
        ("line1", "Main St\n1", "cannot be printed"),
        ("line2", "y" * 101, "at most 100 characters"),
        ("city", "", "Please give the town or city."),
        ("city", "c" * 61, "at most 60 characters"),
        ("postcode", "1234", "A postcode in DE is five digits"),
        ("postcode", "", "Please give the postcode."),
        ("country", "", "Choose a country"),
    ],
)
def test_every_contact_field_is_checked_next_to_itself_and_nothing_is_kept(
    filled: Shopper, field: str, value: str, message: str
) -> None:
    filled.visit("/checkout")
    response = filled.post("/checkout/contact", {**ADDRESS, field: value})
    assert response.status_code == 400
    error = re.search(rf'<p id="{field}-error" class="field-error">([^<]*)</p>', response.text)
    assert error and message in error.group(1), response.text[-3000:]
    assert re.search(rf'id="checkout-{field}"[^>]*aria-invalid="true"', response.text)
    assert filled.client.get("/checkout/delivery", follow_redirects=False).status_code == 303


def test_a_country_not_served_is_refused(filled: Shopper) -> None:
    filled.visit("/checkout")
    response = filled.post("/checkout/contact", {**ADDRESS, "country": "AQ", "postcode": "1234"})
    assert response.status_code == 422 and "we do not deliver to AQ" in response.text


def test_markup_is_kept_as_text_and_escaped_everywhere(filled: Shopper, app: Litestar) -> None:
    number = filled.checkout(name="<script>alert(1)</script>", line2="<b>flat 2</b>")
    page = filled.visit(f"/orders/{number}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    html = sql(app, "SELECT body_html FROM outbox")[0][0]
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("method", ["", "teleport", "pickup-fr"])
def test_an_unknown_or_other_zone_method_is_refused(shopper: Shopper, method: str) -> None:
    shopper.add("tea-tin", 1)
    shopper.contact(country="FR", postcode="75001", city="Paris")
    response = shopper.post("/checkout/delivery", {"method": "pickup" if method == "pickup-fr" else method})
    assert response.status_code == 400 and "Choose one of the delivery methods shown." in response.text


def test_prices_totals_and_stock_sent_by_the_client_are_ignored(filled: Shopper, app: Litestar) -> None:
    review = filled.review()
    fields = dict(REVIEW_FIELD.findall(review.text))
    tampered = {**fields, "total": "1", "price": "1", "unit_price": "1", "stock": "9999", "delivery": "0"}
    assert filled.post("/checkout/place", tampered).status_code == 303
    assert sql(app, "SELECT total_cents FROM orders")[0][0] == 2 * 1400 + 5900 + 0


def test_a_user_picks_a_saved_address_and_finds_the_order_in_my_orders(shopper: Shopper, app: Litestar) -> None:
    register(app, "buyer@example.com")
    shopper.visit("/login")
    login(shopper, "buyer@example.com")
    shopper.visit("/")  # the login gave the session a new CSRF token
    shopper.add("tea-tin", 1)
    first = shopper.checkout(email="buyer@example.com", save_address="yes")
    shopper.add("desk-tray", 1)
    contact = shopper.visit("/checkout")
    assert "Unter den Linden 1, 10117 Berlin, DE" in text_of(contact.text)  # saved at the first checkout
    chosen = shopper.post("/checkout/contact", {"email": "buyer@example.com", "saved_address": "0"})
    assert chosen.status_code == 303
    shopper.post("/checkout/delivery", {"method": "pickup"})
    second = shopper.place(shopper.visit("/checkout/review")).headers["location"].rsplit("/", 1)[1]
    listing = shopper.visit("/orders").text
    assert listing.index(second) < listing.index(first)  # newest first
    assert sql(app, "SELECT count(*) FROM addresses")[0][0] == 1


def test_the_api_places_once_per_key_and_says_why_it_cannot(client: TestClient[Litestar], app: Litestar) -> None:
    body = api_checkout("api@example.com", "Script")
    key = {"Idempotency-Key": "order-0001-abcdef"}
    assert client.post("/api/checkout", json=body, headers=key).json()["error"] == "EMPTY_CART"
    client.post("/api/cart", json={"productId": "tea-tin", "qty": 2})
    first = client.post("/api/checkout", json={**body, "totals": {"total": 1}}, headers=key)
    assert first.status_code == 201, first.text
    order = first.json()["order"]
    assert order["status"] == "placed" and order["totals"] == {
        "subtotal": 2800,
        "delivery": 490,
        "total": 3290,
        "currency": "EUR",
    }
    assert order["items"] == [
        {
            "productId": "tea-tin",
            "variantId": order["items"][0]["variantId"],
            "title": "Tea tin",
            "qty": 2,
            "unitPrice": 1400,
            "lineTotal": 2800,
        }
    ]
    again = client.post("/api/checkout", json=body, headers=key)
    assert again.status_code == 200 and again.json() == first.json()
    assert client.post("/api/checkout", json=body).status_code == 400  # no key
    client.post("/api/cart", json={"productId": "chef-knife", "qty": 1})
    abroad = {**body, "address": {**body["address"], "country": "FR", "postcode": "75001"}}
    refused = client.post("/api/checkout", json=abroad, headers={"Idempotency-Key": "order-0002-abcdef"})
    assert refused.status_code == 409 and refused.json()["error"] == "NOT_DELIVERABLE"
    set_stock(app, "chef-knife", 0)
    client.post("/api/locality", json={"country": "DE", "postcode": "50667"})
    short_body = {**body, "deliveryMethod": "express"}
    client.post("/api/cart", json={"productId": "tea-tin", "qty": 1})
    set_stock(app, "tea-tin", 0)
    short = client.post("/api/checkout", json=short_body, headers={"Idempotency-Key": "order-0003-abcdef"})
    assert short.status_code == 409 and short.json()["error"] == "OUT_OF_STOCK", short.text
    assert [line["title"] for line in short.json()["lines"]] == ["Tea tin"]


def test_another_shoppers_key_never_reaches_their_order(client: TestClient[Litestar], other_shopper: Shopper) -> None:
    body = api_checkout("first@example.com", "First")
    key = {"Idempotency-Key": "shared-key-0001"}
    client.post("/api/cart", json={"productId": "tea-tin", "qty": 1})
    mine = client.post("/api/checkout", json=body, headers=key).json()["order"]["number"]
    theirs = other_shopper.client.post("/api/checkout", json={**body, "email": "second@example.com"}, headers=key)
    assert theirs.status_code == 409 and theirs.json()["error"] == "EMPTY_CART"  # their own, empty cart
    assert mine not in theirs.text


def test_placements_are_counted_for_operators(settings: Settings) -> None:
    app = create_app(settings.with_overrides(metrics_allow=("testclient",)))
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            shopper = Shopper(client)
            shopper.add("tea-tin", 2)
            review = shopper.review()
            set_stock(app, "tea-tin", 0)
            shopper.place(review)
            set_stock(app, "tea-tin", 10)
            shopper.add("tea-tin", 1)
            shopper.checkout()
            metrics = client.get("/metrics").text
    finally:
        app.state.shop.db.dispose()
    assert "storefront_orders_placed_total 1.0" in metrics
    assert 'storefront_placements_refused_total{reason="out_of_stock"} 1.0' in metrics
    assert 'storefront_outbox_messages{status="pending"} 1.0' in metrics
    assert "storefront_outbox_oldest_pending_seconds" in metrics


def test_back_to_a_step_with_htmx_gets_the_whole_page(filled: Shopper) -> None:
    filled.contact()
    restored = filled.client.get("/checkout", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert restored.text.startswith("<!doctype html>") and 'id="cart-badge"' in restored.text


def test_an_order_number_already_taken_is_drawn_again(
    filled: Shopper, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.orders import service as orders

    taken = filled.checkout()
    filled.add("tea-tin", 1)
    draws = iter([taken, taken, "NEWNUMB2"])
    monkeypatch.setattr(orders, "new_number", lambda: next(draws))
    assert filled.checkout() == "NEWNUMB2"
    assert sql(app, "SELECT count(*) FROM orders") == [(2,)]


def test_five_order_numbers_taken_in_a_row_ask_the_shopper_to_try_again(
    filled: Shopper, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.orders import service as orders

    taken = filled.checkout()
    filled.add("tea-tin", 1)
    review = filled.review()
    before = (counts(app), stock(app, "tea-tin"), filled.quantities())
    draws = iter([taken] * 5 + ["NEWNUMB2"])  # a sixth draw would have found a free number
    monkeypatch.setattr(orders, "new_number", lambda: next(draws))
    refused = filled.place(review)
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"]
    assert "Nothing was changed; please try again" in text_of(refused.text)
    assert (counts(app), stock(app, "tea-tin"), filled.quantities()) == before
    monkeypatch.setattr(orders, "new_number", lambda: "NEWNUMB3")
    assert filled.place(review).status_code == 303  # the same review, sent again, places it


PLACE_CHANGED = "Your delivery place changed since you reviewed this order: check the review again."


def deliver_to(shopper: Shopper, country: str, postcode: str) -> None:
    """The header's "Deliver to" changed, as from another tab while the review stays open."""
    changed = shopper.post("/deliver-to", {"country": country, "postcode": postcode, "next": "/"})
    assert changed.status_code == 303, changed.text


def test_a_review_left_open_while_deliver_to_moves_in_the_zone_places_nothing(filled: Shopper, app: Litestar) -> None:
    review = filled.review()  # to Berlin 10117: the same methods and prices as anywhere in Germany
    deliver_to(filled, "DE", "80331")
    refused = filled.place(review)
    assert refused.status_code == 409
    shown = text_of(refused.text)
    assert PLACE_CHANGED in shown
    assert "Deliver to is now DE 80331, but this order goes to DE 10117." in shown
    assert "Place order" not in refused.text  # the same review would be refused again
    assert "Place order" not in filled.visit("/checkout/review").text
    assert counts(app) == (0, 0, 0, 0)
    assert filled.place(review).status_code == 409  # the old form, sent again

    deliver_to(filled, "DE", "10117")  # back where the address is: the review stands again
    assert filled.place(review).status_code == 303
    assert sql(app, "SELECT postcode, country FROM orders") == [("10117", "DE")]


def test_a_review_left_open_while_deliver_to_moves_to_another_zone_places_nothing_with_htmx(
    shopper: Shopper, app: Litestar
) -> None:
    shopper.add("linen-shirt", 2, label="M")  # €118: delivery is free in Germany and in the EU alike
    review = shopper.review()
    deliver_to(shopper, "AT", "1010")  # the EU zone has a "standard" method too, at the same price
    fields = dict(REVIEW_FIELD.findall(review.text))
    refused = shopper.post("/checkout/place", fields, htmx=True, page="/checkout/review", target="checkout-review")
    assert refused.status_code == 409
    assert refused.text.lstrip().startswith('<section id="checkout-review"')
    assert PLACE_CHANGED in text_of(refused.text) and "Place order" not in refused.text
    assert counts(app) == (0, 0, 0, 0)

    moved = shopper.contact(country="AT", postcode="1010", city="Wien")  # an address where it now goes
    assert moved.status_code == 303
    assert shopper.post("/checkout/delivery", {"method": "standard"}).status_code == 303
    assert shopper.place(shopper.visit("/checkout/review")).status_code == 303
    assert sql(app, "SELECT postcode, country, delivery_method FROM orders") == [("1010", "AT", "standard")]


def test_the_api_checkout_delivers_to_its_own_address_whatever_deliver_to_was(
    client: TestClient[Litestar], app: Litestar
) -> None:
    client.post("/api/cart", json={"productId": "tea-tin", "qty": 1})
    assert client.post("/api/locality", json={"country": "AT", "postcode": "1010"}).status_code == 200
    body = api_checkout("api@example.com", "Script")
    placed = client.post("/api/checkout", json=body, headers={"Idempotency-Key": "order-0001-abcdef"})
    assert placed.status_code == 201, placed.text
    assert placed.json()["order"]["totals"]["delivery"] == 490  # Germany's standard delivery, not the EU's
    assert sql(app, "SELECT postcode, country FROM orders") == [("50667", "DE")]
    assert client.get("/api/locality/status").json()["locality"] == {"country": "DE", "postcode": "50667"}


def test_deliver_to_written_without_the_postcode_space_is_the_same_place(filled: Shopper, app: Litestar) -> None:
    """A review for NL "1012 AB" stands when Deliver to is set again as "1012ab" (found in review)."""
    review = filled.review(country="NL", postcode="1012 AB", city="Amsterdam")
    deliver_to(filled, "NL", "1012ab")
    assert filled.place(review).status_code == 303
    assert sql(app, "SELECT postcode, country FROM orders") == [("1012 AB", "NL")]
