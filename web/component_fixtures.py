"""What the component gallery (/_components, development only) shows each partial with.

Every state is a context shaped like the one the partial's real handler passes, built from the
services' own types (a CartView, a ProductPage, an Order...), so a partial renders here exactly as it
does in the shop. A partial needing a new value fails here first: tests/test_components.py renders
every state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from markupsafe import Markup

from web.cart.store import CartView, Line
from web.catalog.service import Category, ProductCard, ProductPage, VariantInfo
from web.checkout.service import Draft
from web.locality.service import Method, Place, ProductDelivery, Zone, expected_date
from web.orders.messages import Message
from web.orders.service import LABELS, TRANSITIONS, Address, Event, Order, OrderLine, PriceChange, Quote
from web.owner import SignedIn
from web.staff.catalog import StaffProduct, VariantRow
from web.staff.products import RowForm


@dataclass(frozen=True)
class State:
    """One way a partial looks. `snippet` is Jinja source that uses the partial, for the files that
    hold macros rather than markup (fields.html, alert.html...); without it the partial itself
    is rendered with `context`."""

    label: str
    context: Mapping[str, Any] = field(default_factory=dict)
    snippet: str | None = None


# Not a real token: a form sent from the gallery is refused (403), so it changes nothing.
CSRF = "gallery-token"
HERE = "/_components"
LOGIN_URL = "/login?next=/_components"
AT = 1_796_200_000  # a Unix time for messages and order events: 2026-12-02


def line(line_id: int, slug: str, name: str, label: str, price: int, quantity: int, *, away: str = "") -> Line:
    return Line(line_id, 900 + line_id, slug, name, label, f"img/products/{slug}.svg", price, quantity, away)


SHIRT = line(101, "linen-shirt", "Linen shirt", "M", 5900, 1)
TEA = line(102, "tea-tin", "Tea tin", "", 1250, 3)
KNIFE = line(103, "chef-knife", "Chef knife with a very long name that has to wrap somewhere", "", 8900, 1)
PAN_AWAY = line(104, "cast-iron-pan", "Cast iron pan", "", 6400, 1, away="CH")

EMPTY_CART = CartView()
FULL_CART = CartView([SHIRT, TEA, KNIFE])
CLAMPED_CART = CartView([SHIRT, TEA], ["Only 3 left of Tea tin: quantity reduced to 3."])
UNDELIVERABLE_CART = CartView([SHIRT, PAN_AWAY])
# At checkout a line is undeliverable to where the draft's address is.
UNDELIVERABLE_TO_DE = CartView([SHIRT, PAN_AWAY._replace(undeliverable_to="DE")])
ADA = SignedIn(7, "ada@example.com", "Ada")

BERLIN = Place("DE", "10117", 1)
ZURICH = Place("CH", "8001", 2)
STANDARD = Method(1, "standard", "Standard delivery", 490, 2, 4, False)
EXPRESS = Method(2, "express", "Express", 1290, 1, 1, False)
PICKUP = Method(3, "pickup", "Pick up at the shop", 0, 0, 0, True)
ZONE = Zone(1, "eu", "Europe", 7500, (STANDARD, EXPRESS, PICKUP))
COUNTRIES = (("AT", "Austria"), ("DE", "Germany"), ("CH", "Switzerland"))
ADDRESS = Address("Ada Lovelace", "Unter den Linden 1", "", "Berlin", "10117", "DE")
SECOND_ADDRESS = Address("Ada Lovelace", "Hauptstr. 5", "2nd floor", "Köln", "50667", "DE")
DRAFT = Draft("ada@example.com", ADDRESS, "standard")
TODAY = date(2026, 12, 3)
EXPECTED = expected_date(TODAY, STANDARD.days_max)

APPAREL = Category("apparel", "Apparel")
SHIRT_PAGE = ProductPage(
    1,
    "linen-shirt",
    "Linen shirt",
    "A loose shirt of washed linen.",
    "img/products/linen-shirt.svg",
    None,
    APPAREL,
    [VariantInfo(11, "S", 5900, 0), VariantInfo(12, "M", 5900, 3), VariantInfo(13, "L", 6200, 12)],
)
TEA_PAGE = ProductPage(
    2,
    "tea-tin",
    "Tea tin",
    "Loose tea.",
    "img/products/tea-tin.svg",
    None,
    Category("kitchen", "Kitchen"),
    [VariantInfo(21, "", 1250, 40)],
)
SOLD_OUT_PAGE = ProductPage(
    3,
    "wool-throw",
    "Wool throw",
    "A warm throw.",
    "img/products/wool-throw.svg",
    None,
    Category("home", "Home"),
    [VariantInfo(31, "", 8900, 0)],
)


def card(slug: str, name: str, low: int, high: int, stock: int, **marked: Markup) -> ProductCard:
    return ProductCard(slug, name, f"img/products/{slug}.svg", None, "home", low, high, stock, **marked)


# The statuses an order went through to reach each one.
HISTORY = {
    "placed": ("placed",),
    "packed": ("placed", "packed"),
    "shipped": ("placed", "packed", "shipped"),
    "delivered": ("placed", "packed", "shipped", "delivered"),
    "cancelled": ("placed", "cancelled"),
}


def order(status: str) -> Order:
    """An order that went through HISTORY[status], a step an hour: placed and cancelled by the
    shopper, packed, shipped and delivered by the shop."""
    steps = HISTORY[status]
    events = tuple(
        Event(
            i, steps[i - 1] if i else None, to, "shopper" if to in ("placed", "cancelled") else "staff", AT + i * 3600
        )
        for i, to in enumerate(steps)
    )
    lines = (
        OrderLine("Linen shirt (M)", "linen-shirt", 12, 1, 5900, 5900),
        OrderLine("Tea tin", "tea-tin", 21, 3, 1250, 3750),
    )
    return Order(
        1, "K7QMX2PA", 7, "ada@example.com", ADDRESS, "standard", "Standard delivery", 2, 4, "2026-12-08",
        9650, 490, 10140, "EUR", status, "pay_on_delivery", "pending", AT, lines, events,
    )  # fmt: skip


PLACED = order("placed")
THREAD = (
    Message(1, 1, "shopper", "", "Could you gift-wrap the shirt?\nIt is a present.", AT + 600),
    Message(2, 1, "staff", "Grace", "Of course: it goes out wrapped tomorrow.", AT + 4200),
    Message(3, 1, "staff", "", "Your parcel is on its way.", AT + 90000),
)


def thread_context(
    audience: str, thread: tuple[Message, ...], draft: str = "", errors: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "order": PLACED,
        "thread": thread,
        "audience": audience,
        "csrf_token": CSRF,
        "draft": draft,
        "message_errors": errors or {},
    }


def drawer(cart: CartView, user: SignedIn | None = None) -> dict[str, Any]:
    return {"cart": cart, "user": user, "csrf_token": CSRF, "login_url": LOGIN_URL, "drawer_open": False}


def contents(cart: CartView) -> dict[str, Any]:
    return {"cart": cart, "csrf_token": CSRF}


def add_form(
    product: ProductPage, delivery: ProductDelivery, message: str | None = None, level: str = "info"
) -> dict[str, Any]:
    return {
        "product": product,
        "selected": product.variant(None),
        "cart": FULL_CART,
        "csrf_token": CSRF,
        "quantity": 1,
        "delivery": delivery,
        "message": message,
        "level": level,
        "request_path": HERE,
    }


def deliver_to(place: Place | None, *, open_: bool = False, errors: dict[str, str] | None = None) -> dict[str, Any]:
    opened = {
        "countries": COUNTRIES,
        "values": {"country": "DE", "postcode": "1011"},
        "errors": errors or {},
        "next": HERE,
        "csrf_token": CSRF,
    }
    return {"place": place, "request_path": HERE, "deliver_open": open_, **(opened if open_ else {})}


def quote(cart: CartView, changes: tuple[PriceChange, ...] = ()) -> Quote:
    return Quote(cart, STANDARD, STANDARD.price, EXPECTED, "EUR", list(changes))


def review(
    cart: CartView, *, problem: str | None = None, moved_to: Place | None = None, changes: tuple[PriceChange, ...] = ()
) -> dict[str, Any]:
    return {
        "step": "review",
        "draft": DRAFT,
        "quote": quote(cart, changes),
        "key": "gallery-key",
        "problem": problem,
        "moved_to": moved_to,
        "csrf_token": CSRF,
    }


def contact(
    values: dict[str, str], errors: dict[str, str], user: SignedIn | None, saved: tuple[Address, ...] = ()
) -> dict[str, Any]:
    return {
        "step": "contact",
        "values": values,
        "errors": errors,
        "countries": COUNTRIES,
        "saved_addresses": list(saved),
        "user": user,
        "csrf_token": CSRF,
    }


def delivery_step(errors: dict[str, str], cart: CartView = FULL_CART) -> dict[str, Any]:
    methods = ZONE.offers(cart.subtotal, TODAY)
    return {
        "step": "delivery",
        "draft": DRAFT,
        "zone": ZONE,
        "methods": methods,
        "chosen_method": "standard",
        "errors": errors,
        "cart": cart,
        "csrf_token": CSRF,
    }


BLANK_CONTACT = dict.fromkeys(("email", "name", "line1", "line2", "postcode", "city", "country"), "")
TYPED_CONTACT = {**BLANK_CONTACT, "email": "ada@example", "name": "Ada Lovelace", "postcode": "ABC", "country": "DE"}
CONTACT_ERRORS = {
    "email": "Please give an email address like name@example.com.",
    "line1": "Please give the address.",
    "postcode": "A postcode in DE is 5 digits, such as 10115.",
}

TEA_ROW = VariantRow(21, "tea-tin", "Tea tin", "TEA-TIN", "", 1250, 40, 3)
SHIRT_ROW = VariantRow(12, "linen-shirt", "Linen shirt", "SHIRT-M", "M", 5900, 3, 5)
STAFF_TEA = StaffProduct(2, "tea-tin", "Tea tin", "img/products/tea-tin.svg", None, True, (TEA_ROW,))
# A photo's content hash as web/media.py names it: no such file here, so the gallery shows its alt text.
STAFF_TEA_PHOTO = StaffProduct(2, "tea-tin", "Tea tin", "img/products/tea-tin.svg", "0" * 16, True, (TEA_ROW,))


def variant_row(row: RowForm) -> dict[str, Any]:
    return {"row": row, "csrf_token": CSRF, "return_to": HERE}


def photo(product: StaffProduct, message: str | None = None, level: str = "info") -> dict[str, Any]:
    return {"product": product, "csrf_token": CSRF, "photo_message": message, "photo_level": level}


def actions(status: str) -> dict[str, Any]:
    return {"order": order(status), "allowed": TRANSITIONS[status], "labels": LABELS, "csrf_token": CSRF}


def flashes(*levels: str) -> dict[str, Any]:
    said = {
        "success": "Added Linen shirt (M) to your cart.",
        "info": "You have been logged out. Your cart is kept in your account.",
    }
    said |= {
        "warning": "Delivering to CH 8001. 1 item in your cart cannot go there: remove it or change where to deliver.",
        "error": "3 items from your guest cart could not be added.",
    }
    return {"flashes": [{"message": said[level], "level": level} for level in levels]}


LISTING_QUERY = {"category": "home", "sort": "price-asc"}
# As the account forms use the macros: the form's message first, then each field with its hint and message.
FIELDS = """{% from "partials/fields.html" import invalid, field_error %}
<div class="stack-form">{{ field_error(errors, "form") }}
<label for="gallery-email">Email</label>
<input id="gallery-email" type="email" value="ada@example"{{ invalid(errors, "email", hint) }}>
{% if hint %}<p id="{{ hint }}" class="hint">The address we write to about your orders.</p>{% endif %}
{{ field_error(errors, "email") }}</div>"""
IMAGE = """{% from "partials/product_image.html" import product_image %}
{{ product_image(image, photo, size, "Tea tin") }}"""
ALERT = """{% from "partials/alert.html" import alert %}{{ alert(message, level, error_id) }}"""
# Every icon the file defines, new ones included, each with its name.
ICONS = """{% import "partials/icons.html" as icons %}
<ul class="gallery-icons">{% for name in icons.paths %}<li>{{ icons.icon(name) }} {{ name }}</li>{% endfor %}</ul>"""

# The list a partial that is one item sits in on its pages (tag, class), so it is laid out as it is there.
CONTAINERS: dict[str, tuple[str, str]] = {
    "catalog/partials/product_card.html": ("ul", "product-grid"),
    "cart/partials/line.html": ("ul", "cart-lines"),
    "orders/partials/message.html": ("ol", "messages"),
    "staff/partials/variant_row.html": ("ul", "variant-rows"),
}

STATES: dict[str, tuple[State, ...]] = {
    "partials/alert.html": (
        *(
            State(level, {"message": f"A {level} message.", "level": level, "error_id": None}, ALERT)
            for level in ("success", "info", "warning")
        ),
        State(
            "error with an error id",
            {"message": "Something went wrong on our side.", "level": "error", "error_id": "a1b2c3d4"},
            ALERT,
        ),
    ),
    "partials/icons.html": (State("every icon", {}, ICONS),),
    "partials/fields.html": (
        State("no error", {"errors": {}, "hint": None}, FIELDS),
        State(
            "field error",
            {"errors": {"email": "Please give an email address like name@example.com."}, "hint": None},
            FIELDS,
        ),
        State(
            "field error and a hint",
            {"errors": {"email": "Please give an email address."}, "hint": "gallery-hint"},
            FIELDS,
        ),
        State("form error", {"errors": {"form": "Wrong email or password."}, "hint": None}, FIELDS),
    ),
    "partials/flash.html": (
        State("none", flashes()),
        *(State(level, flashes(level)) for level in ("success", "info", "warning", "error")),
        State("several at once", flashes("success", "warning")),
    ),
    "partials/pagination.html": (
        State(
            "one page (nothing shown)",
            {"listing": {"page": 1, "pages": 1}, "page_url": "/", "page_query": LISTING_QUERY},
        ),
        State("first of three", {"listing": {"page": 1, "pages": 3}, "page_url": "/", "page_query": LISTING_QUERY}),
        State("middle", {"listing": {"page": 2, "pages": 3}, "page_url": "/", "page_query": {"category": ""}}),
        State("last", {"listing": {"page": 3, "pages": 3}, "page_url": "/search", "page_query": {"q": "linen"}}),
    ),
    "partials/product_image.html": (
        State("illustration, 64", {"image": "img/products/tea-tin.svg", "photo": None, "size": 64}, IMAGE),
        State("illustration, 240", {"image": "img/products/tea-tin.svg", "photo": None, "size": 240}, IMAGE),
        State(
            "uploaded photo, 64 (no photo file here, so its alt text shows)",
            {"image": "img/products/tea-tin.svg", "photo": "0" * 16, "size": 64},
            IMAGE,
        ),
    ),
    "partials/toast.html": (
        State("empty", {"message": None}),
        *(State(level, {"message": f"A {level} message.", "level": level}) for level in ("success", "info", "warning")),
        State(
            "error with an error id",
            {
                "message": "Something went wrong on our side. Please try again.",
                "level": "error",
                "error_id": "a1b2c3d4",
            },
        ),
        State(
            "the drawer's own region",
            {"message": "Removed Tea tin.", "level": "success", "region": "cart-drawer-status"},
        ),
    ),
    "accounts/partials/user_nav.html": (
        State("guest", {"user": None, "csrf_token": CSRF, "login_url": LOGIN_URL}),
        State("signed in, with a name", {"user": ADA, "csrf_token": CSRF, "login_url": LOGIN_URL}),
        State(
            "signed in, email only",
            {"user": SignedIn(8, "grace.hopper@example.com", ""), "csrf_token": CSRF, "login_url": LOGIN_URL},
        ),
    ),
    "cart/partials/badge.html": (
        State("empty", {"count": 0}),
        State("one item", {"count": 1}),
        State("many items", {"count": 12}),
    ),
    "cart/partials/contents.html": (
        State("empty", contents(EMPTY_CART)),
        State("with lines", contents(FULL_CART)),
        State("with a clamp notice", contents(CLAMPED_CART)),
        State("with an undeliverable line", contents(UNDELIVERABLE_CART)),
    ),
    "cart/partials/drawer.html": (
        State("empty, guest", drawer(EMPTY_CART)),
        State("full, guest", drawer(FULL_CART)),
        State("full, signed in", drawer(FULL_CART, ADA)),
        State("with a clamp notice", drawer(CLAMPED_CART, ADA)),
        State("with an undeliverable line", drawer(UNDELIVERABLE_CART, ADA)),
    ),
    "cart/partials/line.html": (
        State("in the drawer", {"line": SHIRT, "where": "drawer", "csrf_token": CSRF}),
        State("on the cart page, a long name", {"line": KNIFE, "where": "page", "csrf_token": CSRF}),
        State("cannot be delivered", {"line": PAN_AWAY, "where": "page", "csrf_token": CSRF}),
    ),
    "cart/partials/lines.html": (
        State("empty", {"cart": EMPTY_CART.frozen, "where": "page", "csrf_token": CSRF}),
        State("one item", {"cart": CartView([SHIRT]).frozen, "where": "page", "csrf_token": CSRF}),
        State("with a notice", {"cart": CLAMPED_CART.frozen, "where": "drawer", "csrf_token": CSRF}),
    ),
    "catalog/partials/add_form.html": (
        State("options, one sold out", add_form(SHIRT_PAGE, ProductDelivery(None, True, None, None))),
        State(
            "one option, delivery known",
            add_form(TEA_PAGE, ProductDelivery(BERLIN, True, STANDARD, 7500), "Added Tea tin to your cart.", "success"),
        ),
        State("not deliverable there", add_form(TEA_PAGE, ProductDelivery(ZURICH, False, None, None))),
        State("sold out", add_form(SOLD_OUT_PAGE, ProductDelivery(BERLIN, True, STANDARD, 7500))),
    ),
    "catalog/partials/add_status.html": (
        State("nothing said yet", {"message": None, "level": "info"}),
        State("added", {"message": "Added Linen shirt (M) to your cart.", "level": "success"}),
        State("clamped", {"message": "Only 3 left of Linen shirt (M): 3 are in your cart.", "level": "info"}),
        State("refused", {"message": "This option is sold out.", "level": "error"}),
    ),
    "catalog/partials/breadcrumbs.html": (
        State("category", {"crumbs": [("Shop", "/"), ("Apparel", "")]}),
        State("product", {"crumbs": [("Shop", "/"), ("Apparel", "/?category=apparel"), ("Linen shirt", "")]}),
    ),
    "catalog/partials/delivery.html": (
        State(
            "no place chosen",
            {"product": TEA_PAGE, "delivery": ProductDelivery(None, True, None, None), "request_path": HERE},
        ),
        State(
            "delivers, free over",
            {"product": TEA_PAGE, "delivery": ProductDelivery(BERLIN, True, STANDARD, 7500), "request_path": HERE},
        ),
        State(
            "delivers, no free delivery",
            {"product": TEA_PAGE, "delivery": ProductDelivery(BERLIN, True, EXPRESS, None), "request_path": HERE},
        ),
        State(
            "not deliverable there",
            {"product": TEA_PAGE, "delivery": ProductDelivery(ZURICH, False, None, None), "request_path": HERE},
        ),
        State(
            "sold out (empty)",
            {"product": SOLD_OUT_PAGE, "delivery": ProductDelivery(BERLIN, True, STANDARD, 7500), "request_path": HERE},
        ),
    ),
    "catalog/partials/in_cart.html": (
        State("none in the cart (empty)", {"held": 0}),
        State("some in the cart", {"held": 2}),
    ),
    "catalog/partials/product_card.html": (
        State("in stock, price range", {"product": card("linen-shirt", "Linen shirt", 5900, 6200, 15)}),
        State("low stock", {"product": card("tea-tin", "Tea tin", 1250, 1250, 3)}),
        State("sold out", {"product": card("wool-throw", "Wool throw", 8900, 8900, 0)}),
        State(
            "search result",
            {
                "product": card(
                    "linen-cushion",
                    "Linen cushion",
                    3400,
                    3400,
                    8,
                    marked_name=Markup("<mark>Linen</mark> cushion"),
                    marked_description=Markup("A cushion of washed <mark>linen</mark>."),
                )
            },
        ),
    ),
    "catalog/partials/search_form.html": (
        State("empty, as on the catalogue (no query given)", {}),
        State("with a query", {"query": "linen"}),
    ),
    "catalog/partials/stock.html": (
        State("in stock", {"product": TEA_PAGE}),
        State("low", {"product": SHIRT_PAGE, "variant": SHIRT_PAGE.variants[1]}),
        State("sold out", {"product": SOLD_OUT_PAGE}),
    ),
    "checkout/partials/contact.html": (
        State("guest, blank", contact(BLANK_CONTACT, {}, None)),
        State("form errors", contact(TYPED_CONTACT, CONTACT_ERRORS, None)),
        State(
            "signed in, saved addresses",
            contact({**BLANK_CONTACT, "email": "ada@example.com"}, {}, ADA, (ADDRESS, SECOND_ADDRESS)),
        ),
    ),
    "checkout/partials/delivery.html": (
        State("methods, free delivery reached", delivery_step({})),
        State(
            "method error, free delivery not reached",
            delivery_step({"method": "Choose how your order should be delivered."}, CartView([TEA])),
        ),
    ),
    "checkout/partials/review.html": (
        State("ready to place", review(FULL_CART)),
        State(
            "a problem, a notice and a price change",
            review(
                CLAMPED_CART,
                problem="Someone bought the last one meanwhile: check your order again.",
                changes=(PriceChange("Tea tin", 1100, 1250),),
            ),
        ),
        State("Deliver to moved elsewhere", review(FULL_CART, moved_to=ZURICH)),
        State("undeliverable lines", review(UNDELIVERABLE_TO_DE)),
    ),
    "checkout/partials/steps.html": tuple(State(step, {"step": step}) for step in ("contact", "delivery", "review")),
    "checkout/partials/summary.html": (
        State(
            "paid delivery",
            {
                "lines": PLACED.lines,
                "subtotal": 9650,
                "delivery": 490,
                "delivery_name": "Standard delivery",
                "total": 10140,
            },
        ),
        State(
            "free delivery",
            {
                "lines": PLACED.lines,
                "subtotal": 9650,
                "delivery": 0,
                "delivery_name": "Pick up at the shop",
                "total": 9650,
            },
        ),
    ),
    "locality/partials/deliver_to.html": (
        State("nothing chosen", deliver_to(None)),
        State("a place chosen", deliver_to(BERLIN)),
        State("open", deliver_to(BERLIN, open_=True)),
        State(
            "open, refused",
            deliver_to(None, open_=True, errors={"postcode": "A postcode in DE is 5 digits, such as 10115."}),
        ),
    ),
    "locality/partials/form.html": (
        State(
            "blank",
            {
                "countries": COUNTRIES,
                "values": {"country": "", "postcode": ""},
                "errors": {},
                "next": HERE,
                "csrf_token": CSRF,
            },
        ),
        State(
            "refused",
            {
                "countries": COUNTRIES,
                "values": {"country": "FR", "postcode": "75001"},
                "errors": {"form": "We do not deliver to France yet.", "country": "Choose a country we deliver to."},
                "next": HERE,
                "csrf_token": CSRF,
            },
        ),
    ),
    "orders/partials/cancel.html": (
        State("may cancel", {"order": PLACED, "csrf_token": CSRF}),
        State("may no longer cancel (empty)", {"order": order("shipped"), "csrf_token": CSRF}),
    ),
    "orders/partials/message.html": (
        State("the shopper's own, on the order page", {"message": THREAD[0], "audience": "shopper"}),
        State("from staff with a name, on the order page", {"message": THREAD[1], "audience": "shopper"}),
        State("from staff without a name", {"message": THREAD[2], "audience": "shopper"}),
        State("the customer's, in the back office", {"message": THREAD[0], "audience": "staff"}),
    ),
    "orders/partials/message_form.html": (
        State("empty, shopper", thread_context("shopper", ())),
        State(
            "refused, text kept",
            thread_context(
                "shopper",
                (),
                "Where is my parcel? It was due on Monday.",
                {"text": "You have sent many messages: wait a minute."},
            ),
        ),
        State("staff", thread_context("staff", ())),
    ),
    "orders/partials/messages.html": (
        State("no messages yet", thread_context("shopper", ())),
        State("a thread, shopper's view", thread_context("shopper", THREAD)),
        State("a thread, staff view", thread_context("staff", THREAD)),
    ),
    "orders/partials/timeline.html": tuple(State(status, {"order": order(status)}) for status in HISTORY),
    "staff/partials/nav.html": tuple(
        State(name, {"page_name": name}) for name in ("staff.orders", "staff.products", "staff.audit")
    ),
    "staff/partials/order_actions.html": tuple(
        State(status, actions(status)) for status in ("placed", "packed", "shipped", "delivered")
    ),
    "staff/partials/product_photo.html": (
        State("the illustration", photo(STAFF_TEA)),
        State(
            "an uploaded photo, just saved (no photo file here, so its alt text shows)",
            photo(STAFF_TEA_PHOTO, "The new photo is shown in the shop.", "success"),
        ),
        State("refused upload", photo(STAFF_TEA, "The photo is smaller than 480 pixels on its shorter side.", "error")),
    ),
    "staff/partials/variant_row.html": (
        State("as stored", variant_row(RowForm.of(TEA_ROW))),
        State("saved", variant_row(RowForm.of(SHIRT_ROW, "Saved.", "success"))),
        State(
            "refused price",
            variant_row(RowForm(TEA_ROW, "12,5x", "40", 3, 40, "Give a price such as 12.50.", "error", "price")),
        ),
        State(
            "someone saved first",
            variant_row(
                RowForm.of(TEA_ROW, "Someone else saved this meanwhile: these are the current values.", "error")
            ),
        ),
    ),
}
