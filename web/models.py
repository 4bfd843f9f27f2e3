"""The whole schema and its invariants. Every change here goes with an Alembic migration."""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A moment as Unix seconds: 64-bit on PostgreSQL (its INTEGER ends in January 2038); SQLite's
# INTEGER is 64-bit already.
Seconds = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # False: left out of the category menu, "All products" and search (the demo's "Test" category);
    # its own page still lists its products.
    listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"), index=True)
    image: Mapped[str] = mapped_column(String(200))
    # A photo staff uploaded: the content hash its sizes are stored under in var/media/ (None: the
    # demo illustration in `image` is shown).
    photo: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (CheckConstraint("slug = lower(slug)", name="slug_lowercase"),)


class Variant(Base):
    """What a shopper buys: stock and price live here; a product without options has one variant."""

    __tablename__ = "variants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(80), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    price_cents: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Raised by every staff edit of price or stock, so a save made from an older reading is refused
    # (compare-and-set) instead of overwriting someone else's change.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
    )


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[int] = mapped_column(Seconds)
    # Where the user last said to deliver to ("Deliver to"), remembered across devices.
    delivery_country: Mapped[str | None] = mapped_column(String(2))
    delivery_postcode: Mapped[str | None] = mapped_column(String(10))
    # Staff may enter the back office: web/guards.py is the one place that checks it.
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When its owner followed the link mailed at registration (or reset the password): until then
    # the account cannot log in. None: not yet.
    confirmed_at: Mapped[int | None] = mapped_column(Seconds)
    # The last time it logged in (None: never, so its first login says "Welcome", not "Welcome back").
    last_login_at: Mapped[int | None] = mapped_column(Seconds)
    __table_args__ = (CheckConstraint("email = lower(trim(email))", name="email_normalised"),)


class AccountToken(Base):
    """A one-time link mailed to an account's address: to confirm it, or to choose a new password.
    Only the SHA-256 of the token is kept, so the table gives nobody a usable link."""

    __tablename__ = "account_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(Seconds)
    expires_at: Mapped[int] = mapped_column(Seconds)
    used_at: Mapped[int | None] = mapped_column(Seconds)
    # A confirmation link's password: the one its registration chose, which using the link sets
    # (after its page asked for it), so no later registration can change what a link confirms.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    __table_args__ = (CheckConstraint("purpose IN ('confirm', 'reset')", name="purpose_known"),)


class ShippingZone(Base):
    """A set of countries delivered to alike: the same methods, prices and free-delivery threshold."""

    __tablename__ = "shipping_zones"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # Orders whose lines come to at least this much are delivered free (no threshold: never).
    free_over_cents: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (CheckConstraint("free_over_cents IS NULL OR free_over_cents >= 0", name="free_over_positive"),)


class ZoneCountry(Base):
    """A country the shop delivers to, in exactly one zone; a country with no row is not served."""

    __tablename__ = "zone_countries"
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("shipping_zones.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    __table_args__ = (CheckConstraint("country = upper(country) AND length(country) = 2", name="country_code"),)


class DeliveryMethod(Base):
    __tablename__ = "delivery_methods"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("shipping_zones.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(Integer)
    # Lead time in working days after the order is placed.
    days_min: Mapped[int] = mapped_column(Integer)
    days_max: Mapped[int] = mapped_column(Integer)
    # Pickup is never free-delivery's "cheapest method" and costs nothing to begin with.
    pickup: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        UniqueConstraint("zone_id", "code", name="uq_delivery_methods_zone_code"),
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("days_min >= 0 AND days_max >= days_min", name="lead_time_range"),
    )


class ProductZone(Base):
    """Where a product may be delivered. A product with no rows here goes everywhere the shop
    delivers; one with rows goes only to those zones (the demo's chef's knife stays in Germany)."""

    __tablename__ = "product_zones"
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("shipping_zones.id", ondelete="CASCADE"), primary_key=True)


class Cart(Base):
    """One open cart per owner: a guest's is referenced from the session, a user's by user_id."""

    __tablename__ = "carts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[int] = mapped_column(Seconds)


class CartLine(Base):
    __tablename__ = "cart_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[int] = mapped_column(Seconds)
    # The variant's price when the line was first added, so checkout can say when it has changed since.
    added_price_cents: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id", name="uq_cart_lines_cart_variant"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )


class Address(Base):
    """A user's address book: saved at checkout, offered at the next one."""

    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    line1: Mapped[str] = mapped_column(String(100))
    line2: Mapped[str] = mapped_column(String(100), default="")
    city: Mapped[str] = mapped_column(String(60))
    postcode: Mapped[str] = mapped_column(String(10))
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[int] = mapped_column(Seconds)


ORDER_STATUSES = ("placed", "packed", "shipped", "delivered", "cancelled")
PAYMENT_STATUSES = ("pending", "paid", "void")


