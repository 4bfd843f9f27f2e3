"""The floor under an add: the add's form, session and SQL on the shop's database, nothing rendered:
bench/floor_app.py on SQLite, bench/floor_pg_app.py on PostgreSQL + Redis.

It replays the add-to-cart scenario's requests of the same round, after the add's writes were checked.
"""

from __future__ import annotations

from bench.scenarios.add_to_cart import AddToCart
from bench.scenarios.base import Load, Scenario


class Floor(Scenario):
    title = "floor: form + add's SQL, no HTML"
    name = "floor"
    reference = True

    def setup(self) -> None:
        stack = self.stack
        env = {**stack.env, "STOREFRONT_FLOOR_BYTES": str(stack.shop.add_bytes)}
        app = "bench.floor_pg_app:app"
        if stack.engine.name == "sqlite":
            env["STOREFRONT_DB"] = stack.engine.url.removeprefix("sqlite:///")
            app = "bench.floor_app:app"
        # The floor app has no GET route: a 404 says it is up.
        self.server = stack.serve("floor", "floor app", app, env, "/nowhere", ready_status=404)

    def describe(self) -> str:
        return "and the floor over the same ones after it"

    def load(self, number: int) -> Load:
        return Load("/cart/items", self.stack.scenario(AddToCart).script)
