"""The cart's use cases: add, edit, read and merge at login, for whoever owns the request. No HTTP here.

Each takes the request's unit of work, asks the owner resolver whose cart it is, runs the cart's
statements (web/cart/store.py) and keeps the session pointing at the right cart. The HTML routes,
the JSON API and the tests all call these, so every path treats a cart the same way.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, select

from web import faults, owner
from web.cart import store
from web.cart.store import AddResult, CartView, MergeReport, Said
from web.catalog import service as catalog
from web.db import Prepared, dialect_insert
from web.locality import service as locality
from web.models import carts
from web.problems import CartMissing
from web.unit import Visit

NEW_CART = Prepared(insert(carts).values(created_at=bindparam("now")).returning(carts.c.id))


def user_cart(v: Visit, user_id: int) -> int:
    """The user's one open cart, created if missing; concurrent creations meet on UNIQUE(user_id)."""
    insert_ = dialect_insert(v.conn.dialect.name)(carts)
    v.conn.execute(insert_.values(user_id=user_id, created_at=v.now).on_conflict_do_nothing(index_elements=["user_id"]))
    return int(v.conn.execute(select(carts.c.id).where(carts.c.user_id == user_id)).scalar_one())


def cart_for_writing(v: Visit, who: owner.Owner) -> int:
    """The owner's cart id, creating the cart on the first add. Call inside a write transaction."""
    if who.cart_id is not None:
        return who.cart_id
    cart_id = int(user_cart(v, who.user_id) if who.user_id is not None else NEW_CART.scalar(v.conn, now=v.now))
    owner.own_cart(v, cart_id)
    return cart_id


def add_to_cart(v: Visit, variant_id: int, quantity: int, product_slug: str | None = None) -> AddResult:
    """Add to the owner's cart; a cart that went missing under a live session is found or made again.

    The result carries the cart after the add, settled as load_cart() settles it."""
    limit = v.settings.max_line_quantity

    def add() -> tuple[int, AddResult]:
        cart_id = cart_for_writing(v, owner.resolve_owner(v))
        where = locality.destination(v.session)
        return cart_id, store.add(v.conn, cart_id, variant_id, quantity, limit, v.now, product_slug, where)

    try:
        cart_id, result = add()
    except CartMissing:
        owner.own_cart(v, None)
        cart_id, result = add()
    v.metrics.cart_adds.inc()
    if result.added < result.requested:
        v.metrics.cart_clamps.inc()
    settle(v, cart_id, result.stale)
    return result


def load_cart(v: Visit, who: owner.Owner | None = None) -> CartView:
    """The owner's cart as it may be bought now; stale lines are clamped in the database too."""
    who = who or owner.resolve_owner(v)
    view, stale = store.read_cart(v.conn, who.cart_id, v.settings.max_line_quantity, locality.destination(v.session))
    if who.cart_id is not None:
        settle(v, who.cart_id, stale)
    return view


def settle(v: Visit, cart_id: int, stale: bool) -> None:
    """Store what the shopper is shown: lines read above their stock or the per-line limit are clamped."""
    if stale:
        v.metrics.cart_clamps.inc()
        with v.writing():
            store.clamp_cart(v.conn, cart_id, v.settings.max_line_quantity, v.now)


def set_quantity(v: Visit, line_id: int, quantity: int) -> str:
    """Set one of the owner's lines to `quantity` (0 removes it), clamped; what happened, in words."""
    cart_id = owner.resolve_owner(v).cart_id
    return store.set_quantity(v.conn, cart_id, line_id, quantity, v.settings.max_line_quantity, v.now)


def remove_line(v: Visit, line_id: int) -> str:
    return store.remove_line(v.conn, owner.resolve_owner(v).cart_id, line_id)


def remove_product(v: Visit, product_slug: str) -> str:
    """Remove every option of a product from the owner's cart; an unknown product is a NotFound."""
    product_id, _variant, name = catalog.resolve_variant(v.conn, product_slug, None)
    return store.remove_product(v.conn, owner.resolve_owner(v).cart_id, product_id, name)


def empty(v: Visit) -> str:
    """Empty the owner's cart, keeping its lines aside so that the shopper can put them back."""
    parked = store.park(v.conn, owner.resolve_owner(v).cart_id, v.now)
    if parked is None:
        return Said("Your cart is already empty.", "info")
    earlier = owner.emptied(v)
    if earlier is not None and (earlier_id := store.parked_cart(v.conn, earlier)) is not None:
        v.conn.execute(delete(carts).where(carts.c.id == earlier_id))
    owner.keep_emptied(v, parked)
    return "Your cart is now empty. Changed your mind? Put them back below."


def can_put_back(v: Visit) -> bool:
    return owner.emptied(v) is not None


def put_back(v: Visit) -> str:
    """Merge the lines the last "Empty the cart" set aside into the owner's cart, summed and clamped
    to stock and the per-line limit as at login; what that did, in words."""
    kept = owner.emptied(v)
    if kept is None:
        return Said("There is nothing to put back.", "info")
    owner.keep_emptied(v, None)
    parked = store.parked_cart(v.conn, kept)
    if parked is None:
        return Said("Those items are no longer kept: there is nothing to put back.", "info")
    who = owner.resolve_owner(v)
    if who.cart_id is not None and not store.cart_exists(v.conn, who.cart_id):
        owner.own_cart(v, None)  # emptied, then purged as an empty cart meanwhile: a new one is made
        who = owner.resolve_owner(v)
    report = store.merge(v.conn, parked, cart_for_writing(v, who), v.settings.max_line_quantity, v.now)
    if not report.lines:
        return Said("Those items are no longer kept: there is nothing to put back.", "info")
    put = "1 item was" if report.added == 1 else f"{report.added} items were"
    return Said(" ".join([f"{put} put back in your cart.", *report.notes]), "warning" if report.notes else "success")


def merge_at_login(v: Visit, user_id: int) -> tuple[int, MergeReport]:
    """Move the guest cart into the user's; returns the user's cart and what the merge did.

    A failure is reported, never raised: the guest cart is kept, to be merged at the next login."""
    guest_cart_id = owner.unmerged_cart(v)
    target = user_cart(v, user_id)
    report = MergeReport()
    if guest_cart_id is not None and guest_cart_id != target:
        try:
            with v.conn.begin_nested():
                report = store.merge(v.conn, guest_cart_id, target, v.settings.max_line_quantity, v.now)
                faults.pause_point(v.settings, "merge")
            owner.keep_unmerged(v, None)
        except Exception:
            report = MergeReport(failed=True)
            owner.keep_unmerged(v, guest_cart_id)
    v.metrics.merges.labels("failed" if report.failed else "merged" if report.lines else "empty").inc()
    return target, report