class Order(Base):
    """A placed order: what was bought at what price, where it goes, and where it stands.

    Fulfilment (`status`) and payment (`payment_status`, with `payment_method`) are kept apart, so a
    payment step can be added without touching old orders: "pay on delivery" orders stay pending
    until paid. Everything shown later is a snapshot taken at placement."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    # The checkout's idempotency key, hashed with whose checkout it was: a replay finds this order.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(100))
    line1: Mapped[str] = mapped_column(String(100))
    line2: Mapped[str] = mapped_column(String(100), default="")
    city: Mapped[str] = mapped_column(String(60))
    postcode: Mapped[str] = mapped_column(String(10))
    country: Mapped[str] = mapped_column(String(2))
    delivery_method: Mapped[str] = mapped_column(String(20))
    delivery_name: Mapped[str] = mapped_column(String(100))
    days_min: Mapped[int] = mapped_column(Integer)
    days_max: Mapped[int] = mapped_column(Integer)
    expected_by: Mapped[str] = mapped_column(String(10))  # ISO date, the last day of the lead time
    subtotal_cents: Mapped[int] = mapped_column(Integer)
    delivery_cents: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    payment_method: Mapped[str] = mapped_column(String(30))
    payment_status: Mapped[str] = mapped_column(String(20))
    placed_at: Mapped[int] = mapped_column(Seconds, index=True)
    updated_at: Mapped[int] = mapped_column(Seconds)
    # The last message of the thread each side has seen (0: none), for "unread" counts and marks.
    staff_read_message_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shopper_read_message_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    __table_args__ = (
        CheckConstraint(f"status IN {ORDER_STATUSES}", name="status_known"),
        CheckConstraint(f"payment_status IN {PAYMENT_STATUSES}", name="payment_status_known"),
        CheckConstraint("subtotal_cents >= 0 AND delivery_cents >= 0", name="amounts_not_negative"),
        CheckConstraint("total_cents = subtotal_cents + delivery_cents", name="total_adds_up"),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id", ondelete="SET NULL"))
    product_slug: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(330))
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total_cents: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="price_not_negative"),
        CheckConstraint("line_total_cents = unit_price_cents * quantity", name="line_total_adds_up"),
    )


class OrderEvent(Base):
    """An order's history, one row per status change: who, when, from, to. Ids only grow, so a live
    stream can say which it has sent and a reconnecting one be given what it missed."""

    __tablename__ = "order_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(20))  # "shopper", "staff" or "system"
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[int] = mapped_column(Seconds)


class OrderMessage(Base):
    """One message of an order's thread between its shopper and the staff. Ids only grow, like
    order_events', so a live stream can say which it has sent."""

    __tablename__ = "order_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(10))  # "shopper" or "staff"
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str] = mapped_column(String(100), default="")  # a staff member's display name then
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[int] = mapped_column(Seconds)
    __table_args__ = (
        CheckConstraint("author IN ('shopper', 'staff')", name="author_known"),
        Index("ix_order_messages_order_id_id", "order_id", "id"),
    )


class OutboxMessage(Base):
    """Mail written in the transaction that makes it true, sent after commit by web/mail.py.

    `dedupe_key` makes a message exist once (one confirmation per order), and a sender claims a row
    with `claimed_until` before sending, so two senders never send the same message at once."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(100), unique=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")  # an HTML alternative, "" for none
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(Seconds)
    claimed_until: Mapped[int | None] = mapped_column(Seconds)
    created_at: Mapped[int] = mapped_column(Seconds)
    sent_at: Mapped[int | None] = mapped_column(Seconds)
    last_error: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )


class AuditEntry(Base):
    """What staff changed: who, when, what, before and after, written in the change's own transaction."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(Seconds, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_email: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))  # "order.status", "order.cancel", ...
    subject: Mapped[str] = mapped_column(String(40), index=True)  # "order:<number>", "variant:<id>"
    before: Mapped[str] = mapped_column(Text)  # JSON
    after: Mapped[str] = mapped_column(Text)  # JSON


class Session(Base):
    """Server-side session data. The key is a SHA-256 of the cookie value: the raw ID is never stored."""

    __tablename__ = "sessions"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(Seconds)
    expires_at: Mapped[int] = mapped_column(Seconds)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    __table_args__ = (Index("ix_sessions_expires_at", "expires_at"),)


class Throttle(Base):
    """Counters with a window, e.g. failed logins per account and per client address."""

    __tablename__ = "throttles"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(Seconds, index=True)


users = cast(Table, User.__table__)
account_tokens = cast(Table, AccountToken.__table__)
throttles = cast(Table, Throttle.__table__)
categories = cast(Table, Category.__table__)
products = cast(Table, Product.__table__)
variants = cast(Table, Variant.__table__)
carts = cast(Table, Cart.__table__)
cart_lines = cast(Table, CartLine.__table__)
shipping_zones = cast(Table, ShippingZone.__table__)
zone_countries = cast(Table, ZoneCountry.__table__)
delivery_methods = cast(Table, DeliveryMethod.__table__)
product_zones = cast(Table, ProductZone.__table__)
addresses = cast(Table, Address.__table__)
orders = cast(Table, Order.__table__)
order_lines = cast(Table, OrderLine.__table__)
order_events = cast(Table, OrderEvent.__table__)
order_messages = cast(Table, OrderMessage.__table__)
outbox = cast(Table, OutboxMessage.__table__)
audit = cast(Table, AuditEntry.__table__)
sessions = cast(Table, Session.__table__)
