"""Property-based tests (issue #13): whatever shoppers do, in whatever order, the carts, the stock and
the orders keep their invariants (docs/design.md §3).

A hypothesis state machine drives three browsers through the shop's routes, as `Shopper` does: Ada
on two devices (one account, so one cart) and Bob, a guest who logs in (his guest cart merged into
his account's) and out again. In any order they add (form, htmx, /api), set quantities (0 removes),
remove lines and products (also by another cart's line id, which must not be found), change
"Deliver to" (also to nowhere served), review and place an order (and place that review again, from
the same or another device), check out through /api with idempotency keys used again, and cancel
orders (also other shoppers'), while stock also falls outside the shop's orders. Stock is low (see
STOCK; at most LIMIT a line) and the chef's knife goes to Germany only, so clamps, sold-out refusals,
undeliverable lines and reviews that no longer fit the stock all come up.

The machine models what the shop should hold (every cart's stored lines, stock, orders, and each
session's "Deliver to" and checkout), predicts each step's outcome, and after every step checks:
- no cart line has a quantity ≤ 0 or above the per-line maximum, no two lines share (cart, variant),
  and every cart holds the model's lines (so no step touched another shopper's cart);
- every variant's stock is ≥ 0, and its stock plus its units in orders not cancelled is its stock
  at the start, less what fell outside orders (cancelling puts the stock back);
- the orders are the model's: one per idempotency key (placing a review again finds its order),
  each with totals that are the sum of its lines;
- the acting shopper's /api/cart is the model's cart clamped to stock, its totals are the sum of
  its lines, it has notices exactly when it reduced what was stored, and the database then holds
  exactly what it showed.

One app and database serve the whole test; each example empties the carts and orders, sets the
stock it drew and starts the browsers afresh (the two accounts, slow to make, stay).
HYPOTHESIS_PROFILE picks the examples: "ci" (the default: the same 30 examples of 20 steps every run,
a failure reported as found) or "fuzz" (`make fuzz`: 1,000 new examples of up to 60 steps, a failure
shrunk to a short one).
"""

from __future__ import annotations

import re
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import hypothesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import ADDRESS, BASE_URL, REVIEW_FIELD, Shopper, login, register, sql
from tests.fuzzing import profile
from web.app import create_app
from web.checkout.service import KEYS_KEPT
from web.owner import ORDERS_KEPT
from web.settings import Settings

# A step is a few requests, so no deadline (tests/fuzzing.py). "ci" runs shorter runs and reports a
# failure as found: shrinking a run of HTTP steps can take minutes. It takes about 6 s on SQLite and
# 15 s on PostgreSQL (2 cores, 2026-12-02): about 600 steps of 2 to 3 requests each.
PROFILE = profile(
    fuzz_examples=1000,
    ci_examples=30,
    stateful_step_count=60,
    suppress_health_check=[HealthCheck.too_slow],
    ci_only={
        "stateful_step_count": 20,
        "phases": [hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate],
    },
)

