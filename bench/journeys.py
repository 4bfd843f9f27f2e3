"""The soak's shoppers (bench/soak.py runs them): each a browser of its own, a model of what its cart
and orders must be, and the journeys it takes, one after another, until told to stop.

A browser keeps one cookie and the CSRF token and page name of the last page it read, and sends
forms as a browser without JavaScript does (the token as a field, the page's Origin), as htmx does
(the token and page name in headers) or as a script calls /api. Every answer is counted; one the
journey did not expect (any 5xx, a transport error, or a status other than the one that step
answers) stops that shopper and fails the soak, with the request and the answer's start.

The model follows the shop's rules for one shopper's requests, which are never concurrent: an add
sums and clamps at CART_MAX_LINE_QUANTITY (the soak's stock is far above what it can sell, so the
per-line limit is the only cap); a quantity of 0 removes the line; logging out leaves an empty guest
cart, and logging in merges it into the account's, clamped; placing an order orders the whole cart
and empties it, and sending the same placement again finds the same order.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

import httpx

from web.demo import ZONES
from web.owner import ORDERS_KEPT

CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')
PAGE_NAME = re.compile(r'"X-Page": "([^"]*)"')
REVIEW_FIELD = re.compile(r'name="(idempotency_key|reviewed)" value="([^"]+)"')
CART_LINE = re.compile(r'id="cart-line-(\d+)" class="cart-line" data-variant-id="(\d+)"')
ORDER_PATH = re.compile(r"^/orders/([A-Z0-9]+)$")
CONFIRM_LINK = re.compile(r"https?://[^/\s]+/account/confirm\?token=([A-Za-z0-9_-]+)")
PASSWORD = "a soak test passphrase"
# Wrong passwords the whole soak may send: every one counts against the one loopback address
# (LOGIN_MAX_FAILURES_PER_ADDRESS, 20 in 15 minutes) until the window ends.
WRONG_PASSWORDS = 5
MAIL_WAIT_SECONDS = 30
STREAM_SECONDS = 15  # how long a stream may take to send the order's status


class Place(NamedTuple):
    """Where a shopper delivers to: a country the demo serves, a postcode of its form, a city."""

    country: str
    postcode: str
    city: str


PLACES = (
    Place("DE", "10117", "Berlin"),
    Place("DE", "80331", "München"),
    Place("FR", "75001", "Paris"),
    Place("AT", "1010", "Wien"),
    Place("NL", "1012 AB", "Amsterdam"),
)
METHODS = ("standard", "express")


class Item(NamedTuple):
    """A variant shoppers buy: its product's slug, its id and its price in cents."""

    slug: str
    variant_id: int
    price: int


def delivery_price(country: str, method: str, subtotal: int) -> int:
    """What the demo's zones charge (web/demo.py): nothing at or over the zone's free-delivery threshold."""
    zone = next(zone for zone in ZONES if country in dict(zone.countries))
    price = next(each.price for each in zone.methods if each.code == method)
    return 0 if zone.free_over is not None and subtotal >= zone.free_over else price


@dataclass(frozen=True)
class Order:
    """An order as its shopper placed it: number, {variant id: quantity}, amounts, where it goes."""

    number: str
    lines: tuple[tuple[int, int], ...]
    subtotal: int
    delivery: int
    total: int
    country: str


class Unexpected(Exception):
    """An answer the journey did not expect: the shopper stops, and the soak fails."""


class Mismatch(Unexpected):
    """The shop's cart or order differs from the shopper's model: the shopper stops, and the soak fails."""


