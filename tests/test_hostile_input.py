"""Hostile input (issue #13, findings 5 and 7): what used to answer 500, drop the connection after the
change was saved, or store control characters.

Where to go next is worked out before the unit of work commits and is always a Location a browser
and a server can carry (ASCII; a control character falls back to the default). A JSON body nested
too deep, or holding a lone surrogate, is a 400 naming the field. A control character in a text
field is refused next to the field, and none reaches a query (PostgreSQL refuses NUL with an error).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import event

from tests.conftest import PASSWORD, Shopper, add_form, login, register, sql
from tests.test_staff import STAFF_EMAIL, logged_in

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
EMAIL = "ada@example.com"
# What a form sends as `next` (percent-encoded, as in its body), and where the answer must go: None
# for the route's default. "/日本" used to be a 500 (not Latin-1), DEL and C1 a dropped connection.
TARGETS = [
    pytest.param("/%E6%97%A5%E6%9C%AC", "/%E6%97%A5%E6%9C%AC", id="non-latin-1"),
    pytest.param("/caf%C3%A9?q=%E2%82%AC+2", "/caf%C3%A9?q=%E2%82%AC%202", id="non-latin-1-query"),
    pytest.param("/%7F", None, id="DEL"),
    pytest.param("/%C2%85", None, id="C1"),
]


def send(shopper: Shopper, path: str, body: str, headers: dict[str, str] | None = None) -> Any:
    """A url-encoded form sent as written (so %7F arrives as DEL), with the shopper's CSRF token."""
    if not shopper.csrf:
        shopper.visit("/")
    content = f"csrf_token={shopper.csrf}&{body}"
    return shopper.client.post(path, content=content, headers={**FORM, **(headers or {})}, follow_redirects=False)


def cart_lines(app: Litestar) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sql(app, "SELECT cart_id, variant_id, quantity FROM cart_lines ORDER BY id")]


def signed_in_as(shopper: Shopper) -> str | None:
    user = shopper.client.get("/api/auth/me").json()["user"]
    return user["email"] if user else None


def field_error(text: str, field: str) -> str:
    """The message a form page shows next to `field` ("" when none)."""
    start = text.find(f'<p id="{field}-error" class="field-error">')
    return text[start : text.find("</p>", start)] if start >= 0 else ""


# Finding 5: where to go next, after the change is saved


@pytest.mark.parametrize(("sent", "location"), TARGETS)
def test_adding_to_the_cart_without_javascript_always_answers_with_a_valid_location(
    shopper: Shopper, app: Litestar, sent: str, location: str | None
) -> None:
    form = add_form(app)
    body = f"product={form['product']}&variant_id={form['variant_id']}&quantity=1&next={sent}"
    response = send(shopper, "/cart/items", body)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == (location or "/cart")
    assert shopper.cart()["totals"]["count"] == 1


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(("sent", "location"), TARGETS)
def test_logging_in_always_answers_with_a_valid_location(
    shopper: Shopper, app: Litestar, sent: str, location: str | None, htmx: bool
) -> None:
    register(app, EMAIL)
    headers = {"HX-Request": "true", "X-CSRF-Token": shopper.csrf or ""} if htmx else {}
    shopper.visit("/login")
    response = send(shopper, "/login", f"email={EMAIL}&password={PASSWORD.replace(' ', '+')}&next={sent}", headers)
    if htmx:
        assert response.status_code == 200 and response.headers["hx-redirect"] == (location or "/")
    else:
        assert response.status_code == 303 and response.headers["location"] == (location or "/")
    assert signed_in_as(shopper) == EMAIL


@pytest.mark.parametrize(("sent", "location"), TARGETS)
def test_the_login_page_sends_a_logged_in_user_on_to_a_valid_location(
    shopper: Shopper, app: Litestar, sent: str, location: str | None
) -> None:
    register(app, EMAIL)
    assert login(shopper, EMAIL).status_code == 303
    response = shopper.client.get(f"/login?next={sent}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == (location or "/")


def test_a_page_address_or_referer_that_is_not_a_url_is_not_a_500(shopper: Shopper) -> None:
    """urlsplit() raises on "http://[": neither the htmx page's address nor a form's Referer may."""
    page = shopper.client.get("/", headers={"HX-Request": "true", "HX-Current-URL": "http://["})
    assert page.status_code == 200
    shopper.visit("/")
    anonymous = shopper.post("/account/password", {"current_password": "x"}, headers={"Referer": "http://["})
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/"


# Finding 5: JSON bodies


@pytest.mark.parametrize("path", ["/api/cart", "/api/auth/email-login", "/api/locality", "/api/checkout"])
def test_json_nested_a_thousand_deep_is_a_400_on_every_call(shopper: Shopper, app: Litestar, path: str) -> None:
    body = '{"productId": "test-1", "qty": 1, "deep": ' + "[" * 1000 + "]" * 1000 + "}"
    response = shopper.client.post(path, content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {
        "error": "INVALID_BODY",
        "message": "The body nests arrays and objects more than 32 deep.",
    }
    assert cart_lines(app) == []


def test_json_may_nest_32_deep_and_brackets_in_strings_do_not_count(shopper: Shopper) -> None:
    def add(deep: str) -> Any:
        body = '{"productId": "test-1", "qty": 1, "x": ' + deep + "}"
        return shopper.client.post("/api/cart", content=body, headers=JSON)

    assert add("[" * 32 + "]" * 32).status_code == 400  # 33 deep with the body itself
    assert add("[" * 31 + "]" * 31).status_code == 201
    assert add('"' + "[{" * 100 + '\\"[{"').status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/cart", '{"productId": "test-\\ud800", "qty": 1}', "productId"),
        ("/api/cart", '{"productId": "test-1", "qty": 1, "\\udfff": 1}', None),
        ("/api/auth/email-login", '{"email": "a\\ud800@example.com", "password": "a long passphrase"}', "email"),
        ("/api/auth/email-login", '{"email": "ada@example.com", "password": "\\ud800"}', "password"),
    ],
    ids=["product", "field-name", "email", "password"],
)
def test_a_lone_surrogate_in_json_is_a_400_naming_the_field(
    shopper: Shopper, app: Litestar, path: str, body: str, field: str | None
) -> None:
    response = shopper.client.post(path, content=body, headers=JSON)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "INVALID_BODY" and answer.get("field") == field
    assert "cannot be stored" in answer["message"]
    assert cart_lines(app) == [] and sql(app, "SELECT key FROM throttles") == []