# The per-line maximum here (99 in the shop): as low as the stock, so the limit clamps too.
LIMIT = 5
ADA = "ada@example.com"
BOB = "bob@example.com"
BROWSERS = ("ada", "ada-phone", "bob")
# The products in play, and the range of each one's stock at the start: one with more than a line may
# hold (so the per-line maximum clamps), the others with less (so their stock clamps, and they sell out).
STOCK = {"test-1": (LIMIT, LIMIT + 3), "cotton-cap": (1, 3), "linen-shirt-m": (1, 3), "chef-knife": (1, 4)}
SKUS = tuple(STOCK)
# "Deliver to" choices; the shop serves neither of the last two (nowhere, and no German postcode).
PLACES = (("DE", "10115"), ("AT", "1010"), ("US", "10001"), ("AQ", "1234"), ("DE", "1"))
ADDRESSES = {"DE": ADDRESS, "AT": {**ADDRESS, "city": "Wien", "postcode": "1010", "country": "AT"}}
API_KEYS = ("first-order-key", "second-order-key")
JSON_CALL = {"content-type": "application/json"}
BADGE = re.compile(r'class="cart-count" data-count="(\d+)"')
# What each example empties (children first); the catalogue, the accounts and the sessions stay.
EMPTIED = ("outbox", "order_messages", "order_events", "order_lines", "orders", "cart_lines", "carts", "throttles")
CART_LINES = """
    SELECT l.id, l.cart_id, l.variant_id, l.quantity, v.sku, u.email
    FROM cart_lines l JOIN carts c ON c.id = l.cart_id JOIN variants v ON v.id = l.variant_id
    LEFT JOIN users u ON u.id = c.user_id
    ORDER BY l.id
"""
STOCK_AND_SOLD = """
    SELECT v.sku, v.stock, (
        SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
        WHERE l.variant_id = v.id AND o.status != 'cancelled'
    ) AS sold
    FROM variants v
"""
ORDERS = """
    SELECT o.number, o.status, o.idempotency_key, u.email, o.subtotal_cents, o.delivery_cents, o.total_cents
    FROM orders o LEFT JOIN users u ON u.id = o.user_id
"""
ORDER_LINES = """
    SELECT o.number, v.sku, l.quantity, l.unit_price_cents, l.line_total_cents
    FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN variants v ON v.id = l.variant_id
"""

Lines = dict[str, int]


@dataclass(frozen=True)
class Catalogue:
    """What the model needs of the demo catalogue and the delivery zones, read from the database."""

    variant_ids: dict[str, int]
    sku_of: dict[int, str]  # variant id → SKU
    slugs: dict[str, str]
    prices: dict[str, int]
    zones: dict[str, set[int]]  # the zones each SKU may go to; empty: anywhere
    zone_of: dict[str, int]  # served country → its zone
    standard: dict[int, tuple[int, int | None]]  # zone → standard delivery's price, free from

    @classmethod
    def read(cls, app: Litestar) -> Catalogue:
        variants = sql(
            app,
            "SELECT v.sku, v.id, v.price_cents, p.slug, p.id AS product_id "
            "FROM variants v JOIN products p ON p.id = v.product_id",
        )
        rows = {row.sku: row for row in variants if row.sku in SKUS}
        limits = sql(app, "SELECT product_id, zone_id FROM product_zones")
        standard = sql(
            app,
            "SELECT m.zone_id, m.price_cents, z.free_over_cents FROM delivery_methods m "
            "JOIN shipping_zones z ON z.id = m.zone_id WHERE m.code = 'standard'",
        )
        return cls(
            variant_ids={sku: row.id for sku, row in rows.items()},
            sku_of={row.id: sku for sku, row in rows.items()},
            slugs={sku: row.slug for sku, row in rows.items()},
            prices={sku: row.price_cents for sku, row in rows.items()},
            zones={sku: {zone for product, zone in limits if product == row.product_id} for sku, row in rows.items()},
            zone_of=dict(sql(app, "SELECT country, zone_id FROM zone_countries")),
            standard={zone: (price, free_over) for zone, price, free_over in standard},
        )

    def deliverable(self, sku: str, place: tuple[str, str] | None) -> bool:
        return place is None or not self.zones[sku] or self.zone_of[place[0]] in self.zones[sku]

    def delivery(self, place: tuple[str, str], lines: Lines) -> int:
        """Standard delivery to `place` for these lines: free from the zone's threshold."""
        price, free_over = self.standard[self.zone_of[place[0]]]
        subtotal = sum(self.prices[sku] * quantity for sku, quantity in lines.items())
        return 0 if free_over is not None and subtotal >= free_over else price


@dataclass(frozen=True)
class Review:
    """A review page as the shopper saw it: its form's fields, the lines in their order, the delivery,
    and where its address is (the checkout draft's, which only a review changes here)."""

    fields: dict[str, str]
    lines: list[tuple[str, int]]
    delivery: int
    place: tuple[str, str]


