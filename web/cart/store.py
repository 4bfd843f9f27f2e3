"""The cart's rows and statements: add, change, remove, merge, read with stale stock clamped.

Every function takes the unit of work's connection and a cart id chosen by the owner resolver,
and filters every statement by that cart id, so a line id from another cart is simply not found.
The use cases that pick the cart and keep the session in step are web/cart/service.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.sql.elements import ColumnClause

from web import text
from web.db import Prepared, dialect_insert, least
from web.locality.rules import Destination, deliverable_to
from web.models import cart_lines, carts, products, variants
from web.problems import CartMissing, Conflict, InvalidInput, NotDeliverable, NotFound

# The row an upsert could not insert. Written out because SQLAlchemy would render a subquery on
# `insert.excluded` with its own FROM (a cross join on PostgreSQL) instead of correlating it.
EXCLUDED_VARIANT: ColumnClause[int] = literal_column("excluded.variant_id")
EXCLUDED_QUANTITY: ColumnClause[int] = literal_column("excluded.quantity", Integer)


class Line(NamedTuple):
    """One cart line as the shopper sees it. A tuple: hashed and made in C, which matters because
    partial() keys each rendered line by it (web/pages.py)."""

    id: int
    variant_id: int
    product_slug: str
    product_name: str
    variant_label: str
    image: str
    unit_price: int
    quantity: int
    # The country this line cannot be delivered to ("" when it can go where the cart is to go).
    undeliverable_to: str = ""
    # The photo staff uploaded for the product (web/media.py's content hash), None for its illustration.
    photo: str | None = None

    @property
    def title(self) -> str:
        return f"{self.product_name} ({self.variant_label})" if self.variant_label else self.product_name

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


class FrozenCart(NamedTuple):
    lines: tuple[Line, ...]
    notices: tuple[str, ...]
    quantity: int
    subtotal: int


class Said(str):
    """What a cart edit did, in words, with the level the shopper sees it at (success, info,
    warning): a clamp is a warning, not a success. It is a str, so the API reads it as before."""

    level: str

    def __new__(cls, text: str, level: str = "success") -> Said:
        said = super().__new__(cls, text)
        said.level = level
        return said


@dataclass
class CartView:
    lines: list[Line] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # Lines stored with more than may be bought now (stock fell, or the product went): what was in the
    # cart and what is left, for checkout to name them.
    reduced: list[dict[str, Any]] = field(default_factory=list)

    @property
    def frozen(self) -> FrozenCart:
        """The shown part as an immutable value, so partial() can keep its rendered HTML."""
        return FrozenCart(tuple(self.lines), tuple(self.notices), self.count, self.subtotal)

    @property
    def undeliverable(self) -> list[Line]:
        """Lines that cannot go where the shopper asked to deliver: they block checkout until resolved."""
        return [line for line in self.lines if line.undeliverable_to]

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def subtotal(self) -> int:
        return sum(line.line_total for line in self.lines)

    def quantity_of_product(self, slug: str) -> int:
        return sum(line.quantity for line in self.lines if line.product_slug == slug)


@dataclass(frozen=True)
class AddResult:
    title: str
    requested: int
    added: int
    quantity: int
    stock: int
    # The whole cart after the add, as read_cart() would show it, and whether stored lines need clamping to match.
    cart: CartView
    stale: bool

    @property
    def message(self) -> str:
        if self.added == 0:
            return f"You already have the most we can sell of {self.title} in your cart ({self.quantity})."
        message = f"Added {self.added} × {self.title} to your cart."
        if self.added < self.requested and self.quantity >= self.stock:
            message += f" Only {self.stock} in stock: you now have {self.quantity}."
        elif self.added < self.requested:
            message += f" At most {self.quantity} per item: you now have {self.quantity}."
        return message


_LINE_COLUMNS = (
    cart_lines.c.id,
    cart_lines.c.variant_id,
    cart_lines.c.quantity,
    variants.c.stock,
    variants.c.label,
    variants.c.price_cents,
    products.c.slug,
    products.c.name,
    products.c.image,
    products.c.active,
    products.c.photo,
)


# Whether each line's product may go to the zone the cart is to go to (bound as `zone_id`, NULL for none).
DELIVERABLE = deliverable_to(bindparam("zone_id", type_=Integer)).label("deliverable")

# The hot paths' statements are built once, with bound parameters: building a SQLAlchemy statement
# costs more than SQLite takes to run it (bench/README.md has the measurements).
CART_LINES = Prepared(
    select(*_LINE_COLUMNS, DELIVERABLE)
    .select_from(cart_lines.join(variants).join(products))
    .where(cart_lines.c.cart_id == bindparam("cart_id"))
    .order_by(cart_lines.c.id)
)
# What an add needs in one statement: the cart's lines as CART_LINES reads them (in no particular
# order; add() sorts them, cheaper than SQLite's sorter), and one row for the variant being added
# (`line` 0, no line id or quantity) saying whether the cart still exists.
ADD_READ = Prepared(
    union_all(
        select(literal_column("1").label("line"), *_LINE_COLUMNS, DELIVERABLE, true().label("cart_exists"))
        .select_from(cart_lines.join(variants).join(products))
        .where(cart_lines.c.cart_id == bindparam("cart_id")),
        select(
            literal_column("0"),
            null(),
            variants.c.id,
            null(),
            *_LINE_COLUMNS[3:],
            DELIVERABLE,
            exists(select(carts.c.id).where(carts.c.id == bindparam("cart_id"))),
        )
        .select_from(variants.join(products))
        .where(variants.c.id == bindparam("variant_id")),
    )
)


def add_to_line(insert: Any, limit: Any, now: Any) -> Any:
    """ON CONFLICT of an insert into cart_lines: sum with the stored line, clamp to stock and limit."""
    stock = select(variants.c.stock).where(variants.c.id == EXCLUDED_VARIANT).scalar_subquery()
    return insert.on_conflict_do_update(
        index_elements=[cart_lines.c.cart_id, cart_lines.c.variant_id],
        set_={"quantity": least(cart_lines.c.quantity + EXCLUDED_QUANTITY, stock, limit), "updated_at": now},
    )


@cache
def add_upsert(dialect: str) -> Prepared:
    """INSERT ... ON CONFLICT DO UPDATE that sums with the stored line and clamps to stock and limit."""
    limit = bindparam("max_quantity", type_=Integer)
    insert = dialect_insert(dialect)(cart_lines).from_select(
        ["cart_id", "variant_id", "quantity", "updated_at", "added_price_cents"],
        select(
            bindparam("cart_id", type_=Integer),
            variants.c.id,
            least(bindparam("quantity", type_=Integer), variants.c.stock, limit),
            bindparam("now", type_=Integer),
            variants.c.price_cents,
        ).where(variants.c.id == bindparam("variant_id"), variants.c.stock > 0),
    )
    return Prepared(add_to_line(insert, limit, bindparam("now")).returning(cart_lines.c.id, cart_lines.c.quantity))


def _title(name: str, label: str) -> str:
    return f"{name} ({label})" if label else name


def read_cart(
    conn: Connection, cart_id: int | None, max_quantity: int, where: Destination | None = None
) -> tuple[CartView, bool]:
    """The cart as the shopper may buy it now, its lines flagged where they cannot go `where`, and
    whether stored lines need clamping to match."""
    if cart_id is None:
        return CartView(), False
    zone_id = where.zone_id if where is not None else None
    return cart_view(CART_LINES.all(conn, cart_id=cart_id, zone_id=zone_id), max_quantity, where)


def cart_view(rows: list[Any], max_quantity: int, where: Destination | None) -> tuple[CartView, bool]:
    """Stored lines (CART_LINES' columns) as the shopper may buy them now, and whether any needs clamping."""
    view = CartView()
    stale = False
    for row in rows:
        allowed = 0 if not row.active else min(row.stock, max_quantity)
        quantity = min(row.quantity, allowed)
        if quantity < row.quantity:
            stale = True
            title = _title(row.name, row.label)
            view.reduced.append(
                {
                    "lineId": row.id,
                    "variantId": row.variant_id,
                    "title": title,
                    "qty": row.quantity,
                    "available": quantity,
                }
            )
            if quantity == 0:
                view.notices.append(f"{title} is no longer available and was removed from your cart.")
            elif quantity == row.stock:
                view.notices.append(f"Only {row.stock} left of {title}: quantity reduced to {quantity}.")
            else:
                view.notices.append(f"{title}: quantity reduced to the limit of {quantity}.")
        if quantity:
            blocked = where.country if where is not None and not row.deliverable else ""
            view.lines.append(
                Line(
                    row.id,
                    row.variant_id,
                    row.slug,
                    row.name,
                    row.label,
                    row.image,
                    row.price_cents,
                    quantity,
                    blocked,
                    row.photo,
                )
            )
    return view, stale


def clamp_cart(conn: Connection, cart_id: int, max_quantity: int, now: int) -> None:
    """Store what read_cart showed: lines reduced to stock and limit, unavailable lines removed."""
    unavailable = select(variants.c.id).join(products).where((variants.c.stock == 0) | ~products.c.active)
    conn.execute(delete(cart_lines).where(cart_lines.c.cart_id == cart_id, cart_lines.c.variant_id.in_(unavailable)))
    stock = select(variants.c.stock).where(variants.c.id == cart_lines.c.variant_id).scalar_subquery()
    conn.execute(
        update(cart_lines)
        .where(cart_lines.c.cart_id == cart_id, cart_lines.c.quantity > least(stock, max_quantity))
        .values(quantity=least(stock, max_quantity), updated_at=now)
    )


def add(
    conn: Connection,
    cart_id: int,
    variant_id: int,
    quantity: int,
    max_quantity: int,
    now: int,
    product_slug: str | None = None,
    where: Destination | None = None,
) -> AddResult:
    """Add in one atomic upsert that sums and clamps in the statement, so concurrent adds never lose one.

    The cart is read before the upsert, in the same statement as the variant, and the result
    carries it as it is after the add: the read lines with the upserted one's stored quantity.
    Call inside the write transaction, which no other writer of this cart shares (docs/design.md §8).
    """
    rows = ADD_READ.all(conn, cart_id=cart_id, variant_id=variant_id, zone_id=where.zone_id if where else None)
    row = next((row for row in rows if not row.line), None)
    if row is None or not row.active:
        raise NotFound("That product is not available.")
    if product_slug is not None and row.slug != product_slug.lower():
        named = select(products.c.id).where(products.c.slug == product_slug.lower(), products.c.active)
        # A slug with a control character names no product (and PostgreSQL refuses NUL in a query).
        if not text.plain(product_slug) or conn.execute(named).first() is None:
            raise NotFound("That product is not available.")
        raise InvalidInput("That option does not belong to this product.", field="variant_id")
    if not row.cart_exists:
        raise CartMissing("Your cart has expired.")
    title = _title(row.name, row.label)
    if where is not None and not row.deliverable:
        raise NotDeliverable(f"{title} cannot be delivered to {where.country}. Change where to deliver to buy it.")
    if row.stock == 0:
        raise Conflict(f"Sorry, {title} is sold out.")
    stored_lines = sorted((line for line in rows if line.line), key=attrgetter("id"))
    view, stale = cart_view(stored_lines, max_quantity, where)
    in_cart = next((line.quantity for line in stored_lines if line.variant_id == variant_id), None)
    limit = min(row.stock, max_quantity)
    before = min(in_cart or 0, limit)
    if in_cart is not None and in_cart >= limit:
        return AddResult(title, quantity, 0, limit, row.stock, view, stale)

    stored = add_upsert(conn.dialect.name).first(
        conn, cart_id=cart_id, variant_id=variant_id, quantity=quantity, max_quantity=max_quantity, now=now
    )
    if stored is None:
        raise Conflict(f"Sorry, {title} has just sold out.")
    after = stored.quantity
    line = Line(
        stored.id, variant_id, row.slug, row.name, row.label, row.image, row.price_cents, after, photo=row.photo
    )
    at = next((i for i, shown in enumerate(view.lines) if shown.id == line.id), None)
    if at is None:
        view.lines.append(line)
    else:
        view.lines[at] = line
    return AddResult(title, quantity, max(after - before, 0), after, row.stock, view, stale)


def _line(conn: Connection, cart_id: int, line_id: int):  # type: ignore[no-untyped-def]
    row = conn.execute(
        select(*_LINE_COLUMNS)
        .select_from(cart_lines.join(variants).join(products))
        .where(cart_lines.c.id == line_id, cart_lines.c.cart_id == cart_id)
    ).first()
    if row is None:
        raise NotFound("That item is not in your cart.")
    return row


def set_quantity(
    conn: Connection, cart_id: int | None, line_id: int, quantity: int, max_quantity: int, now: int
) -> str:
    """Set a line's quantity; 0 removes it. The quantity is clamped to stock and the per-line limit."""
    if cart_id is None:
        raise NotFound("That item is not in your cart.")
    row = _line(conn, cart_id, line_id)
    title = _title(row.name, row.label)
    allowed = min(row.stock, max_quantity) if row.active else 0
    if quantity == 0 or allowed == 0:
        conn.execute(delete(cart_lines).where(cart_lines.c.id == line_id, cart_lines.c.cart_id == cart_id))
        message = f"Removed {title} from your cart." if quantity == 0 else f"{title} is sold out and was removed."
        return message
    stored = min(quantity, allowed)
    conn.execute(
        update(cart_lines)
        .where(cart_lines.c.id == line_id, cart_lines.c.cart_id == cart_id)
        .values(quantity=stored, updated_at=now)
    )
    if stored < quantity:
        return Said(f"Only {stored} of {title} can be bought: quantity set to {stored}.", "warning")
    return f"{title}: quantity set to {stored}."


def remove_line(conn: Connection, cart_id: int | None, line_id: int) -> str:
    if cart_id is None:
        raise NotFound("That item is not in your cart.")
    row = _line(conn, cart_id, line_id)
    conn.execute(delete(cart_lines).where(cart_lines.c.id == line_id, cart_lines.c.cart_id == cart_id))
    title = _title(row.name, row.label)
    return f"Removed {title} from your cart."


def remove_product(conn: Connection, cart_id: int | None, product_id: int, product_name: str) -> str:
    """Remove every variant of one product from the cart."""
    removed = 0
    if cart_id is not None:
        of_product = select(variants.c.id).where(variants.c.product_id == product_id)
        removed = conn.execute(
            delete(cart_lines).where(cart_lines.c.cart_id == cart_id, cart_lines.c.variant_id.in_(of_product))
        ).rowcount
    if not removed:
        return Said(f"{product_name} was not in your cart.", "info")
    return f"Removed {product_name} from your cart."


def park(conn: Connection, cart_id: int | None, now: int) -> tuple[int, int] | None:
    """Empty the cart by moving its lines to a new cart of no one's, which "Put them back" merges
    back (merge() below: summed, clamped, reported): that cart's (id, created_at), or None when
    there was nothing to move. A parked cart nobody takes back is a guest cart like any other, and
    purge_carts() deletes it in time."""
    if cart_id is None:
        return None
    parked = int(conn.execute(insert(carts).values(created_at=now).returning(carts.c.id)).scalar_one())
    moved = conn.execute(update(cart_lines).where(cart_lines.c.cart_id == cart_id).values(cart_id=parked)).rowcount
    if not moved:
        conn.execute(delete(carts).where(carts.c.id == parked))
        return None
    return parked, now


def parked_cart(conn: Connection, parked: tuple[int, int]) -> int | None:
    """The parked cart's id if it is still the one park() made: no one's, created then."""
    cart_id, created_at = parked
    found = conn.execute(
        select(carts.c.id).where(carts.c.id == cart_id, carts.c.created_at == created_at, carts.c.user_id.is_(None))
    ).scalar()
    return int(found) if found is not None else None


def cart_exists(conn: Connection, cart_id: int) -> bool:
    return conn.execute(select(carts.c.id).where(carts.c.id == cart_id)).first() is not None


@dataclass
class MergeReport:
    """What a login did with the guest cart, for the shopper to read."""

    added: int = 0
    lines: int = 0
    notes: list[str] = field(default_factory=list)
    failed: bool = False

    @property
    def message(self) -> str | None:
        if self.failed:
            return (
                "We could not move your guest cart into your account just now. It is kept: log in again later to retry."
            )
        if not self.lines:
            return None
        added = (
            "1 item from your guest cart was" if self.added == 1 else f"{self.added} items from your guest cart were"
        )
        return " ".join([f"{added} added to your cart.", *self.notes])


def merge(conn: Connection, guest_cart_id: int, user_cart_id: int, max_quantity: int, now: int) -> MergeReport:
    """Move the guest cart's lines into the user's cart in three statements, whatever its size.

    Quantities are summed per variant and clamped to stock and the per-line maximum; lines that
    fall to zero are dropped; the guest cart is deleted. Run inside the login's write transaction.
    """
    mine = cart_lines.alias("mine")
    guest = cart_lines.alias("guest")
    rows = conn.execute(
        select(
            guest.c.variant_id,
            guest.c.quantity,
            variants.c.stock,
            variants.c.label,
            products.c.name,
            products.c.active,
            mine.c.quantity.label("existing"),
        )
        .select_from(
            guest.join(variants, variants.c.id == guest.c.variant_id)
            .join(products)
            .outerjoin(mine, (mine.c.variant_id == guest.c.variant_id) & (mine.c.cart_id == user_cart_id))
        )
        .where(guest.c.cart_id == guest_cart_id)
        .order_by(guest.c.id)
    ).all()
    report = MergeReport()
    for row in rows:
        title = _title(row.name, row.label)
        existing = row.existing or 0
        allowed = min(row.stock, max_quantity) if row.active else 0
        final = min(existing + row.quantity, allowed) if allowed else existing
        added = max(final - existing, 0)
        report.lines += 1
        report.added += added
        if allowed == 0:
            report.notes.append(f"{title} is sold out and was not added.")
        elif added < row.quantity and final == row.stock:
            report.notes.append(f"{title}: only {row.stock} left, quantity reduced.")
        elif added < row.quantity:
            report.notes.append(f"{title}: at most {max_quantity} per item, quantity reduced.")
    insert = dialect_insert(conn.dialect.name)(cart_lines).from_select(
        ["cart_id", "variant_id", "quantity", "updated_at", "added_price_cents"],
        select(
            literal(user_cart_id),
            variants.c.id,
            least(guest.c.quantity, variants.c.stock, max_quantity),
            literal(now),
            guest.c.added_price_cents,
        )
        .select_from(guest.join(variants, variants.c.id == guest.c.variant_id).join(products))
        .where(guest.c.cart_id == guest_cart_id, variants.c.stock > 0, products.c.active),
    )
    conn.execute(add_to_line(insert, max_quantity, now))
    conn.execute(delete(carts).where(carts.c.id == guest_cart_id, carts.c.user_id.is_(None)))
    return report


DAY = 24 * 3600


def purge_carts(conn: Connection, now: int, guest_days: int) -> tuple[int, int]:
    """Delete guest carts untouched for `guest_days` and empty carts older than a day, but never
    the newest cart.

    Returns (guest carts, empty carts). Each is one statement, safe while the shop serves: a cart
    being written to has a fresh line, and an owner whose cart went is given a new one on the next
    add. The newest stays because SQLite gives a new row the highest id there is plus one: had it
    gone, the next cart would get its id, and a session still naming that id (an empty cart's
    shopper) would be handed another shopper's cart. Ids below the highest are never given again.
    """
    newest = select(func.max(carts.c.id)).scalar_subquery()
    cutoff = now - guest_days * DAY
    recent_line = exists(
        select(cart_lines.c.id).where(cart_lines.c.cart_id == carts.c.id, cart_lines.c.updated_at >= cutoff)
    )
    guests = conn.execute(
        delete(carts).where(carts.c.user_id.is_(None), carts.c.created_at < cutoff, ~recent_line, carts.c.id < newest)
    ).rowcount
    any_line = exists(select(cart_lines.c.id).where(cart_lines.c.cart_id == carts.c.id))
    empty = conn.execute(delete(carts).where(carts.c.created_at < now - DAY, ~any_line, carts.c.id < newest)).rowcount
    return int(guests or 0), int(empty or 0)