def multipart(csrf: str, *parts: tuple[str, bytes, str]) -> bytes:
    """A multipart body of (name, raw value, part Content-Type or "") and the CSRF token."""
    out = [b'--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n' + csrf.encode() + b"\r\n"]
    for name, value, kind in parts:
        head = f'--B\r\nContent-Disposition: form-data; name="{name}"\r\n'
        out.append((head + (f"Content-Type: {kind}\r\n" if kind else "") + "\r\n").encode() + value + b"\r\n")
    return b"".join(out) + b"--B--\r\n"


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (("next", b"/\xff", ""), "The form could not be read: send its text as UTF-8."),
        (("next", b"/", "text/plain; charset=no-such-codec"), "The form could not be read: send its text as UTF-8."),
        (("product", b"test-\\ud800", "text/plain; charset=unicode_escape"), "cannot be stored"),
    ],
    ids=["not-utf-8", "unknown-charset", "surrogate"],
)
def test_a_multipart_form_whose_text_cannot_be_read_or_stored_is_a_400(
    shopper: Shopper, app: Litestar, part: tuple[str, bytes, str], message: str
) -> None:
    """Forms arrive url-encoded (bytes that are not UTF-8 become U+FFFD) or multipart, decoded by
    Litestar in whatever charset a part names."""
    shopper.visit("/products/test-1")
    fields = {name: value.encode() for name, value in add_form(app).items()}
    fields[part[0]] = part[1]
    kinds = {part[0]: part[2]}
    body = multipart(shopper.csrf, *((name, value, kinds.get(name, "")) for name, value in fields.items()))
    headers = {"content-type": "multipart/form-data; boundary=B"}
    response = shopper.client.post("/cart/items", content=body, headers=headers, follow_redirects=False)
    assert response.status_code == 400 and message in response.text
    assert cart_lines(app) == []


# Finding 7: control characters in text fields


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "a\x00b@example.com", "valid email address"),
        ("email", "a\x7fb@example.com", "valid email address"),
        ("email", "ab@example.com\x85", "valid email address"),
        ("email", "\x1fab@example.com", "valid email address"),
        ("display_name", "Ada\x00", "The name contains control characters"),
        ("display_name", "Ada \x1b[31mLovelace", "The name contains control characters"),
        ("display_name", "Ada\x9b", "The name contains control characters"),
    ],
)
def test_registration_refuses_control_characters_next_to_the_field(
    shopper: Shopper, app: Litestar, field: str, value: str, message: str
) -> None:
    shopper.visit("/register")
    form = {"email": "ab@example.com", "display_name": "Ada", "password": PASSWORD, field: value}
    response = shopper.post("/register", form)
    assert response.status_code == 400
    assert message in field_error(response.text, field)
    assert sql(app, "SELECT email FROM users") == []


def test_logging_in_refuses_an_email_with_a_control_character(shopper: Shopper) -> None:
    shopper.visit("/login")
    page = shopper.post("/login", {"email": "a\x00b@example.com", "password": PASSWORD})
    assert page.status_code == 400 and "valid email address" in field_error(page.text, "email")
    api = shopper.client.post("/api/auth/email-login", json={"email": "a\x7fb@example.com", "password": PASSWORD})
    assert api.status_code == 400 and api.json()["field"] == "email"