@dataclass
class Browser:
    """One browser, and what the shop should hold in its session."""

    shopper: Shopper
    email: str | None = None
    guest_sessions: int = 0
    place: tuple[str, str] | None = None  # "Deliver to"
    method: str = ""  # the checkout draft's delivery method
    keys: list[str] = field(default_factory=list)  # checkout keys issued, newest first; "?" not shown yet
    orders: list[str] = field(default_factory=list)  # the orders this session placed or found again
    review: Review | None = None

    @property
    def owner(self) -> str:
        """Whose cart and idempotency keys this session's are: its account's, else this guest session's."""
        return self.email or f"guest {self.guest_sessions}"

    def remember(self, number: str) -> None:
        self.orders = [number, *(known for known in self.orders if known != number)][:ORDERS_KEPT]

    def fresh(self) -> None:
        """A new guest session: nothing in it (the shopper's cookie was cleared, or they logged out).

        Its page is visited at once for the CSRF token: later, that visit would read (and clamp) the cart
        behind the back of a step that checks what it stored."""
        self.email, self.place, self.method, self.keys, self.orders = None, None, "", [], []
        self.guest_sessions += 1
        self.shopper.visit("/")


@dataclass
class Order:
    owner: str | None  # the account's email; None for a guest's order
    lines: Lines
    status: str = "placed"


@dataclass(frozen=True)
class Step:
    """One act of a shopper: the name of the Shop method that does it, and its arguments."""

    act: str
    args: dict[str, Any]

    def __repr__(self) -> str:
        return f"{self.act}({', '.join(f'{name}={value!r}' for name, value in self.args.items())})"


WHO = st.sampled_from(BROWSERS)
SKU = st.sampled_from(SKUS)
PICK = st.integers(0, 3)  # which line or order, by its place
THEIRS = st.sampled_from((False, False, False, True))  # a line or order of another shopper's, now and then
FORM_OR_API = st.sampled_from(("form", "api"))
ADD_VIA = st.sampled_from(("form", "htmx", "api"))
# Each act, how often it comes up relative to the others, and its arguments.
ACTS: list[tuple[str, int, dict[str, st.SearchStrategy[Any]]]] = [
    ("add", 6, {"who": WHO, "sku": SKU, "quantity": st.integers(1, LIMIT), "via": ADD_VIA}),
    ("add", 1, {"who": WHO, "sku": SKU, "quantity": st.sampled_from((0, LIMIT + 1)), "via": ADD_VIA}),
    ("set_quantity", 2, {"who": WHO, "pick": PICK, "theirs": THEIRS, "quantity": st.integers(0, LIMIT + 1)}),
    ("remove_line", 1, {"who": WHO, "pick": PICK, "theirs": THEIRS, "via": FORM_OR_API}),
    ("remove_product", 1, {"who": WHO, "sku": SKU, "via": FORM_OR_API}),
    ("deliver_to", 1, {"who": WHO, "place": st.sampled_from(PLACES)}),
    ("review", 1, {"who": WHO, "country": st.sampled_from(sorted(ADDRESSES))}),
    ("place", 2, {"who": WHO}),
    ("check_out", 3, {"who": WHO, "country": st.sampled_from(sorted(ADDRESSES))}),
    ("check_out_by_api", 1, {"who": WHO, "key": st.sampled_from(API_KEYS)}),
    ("cancel", 2, {"who": WHO, "theirs": THEIRS, "pick": PICK, "via": FORM_OR_API}),
    ("stock_falls", 3, {"sku": SKU, "to": st.integers(0, 2)}),
    ("bob_logs_in_or_out", 2, {}),
    ("look", 2, {"who": WHO}),
]
# One rule draws the step: hypothesis's stateful testing enables a random subset of a machine's rules
# in each example (swarm testing), which at CI's few examples left most of them with one kind of act.
STEPS = st.one_of(
    *(st.fixed_dictionaries(args).map(partial(Step, act)) for act, weight, args in ACTS for _ in range(weight))
)


