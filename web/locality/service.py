"""Deliver to: where the shopper wants things delivered, and what that means. No HTTP here.

The choice (country and postcode) is server-side state like the cart: in the session, and for a
user also on the account, so it follows them to another device. It decides the shipping zone, and
the zone decides the delivery methods, their prices and lead times, and which products can go
there (a product with rows in product_zones goes only to those zones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection, Integer, bindparam, select, update

from web import owner, text
from web.db import Prepared
from web.locality.rules import Destination, deliverable_to
from web.models import delivery_methods, products, shipping_zones, users, zone_countries
from web.problems import InvalidInput, Problem
from web.sessions import Session
from web.unit import Visit

SESSION_KEY = "deliver_to"
COUNTRY = re.compile(r"[A-Z]{2}")
# Postcode formats of the countries served that have a fixed one; any other country served takes
# 2-10 letters, digits, spaces or hyphens.
POSTCODES = {
    "DE": (re.compile(r"[0-9]{5}"), "five digits, such as 10115"),
    "FR": (re.compile(r"[0-9]{5}"), "five digits, such as 75001"),
    "IT": (re.compile(r"[0-9]{5}"), "five digits, such as 00184"),
    "ES": (re.compile(r"[0-9]{5}"), "five digits, such as 28013"),
    "AT": (re.compile(r"[0-9]{4}"), "four digits, such as 1010"),
    "BE": (re.compile(r"[0-9]{4}"), "four digits, such as 1000"),
    "CH": (re.compile(r"[0-9]{4}"), "four digits, such as 8001"),
    "NL": (re.compile(r"[0-9]{4} ?[A-Z]{2}"), "four digits and two letters, such as 1012 AB"),
}
ANY_POSTCODE = re.compile(r"[A-Z0-9][A-Z0-9 -]{0,8}[A-Z0-9]")


class NotServed(Problem):
    status = 422
    code = "NOT_SERVED"


@dataclass(frozen=True)
class Method:
    id: int
    code: str
    name: str
    price: int
    days_min: int
    days_max: int
    pickup: bool

    @property
    def days(self) -> str:
        """The lead time as the shopper reads it: "1-2 working days", "1 working day", "today or tomorrow"."""
        if self.days_max == 0:
            return "today"
        if self.days_min == 0:
            return f"within {self.days_max} working day{'s' if self.days_max > 1 else ''}"
        span = f"{self.days_min}" if self.days_min == self.days_max else f"{self.days_min}-{self.days_max}"
        return f"{span} working day{'s' if self.days_max > 1 else ''}"

    def price_for(self, subtotal: int, free_over: int | None) -> int:
        """What this method costs for lines coming to `subtotal`: nothing at or over the zone's threshold."""
        return 0 if free_over is not None and subtotal >= free_over else self.price


@dataclass(frozen=True)
class Zone:
    id: int
    code: str
    name: str
    free_over: int | None
    methods: tuple[Method, ...]

    @property
    def cheapest_shipped(self) -> Method | None:
        """The cheapest method that brings the parcel (pickup aside), for "from €4.90"."""
        shipped = [method for method in self.methods if not method.pickup]
        return min(shipped, key=lambda method: (method.price, method.days_max), default=None)

    def method(self, code: str) -> Method | None:
        return next((method for method in self.methods if method.code == code), None)

    def offers(self, subtotal: int, placed: date) -> list[tuple[Method, int, date]]:
        """Each method with its price for a cart of `subtotal` and its expected date if placed
        `placed`: checkout's delivery step."""
        return [
            (method, method.price_for(subtotal, self.free_over), expected_date(placed, method.days_max))
            for method in self.methods
        ]


@dataclass(frozen=True)
class Place:
    """Where to deliver, as the shopper chose it; `zone_id` is that country's zone when it was chosen."""

    country: str
    postcode: str
    zone_id: int

    @property
    def label(self) -> str:
        return f"{self.country} {self.postcode}"

    @property
    def destination(self) -> Destination:
        return Destination(self.country, self.zone_id)


@dataclass(frozen=True)
class ProductDelivery:
    """What "Deliver to" means for one product: whether it can go there, and the cheapest way."""

    place: Place | None
    deliverable: bool
    method: Method | None
    free_over: int | None


def for_product(conn: Connection, product_id: int, place: Place | None) -> ProductDelivery:
    if place is None:
        return ProductDelivery(None, True, None, None)
    allowed = conn.execute(
        select(deliverable_to(bindparam("zone_id", type_=Integer))).where(products.c.id == product_id),
        {"zone_id": place.zone_id},
    ).scalar()
    found = zone(conn, place.zone_id)
    if found is None:  # the zone went since the choice was made: nothing can be promised
        return ProductDelivery(place, False, None, None)
    return ProductDelivery(place, bool(allowed), found.cheapest_shipped, found.free_over)


