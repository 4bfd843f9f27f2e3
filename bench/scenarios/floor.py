"""The floor under an add: bench/floor_app.py, the add's form and SQL on the shop's database, nothing rendered.

It replays the add-to-cart scenario's requests of the same round, after the add's writes were checked.
"""

from __future__ import annotations

from bench.scenarios.add_to_cart import AddToCart
from bench.scenarios.base import Load, Scenario


class Floor(Scenario):
    title = "floor: form + add's SQL, no HTML"
    reference = True

    def setup(self) -> None:
        plan = self.stack.plan
        env = {**plan.env, "STOREFRONT_DB": str(plan.db_path), "STOREFRONT_FLOOR_BYTES": str(self.stack.shop.add_bytes)}
        # The floor app has no GET route: a 404 says it is up.
        self.server = self.stack.serve("floor", "floor app", "bench.floor_app:app", env, "/nowhere", ready_status=404)

    def describe(self) -> str:
        return "and the floor over the same ones after it"

    def load(self, number: int) -> Load:
        return Load("/cart/items", self.stack.scenario(AddToCart).script)
