"""Every HTML form the shop shows, posted with bodies hypothesis makes up: never a 5xx or a
traceback, and a refusal (4xx) changes nothing stored.

The forms are not listed by hand: they are read off the pages the shop renders for a member of
staff with a cart and an order, a guest with an order, and a visitor who is not logged in (with
links from the mail for the confirmation and new-password forms), and every POST route outside
/api must be among them. Each field gets its value from the page, text of any kind (control
characters, very long, numbers, none at all), raw bytes that are not UTF-8, or is sent twice or
left out; unknown fields come along; the CSRF token is mostly the page's, sometimes missing or
wrong; half the posts come as htmx. HYPOTHESIS_PROFILE picks the examples per form: "ci" (the
default, a fixed 10) or "fuzz" (`make fuzz`, 200 new ones).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urlsplit

import hypothesis
import pytest
from hypothesis import strategies as st
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from tests.conftest import BASE_URL, TABLES, Shopper, htmx_headers, mailed_token, sql, stored_sessions
from tests.fuzzing import profile
from tests.test_staff import logged_in
from tests.test_staff_products import photo_bytes
from web.sessions import FLASHES_KEPT

# A refused login or password change counts the attempt (by design: tests/test_throttle.py).
COUNTED_WHEN_REFUSED = {"throttles"}
# Routes no page the visitors see has a form for (put-back is offered only just after "Empty the
# cart"): fuzzed as if a page had a form for them.
FORMLESS = ["/cart/products/test-1/remove", "/cart/put-back"]
# Posted last: each ends what the forms after it would need (the login, the cart).
ENDING = ("/logout", "/cart/clear")
NASTY = ["", " ", "\x00", "a\x00b", "\x7f", "\u202e", "日本", "0", "-1", "1e9", "99999999999999999999", "x" * 5000]
PROFILE = profile(fuzz_examples=200, ci_examples=10, suppress_health_check=list(hypothesis.HealthCheck))


@dataclass
class Form:
    """A form as a page shows it: where it posts, and its fields with the values the page gave them."""

    action: str
    multipart: bool
    fields: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    shown_on: str = ""


class Forms(HTMLParser):
    """The POST forms of a page."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.found: list[Form] = []
        self.current: Form | None = None
        self.field: str | None = None  # a textarea being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and values.get("method", "get").lower() == "post":
            multipart = values.get("enctype") == "multipart/form-data"
            self.current = Form(values.get("action") or self.page, multipart, shown_on=self.page)
            self.found.append(self.current)
        elif self.current is not None and "name" in values:
            name = values["name"]
            if tag == "input" and values.get("type") == "file":
                self.current.files.append(name)
            elif tag == "input" and values.get("type") in ("checkbox", "radio") and "checked" not in values:
                self.current.fields.setdefault(name, values.get("value", "on"))
            elif tag in ("input", "button"):
                self.current.fields.setdefault(name, values.get("value", ""))
            elif tag == "textarea":
                self.current.fields[name] = ""
            elif tag == "select":
                self.field = name
        elif tag == "option" and self.current is not None and self.field:
            self.current.fields.setdefault(self.field, values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.field = None


def forms_on(visitor: Shopper, path: str) -> list[Form]:
    page = visitor.client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    parser = Forms(path)
    parser.feed(page.text)
    return parser.found


@dataclass
class Visitor:
    shopper: Shopper
    pages: list[str]


@pytest.fixture
def visitors(app: Litestar) -> Iterator[list[Visitor]]:
    """Who sees which pages: staff with a cart and an order, a guest with an order, a stranger."""
    for member in logged_in(app, "fuzz@example.com", staff=True):
        member.add("tea-tin")
        own = member.checkout()
        member.add("test-1", 2)
        member.add("tea-tin")
        member.contact()
        member.post("/checkout/delivery", {"method": "standard"})
        uploaded = member.post("/staff/products/test-1/photo", files={"photo": ("p.jpg", photo_bytes(), "image/jpeg")})
        assert uploaded.status_code == 303, uploaded.text  # so the page shows the form that removes it
        with TestClient(app, base_url=BASE_URL) as guest_client, TestClient(app, base_url=BASE_URL) as stranger_client:
            guest = Shopper(guest_client)
            guest.add("test-1")
            guest_order = guest.checkout(email="guest@example.com")
            stranger = Shopper(stranger_client)
            stranger.visit("/register")
            stranger.post("/register", {"email": "new@example.com", "password": "a long enough secret"})
            confirm = mailed_token(app, "new@example.com")
            stranger.post("/account/forgot", {"email": "fuzz@example.com"})
            reset = mailed_token(app, "fuzz@example.com")
            product = "/products/test-1"
            yield [
                Visitor(
                    member,
                    [
                        "/",
                        product,
                        "/cart",
                        "/checkout",
                        "/checkout/delivery",
                        "/checkout/review",
                        "/deliver-to",
                        "/orders",
                        f"/orders/{own}",
                        "/account",
                        f"/staff/orders/{guest_order}",
                        "/staff/products/test-1",
                    ],
                ),
                Visitor(guest, [product, f"/orders/{guest_order}"]),
                Visitor(
                    stranger,
                    [
                        "/login",
                        "/register",
                        "/account/forgot",
                        "/orders/lookup",
                        f"/account/confirm?token={confirm}",
                        f"/account/reset?token={reset}",
                    ],
                ),
            ]


def post_routes(app: Litestar) -> list[re.Pattern[str]]:
    """Every POST route outside /api, as a pattern of its paths (but the catch-all of addresses
    with no page, whose every method is a 404)."""
    found = []
    for route in app.routes:
        if route.path == "/{rest:path}":
            continue
        if isinstance(route, HTTPRoute) and "POST" in route.methods and not route.path.startswith("/api/"):
            pattern = re.sub(r"\\{\w+:int\\}", r"\\d+", re.escape(route.path))
            found.append(re.compile(re.sub(r"\\{\w+:str\\}", r"[^/]+", pattern) + "$"))
    return found


# What showing a page changes, and a refused post still shows a page: the messages it shows are
# read (the orders' marks) and a session's flash messages taken.
SHOWN = {"orders": {"staff_read_message_id", "shopper_read_message_id"}}


def stored(app: Litestar) -> dict[str, list[Any]]:
    """Every row, but of a session only what it holds: a refused page still shows (so takes) the
    messages left for it, and a visit moves the session's expiry on."""
    rows = {}
    for table in TABLES:
        if table in COUNTED_WHEN_REFUSED | {"sessions"}:
            continue
        found = [
            tuple(value for name, value in row._mapping.items() if name not in SHOWN.get(table, ()))
            for row in sql(app, f"SELECT * FROM {table}")
        ]
        rows[table] = sorted(found, key=repr)
    sessions = sql(app, "SELECT key, data FROM sessions ORDER BY key")
    rows["sessions"] = [(key, {k: v for k, v in json.loads(data).items() if k != "flash"}) for key, data in sessions]
    return rows


TEXT = st.one_of(st.text(max_size=80), st.sampled_from(NASTY), st.integers(-(10**12), 10**12).map(str))
RAW = st.binary(min_size=1, max_size=12)  # percent-encoded as it is: mostly not UTF-8


def bodies(form: Form, token: str) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """A form body as (name, value) pairs: each field as shown, made up, raw bytes, twice, or left out."""
    names = [name for name in form.fields if name != "csrf_token"]
    one = {name: st.one_of(st.just(form.fields[name]), TEXT, RAW) for name in names}
    fields = st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(strategy.map(lambda v: [v]), st.lists(strategy, min_size=2, max_size=3))
            for name, strategy in one.items()
        },
    )
    extra = st.dictionaries(st.text(min_size=1, max_size=12), TEXT, max_size=2)
    csrf = st.sampled_from([[token]] * 6 + [[], [""], ["x" * 43], [token, token]])

    def pairs(values: dict[str, list[Any]], unknown: dict[str, str], tokens: list[str]) -> list[tuple[str, Any]]:
        sent = [(name, value) for name, listed in values.items() for value in listed]
        return [*sent, *unknown.items(), *(("csrf_token", value) for value in tokens)]

    return st.builds(pairs, fields, extra, csrf)


