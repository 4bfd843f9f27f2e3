"""Checkout's steps: who and where (contact and address), how (delivery method), then review.
No HTTP here.

What the shopper has said so far is a draft in the server-side session, like the cart; nothing the
client sends about prices or totals is ever used. The delivery address decides the zone: an address
elsewhere than "Deliver to" becomes the new "Deliver to", and the cart is checked against it again.
Each checkout has an idempotency key, issued by this session and rendered into the review form;
placing with a key this session was never given is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from web import owner, text
from web.accounts.service import normalise_email
from web.locality import service as locality
from web.models import addresses
from web.orders.service import Address, Checkout
from web.problems import InvalidInput
from web.unit import Visit

DRAFT = "checkout"
KEYS = "checkout_keys"
KEYS_KEPT = 10
FIELDS = {
    "name": ("name", 100),
    "line1": ("address", 100),
    "line2": ("second address line", 100),
    "city": ("town or city", 60),
}
ADDRESS_BOOK_LIMIT = 20


class UnknownCheckoutKey(InvalidInput):
    """A review form whose key this session never issued: tampered with, or from another session."""


def clean(raw: str | None, name: str, *, required: bool = True) -> str:
    """One line of text as typed, trimmed: refused when missing (if required), too long, or holding
    control characters; markup is kept as text and escaped wherever it is shown."""
    label, limit = FIELDS[name]
    if not text.plain(raw or ""):
        raise InvalidInput(f"The {label} contains characters that cannot be printed on a parcel.", field=name)
    line = (raw or "").strip()
    if not line:
        if required:
            raise InvalidInput(f"Please give the {label}.", field=name)
        return ""
    if len(line) > limit:
        raise InvalidInput(f"The {label} can be at most {limit} characters.", field=name)
    return line


def check_contact(conn: Connection, values: dict[str, str]) -> tuple[str, Address, locality.Place]:
    """Email and delivery address from the form, each checked; the place they decide."""
    email = normalise_email(values.get("email"))
    name = clean(values.get("name"), "name")
    line1 = clean(values.get("line1"), "line1")
    line2 = clean(values.get("line2"), "line2", required=False)
    city = clean(values.get("city"), "city")
    place = locality.choose(conn, values.get("country"), values.get("postcode"))
    return email, Address(name, line1, line2, city, place.postcode, place.country), place


@dataclass(frozen=True)
class Draft:
    email: str = ""
    address: Address | None = None
    method: str = ""

    @property
    def checkout(self) -> Checkout | None:
        if not self.email or self.address is None or not self.method:
            return None
        return Checkout(self.email, self.address, self.method)


def draft(v: Visit) -> Draft:
    stored = v.session.get(DRAFT)
    if not isinstance(stored, dict):
        return Draft()
    address = Address(**stored["address"]) if stored.get("address") else None
    return Draft(stored.get("email", ""), address, stored.get("method", ""))


def keep(v: Visit, draft_: Draft) -> None:
    address = draft_.address.__dict__ if draft_.address is not None else None
    v.session.set(DRAFT, {"email": draft_.email, "address": address, "method": draft_.method})


def save_contact(v: Visit, values: dict[str, str], *, to_address_book: bool) -> bool:
    """Keep the contact step; returns whether it changed where to deliver (the cart is then re-checked)."""
    email, address, place = check_contact(v.conn, values)
    before = locality.chosen(v.session)
    moved = before is None or (before.country, before.postcode) != (place.country, place.postcode)
    if moved:
        locality.remember(v, place)
    kept = draft(v)
    method = kept.method if not moved and kept.method else ""
    keep(v, Draft(email, address, method))
    user_id = owner.resolve_owner(v).user_id
    if to_address_book and user_id is not None and address not in saved_addresses(v.conn, user_id):
        with v.writing():
            v.conn.execute(insert(addresses).values(user_id=user_id, created_at=v.now, **address.__dict__))
    return moved


def choose_method(v: Visit, code: str | None) -> locality.Method:
    """Keep the delivery method, one of the zone's own; anything else is refused."""
    place = locality.chosen(v.session)
    zone = locality.zone(v.conn, place.zone_id) if place is not None else None
    method = zone.method(code or "") if zone is not None else None
    if method is None:
        raise InvalidInput("Choose one of the delivery methods shown.", field="method")
    kept = draft(v)
    keep(v, Draft(kept.email, kept.address, method.code))
    return method


def moved_away(v: Visit, draft_: Draft) -> locality.Place | None:
    """Where "Deliver to" is now, when the draft's address is elsewhere (it was changed in the header
    since): an order cannot go there until the address, or "Deliver to", is changed back."""
    place = locality.chosen(v.session)
    if place is None or draft_.address is None or draft_.address.is_in(place):
        return None
    return place


def saved_addresses(conn: Connection, user_id: int) -> list[Address]:
    rows = conn.execute(
        select(addresses)
        .where(addresses.c.user_id == user_id)
        .order_by(addresses.c.id.desc())
        .limit(ADDRESS_BOOK_LIMIT)
    ).all()
    return [Address(r.name, r.line1, r.line2, r.city, r.postcode, r.country) for r in rows]


def current_key(v: Visit) -> str:
    """This checkout's idempotency key: the same in every tab until an order is placed with it."""
    keys = list(v.session.get(KEYS, []))
    if not keys:
        keys = [secrets.token_urlsafe(18)]
        v.session.set(KEYS, keys)
    return str(keys[0])


def check_key(v: Visit, sent: str | None) -> str:
    """A key this session issued (the current one, or one already used, whose order a replay finds)."""
    if not sent or sent not in v.session.get(KEYS, []):
        raise UnknownCheckoutKey("This order form is out of date. Review your order again and place it from there.")
    return sent


def placed(v: Visit) -> None:
    """After an order: the next checkout gets a new key (this one still finds its order), and the
    delivery method is asked again; the contact details stay for next time."""
    keys = [secrets.token_urlsafe(18), *v.session.get(KEYS, [])][:KEYS_KEPT]
    v.session.set(KEYS, keys)
    kept = draft(v)
    keep(v, Draft(kept.email, kept.address, ""))


def prefill(v: Visit, account_email: str | None) -> dict[str, Any]:
    """The contact form's values: what this checkout has, else the account's email and "Deliver to"."""
    kept = draft(v)
    place = locality.chosen(v.session)
    values = {"email": kept.email or account_email or "", "name": "", "line1": "", "line2": "", "city": ""}
    values["country"] = place.country if place is not None else ""
    values["postcode"] = place.postcode if place is not None else ""
    if kept.address is not None:
        values.update(kept.address.__dict__)
    return values