@dataclass
class Tally:
    """Every answer of the soak, shared by the shoppers' threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)  # "POST /cart/items (htmx)" and the like
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    model_mismatches: list[str] = field(default_factory=list)
    wrong_passwords: int = 0
    streams_followed: int = 0
    replays: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def count(self, status: int, what: str, detail: str) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.routes[what] += 1
            if status >= 500:
                self.server_errors.append(detail)

    def note(self, into: list[str], text: str) -> None:
        with self.lock:
            into.append(text)

    def take_wrong_password(self) -> bool:
        """Whether the soak may send one more wrong password (WRONG_PASSWORDS in all)."""
        with self.lock:
            if self.wrong_passwords >= WRONG_PASSWORDS:
                return False
            self.wrong_passwords += 1
            return True

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def route_of(path: str) -> str:
    """A path with its ids and numbers folded, so the tally counts routes, not URLs."""
    path = path.split("?")[0]
    path = re.sub(r"/orders/[A-Z0-9]+", "/orders/<number>", path)
    path = re.sub(r"/products/[a-z0-9-]+", "/products/<slug>", path)
    return re.sub(r"/\d+", "/<id>", path)


class Browser:
    """One browser: its cookie, the CSRF token and page name of the last page it read, one
    keep-alive connection pool (closed while the soak measures the server at rest)."""

    def __init__(self, origin: str, cookie_name: str, tally: Tally) -> None:
        self.origin = origin
        self.cookie_name = cookie_name
        self.tally = tally
        self.cookie = ""
        self.csrf = ""
        self.page_name = ""
        self.page_path = "/"
        self.client: httpx.Client | None = None

    def http(self) -> httpx.Client:
        if self.client is None:
            # Idle connections are dropped before the server's keep-alive timeout (5 s) closes them.
            limits = httpx.Limits(max_connections=4, keepalive_expiry=2)
            self.client = httpx.Client(base_url=self.origin, limits=limits, timeout=httpx.Timeout(60, connect=10))
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def send(
        self,
        method: str,
        path: str,
        expect: int,
        *,
        form: Mapping[str, Any] | None = None,
        data: Any = None,
        htmx_target: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request as this browser sends it; the answer, which must have status `expect`."""
        head = dict(headers or {})
        if self.cookie:
            head["Cookie"] = f"{self.cookie_name}={self.cookie}"
        content: str | bytes | None = None
        kind = "api" if path.startswith("/api/") else "page"
        if form is not None:
            head["Content-Type"] = "application/x-www-form-urlencoded"
            head["Origin"] = self.origin
            content = urlencode({"csrf_token": self.csrf, **form})
            kind = "form"
        if htmx_target is not None:
            head.update(
                {
                    "HX-Request": "true",
                    "X-CSRF-Token": self.csrf,
                    "X-Page": self.page_name,
                    "HX-Current-URL": self.origin + self.page_path,
                    "HX-Target": htmx_target,
                }
            )
            kind = "htmx"
        if data is not None:
            head["Content-Type"] = "application/json"
            content = json.dumps(data)
        what = f"{method} {route_of(path)} ({kind})"
        try:
            response = self.http().request(method, path, headers=head, content=content)
        except httpx.TransportError as error:
            self.tally.note(self.tally.transport_errors, f"{what}: {error!r}")
            raise Unexpected(f"{method} {path}: {error!r}") from error
        detail = f"{method} {path} -> {response.status_code}: {response.text[:300]!r}"
        self.tally.count(response.status_code, what, detail)
        self.take_cookie(response)
        if response.status_code != expect:
            raise Unexpected(f"{detail} (expected {expect})")
        if kind == "page" and method == "GET" and response.headers.get("content-type", "").startswith("text/html"):
            self.read_page(path, response.text)
        return response

    def take_cookie(self, response: httpx.Response) -> None:
        for value in response.headers.get_list("set-cookie"):
            name, _, rest = value.partition("=")
            if name.strip() == self.cookie_name:
                self.cookie = rest.split(";", 1)[0]
        self.http().cookies.clear()  # the cookie is ours to send (it is Secure: httpx would not, over HTTP)

    def read_page(self, path: str, html: str) -> None:
        token, name = CSRF.search(html), PAGE_NAME.search(html)
        if token:
            self.csrf = token.group(1)
        if name:
            self.page_name = name.group(1)
        self.page_path = path

    def get(self, path: str, expect: int = 200) -> httpx.Response:
        return self.send("GET", path, expect)

    def follow(self, number: str) -> None:
        """The order's live stream, followed until it sends the order's status, then closed."""
        head = {"Cookie": f"{self.cookie_name}={self.cookie}", "Accept": "text/event-stream"}
        path = f"/orders/{number}/events"
        what = f"GET {route_of(path)} (stream)"
        deadline = time.monotonic() + STREAM_SECONDS
        try:
            with self.http().stream("GET", path, headers=head, timeout=httpx.Timeout(STREAM_SECONDS)) as response:
                self.tally.count(response.status_code, what, f"GET {path} -> {response.status_code}")
                if response.status_code != 200:
                    raise Unexpected(f"GET {path} -> {response.status_code} (expected 200)")
                for line in response.iter_lines():
                    if line.startswith("event: status"):
                        self.tally.add("streams_followed")
                        return
                    if time.monotonic() > deadline:
                        break
        except httpx.TransportError as error:
            self.tally.note(self.tally.transport_errors, f"{what}: {error!r}")
            raise Unexpected(f"GET {path}: {error!r}") from error
        raise Unexpected(f"GET {path}: no status event within {STREAM_SECONDS} s")


