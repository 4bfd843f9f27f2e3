"""The owner resolver: the one place that decides whose cart a request touches.

Who a session belongs to (its user, its cart, a guest cart whose merge failed) is kept under a few
session keys, and this module is the only code that reads or writes them: every cart read and
write, HTML or JSON, starts from resolve_owner(). A test fails when another module reads them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from web.sessions import Session
from web.unit import Visit

USER_ID = "user_id"
CART_ID = "cart_id"
# A guest cart whose merge into the user's failed at login: kept for the next login, and for the
# guest again after logout.
UNMERGED_CART_ID = "unmerged_cart_id"
USER_EMAIL = "user_email"
USER_NAME = "user_name"
# A guest's own random token: scopes a guest's checkout keys (the session id rotates, this does not).
GUEST_TOKEN = "guest_token"
# The lines "Empty the cart" set aside, for "Put them back": [cart id, its created_at] (a cart id
# alone could name another cart by then, SQLite reusing the id of a purged one). Dropped at login.
EMPTIED_CART = "emptied_cart"
# The numbers of the orders this session placed or found by number and email: a guest's way back to them.
ORDERS = "orders"
ORDERS_KEPT = 20


@dataclass(frozen=True)
class Owner:
    kind: Literal["guest", "user"]
    cart_id: int | None
    user_id: int | None = None


@dataclass(frozen=True)
class SignedIn:
    """The logged-in user as the session remembers them, for the header and the account links."""

    id: int
    email: str
    name: str


def resolve_owner(v: Visit) -> Owner:
    """The logged-in user if any, else the guest session.

    Both keep their cart's id in the session (a user's is set at login from carts.user_id), so
    resolving costs no query; the user's cart is found again by user_id if it ever goes missing.
    """
    cart_id = v.session.get(CART_ID)
    user_id = v.session.get(USER_ID)
    cart_id = int(cart_id) if cart_id is not None else None
    if user_id is not None:
        return Owner("user", cart_id, int(user_id))
    return Owner("guest", cart_id)


def signed_in(session: Session) -> SignedIn | None:
    user_id = session.get(USER_ID)
    if user_id is None:
        return None
    return SignedIn(int(user_id), session.get(USER_EMAIL, ""), session.get(USER_NAME, ""))


def own_cart(v: Visit, cart_id: int | None) -> None:
    """This session's cart is now `cart_id` (None: it has none, e.g. it was purged)."""
    if cart_id is None:
        v.session.pop(CART_ID)
    else:
        v.session.set(CART_ID, cart_id)


def unmerged_cart(v: Visit) -> int | None:
    """The guest cart a login should merge: the session's own while a guest, else one a login failed to merge."""
    owner = resolve_owner(v)
    found = owner.cart_id if owner.kind == "guest" else v.session.get(UNMERGED_CART_ID)
    return int(found) if found is not None else None


def keep_unmerged(v: Visit, cart_id: int | None) -> None:
    if cart_id is None:
        v.session.pop(UNMERGED_CART_ID)
    else:
        v.session.set(UNMERGED_CART_ID, cart_id)


def keep_emptied(v: Visit, parked: tuple[int, int] | None) -> None:
    """The cart (id, created_at) holding what "Empty the cart" set aside, or None: nothing to put back."""
    if parked is None:
        v.session.pop(EMPTIED_CART)
    else:
        v.session.set(EMPTIED_CART, list(parked))


def emptied(v: Visit) -> tuple[int, int] | None:
    found = v.session.get(EMPTIED_CART)
    return (int(found[0]), int(found[1])) if isinstance(found, list) and len(found) == 2 else None


def log_in(v: Visit, user: SignedIn, cart_id: int) -> None:
    """The session belongs to `user` from now on, with their cart; a new ID (and with it a new CSRF
    token) seals it.
    What an earlier "Empty the cart" set aside is not offered to them (another account's, maybe)."""
    v.session.pop(EMPTIED_CART)
    v.session.set(USER_ID, user.id)
    v.session.set(USER_EMAIL, user.email)
    v.session.set(USER_NAME, user.name)
    v.session.set(CART_ID, cart_id)
    v.session.rotate()


def log_out(v: Visit) -> None:
    """The stored session is deleted and a fresh guest session takes its place.

    It starts empty, except for a guest cart whose merge failed at login: that stays the guest's,
    to be merged at the next login.
    """
    unmerged = v.session.get(UNMERGED_CART_ID)
    v.session.reset()
    v.session.rotate()
    if unmerged is not None:
        v.session.set(CART_ID, unmerged)


def guest_token(v: Visit) -> str:
    token = v.session.get(GUEST_TOKEN)
    if not token:
        token = secrets.token_urlsafe(16)
        v.session.set(GUEST_TOKEN, token)
    return str(token)


def remember_order(v: Visit, number: str) -> None:
    """This session may see the order from now on (the newest few are kept)."""
    known = [n for n in v.session.get(ORDERS, []) if n != number]
    v.session.set(ORDERS, [number, *known][:ORDERS_KEPT])


def knows_order(v: Visit, number: str) -> bool:
    return number in v.session.get(ORDERS, [])
