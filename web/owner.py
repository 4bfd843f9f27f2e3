"""The owner resolver: the one place that decides whose cart a request touches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import insert

from web.cart import service as cart
from web.models import carts
from web.visit import Visit


@dataclass(frozen=True)
class Owner:
    kind: Literal["guest", "user"]
    cart_id: int | None
    user_id: int | None = None


def resolve_owner(v: Visit) -> Owner:
    """The guest session owns the cart. (Accounts make this the logged-in user first.)"""
    cart_id = v.session.get("cart_id")
    return Owner("guest", int(cart_id) if cart_id is not None else None)


def cart_for_writing(v: Visit, owner: Owner) -> int:
    """The owner's cart id, creating the cart on the first add. Call inside a write transaction."""
    if owner.cart_id is not None:
        return owner.cart_id
    cart_id = v.conn.execute(insert(carts).values(created_at=v.now).returning(carts.c.id)).scalar_one()
    v.session.set("cart_id", cart_id)
    return int(cart_id)


def add_to_cart(v: Visit, variant_id: int, quantity: int, product_slug: str | None = None) -> cart.AddResult:
    """Add to the owner's cart; a guest cart purged under a live session is replaced by a new one."""
    try:
        return cart.add(
            v.conn,
            cart_for_writing(v, resolve_owner(v)),
            variant_id,
            quantity,
            v.settings.max_line_quantity,
            v.now,
            product_slug,
        )
    except cart.CartMissing:
        v.session.pop("cart_id")
        return cart.add(
            v.conn,
            cart_for_writing(v, resolve_owner(v)),
            variant_id,
            quantity,
            v.settings.max_line_quantity,
            v.now,
            product_slug,
        )