@dataclass
class Account:
    email: str
    password: str = PASSWORD


class Shopper:
    """A shopper and its model; `run()` takes journeys until `stop` is set, parking at `gate`
    between journeys while the soak measures the server at rest."""

    def __init__(
        self,
        number: int,
        member: bool,
        browser: Browser,
        items: list[Item],
        limit: int,
        outbox: Path,
        seed: int,
    ) -> None:
        self.number = number
        self.member = member
        self.browser = browser
        self.items = items
        self.slugs = sorted({item.slug for item in items})
        self.limit = limit
        self.outbox = outbox
        self.rng = random.Random(seed)
        self.account: Account | None = None
        self.logged_in = False
        self.cart: dict[int, int] = {}  # what the session's cart must hold: variant id -> quantity
        self.account_cart: dict[int, int] = {}  # the account's cart while logged out
        self.orders: list[Order] = []
        self.place = self.rng.choice(PLACES)
        self.journeys = 0
        self.failure = ""

    @property
    def tally(self) -> Tally:
        return self.browser.tally

    @property
    def name(self) -> str:
        return f"{'member' if self.member else 'guest'} {self.number}"

    def run(self, stop: threading.Event, gate: Gate) -> None:
        try:
            while not stop.is_set():
                gate.between_journeys(self.browser)
                if stop.is_set():
                    break
                self.journey()
                self.journeys += 1
        except Unexpected as error:
            self.failure = str(error)
            into = self.tally.model_mismatches if isinstance(error, Mismatch) else self.tally.unexpected
            self.tally.note(into, f"{self.name}: {error}")
        except Exception as error:  # a bug of the soak's own fails it just as visibly
            self.failure = repr(error)
            self.tally.note(self.tally.unexpected, f"{self.name}: {traceback.format_exc()}")
        finally:
            self.browser.close()
            gate.leave()

    def journey(self) -> None:
        if self.member and self.account is None:
            self.register()
            self.log_in()
            return
        choices: list[tuple[Callable[[], None], int]] = [
            (self.browse, 3),
            (self.shop, 5),
            (self.edit, 3),
            (self.deliver_to, 1),
            (self.check_out, 3),
        ]
        if self.member:
            choices.append((self.relog, 2))
        journeys, weights = zip(*choices, strict=True)
        self.rng.choices(journeys, weights)[0]()

    def think(self) -> None:
        time.sleep(self.rng.uniform(0.01, 0.1))

    # -- journeys --------------------------------------------------------------------------

    def browse(self) -> None:
        b = self.browser
        b.get(self.rng.choice(("/", "/?page=2", "/?category=home", "/?category=kitchen", "/?category=apparel")))
        for slug in self.rng.sample(self.slugs, self.rng.randint(1, 4)):
            self.think()
            b.get(f"/products/{slug}")
        b.get("/cart")

    def shop(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            self.think()
            self.add(self.rng.choice(self.items), self.rng.randint(1, 3))
        if self.rng.random() < 0.3:
            self.check_api_cart()

    def edit(self) -> None:
        if not self.cart:
            self.add(self.rng.choice(self.items), self.rng.randint(1, 3))
        channel = self.rng.choice(("form", "htmx", "api"))
        lines = self.api_lines() if channel == "api" else self.page_lines()
        line_id, variant = self.rng.choice(sorted(lines.items()))
        action = self.rng.choices(("quantity", "line", "product", "clear"), (6, 2, 1, 0.2))[0]
        b = self.browser
        target = "cart-contents" if channel == "htmx" else None
        ok = 303 if channel == "form" else 200
        if action == "quantity" and channel != "api":
            quantity = self.rng.choice((0, 1, 2, 3, 5, self.limit))
            form = {"quantity": str(quantity), "next": "/cart"}
            b.send("POST", f"/cart/lines/{line_id}/quantity", ok, form=form, htmx_target=target)
            self.set_quantity(variant, quantity)
        elif action == "product":
            slug = next(item.slug for item in self.items if item.variant_id == variant)
            if channel == "api":
                b.send("DELETE", f"/api/cart/product/{slug}", 200, headers={"Content-Type": "application/json"})
            else:
                b.send("POST", f"/cart/products/{slug}/remove", ok, form={"next": "/cart"}, htmx_target=target)
            for item in self.items:
                if item.slug == slug:
                    self.cart.pop(item.variant_id, None)
        elif action == "clear" and channel != "api":
            b.send("POST", "/cart/clear", ok, form={"next": "/cart"}, htmx_target=target)
            self.cart.clear()
        elif channel == "api":
            b.send("DELETE", f"/api/cart/items/{line_id}", 200, headers={"Content-Type": "application/json"})
            self.cart.pop(variant, None)
        else:
            b.send("POST", f"/cart/lines/{line_id}/remove", ok, form={"next": "/cart"}, htmx_target=target)
            self.cart.pop(variant, None)
        self.check_api_cart()

    def deliver_to(self) -> None:
        b = self.browser
        self.place = self.rng.choice(PLACES)
        b.get(f"/products/{self.rng.choice(self.slugs)}")
        form = {"country": self.place.country, "postcode": self.place.postcode, "next": b.page_path}
        if self.rng.random() < 0.5:
            b.send("POST", "/deliver-to", 200, form=form, htmx_target="locality-deliver-to")
        else:
            b.send("POST", "/deliver-to", 303, form=form)

    def check_out(self) -> None:
        if not self.cart:
            self.add(self.rng.choice(self.items), self.rng.randint(1, 3))
        method = self.rng.choice(METHODS)
        number = self.place_by_api(method) if self.rng.random() < 0.25 else self.place_by_form(method)
        self.browser.get(f"/orders/{number}")
        self.browser.follow(number)
        if self.member and self.rng.random() < 0.3:
            self.browser.get("/orders")

    def relog(self) -> None:
        """Log out, shop as a guest on the same device, log in again: the guest cart merges."""
        self.log_out()
        for _ in range(self.rng.randint(0, 2)):
            self.think()
            self.add(self.rng.choice(self.items), self.rng.randint(1, 4))
        if self.rng.random() < 0.2 and self.tally.take_wrong_password():
            self.log_in(wrong=True)
        self.log_in()

    def final_check(self) -> str:
        """The cart and the orders as the shop shows this shopper now, against the model ("" when
        they agree): every order of a member (all pages of /api/orders), the newest ORDERS_KEPT of a
        guest (those its session may still open; the soak checks the rest in the database)."""
        b = self.browser
        problem = cart_problem(b.get("/api/cart").json(), self.cart, self.prices())
        if problem:
            return problem
        expected = self.orders if self.member else self.orders[-ORDERS_KEPT:]
        if self.member:
            shown: dict[str, Any] = {}
            page = 1
            while True:
                answer = b.get(f"/api/orders?page={page}").json()
                shown.update({order["number"]: order for order in answer["orders"]})
                if page >= answer["pages"]:
                    break
                page += 1
            if set(shown) != {order.number for order in expected}:
                return f"/api/orders lists {sorted(shown)}, expected {sorted(order.number for order in expected)}"
        else:
            shown = {order.number: b.get(f"/api/orders/{order.number}").json()["order"] for order in expected}
        for order in expected:
            problem = order_problem(shown[order.number], order, self.prices())
            if problem:
                return problem
        return ""

    # -- steps -----------------------------------------------------------------------------

    def add(self, item: Item, quantity: int) -> None:
        b = self.browser
        channel = self.rng.choice(("form", "htmx", "api"))
        if channel == "api":
            b.send(
                "POST", "/api/cart", 201, data={"productId": item.slug, "variantId": item.variant_id, "qty": quantity}
            )
        else:
            b.get(f"/products/{item.slug}")
            form = {
                "product": item.slug,
                "variant_id": str(item.variant_id),
                "quantity": str(quantity),
                "next": f"/products/{item.slug}",
            }
            if channel == "htmx":
                b.send("POST", "/cart/items", 200, form=form, htmx_target="catalog-add-status")
            else:
                b.send("POST", "/cart/items", 303, form=form)
        self.cart[item.variant_id] = min(self.cart.get(item.variant_id, 0) + quantity, self.limit)

    def set_quantity(self, variant: int, quantity: int) -> None:
        if quantity == 0:
            self.cart.pop(variant, None)
        else:
            self.cart[variant] = min(quantity, self.limit)

    def page_lines(self) -> dict[int, int]:
        """The cart page's lines (line id -> variant id), as a browser finds its forms; they must be the model's."""
        found = {int(line): int(variant) for line, variant in CART_LINE.findall(self.browser.get("/cart").text)}
        if sorted(found.values()) != sorted(self.cart):
            self.mismatch(f"cart page shows variants {sorted(found.values())}, expected {sorted(self.cart)}")
        return found

    def api_lines(self) -> dict[int, int]:
        items = self.check_api_cart()
        return {int(item["id"]): int(item["variantId"]) for item in items}

    def check_api_cart(self) -> list[dict[str, Any]]:
        cart = self.browser.get("/api/cart").json()
        problem = cart_problem(cart, self.cart, self.prices())
        if problem:
            self.mismatch(problem)
        return list(cart["items"])

    def prices(self) -> dict[int, int]:
        return {item.variant_id: item.price for item in self.items}

    def mismatch(self, problem: str) -> None:
        raise Mismatch(problem)

    def contact_form(self, email: str) -> dict[str, str]:
        return {
            "email": email,
            "name": f"Soak Shopper {self.number}",
            "line1": f"Teststraße {self.number}",
            "line2": "",
            "city": self.place.city,
            "postcode": self.place.postcode,
            "country": self.place.country,
        }

    def email(self) -> str:
        return self.account.email if self.account else f"guest-{self.number}@example.com"

    def place_by_form(self, method: str) -> str:
        """Checkout's steps as forms (the last one sometimes by htmx), and sometimes the placement twice."""
        b = self.browser
        b.get("/checkout")
        b.send("POST", "/checkout/contact", 303, form=self.contact_form(self.email()))
        b.send("POST", "/checkout/delivery", 303, form={"method": method})
        review = b.get("/checkout/review")
        fields = dict(REVIEW_FIELD.findall(review.text))
        if len(fields) != 2:
            raise Unexpected("GET /checkout/review: no idempotency_key and reviewed fields in the page")
        expected = self.expected_order("", method)
        if self.rng.random() < 0.3:
            placed = b.send("POST", "/checkout/place", 200, form=fields, htmx_target="checkout-review")
            location = placed.headers.get("HX-Redirect", "")
        else:
            location = b.send("POST", "/checkout/place", 303, form=fields).headers.get("Location", "")
        found = ORDER_PATH.match(location)
        if found is None:
            raise Unexpected(f"POST /checkout/place sent the shopper to {location!r}, not to an order")
        number = found.group(1)
        if self.rng.random() < 0.15:  # a double submit: the same order again, nothing placed
            again = b.send("POST", "/checkout/place", 303, form=fields).headers.get("Location", "")
            self.tally.add("replays")
            if again != location:
                self.mismatch(f"a replayed placement went to {again!r}, the first to {location!r}")
        self.placed(expected, number)
        return number

    def place_by_api(self, method: str) -> str:
        body = self.contact_form(self.email())
        data = {
            "email": body["email"],
            "name": body["name"],
            "address": {key: body[key] for key in ("line1", "line2", "city", "postcode", "country")},
            "deliveryMethod": method,
        }
        key = {"Idempotency-Key": f"soak-{self.number}-{self.rng.getrandbits(64):016x}"}
        expected = self.expected_order("", method)
        answer = self.browser.send("POST", "/api/checkout", 201, data=data, headers=key).json()["order"]
        if self.rng.random() < 0.15:
            again = self.browser.send("POST", "/api/checkout", 200, data=data, headers=key).json()["order"]
            self.tally.add("replays")
            if again["number"] != answer["number"]:
                self.mismatch(
                    f"a replayed /api/checkout answered order {again['number']}, the first {answer['number']}"
                )
        self.placed(expected, answer["number"])
        return str(answer["number"])

    def expected_order(self, number: str, method: str) -> Order:
        prices = self.prices()
        subtotal = sum(prices[variant] * quantity for variant, quantity in self.cart.items())
        delivery = delivery_price(self.place.country, method, subtotal)
        lines = tuple(sorted(self.cart.items()))
        return Order(number, lines, subtotal, delivery, subtotal + delivery, self.place.country)

    def placed(self, expected: Order, number: str) -> None:
        self.orders.append(replace(expected, number=number))
        self.cart.clear()

    def register(self) -> None:
        """Register, then confirm by the link the shop mails (an .eml file in its outbox folder)."""
        b = self.browser
        email = f"soak-{self.number}-{self.rng.getrandbits(32):08x}@example.com"
        b.get("/register")
        asked = time.time()
        form = {"email": email, "password": PASSWORD, "display_name": f"Soak {self.number}", "next": "/"}
        b.send("POST", "/register", 303, form=form)
        token = mailed_token(self.outbox, email, asked)
        b.get(f"/account/confirm?token={token}")
        b.send("POST", "/account/confirm", 303, form={"token": token, "password": PASSWORD})
        self.account = Account(email)

    def log_in(self, *, wrong: bool = False) -> None:
        assert self.account is not None
        b = self.browser
        password = self.account.password + (" but wrong" if wrong else "")
        if self.rng.random() < 0.3 and not wrong:
            b.send("POST", "/api/auth/email-login", 200, data={"email": self.account.email, "password": password})
        else:
            b.get("/login")
            form = {"email": self.account.email, "password": password, "next": "/"}
            b.send("POST", "/login", 401 if wrong else 303, form=form)
        if wrong:
            return
        merged = dict(self.account_cart)
        for variant, quantity in self.cart.items():
            merged[variant] = min(merged.get(variant, 0) + quantity, self.limit)
        self.cart, self.account_cart = merged, {}
        self.logged_in = True
        b.get("/")  # the new session's token, for the next form

    def log_out(self) -> None:
        b = self.browser
        if self.rng.random() < 0.3:
            b.send("POST", "/api/auth/logout", 200, headers={"Content-Type": "application/json"})
        else:
            b.get("/")
            b.send("POST", "/logout", 303, form={})
        self.account_cart, self.cart = self.cart, {}
        self.logged_in = False


class Gate:
    """Where the shoppers park between journeys while the soak measures the server at rest: each
    closes its connections first, so the server's descriptors are its own, not the shoppers'."""

    def __init__(self, shoppers: int) -> None:
        self.condition = threading.Condition()
        self.open = True
        self.parked = 0
        self.left = 0
        self.shoppers = shoppers

    def between_journeys(self, browser: Browser) -> None:
        with self.condition:
            if self.open:
                return
            browser.close()
            self.parked += 1
            self.condition.notify_all()
            self.condition.wait_for(lambda: self.open)
            self.parked -= 1

    def leave(self) -> None:
        with self.condition:
            self.left += 1
            self.condition.notify_all()

    def close_and_wait(self, timeout: float) -> bool:
        """Stop the shoppers at their next journey's start; whether all are parked (or gone) in time."""
        with self.condition:
            self.open = False
            return self.condition.wait_for(lambda: self.parked + self.left >= self.shoppers, timeout)

    def reopen(self) -> None:
        with self.condition:
            self.open = True
            self.condition.notify_all()


def mailed_token(outbox: Path, email: str, since: float) -> str:
    """The confirmation link's token in the newest mail to `email`, written after `since`, waiting
    for the shop's background sender to write it."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while True:
        found = []
        for path in outbox.glob("*.eml"):
            if path.stat().st_mtime < since - 1:
                continue
            mail = message_from_bytes(path.read_bytes(), policy=default_policy)
            if mail["To"] != email:
                continue
            body = mail.get_body(("plain",))
            link = CONFIRM_LINK.search(str(body.get_content())) if body is not None else None
            if link:
                found.append((path.stat().st_mtime_ns, link.group(1)))
        if found:
            return max(found)[1]
        if time.monotonic() > deadline:
            raise Unexpected(f"no confirmation link was mailed to {email} within {MAIL_WAIT_SECONDS} s")
        time.sleep(0.1)


def cart_problem(cart: Mapping[str, Any], expected: Mapping[int, int], prices: Mapping[int, int]) -> str:
    """What differs between /api/cart's answer and the model ("" when nothing)."""
    got = {int(item["variantId"]): int(item["qty"]) for item in cart["items"]}
    if got != dict(expected):
        return f"/api/cart holds {dict(sorted(got.items()))}, expected {dict(sorted(expected.items()))}"
    for item in cart["items"]:
        price = prices[int(item["variantId"])]
        if item["unitPrice"] != price or item["lineTotal"] != price * item["qty"]:
            return f"/api/cart line {item} is not priced {price} a unit"
    subtotal = sum(prices[variant] * quantity for variant, quantity in expected.items())
    totals = cart["totals"]
    if totals["count"] != sum(expected.values()) or totals["subtotal"] != subtotal:
        return f"/api/cart totals {totals}, expected count {sum(expected.values())} and subtotal {subtotal}"
    return ""


def order_problem(answer: Mapping[str, Any], expected: Order, prices: Mapping[int, int]) -> str:
    """What differs between an order as /api shows it and as its shopper placed it ("" when nothing)."""
    lines = tuple(sorted((int(item["variantId"]), int(item["qty"])) for item in answer["items"]))
    if lines != expected.lines:
        return f"order {expected.number} has lines {lines}, expected {expected.lines}"
    for item in answer["items"]:
        price = prices[int(item["variantId"])]
        if item["unitPrice"] != price or item["lineTotal"] != price * item["qty"]:
            return f"order {expected.number} line {item} is not priced {price} a unit"
    totals = answer["totals"]
    amounts = (totals["subtotal"], totals["delivery"], totals["total"])
    if amounts != (expected.subtotal, expected.delivery, expected.total):
        return (
            f"order {expected.number} totals {amounts}, expected "
            f"{(expected.subtotal, expected.delivery, expected.total)}"
        )
    if answer["address"]["country"] != expected.country:
        return f"order {expected.number} goes to {answer['address']['country']}, expected {expected.country}"
    return ""
