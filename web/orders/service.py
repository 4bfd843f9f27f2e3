"""Orders: the one function that places an order, the states an order moves through, and who may
see which order. No HTTP here.

Placement is one transaction: the order's lines are priced and checked from the cart as it is now,
stock is taken with a conditional update that cannot oversell (checked by its row count), the
order, its lines (price and title snapshots), its first history row and its confirmation mail (an
outbox row, sent after commit) are written, and the cart is emptied. The idempotency key, unique
per shopper, makes a replay return the same order and place nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, case, delete, func, insert, select, update

from web import faults, mail, owner
from web.cart import service as cart
from web.cart.store import CartView, Line
from web.db import INTEGRITY_ERRORS, DatabaseUnavailable, Prepared, dialect_insert
from web.locality import service as locality
from web.models import cart_lines, order_events, order_lines, orders, variants
from web.problems import Conflict, NotDeliverable, NotFound
from web.unit import Visit

# Every state an order can be in, and where it may go from each: the one place that says so.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "placed": ("packed", "cancelled"),
    "packed": ("shipped", "cancelled"),
    "shipped": ("delivered",),
    "delivered": (),
    "cancelled": (),
}
LABELS = {
    "placed": "Placed",
    "packed": "Packed",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}
SHOPPER_MAY_CANCEL = ("placed",)
PAY_ON_DELIVERY = "pay_on_delivery"
# Order numbers: 8 characters without look-alikes (no 0/O, 1/I/L), about 10^12 of them, random.
NUMBER_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
NUMBER_LENGTH = 8
PAGE_SIZE = 10
PLACE_CHANGED = "Your delivery place changed since you reviewed this order: check the review again."


class EmptyCart(Conflict):
    code = "EMPTY_CART"


class OutOfStock(Conflict):
    """Some lines have less stock than the cart asks for: nothing was placed."""

    code = "OUT_OF_STOCK"

    def __init__(self, message: str, lines: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.lines = lines

    def details(self) -> dict[str, object]:
        return {"lines": self.lines}


class StaleReview(Conflict):
    """The cart, prices, delivery or where it goes changed since the shopper reviewed them: nothing was placed."""

    code = "STALE_REVIEW"


class IllegalTransition(Conflict):
    code = "ILLEGAL_TRANSITION"

    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed

    def details(self) -> dict[str, object]:
        return {"allowed": list(self.allowed)}


class DuplicateCheckout(Exception):
    """Another request placed this checkout's order while this one was placing it: look it up."""


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    line2: str
    city: str
    postcode: str
    country: str

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(
            part for part in (self.name, self.line1, self.line2, f"{self.postcode} {self.city}", self.country) if part
        )

    def is_in(self, place: locality.Place | None) -> bool:
        """Whether this address is where "Deliver to" is: the place whose zone prices the order
        (a postcode written with or without its space, in either case, is the same place)."""
        return place is not None and (self.country, same_postcode(self.postcode)) == (
            place.country,
            same_postcode(place.postcode),
        )


def same_postcode(postcode: str) -> str:
    return "".join(postcode.split()).upper()


@dataclass(frozen=True)
class Checkout:
    """What the shopper told checkout: who they are, where it goes and how."""

    email: str
    address: Address
    method: str


@dataclass(frozen=True)
class PriceChange:
    title: str
    was: int
    now: int