@pytest.fixture
def at_checkout(shopper: Shopper) -> Shopper:
    shopper.visit("/products/test-1")
    assert shopper.add("test-1").status_code == 303
    return shopper


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "ada@example.com\x1f", "valid email address"),
        ("name", "Ada\x1f", "cannot be printed"),
        ("line1", "\x85Unter den Linden 1", "cannot be printed"),
        ("city", "Berlin\x1c", "cannot be printed"),
        ("country", "DE\x1e", "The country contains control characters"),
        ("postcode", "10117\x1d", "The postcode contains control characters"),
    ],
)
def test_checkout_refuses_control_characters_even_where_trimming_would_hide_them(
    at_checkout: Shopper, field: str, value: str, message: str
) -> None:
    response = at_checkout.contact(**{field: value})
    assert response.status_code == 400
    assert message in field_error(response.text, field)
    assert at_checkout.client.get("/checkout/delivery", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("how", ["page", "htmx", "api"])
def test_deliver_to_refuses_a_postcode_with_a_control_character(shopper: Shopper, how: str) -> None:
    """A US postcode is 2 to 10 letters, digits, spaces or hyphens: "941\\x1f03" was kept as "941 03"."""
    if how == "api":
        response = shopper.client.post("/api/locality", json={"country": "US", "postcode": "941\x1f03"})
        assert response.status_code == 400 and response.json()["field"] == "postcode"
    else:
        fields = {"country": "US", "postcode": "941\x1f03", "next": "/"}
        response = shopper.post("/deliver-to", fields, htmx=how == "htmx")
        assert response.status_code == 400
        assert "The postcode contains control characters" in field_error(response.text, "postcode")
        assert ("<html" in response.text) == (how == "page")
    assert shopper.client.get("/api/locality/status").json()["locality"] is None


@pytest.fixture
def staff(app: Litestar) -> Iterator[Shopper]:
    yield from logged_in(app, STAFF_EMAIL, staff=True)


def test_staff_cannot_save_a_price_or_stock_with_a_control_character(staff: Shopper, app: Litestar) -> None:
    tea = sql(app, "SELECT id FROM variants WHERE sku = 'tea-tin'")[0][0]
    opened = {"price": "14.00", "stock": "60", "stock_seen": "60", "version": "1", "next": "/staff/products"}
    for field, value in (("price", "15.00\x1f"), ("stock", "\x8561")):
        response = staff.post(f"/staff/variants/{tea}", {**opened, field: value})
        assert response.status_code == 400 and f"The {field} contains control characters" in response.text
    assert sql(app, "SELECT price_cents, stock, version FROM variants WHERE id = :id", id=tea) == [(1400, 60, 1)]


@pytest.fixture
def queries(app: Litestar) -> Iterator[list[Any]]:
    """The parameters of every statement the app sends through SQLAlchemy while the test runs."""
    seen: list[Any] = []

    def record(_conn: Any, _cursor: Any, _statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append(parameters)

    engine = app.state.shop.db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def holds_nul(parameters: Any) -> bool:
    if isinstance(parameters, str):
        return "\x00" in parameters
    if isinstance(parameters, dict):
        return any(holds_nul(value) for value in parameters.values())
    if isinstance(parameters, list | tuple):
        return any(holds_nul(value) for value in parameters)
    return False


def nul_reached_a_query(queries: list[Any], shopper: Shopper, probe: str) -> bool:
    """Whether the query spy works (a real category is seen), then whether a NUL was ever sent."""
    shopper.client.get("/?category=stationery")
    assert any("stationery" in str(parameters) for parameters in queries), probe
    return any(holds_nul(parameters) for parameters in queries)


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("GET", "/?category=%00", None, 400),
        ("GET", "/products/test-1%00", None, 404),
        ("GET", "/orders/ABCDEFG%00", None, 404),
        ("POST", "/cart/items", "product=test-1%00&variant_id={variant}&quantity=1", 404),
        ("POST", "/orders/lookup", "number=ABCDEFG%00&email=ada%40example.com", 404),
        ("API", "/api/cart", {"productId": "test-1\x00", "qty": 1}, 404),
        ("DELETE", "/api/cart/product/test-1%00", None, 404),
    ],
)
def test_a_nul_in_a_query_param_path_or_field_never_reaches_a_query(
    shopper: Shopper, app: Litestar, queries: list[Any], method: str, path: str, payload: Any, status: int
) -> None:
    if method == "POST":
        response = send(shopper, path, payload.format(variant=add_form(app)["variant_id"]))
    elif method == "API":
        response = shopper.client.post(path, json=payload)
    else:
        response = shopper.client.request(method, path, headers=JSON if method == "DELETE" else {})
    assert response.status_code == status, response.text
    assert not nul_reached_a_query(queries, shopper, path)


def test_a_nul_in_the_back_offices_searches_and_addresses_never_reaches_a_query(
    staff: Shopper, queries: list[Any]
) -> None:
    for path, status in [
        ("/staff/orders?q=%00", 400),
        ("/staff/products?q=ab%00", 400),
        ("/staff/audit?subject=%00", 400),
        ("/staff/audit?product=tea-tin%00", 400),
        ("/staff/products/tea-tin%00", 404),
    ]:
        response = staff.client.get(path)
        assert response.status_code == status, path
    assert not nul_reached_a_query(queries, staff, "staff")