def check_country(raw: str | None) -> str:
    country = text.check(raw or "", "country", "country").strip().upper()
    if not COUNTRY.fullmatch(country):
        raise InvalidInput("Choose a country (its two-letter code, such as DE).", field="country")
    return country


def check_postcode(country: str, raw: str | None) -> str:
    """The postcode in its usual form (upper case, single spaces), or a field message saying what is expected."""
    postcode = " ".join(text.check(raw or "", "postcode", "postcode").upper().split())
    if not postcode:
        raise InvalidInput("Please give the postcode.", field="postcode")
    expected = POSTCODES.get(country)
    if expected is not None:
        pattern, example = expected
        if not pattern.fullmatch(postcode):
            raise InvalidInput(f"A postcode in {country} is {example}.", field="postcode")
        return postcode
    if not ANY_POSTCODE.fullmatch(postcode):
        raise InvalidInput("A postcode is 2 to 10 letters, digits, spaces or hyphens.", field="postcode")
    return postcode


ZONE = Prepared(
    select(
        shipping_zones.c.code.label("zone_code"),
        shipping_zones.c.name.label("zone_name"),
        shipping_zones.c.free_over_cents,
        delivery_methods.c.id,
        delivery_methods.c.code,
        delivery_methods.c.name,
        delivery_methods.c.price_cents,
        delivery_methods.c.days_min,
        delivery_methods.c.days_max,
        delivery_methods.c.pickup,
    )
    .select_from(shipping_zones.outerjoin(delivery_methods))
    .where(shipping_zones.c.id == bindparam("zone_id"))
    .order_by(delivery_methods.c.position, delivery_methods.c.id)
)


def zone(conn: Connection, zone_id: int) -> Zone | None:
    """A zone with its methods, cheapest first."""
    rows = ZONE.all(conn, zone_id=zone_id)
    if not rows:
        return None
    methods = tuple(
        Method(r.id, r.code, r.name, r.price_cents, r.days_min, r.days_max, bool(r.pickup))
        for r in rows
        if r.id is not None
    )
    return Zone(zone_id, rows[0].zone_code, rows[0].zone_name, rows[0].free_over_cents, methods)


def countries(conn: Connection) -> tuple[tuple[str, str], ...]:
    """Every country the shop delivers to, as (code, name), by name."""
    rows = conn.execute(select(zone_countries.c.country, zone_countries.c.name).order_by(zone_countries.c.name))
    return tuple((row.country, row.name) for row in rows)


def choose(conn: Connection, raw_country: str | None, raw_postcode: str | None) -> Place:
    """Check a choice of where to deliver: a served country and a postcode of its form."""
    country = check_country(raw_country)
    zone_id = conn.execute(select(zone_countries.c.zone_id).where(zone_countries.c.country == country)).scalar()
    if zone_id is None:
        raise NotServed(f"Sorry, we do not deliver to {country}.", field="country")
    return Place(country, check_postcode(country, raw_postcode), int(zone_id))


def chosen(session: Session) -> Place | None:
    stored = session.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return None
    return Place(stored["country"], stored["postcode"], int(stored["zone_id"]))


def destination(session: Session) -> Destination | None:
    place = chosen(session)
    return place.destination if place is not None else None


def remember(v: Visit, place: Place) -> None:
    """Deliver to `place` from now on: in the session, and on the account of a logged-in user."""
    keep(v.session, place)
    user_id = owner.resolve_owner(v).user_id
    if user_id is not None:
        with v.writing():
            save_on_account(v.conn, user_id, place)


def keep(session: Session, place: Place) -> None:
    session.set(SESSION_KEY, {"country": place.country, "postcode": place.postcode, "zone_id": place.zone_id})


def save_on_account(conn: Connection, user_id: int, place: Place) -> None:
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(delivery_country=place.country, delivery_postcode=place.postcode)
    )


def at_login(v: Visit, user_id: int, saved_country: str, saved_postcode: str) -> None:
    """A choice made in this session wins and is kept on the account; else the account's saved one
    is taken up, unless the shop no longer delivers there (then the shopper chooses again)."""
    place = chosen(v.session)
    if place is not None:
        if (place.country, place.postcode) != (saved_country, saved_postcode):
            save_on_account(v.conn, user_id, place)
        return
    if not saved_country:
        return
    try:
        keep(v.session, choose(v.conn, saved_country, saved_postcode))
    except Problem:
        return


def expected_date(placed: date, days: int) -> date:
    """The date `days` working days (Monday to Friday) after `placed`."""
    day = placed
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day
