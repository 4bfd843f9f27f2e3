"""The owner resolver: the one place that decides whose cart a request touches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import bindparam, insert, select

from web.cart import service as cart
from web.db import Prepared, dialect_insert
from web.models import carts
from web.visit import Visit

NEW_CART = Prepared(insert(carts).values(created_at=bindparam("now")).returning(carts.c.id))


@dataclass(frozen=True)
class Owner:
    kind: Literal["guest", "user"]
    cart_id: int | None
    user_id: int | None = None


def resolve_owner(v: Visit) -> Owner:
    """The logged-in user if any, else the guest session.

    Both keep their cart's id in the session (a user's is set at login from carts.user_id), so
    resolving costs no query; the user's cart is found again by user_id if it ever goes missing.
    """
    cart_id = v.session.get("cart_id")
    user_id = v.session.get("user_id")
    cart_id = int(cart_id) if cart_id is not None else None
    if user_id is not None:
        return Owner("user", cart_id, int(user_id))
    return Owner("guest", cart_id)


def user_cart(v: Visit, user_id: int) -> int:
    """The user's one open cart, created if missing; concurrent creations meet on UNIQUE(user_id)."""
    insert_ = dialect_insert(v.conn.dialect.name)(carts)
    v.conn.execute(insert_.values(user_id=user_id, created_at=v.now).on_conflict_do_nothing(index_elements=["user_id"]))
    return int(v.conn.execute(select(carts.c.id).where(carts.c.user_id == user_id)).scalar_one())


def cart_for_writing(v: Visit, owner: Owner) -> int:
    """The owner's cart id, creating the cart on the first add. Call inside a write transaction."""
    if owner.cart_id is not None:
        return owner.cart_id
    cart_id = user_cart(v, owner.user_id) if owner.user_id is not None else NEW_CART.scalar(v.conn, now=v.now)
    v.session.set("cart_id", cart_id)
    return int(cart_id)


def add_to_cart(v: Visit, variant_id: int, quantity: int, product_slug: str | None = None) -> cart.AddResult:
    """Add to the owner's cart; a cart that went missing under a live session is found or made again.

    The result carries the cart after the add, settled as load_cart() settles it."""
    limit = v.settings.max_line_quantity

    def add() -> tuple[int, cart.AddResult]:
        cart_id = cart_for_writing(v, resolve_owner(v))
        return cart_id, cart.add(v.conn, cart_id, variant_id, quantity, limit, v.now, product_slug)

    try:
        cart_id, result = add()
    except cart.CartMissing:
        v.session.pop("cart_id")
        cart_id, result = add()
    v.metrics.cart_adds.inc()
    if result.added < result.requested:
        v.metrics.cart_clamps.inc()
    settle(v, cart_id, result.stale)
    return result


def load_cart(v: Visit, owner: Owner | None = None) -> cart.CartView:
    """The owner's cart as it may be bought now; stale lines are clamped in the database too."""
    owner = owner or resolve_owner(v)
    view, stale = cart.read_cart(v.conn, owner.cart_id, v.settings.max_line_quantity)
    if owner.cart_id is not None:
        settle(v, owner.cart_id, stale)
    return view


def settle(v: Visit, cart_id: int, stale: bool) -> None:
    """Store what the shopper is shown: lines read above their stock or the per-line limit are clamped."""
    if stale:
        v.metrics.cart_clamps.inc()
        with v.writing():
            cart.clamp_cart(v.conn, cart_id, v.settings.max_line_quantity, v.now)