def send(visitor: Shopper, form: Form, body: list[tuple[str, Any]], htmx: bool, upload: bytes) -> Any:
    headers = htmx_headers(visitor.csrf, form.shown_on) if htmx else {}
    if htmx:
        headers.pop("X-CSRF-Token", None)  # the body's token is the one being fuzzed
    if form.multipart:
        files = {name: ("photo.jpg", upload, "image/jpeg") for name in form.files}
        data = {name: value if isinstance(value, str) else value.decode("latin-1") for name, value in body}
        return visitor.client.post(form.action, data=data, files=files, headers=headers, follow_redirects=False)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return visitor.client.post(
        form.action, content=urlencode(body).encode("ascii"), headers=headers, follow_redirects=False
    )


def all_forms(visitors: list[Visitor]) -> list[tuple[Visitor, Form]]:
    """Each visitor's forms, each action once, and the form-less routes for the first visitor."""
    found: dict[tuple[int, str], tuple[Visitor, Form]] = {}
    for visitor in visitors:
        for page in visitor.pages:
            for form in forms_on(visitor.shopper, page):
                found.setdefault((id(visitor), form.action), (visitor, form))
    token = visitors[0].shopper.csrf
    formless = [(visitors[0], Form(path, False, {"csrf_token": token}, shown_on="/")) for path in FORMLESS]
    return [*found.values(), *formless]


