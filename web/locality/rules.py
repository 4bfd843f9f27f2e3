"""Which products can go where: the rule every cart read, add and product page applies in SQL.

Kept below the cart's statements (web/cart/store.py) and the catalogue, which both build it into
their queries, so that neither has to ask the locality service.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Integer, cast, exists, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from web.models import product_zones, products


class Destination(NamedTuple):
    """Where the cart is to go: a served country and its shipping zone."""

    country: str
    zone_id: int


def deliverable_to(zone_id: Any) -> ColumnElement[bool]:
    """Whether the row's product (`products` is in the query) may go to the zone `zone_id` (a bound
    parameter): it has no zone limits, or the zone is among them. No zone yet (NULL): it may."""
    zone = cast(zone_id, Integer)
    limited = exists(select(product_zones.c.zone_id).where(product_zones.c.product_id == products.c.id))
    allowed = exists(
        select(product_zones.c.zone_id).where(
            product_zones.c.product_id == products.c.id, product_zones.c.zone_id == zone
        )
    )
    return or_(zone.is_(None), not_(limited), allowed)