@dataclass
class Quote:
    """The order as it would be placed now: lines at today's prices, delivery, totals, and what the
    shopper must be told first (price changes, lines that cannot go there)."""

    cart: CartView
    method: locality.Method | None
    delivery: int
    expected_by: date | None
    currency: str
    price_changes: list[PriceChange] = field(default_factory=list)

    @property
    def subtotal(self) -> int:
        return self.cart.subtotal

    @property
    def total(self) -> int:
        return self.subtotal + self.delivery

    @property
    def fingerprint(self) -> str:
        """What the shopper reviewed, as a digest: a placement from a review that no longer matches is stale."""
        lines = [(line.variant_id, line.quantity, line.unit_price) for line in self.cart.lines]
        method = self.method.code if self.method else ""
        return hashlib.sha256(json.dumps([lines, method, self.delivery]).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class OrderLine:
    title: str
    product_slug: str
    variant_id: int | None
    quantity: int
    unit_price: int
    line_total: int


@dataclass(frozen=True)
class Event:
    id: int
    from_status: str | None
    to_status: str
    actor: str
    at: int

    @property
    def label(self) -> str:
        return LABELS[self.to_status]


@dataclass(frozen=True)
class Order:
    id: int
    number: str
    user_id: int | None
    email: str
    address: Address
    delivery_method: str
    delivery_name: str
    days_min: int
    days_max: int
    expected_by: str
    subtotal: int
    delivery: int
    total: int
    currency: str
    status: str
    payment_method: str
    payment_status: str
    placed_at: int
    lines: tuple[OrderLine, ...] = ()
    events: tuple[Event, ...] = ()

    @property
    def status_label(self) -> str:
        return LABELS[self.status]

    @property
    def shopper_may_cancel(self) -> bool:
        return self.status in SHOPPER_MAY_CANCEL

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class Placed:
    order: Order
    replayed: bool


def scoped_key(v: Visit, key: str) -> str:
    """An idempotency key as stored: hashed with whose checkout it is, so another shopper's same key
    is another key, and never finds, reveals or changes this shopper's order."""
    who = owner.resolve_owner(v)
    scope = f"user:{who.user_id}" if who.user_id is not None else f"guest:{owner.guest_token(v)}"
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def looks_like_number(number: str) -> bool:
    """Whether `number` could be an order number at all (what a stream subscribes to is checked first)."""
    return len(number) == NUMBER_LENGTH and all(char in NUMBER_ALPHABET for char in number)


def new_number() -> str:
    return "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(NUMBER_LENGTH))


def today(now: int) -> date:
    return datetime.fromtimestamp(now, UTC).date()


def quote(v: Visit, method_code: str | None) -> Quote:
    """The cart priced for checkout with the chosen method (None: not chosen yet), as placement would."""
    who = owner.resolve_owner(v)
    view = cart.load_cart(v, who)
    place = locality.chosen(v.session)
    zone = locality.zone(v.conn, place.zone_id) if place is not None else None
    method = zone.method(method_code) if zone is not None and method_code else None
    delivery = method.price_for(view.subtotal, zone.free_over) if method is not None and zone is not None else 0
    expected = locality.expected_date(today(v.now), method.days_max) if method is not None else None
    changes = [
        PriceChange(line.title, was, line.unit_price)
        for line, was in zip(view.lines, added_prices(v.conn, who.cart_id, view.lines), strict=True)
        if was is not None and was != line.unit_price
    ]
    return Quote(view, method, delivery, expected, v.settings.currency, changes)


# Placement's statements are built and compiled once (web/db.py's Prepared); those whose shape
# depends on the number of lines, once per number of lines.
ADDED_PRICES = Prepared(
    select(cart_lines.c.id, cart_lines.c.added_price_cents).where(cart_lines.c.cart_id == bindparam("cart_id"))
)
BY_KEY = Prepared(select(orders).where(orders.c.idempotency_key == bindparam("key")))
FIRST_EVENT = Prepared(
    insert(order_events)
    .values(
        order_id=bindparam("order_id"),
        from_status=None,
        to_status="placed",
        actor="shopper",
        actor_user_id=bindparam("user_id"),
        at=bindparam("now"),
    )
    .returning(order_events.c.id)
)
EMPTY_CART = Prepared(delete(cart_lines).where(cart_lines.c.cart_id == bindparam("cart_id")))
ORDER_COLUMNS = (
    *("number", "idempotency_key", "user_id", "email", "name", "line1", "line2", "city", "postcode", "country"),
    *("delivery_method", "delivery_name", "days_min", "days_max", "expected_by"),
    *("subtotal_cents", "delivery_cents", "total_cents", "currency"),
    *("status", "payment_method", "payment_status", "placed_at", "updated_at"),
)
LINE_COUNTS_KEPT = 64  # statements per number of lines kept compiled (a cart has no cap on its lines)
LINE_COLUMNS = ("variant_id", "product_slug", "title", "unit_price_cents", "quantity", "line_total_cents")


def added_prices(conn: Connection, cart_id: int | None, lines: list[Line]) -> list[int | None]:
    """Each line's price when it was added (None for lines stored before prices were kept)."""
    if not lines or cart_id is None:
        return [None] * len(lines)
    rows = dict(ADDED_PRICES.all(conn, cart_id=cart_id))
    return [rows.get(line.id) for line in lines]


def find_by_key(conn: Connection, key: str) -> Order | None:
    row = BY_KEY.first(conn, key=key)
    return with_details(conn, row) if row is not None else None


def place_order(v: Visit, checkout: Checkout, key: str, reviewed: str | None = None) -> Placed:
    """Place the owner's cart as an order, once per `key` (already scoped with scoped_key()).

    `reviewed` is the fingerprint of the review the shopper saw (the HTML form sends it; /api does
    not review). Raises EmptyCart, NotDeliverable, StaleReview or OutOfStock with nothing written.
    The address must be where "Deliver to" is, since its zone decides the methods and prices: a
    review left open while "Deliver to" changed is stale (/api sets "Deliver to" from its address).
    """
    with v.writing():
        existing = find_by_key(v.conn, key)
        if existing is not None:
            owner.remember_order(v, existing.number)
            return Placed(existing, replayed=True)
        if not checkout.address.is_in(locality.chosen(v.session)):
            raise StaleReview(PLACE_CHANGED)
        priced = quote(v, checkout.method)
        lines = priced.cart.lines
        if priced.cart.reduced:
            v.metrics.placements_refused.labels("out_of_stock").inc()
            names = "; ".join(f"{item['title']}: {item['available']} left" for item in priced.cart.reduced)
            raise OutOfStock(f"Some items are short ({names}). Nothing was ordered.", priced.cart.reduced)
        if not lines:
            raise EmptyCart("Your cart is empty: there is nothing to order.")
        if priced.cart.undeliverable:
            titles = ", ".join(line.title for line in priced.cart.undeliverable)
            raise NotDeliverable(f"{titles} cannot be delivered to {checkout.address.country}: remove it first.")
        if priced.method is None or priced.expected_by is None:
            raise StaleReview("Choose how your order should be delivered.", field="method")
        if reviewed is not None and reviewed != priced.fingerprint:
            raise StaleReview("Your cart or its prices changed since you reviewed your order: check it again.")
        take_stock(v, lines)
        buyer = owner.resolve_owner(v)
        row = insert_order(v, checkout, key, priced, buyer.user_id)
        written: dict[str, Any] = {"order_id": row["id"]}
        for n, line in enumerate(lines):
            values = (line.variant_id, line.product_slug, line.title, line.unit_price, line.quantity, line.line_total)
            written.update({f"{column}_{n}": value for column, value in zip(LINE_COLUMNS, values, strict=True)})
        lines_insert(len(lines)).run(v.conn, **written)
        event_id = FIRST_EVENT.scalar(v.conn, order_id=row["id"], user_id=buyer.user_id, now=v.now)
        EMPTY_CART.run(v.conn, cart_id=buyer.cart_id)
        # The order as written, without reading it back.
        order = order_of(
            SimpleNamespace(**row),
            [
                OrderLine(
                    line.title, line.product_slug, line.variant_id, line.quantity, line.unit_price, line.line_total
                )
                for line in lines
            ],
            [Event(event_id, None, "placed", "shopper", v.now)],
        )
        mail.enqueue_confirmation(v.conn, order, v.now, v.settings)
        faults.pause_point(v.settings, "placement")
        owner.remember_order(v, order.number)
        v.metrics.orders_placed.inc()
        return Placed(order, replayed=False)


def per_variant(quantities: dict[int, int]) -> Any:
    """`CASE variants.id WHEN <id> THEN <quantity> ... END` (a cancellation puts every line's stock back with it)."""
    return case(quantities, value=variants.c.id)


@lru_cache(maxsize=LINE_COUNTS_KEPT)
def stock_update(lines: int) -> Prepared:
    """`UPDATE variants SET stock = stock - CASE id WHEN :id_0 THEN :q_0 ... END WHERE id IN (:id_0, ...)
    AND stock >= CASE ... RETURNING id`: one statement takes every line's stock, changes no row whose
    stock is short, and answers the rows it changed."""
    ids = [bindparam(f"id_{n}", type_=Integer) for n in range(lines)]
    taken = case({id_: bindparam(f"q_{n}", type_=Integer) for n, id_ in enumerate(ids)}, value=variants.c.id)
    return Prepared(
        update(variants)
        .where(variants.c.id.in_(ids), variants.c.stock >= taken)
        .values(stock=variants.c.stock - taken)
        .returning(variants.c.id)
    )


@cache
def order_insert(dialect: str) -> Prepared:
    """The order row under a number of the caller's drawing, unless that number is taken: its id, or no row."""
    return Prepared(
        dialect_insert(dialect)(orders)
        .values({name: bindparam(name) for name in ORDER_COLUMNS})
        .on_conflict_do_nothing(index_elements=["number"])
        .returning(orders.c.id)
    )


@lru_cache(maxsize=LINE_COUNTS_KEPT)
def lines_insert(lines: int) -> Prepared:
    """One multi-row INSERT of an order's `lines` lines: parameters order_id and <column>_<n>."""
    rows: list[dict[str, Any]] = [
        {"order_id": bindparam("order_id"), **{column: bindparam(f"{column}_{n}") for column in LINE_COLUMNS}}
        for n in range(lines)
    ]
    return Prepared(insert(order_lines).values(rows))


def lock_variants(v: Visit, quantities: dict[int, int]) -> list[int]:
    """The variants' ids in order; on PostgreSQL their rows are locked in that order first, so two
    transactions changing the same variants never wait on each other in opposite orders."""
    ids = sorted(quantities)
    if v.conn.dialect.name == "postgresql":
        v.conn.execute(select(variants.c.id).where(variants.c.id.in_(ids)).order_by(variants.c.id).with_for_update())
    return ids


def take_stock(v: Visit, lines: list[Line]) -> None:
    """Decrement every line's stock in one conditional statement, in variant-id order.

    The rows changed are the guard: a line whose variant has less stock than asked is not updated,
    and then nothing is (the transaction is rolled back). The short lines are those the statement
    left alone, named with their stock as it is; the others' rows, already taken from within this
    transaction, would read as less than there is. On PostgreSQL the rows are first locked in
    variant-id order, so two placements never wait on each other in opposite orders.
    """
    wanted = {line.variant_id: line.quantity for line in lines}
    ids = lock_variants(v, wanted)
    params = {f"id_{n}": variant_id for n, variant_id in enumerate(ids)}
    params.update({f"q_{n}": wanted[variant_id] for n, variant_id in enumerate(ids)})
    changed = {row[0] for row in stock_update(len(ids)).all(v.conn, **params)}
    if len(changed) != len(ids):
        untaken = [variant_id for variant_id in ids if variant_id not in changed]
        stock = dict(v.conn.execute(select(variants.c.id, variants.c.stock).where(variants.c.id.in_(untaken))).all())
        short = [
            {
                "lineId": line.id,
                "variantId": line.variant_id,
                "title": line.title,
                "qty": line.quantity,
                "available": stock.get(line.variant_id, 0),
            }
            for line in lines
            if line.variant_id not in changed
        ]
        v.metrics.placements_refused.labels("out_of_stock").inc()
        names = "; ".join(f"{item['title']}: {item['available']} left" for item in short)
        raise OutOfStock(f"Some items sold out while you were checking out ({names}). Nothing was ordered.", short)


def insert_order(v: Visit, checkout: Checkout, key: str, priced: Quote, user_id: int | None) -> dict[str, Any]:
    """The order row under a fresh random number, as written: a number already taken is drawn again
    (ON CONFLICT on the number, so no savepoint is needed). The same idempotency key placed meanwhile
    by another request of this shopper is a DuplicateCheckout: the whole placement rolls back."""
    assert priced.method is not None and priced.expected_by is not None
    values: dict[str, Any] = {
        "idempotency_key": key,
        "user_id": user_id,
        "email": checkout.email,
        "name": checkout.address.name,
        "line1": checkout.address.line1,
        "line2": checkout.address.line2,
        "city": checkout.address.city,
        "postcode": checkout.address.postcode,
        "country": checkout.address.country,
        "delivery_method": priced.method.code,
        "delivery_name": priced.method.name,
        "days_min": priced.method.days_min,
        "days_max": priced.method.days_max,
        "expected_by": priced.expected_by.isoformat(),
        "subtotal_cents": priced.subtotal,
        "delivery_cents": priced.delivery,
        "total_cents": priced.total,
        "currency": priced.currency,
        "status": "placed",
        "payment_method": PAY_ON_DELIVERY,
        "payment_status": "pending",
        "placed_at": v.now,
        "updated_at": v.now,
    }
    statement = order_insert(v.conn.dialect.name)
    for _attempt in range(5):
        number = new_number()
        try:
            order_id = statement.scalar(v.conn, number=number, **values)
        except INTEGRITY_ERRORS as error:  # only the idempotency key is left to conflict on
            raise DuplicateCheckout from error
        if order_id is not None:
            return {"id": order_id, "number": number, **values}
    # Five taken numbers in a row out of 31^8 would mean the numbers ran short or the draw broke:
    # the placement rolls back and the shopper is asked to try again (a 503), not shown a fault.
    raise DatabaseUnavailable("could not draw an unused order number in five tries")


def with_details(conn: Connection, row: Any) -> Order:
    """An order read from its row, with its lines and history."""
    return with_all_details(conn, [row])[0]


def with_all_details(conn: Connection, rows: list[Any]) -> list[Order]:
    """Orders read from their rows, with their lines and histories: two statements however many."""
    ids = [row.id for row in rows]
    lines: dict[int, list[OrderLine]] = {order_id: [] for order_id in ids}
    events: dict[int, list[Event]] = {order_id: [] for order_id in ids}
    if ids:
        for r in conn.execute(select(order_lines).where(order_lines.c.order_id.in_(ids)).order_by(order_lines.c.id)):
            lines[r.order_id].append(
                OrderLine(r.title, r.product_slug, r.variant_id, r.quantity, r.unit_price_cents, r.line_total_cents)
            )
        for r in conn.execute(select(order_events).where(order_events.c.order_id.in_(ids)).order_by(order_events.c.id)):
            events[r.order_id].append(Event(r.id, r.from_status, r.to_status, r.actor, r.at))
    return [order_of(row, lines[row.id], events[row.id]) for row in rows]


def page_of(conn: Connection, query: Any, page: int, size: int) -> tuple[list[Order], int, int]:
    """One page of the orders a query selects, newest first; the number of pages and of orders."""
    total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    rows = conn.execute(
        query.order_by(orders.c.placed_at.desc(), orders.c.id.desc()).limit(size).offset((page - 1) * size)
    ).all()
    return with_all_details(conn, list(rows)), max(1, -(-total // size)), total


def order_of(row: Any, lines: list[OrderLine], events: list[Event]) -> Order:
    return Order(
        row.id,
        row.number,
        row.user_id,
        row.email,
        Address(row.name, row.line1, row.line2, row.city, row.postcode, row.country),
        row.delivery_method,
        row.delivery_name,
        row.days_min,
        row.days_max,
        row.expected_by,
        row.subtotal_cents,
        row.delivery_cents,
        row.total_cents,
        row.currency,
        row.status,
        row.payment_method,
        row.payment_status,
        row.placed_at,
        tuple(lines),
        tuple(events),
    )


def order_row(conn: Connection, number: str) -> Any:
    """The order's row, or None; text that cannot be a number (NUL, say, which PostgreSQL refuses
    with an error) is not looked up."""
    wanted = number.strip().upper()
    if not looks_like_number(wanted):
        return None
    return conn.execute(select(orders).where(orders.c.number == wanted)).first()


def by_number(conn: Connection, number: str) -> Order:
    row = order_row(conn, number)
    if row is None:
        raise NotFound("There is no order with that number.")
    return with_details(conn, row)


def visible(v: Visit, number: str) -> Order:
    """The order if this shopper may see it (theirs as a user, or placed or found in this session); NotFound otherwise,
    alike for an order that does not exist and one that is someone else's."""
    row = order_row(v.conn, number)
    who = owner.resolve_owner(v)
    if row is None or not (
        (row.user_id is not None and row.user_id == who.user_id) or owner.knows_order(v, row.number)
    ):
        raise NotFound("There is no order with that number.")
    return with_details(v.conn, row)


def history(v: Visit, user_id: int, page: int) -> tuple[list[Order], int]:
    """A user's orders, newest first, one page of them; and how many pages there are."""
    found, pages, _total = page_of(v.conn, select(orders).where(orders.c.user_id == user_id), page, PAGE_SIZE)
    return found, pages


def change_status(v: Visit, order: Order, to: str, actor: str, allowed_from: tuple[str, ...] | None = None) -> Order:
    """Move an order to `to` if its state allows it (and, for a shopper, `allowed_from`), with a history
    row; a cancellation puts the stock back, in the same transaction. IllegalTransition otherwise."""
    allowed = TRANSITIONS[order.status] if allowed_from is None or order.status in allowed_from else ()
    if to not in allowed:
        raise IllegalTransition(
            f"An order that is {LABELS[order.status].lower()} cannot be {LABELS.get(to, to).lower()}.", allowed
        )
    changes: dict[str, Any] = {"status": to, "updated_at": v.now}
    if to == "cancelled":
        changes["payment_status"] = "void"
    with v.writing():
        moved = v.conn.execute(
            update(orders).where(orders.c.id == order.id, orders.c.status == order.status).values(**changes)
        ).rowcount
        if not moved:
            raise Conflict("This order was changed meanwhile: reload it and try again.")
        if to == "cancelled":
            returned: dict[int, int] = {}
            for line in order.lines:
                if line.variant_id is not None:  # a variant deleted since has nowhere to go back to
                    returned[line.variant_id] = returned.get(line.variant_id, 0) + line.quantity
            if returned:
                ids = lock_variants(v, returned)
                v.conn.execute(
                    update(variants)
                    .where(variants.c.id.in_(ids))
                    .values(stock=variants.c.stock + per_variant(returned))
                )
            v.metrics.cancellations.inc()
        v.order_changed(order.number)
        v.conn.execute(
            insert(order_events).values(
                order_id=order.id,
                from_status=order.status,
                to_status=to,
                actor=actor,
                actor_user_id=owner.resolve_owner(v).user_id,
                at=v.now,
            )
        )
        return with_details(v.conn, v.conn.execute(select(orders).where(orders.c.id == order.id)).one())


def cancel_by_shopper(v: Visit, number: str) -> Order:
    return change_status(v, visible(v, number), "cancelled", "shopper", allowed_from=SHOPPER_MAY_CANCEL)


def lookup(v: Visit, number: str, email: str) -> Order | None:
    """The order with this number and email, then remembered in this session (a guest's way back to it)."""
    row = order_row(v.conn, number)
    if row is None or row.email != email:
        return None
    owner.remember_order(v, row.number)
    return with_details(v.conn, row)


def take_along(v: Visit, number: str, user_id: int) -> None:
    """Give a guest's order to the account just made for it: this order only, and only a guest order."""
    v.conn.execute(update(orders).where(orders.c.number == number, orders.c.user_id.is_(None)).values(user_id=user_id))