def test_every_form_is_found_on_the_pages(app: Litestar, visitors: list[Visitor]) -> None:
    actions = {urlsplit(form.action).path for _visitor, form in all_forms(visitors)}
    missing = [route.pattern for route in post_routes(app) if not any(route.match(action) for action in actions)]
    assert missing == []


def test_every_form_fuzzed_never_fails_and_a_refusal_changes_nothing(app: Litestar, visitors: list[Visitor]) -> None:
    for visitor, form in sorted(all_forms(visitors), key=lambda pair: urlsplit(pair[1].action).path.endswith(ENDING)):
        try:
            fuzz(app, visitor.shopper, form)
        except Exception as error:
            error.add_note(f"while fuzzing the form posting to {form.action} on {form.shown_on}")
            raise


def fuzz(app: Litestar, visitor: Shopper, form: Form) -> None:
    token = form.fields.get("csrf_token", visitor.csrf)

    @PROFILE
    @hypothesis.given(body=bodies(form, token), htmx=st.booleans(), upload=st.binary(max_size=64))
    def check(body: list[tuple[str, Any]], htmx: bool, upload: bytes) -> None:
        before = stored(app)
        response = send(visitor, form, body, htmx, upload)
        where = f"POST {form.action} (from {form.shown_on}, htmx={htmx}) {body!r}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:500]}"
        assert "Traceback" not in response.text, where
        if response.status_code >= 400:
            assert stored(app) == before, f"{where} was refused ({response.status_code}) and changed data"

    check()


def test_the_collector_reads_a_form_as_a_browser_would_send_it() -> None:
    parser = Forms("/here")
    parser.feed(
        '<form method="post" action="/cart/items"><input type="hidden" name="csrf_token" value="t">'
        '<select name="variant"><option value="7">S</option><option value="8">M</option></select>'
        '<textarea name="note">x</textarea><button name="go" value="1">Go</button></form>'
        '<form method="get" action="/search"><input name="q"></form>'
    )
    assert parser.found == [
        Form("/cart/items", False, {"csrf_token": "t", "variant": "7", "note": "", "go": "1"}, [], "/here")
    ]


# Found by the fuzz


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize(
    ("step", "form"),
    [("/checkout/contact", {"email": "not an address"}), ("/checkout/delivery", {"method": "by-pigeon"})],
    ids=["contact", "delivery"],
)
def test_a_wrong_step_after_the_cart_emptied_in_another_tab_goes_back_to_the_cart(
    shopper: Shopper, step: str, form: dict[str, str], htmx: bool
) -> None:
    shopper.add("test-1")
    shopper.review()
    shopper.post("/cart/clear")  # in another tab
    refused = shopper.post(step, form, htmx=htmx, page="/checkout")
    if htmx:
        assert refused.status_code == 200 and refused.headers["hx-redirect"] == "/cart"
    else:
        assert refused.status_code == 303 and refused.headers["location"] == "/cart"
    assert "Your cart is empty: add something before checking out." in shopper.visit("/cart").text


def test_a_client_that_never_reads_a_page_keeps_only_the_last_few_messages(shopper: Shopper, app: Litestar) -> None:
    for slug in ["test-1", "test-2", "tea-tin", "wall-clock", "desk-tray", "test-1", "test-2", "tea-tin"]:
        assert shopper.add(slug).status_code == 303
    (session,) = stored_sessions(app).values()
    flashes = [shown["message"] for shown in session.data["flash"]]
    assert len(flashes) == FLASHES_KEPT == 5 and len(set(flashes)) == len(flashes)
    assert flashes[-1].startswith("Added 1 × Tea tin")