class Shop(RuleBasedStateMachine):
    """The three browsers at the shop, and the model of what the shop should hold after each step."""

    def __init__(self, app: Litestar, clients: dict[str, TestClient[Litestar]], catalogue: Catalogue) -> None:
        super().__init__()
        self.app = app
        self.catalogue = catalogue
        self.browsers = {name: Browser(Shopper(client)) for name, client in clients.items()}
        self.stock: Lines = {}
        self.initial: Lines = {}  # every variant's stock at the start (less what fell outside orders), by SKU
        self.carts: defaultdict[str, Lines] = defaultdict(dict)  # stored lines by owner
        self.shown: defaultdict[str, list[tuple[int, str, int]]] = defaultdict(list)  # (line id, SKU, quantity)
        self.accounts: dict[str, tuple[str, str] | None] = {ADA: None, BOB: None}  # "Deliver to" kept on each
        self.orders: dict[str, Order] = {}
        self.placed: dict[tuple[str, str], str] = {}  # (owner, idempotency key) → order number

    # The model

    def allowed(self, sku: str) -> int:
        return min(self.stock[sku], LIMIT)

    def clamped(self, owner: str) -> Lines:
        """The owner's cart as it may be bought now (what reading it shows, and then stores)."""
        lines = {sku: min(quantity, self.allowed(sku)) for sku, quantity in self.carts[owner].items()}
        return {sku: quantity for sku, quantity in lines.items() if quantity}

    def can_place(self, browser: Browser, place: tuple[str, str] | None) -> bool:
        """Whether the owner's cart can be ordered to `place` as it is stored: not empty, nothing short."""
        lines = self.carts[browser.owner]
        return (
            bool(lines)
            and lines == self.clamped(browser.owner)
            and all(self.catalogue.deliverable(sku, place) for sku in lines)
        )

    def choose_place(self, browser: Browser, place: tuple[str, str]) -> None:
        browser.place = place
        if browser.email is not None:
            self.accounts[browser.email] = place

    def placed_order(self, browser: Browser, key: str, number: str) -> None:
        """An order of the browser's whole cart: stock taken, the cart emptied, the order known to the session."""
        assert number not in self.orders, f"order {number} placed twice"
        lines = self.carts[browser.owner]
        self.orders[number] = Order(browser.email, dict(lines))
        for sku, quantity in lines.items():
            self.stock[sku] -= quantity
        self.carts[browser.owner] = {}
        self.placed[browser.owner, key] = number
        browser.remember(number)

    def look_at(self, browser: Browser) -> None:
        """The acting shopper's /api/cart against the model and the database (the read stores what it shows)."""
        stored = self.lines_of(browser.owner)
        cart = browser.shopper.cart()
        items = cart["items"]
        sku_of = self.catalogue.sku_of
        shown = {sku_of[item["variantId"]]: item["qty"] for item in items}
        assert len(shown) == len(items), items
        assert shown == self.clamped(browser.owner), (shown, self.carts[browser.owner], self.stock)
        for item in items:
            assert item["unitPrice"] == self.catalogue.prices[sku_of[item["variantId"]]], item
            assert item["lineTotal"] == item["unitPrice"] * item["qty"], item
        assert cart["totals"]["count"] == sum(item["qty"] for item in items)
        assert cart["totals"]["subtotal"] == sum(item["lineTotal"] for item in items)
        assert bool(cart["notices"]) == (shown != {sku: quantity for _id, sku, quantity in stored}), cart
        held = [
            (line_id, self.catalogue.variant_ids[sku], quantity)
            for line_id, sku, quantity in self.lines_of(browser.owner)
        ]
        assert held == [(item["id"], item["variantId"], item["qty"]) for item in items]
        self.carts[browser.owner] = shown
        self.shown[browser.owner] = [(item["id"], sku_of[item["variantId"]], item["qty"]) for item in items]

    def holds(self, browser: Browser) -> None:
        """The database holds the model's lines for the browser's cart, before anything reads (and clamps) it."""
        held = {sku: quantity for _id, sku, quantity in self.lines_of(browser.owner)}
        assert held == self.carts[browser.owner], (held, self.carts[browser.owner], self.stock)

    def lines_of(self, owner: str) -> list[tuple[int, str, int]]:
        return [
            (row.id, row.sku, row.quantity) for row in sql(self.app, CART_LINES) if self.owner_of(row.email) == owner
        ]

    def owner_of(self, email: str | None) -> str:
        """The model's owner of a cart in the database: its user, else Bob's guest session."""
        bob = self.browsers["bob"]
        return email or (bob.owner if bob.email is None else "a guest cart nobody holds")

    def line_to_change(self, browser: Browser, pick: int, theirs: bool) -> tuple[int, str | None]:
        """One of the browser's lines (by its place in the cart) and its SKU, else another cart's line, or none."""
        own = self.shown[browser.owner]
        if own and not theirs:
            line_id, sku, _quantity = own[pick % len(own)]
            return line_id, sku
        mine = {line_id for line_id, _sku, _quantity in own}
        others = [line_id for lines in self.shown.values() for line_id, _sku, _quantity in lines if line_id not in mine]
        return (others[pick % len(others)] if others else 10**6), None

    def may_see(self, browser: Browser, number: str) -> bool:
        order = self.orders[number]
        return (order.owner is not None and order.owner == browser.email) or number in browser.orders

    # Steps

    @initialize(
        stock=st.tuples(*[st.integers(low, high) for low, high in STOCK.values()]),
        bob_adds=st.lists(st.tuples(SKU, st.integers(1, LIMIT)), max_size=3),
    )
    def open_shop(self, stock: tuple[int, ...], bob_adds: list[tuple[str, int]]) -> None:
        """Ada logged in on both devices, Bob a guest with what he added (so his first login merges)."""
        with self.app.state.shop.db.engine.begin() as conn:
            for table in EMPTIED:
                conn.exec_driver_sql(f"DELETE FROM {table}")
            conn.exec_driver_sql("UPDATE users SET delivery_country = NULL, delivery_postcode = NULL")
        for sku, count in zip(SKUS, stock, strict=True):
            sql(self.app, "UPDATE variants SET stock = :stock WHERE sku = :sku", stock=count, sku=sku)
        self.initial = dict(sql(self.app, "SELECT sku, stock FROM variants"))
        self.stock = {sku: self.initial[sku] for sku in SKUS}
        for browser in self.browsers.values():
            browser.shopper.client.cookies.clear()
            browser.fresh()
        for name in ("ada", "ada-phone"):
            self.log_in(self.browsers[name], ADA)
        for sku, quantity in bob_adds:
            self.add("bob", sku, quantity, "api")

    @rule(step=STEPS)
    def act(self, step: Step) -> None:
        getattr(self, step.act)(**step.args)

    def log_in(self, browser: Browser, email: str) -> None:
        """Log in; the guest cart (if any) is merged into the account's, clamped to stock and the limit."""
        guest = self.carts.pop(browser.owner, {})
        self.shown.pop(browser.owner, None)
        response = login(browser.shopper, email)
        assert response.status_code == 303, response.text
        mine = self.carts[email]
        for sku, quantity in guest.items():
            if self.allowed(sku):
                mine[sku] = min(mine.get(sku, 0) + quantity, self.allowed(sku))
        browser.email = email
        self.holds(browser)
        browser.shopper.visit("/")  # the login renewed the CSRF token
        if browser.place is not None:
            self.accounts[email] = browser.place
        else:
            browser.place = self.accounts[email]

    def add(self, who: str, sku: str, quantity: int, via: str) -> None:
        browser = self.browsers[who]
        slug, variant = self.catalogue.slugs[sku], self.catalogue.variant_ids[sku]
        if via == "api":
            body = {"productId": slug, "variantId": variant, "qty": quantity}
            response = browser.shopper.client.post("/api/cart", json=body)
        else:
            form = {"product": slug, "variant_id": str(variant), "quantity": str(quantity), "next": f"/products/{slug}"}
            page = f"/products/{slug}"
            response = browser.shopper.post(
                "/cart/items", form, htmx=via == "htmx", page=page, target="catalog-add-status"
            )
        takes = 1 <= quantity <= LIMIT and self.catalogue.deliverable(sku, browser.place) and self.stock[sku] > 0
        assert (response.status_code < 400) == takes, (response.status_code, response.text)
        stale = self.carts[browser.owner] != self.clamped(browser.owner)
        if takes:
            lines = self.carts[browser.owner] = self.clamped(browser.owner)
            lines[sku] = min(lines.get(sku, 0) + quantity, self.allowed(sku))
            # The add's own answer and the row it stored are clamped too, not only the next read.
            if via == "api":
                answer = {self.catalogue.sku_of[item["variantId"]]: item["qty"] for item in response.json()["items"]}
                assert answer == lines, (answer, lines)
                assert bool(response.json()["notices"]) == stale, response.text
            elif via == "htmx":
                badge = BADGE.search(response.text)
                assert badge is not None and int(badge.group(1)) == sum(lines.values()), response.text
            self.holds(browser)
        self.look_at(browser)

    def set_quantity(self, who: str, pick: int, theirs: bool, quantity: int) -> None:
        browser = self.browsers[who]
        line_id, sku = self.line_to_change(browser, pick, theirs)
        response = browser.shopper.post(f"/cart/lines/{line_id}/quantity", {"quantity": str(quantity)})
        lines = self.carts[browser.owner]
        if quantity > LIMIT:
            assert response.status_code == 400, response.text
        elif sku is None:
            assert response.status_code == 404, response.text
        else:
            assert response.status_code == 303, response.text
            lines[sku] = min(quantity, self.allowed(sku))
            if not lines[sku]:
                del lines[sku]
        self.holds(browser)
        self.look_at(browser)

    def remove_line(self, who: str, pick: int, theirs: bool, via: str) -> None:
        browser = self.browsers[who]
        line_id, sku = self.line_to_change(browser, pick, theirs)
        if via == "form":
            response = browser.shopper.post(f"/cart/lines/{line_id}/remove")
        else:
            response = browser.shopper.client.delete(f"/api/cart/items/{line_id}", headers=JSON_CALL)
        assert response.status_code == ((303 if via == "form" else 200) if sku else 404), response.text
        self.carts[browser.owner].pop(sku or "", None)
        if via == "form":
            self.holds(browser)
        self.look_at(browser)

    def remove_product(self, who: str, sku: str, via: str) -> None:
        """Remove a product from the cart; one that is not in it is said so, and that is all."""
        browser = self.browsers[who]
        slug = self.catalogue.slugs[sku]
        if via == "form":
            response = browser.shopper.post(f"/cart/products/{slug}/remove")
        else:
            response = browser.shopper.client.delete(f"/api/cart/product/{slug}", headers=JSON_CALL)
        assert response.status_code == (303 if via == "form" else 200), response.text
        self.carts[browser.owner].pop(sku, None)
        if via == "form":
            self.holds(browser)
        self.look_at(browser)

    def deliver_to(self, who: str, place: tuple[str, str]) -> None:
        """Lines that cannot go there stay in the cart (flagged); a place not served changes nothing."""
        browser = self.browsers[who]
        country, postcode = place
        response = browser.shopper.post("/deliver-to", {"country": country, "postcode": postcode, "next": "/"})
        served = country in self.catalogue.zone_of and place != ("DE", "1")
        assert (response.status_code == 303) == served, response.text
        if served:
            self.choose_place(browser, place)
        self.look_at(browser)

    def review(self, who: str, country: str) -> None:
        """Checkout up to the review page: the address becomes "Deliver to" (asking for the method again)."""
        browser = self.browsers[who]
        address = ADDRESSES[country]
        shopper = browser.shopper
        shopper.visit("/checkout")
        assert shopper.post("/checkout/contact", address).status_code == 303
        place = (country, address["postcode"])
        if browser.place != place:
            self.choose_place(browser, place)
            browser.method = ""
        assert shopper.post("/checkout/delivery", {"method": "standard"}).status_code == 303
        page = shopper.visit("/checkout/review")
        fields = dict(REVIEW_FIELD.findall(page.text))
        cart = self.clamped(browser.owner)
        # A review of lines that cannot go there has no "Place order" form; an empty cart, no review.
        assert bool(fields) == (bool(cart) and all(self.catalogue.deliverable(sku, place) for sku in cart))
        if cart:
            browser.method = "standard"
            browser.keys = browser.keys or ["?"]
        self.look_at(browser)
        if not fields:
            return
        key = fields["idempotency_key"]
        if browser.keys[0] == "?":
            browser.keys[0] = key
        assert key == browser.keys[0], "the checkout key changed before an order was placed with it"
        lines = [(sku, quantity) for _id, sku, quantity in self.shown[browser.owner]]
        browser.review = Review(fields, lines, self.catalogue.delivery(place, dict(lines)), place)

    def place(self, who: str) -> None:
        """Place the last review the browser saw (again, perhaps): a new order only when nothing changed."""
        browser = self.browsers[who]
        review = browser.review
        fields = review.fields if review is not None else {}
        response = browser.shopper.post("/checkout/place", fields)
        location = response.headers.get("location", "") if response.status_code == 303 else ""
        key = fields.get("idempotency_key", "")
        known = self.placed.get((browser.owner, key))
        if key not in browser.keys:
            assert response.status_code == 400, response.text
        elif known is not None:
            assert location == f"/orders/{known}", (location, response.text)
            browser.remember(known)
        elif (
            review is not None
            and browser.method
            and browser.place == review.place  # "Deliver to" still where the address is
            and self.can_place(browser, browser.place)
            and [(sku, quantity) for _id, sku, quantity in self.shown[browser.owner]] == review.lines
            and self.catalogue.delivery(browser.place, self.carts[browser.owner]) == review.delivery
        ):
            assert location.startswith("/orders/"), (response.status_code, response.text)
            self.placed_order(browser, key, location.removeprefix("/orders/"))
            browser.method = ""
            browser.keys = ["?", *browser.keys][:KEYS_KEPT]
        else:
            assert not location.startswith("/orders/"), location
        self.look_at(browser)

    def check_out_by_api(self, who: str, key: str) -> None:
        """POST /api/checkout to the German address: the same key again finds its order, whatever the cart."""
        browser = self.browsers[who]
        body = {
            "email": ADDRESS["email"],
            "name": ADDRESS["name"],
            "address": {name: ADDRESS[name] for name in ("line1", "line2", "city", "postcode", "country")},
            "deliveryMethod": "standard",
        }
        response = browser.shopper.client.post("/api/checkout", json=body, headers={"Idempotency-Key": key})
        known = self.placed.get((browser.owner, key))
        if known is not None:
            assert response.status_code == 200, response.text
            assert response.json()["order"]["number"] == known
            browser.remember(known)
        elif self.can_place(browser, ("DE", ADDRESS["postcode"])):
            assert response.status_code == 201, response.text
            self.choose_place(browser, ("DE", ADDRESS["postcode"]))
            self.placed_order(browser, key, response.json()["order"]["number"])
        else:
            assert response.status_code == 409, response.text
        self.look_at(browser)

    def cancel(self, who: str, theirs: bool, pick: int, via: str) -> None:
        """Cancel one of the shopper's orders, or any: only a placed order they may see is cancelled."""
        browser = self.browsers[who]
        numbers = [number for number in self.orders if theirs or self.may_see(browser, number)]
        number = numbers[pick % len(numbers)] if numbers else "ZZZZZZZZ"
        if via == "form":
            response = browser.shopper.post(f"/orders/{number}/cancel")
        else:
            response = browser.shopper.client.post(f"/api/orders/{number}/cancel", json={})
        order = self.orders.get(number)
        if order is None or not self.may_see(browser, number):
            assert response.status_code == 404, response.text
        elif order.status != "placed":
            assert response.status_code == 409, response.text
        else:
            assert response.status_code == (303 if via == "form" else 200), response.text
            order.status = "cancelled"
            for sku, quantity in order.lines.items():
                self.stock[sku] += quantity
        self.look_at(browser)

    def check_out(self, who: str, country: str) -> None:
        """Review and place at once, as most shoppers do."""
        self.review(who, country)
        self.place(who)

    def stock_falls(self, sku: str, to: int) -> None:
        """Stock taken outside the shop's orders (sold in the shop, found broken): carts holding more
        are reduced when next read, and say so; a review of them places nothing."""
        stock = min(self.stock[sku], to)
        sql(self.app, "UPDATE variants SET stock = :stock WHERE sku = :sku", stock=stock, sku=sku)
        self.initial[sku] -= self.stock[sku] - stock
        self.stock[sku] = stock

    def bob_logs_in_or_out(self) -> None:
        """Bob logs in (his guest cart merged), or out: a fresh guest session, with no cart, no "Deliver
        to" and no checkout keys, so a review from before places nothing."""
        bob = self.browsers["bob"]
        if bob.email is None:
            self.log_in(bob, BOB)
        else:
            response = bob.shopper.post("/logout")
            assert response.status_code == 303, response.text
            review = bob.review
            bob.fresh()
            bob.review = review
        self.look_at(bob)

    def look(self, who: str) -> None:
        self.look_at(self.browsers[who])

    # What holds after every step

    @invariant()
    def carts_hold_valid_lines_and_only_their_owners_changes(self) -> None:
        rows = sql(self.app, CART_LINES)
        assert all(0 < row.quantity <= LIMIT for row in rows), rows
        pairs = [(row.cart_id, row.variant_id) for row in rows]
        assert len(pairs) == len(set(pairs)), rows
        held: dict[str, Lines] = {}
        carts: dict[str, set[int]] = defaultdict(set)
        for row in rows:
            owner = self.owner_of(row.email)
            held.setdefault(owner, {})[row.sku] = row.quantity
            carts[owner].add(row.cart_id)
        assert all(len(ids) == 1 for ids in carts.values()), carts
        assert held == {owner: lines for owner, lines in self.carts.items() if lines}

    @invariant()
    def stock_is_never_negative_and_only_moves_into_orders(self) -> None:
        for sku, stock, sold in sql(self.app, STOCK_AND_SOLD):
            assert stock >= 0, sku
            assert stock + sold == self.initial[sku], (sku, stock, sold, self.initial[sku])
            if sku in self.stock:
                assert stock == self.stock[sku], (sku, stock, self.stock[sku])

    @invariant()
    def one_order_per_key_each_the_sum_of_its_lines(self) -> None:
        rows = sql(self.app, ORDERS)
        assert len({row.idempotency_key for row in rows}) == len(rows)
        assert len(set(self.placed.values())) == len(self.placed) == len(self.orders)
        assert {row.number: (row.email, row.status) for row in rows} == {
            number: (order.owner, order.status) for number, order in self.orders.items()
        }
        lines: dict[str, Lines] = defaultdict(dict)
        totals: dict[str, int] = defaultdict(int)
        for number, sku, quantity, unit_price, line_total in sql(self.app, ORDER_LINES):
            assert line_total == unit_price * quantity == self.catalogue.prices[sku] * quantity
            lines[number][sku] = quantity
            totals[number] += line_total
        assert dict(lines) == {number: order.lines for number, order in self.orders.items()}
        for row in rows:
            assert row.subtotal_cents == totals[row.number]
            assert row.total_cents == row.subtotal_cents + row.delivery_cents


def test_any_sequence_of_cart_and_order_acts_keeps_the_invariants(settings: Settings) -> None:
    # Passwords are hashed at Argon2's cheapest: each example logs in two to a dozen times, and the hash is not what
    # this test is about (a login at the shop's cost takes about 40 ms).
    cheap_hash = {"argon2_memory_kib": 8, "argon2_time_cost": 1}
    app = create_app(settings.with_overrides(max_line_quantity=LIMIT, **cheap_hash))
    try:
        for email in (ADA, BOB):
            register(app, email)
        catalogue = Catalogue.read(app)
        with ExitStack() as stack:
            clients = {name: stack.enter_context(TestClient(app, base_url=BASE_URL)) for name in BROWSERS}

            class ThisShop(Shop):
                def __init__(self) -> None:
                    super().__init__(app, clients, catalogue)

            run_state_machine_as_test(ThisShop, settings=PROFILE)
    finally:
        app.state.shop.db.dispose()
