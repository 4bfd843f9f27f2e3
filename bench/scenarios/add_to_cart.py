"""htmx add-to-cart, as htmx sends it from a product page, every add a real upsert.

Hammering one shopper's one line would measure a cheaper request once the line is at its limit (the
service then skips the upsert). So each round prepares fresh shoppers, each with the products already
in the cart, a wrk script rotates over every (product, shopper) pair, and the database is checked
afterwards: at least as many line increments stored as adds completed, no more than those and the
requests still in flight when wrk stopped (one per connection and run), and no line at its limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import CONNECTIONS, THREADS, lua_string, write_script
from bench.scenarios.base import Load, Scenario
from bench.shop import Product, Shopper, cart_line_stats, max_cart_id

MIN_SHOPPERS = 64
# Throughput the add rotation must absorb without any line reaching its limit (about 2.5x the
# best figure in docs/design.md §8); the number of shoppers per round is sized from it.
ADD_RATE_CEILING = 5_000


@dataclass(frozen=True)
class AddCheck:
    """One round's writes, read back from the database."""

    round: int
    shoppers: int
    requests: int  # adds wrk completed, warm-up included
    increments: int  # quantity stored beyond each line's first one
    lines_at_limit: int
    in_flight_max: int  # adds wrk may have sent and not seen answered: one per connection and run

    @property
    def ok(self) -> bool:
        """Every completed add stored, no more than those in flight besides, and none clamped."""
        return self.lines_at_limit == 0 and self.requests <= self.increments <= self.requests + self.in_flight_max


def shoppers_per_round(seconds: float, products: int, per_line: int) -> int:
    """Enough shoppers that no cart line reaches its limit even at ADD_RATE_CEILING req/s."""
    return max(MIN_SHOPPERS, math.ceil(ADD_RATE_CEILING * seconds / (products * per_line)))


class AddToCart(Scenario):
    title = "htmx add-to-cart POST /cart/items"
    name = "add_to_cart"
    shopper_count: int  # fresh shoppers per round
    checks: list[AddCheck]  # one per round
    carts_before: int  # the highest cart id before this round's shoppers were made
    prepared_s: float  # how long making them took
    script: Path  # this round's, which the floor replays

    def setup(self) -> None:
        plan, shop = self.stack.plan, self.stack.shop
        self.server = shop.server
        self.checks = []
        per_line = plan.settings.max_line_quantity - 1  # each line starts at 1
        self.shopper_count = shoppers_per_round(plan.warmup + plan.duration, len(shop.products), per_line)

    def describe(self) -> str:
        return (
            f"add-to-cart rotates over {self.shopper_count} fresh shoppers x {len(self.stack.shop.products)} "
            "products per round"
        )

    def load(self, number: int) -> Load:
        stack, shop = self.stack, self.stack.shop
        self.carts_before = max_cart_id(stack.engine.sql)
        started = time.monotonic()
        shoppers = [shop.client.new_shopper(shop.products) for _ in range(self.shopper_count)]
        self.prepared_s = time.monotonic() - started
        path = stack.plan.tmp / f"add-{stack.key}-{number}.lua"
        self.script = add_script(path, shop.server.origin, shop.client.cookie_name, shoppers, shop.products)
        return Load("/cart/items", self.script)

    def measured(self, number: int, sent: int) -> None:
        plan = self.stack.plan
        limit = plan.settings.max_line_quantity
        lines, quantity, at_limit = cart_line_stats(self.stack.engine.sql, self.carts_before, limit)
        runs = 2 if plan.warmup > 0 else 1
        check = AddCheck(number, self.shopper_count, sent, quantity - lines, at_limit, CONNECTIONS * runs)
        self.checks.append(check)
        print(
            f"    ({self.shopper_count} shoppers prepared in {self.prepared_s:.1f} s; "
            f"{quantity - lines:,} line increments stored)"
        )


def add_script(
    path: Path, origin: str, cookie_name: str, shoppers: Sequence[Shopper], products: Sequence[Product]
) -> Path:
    """A wrk script for htmx add-to-cart that rotates over every (product, shopper) pair.

    Requests are formatted once per thread in init(); request() only picks the next one. Thread k
    of n takes pairs k, k+n, k+2n, ... so consecutive adds hit different shoppers' carts.
    """
    shopper_rows = ",\n".join(f"  {{{lua_string(s.cookie)}, {lua_string(s.csrf)}}}" for s in shoppers)
    product_rows = ",\n".join(f"  {{{lua_string(p.slug)}, {lua_string(str(p.variant_id))}}}" for p in products)
    script = f"""-- python -m bench: htmx add-to-cart over {len(shoppers)} shoppers x {len(products)} products
local threads = {THREADS}
local origin = {lua_string(origin)}
local cookie_name = {lua_string(cookie_name)}
local shoppers = {{
{shopper_rows}
}}
local products = {{
{product_rows}
}}
local next_index = 0
local counter = 0
local requests = {{}}

function setup(thread)
  thread:set("thread_index", next_index)
  next_index = next_index + 1
end

function init(args)
  counter = thread_index or 0
  for _, product in ipairs(products) do
    for _, shopper in ipairs(shoppers) do
      local headers = {{
        ["Cookie"] = cookie_name .. "=" .. shopper[1],
        ["HX-Request"] = "true",
        ["X-CSRF-Token"] = shopper[2],
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["HX-Current-URL"] = origin .. "/products/" .. product[1],
        ["HX-Target"] = "catalog-add-status",
        ["X-Page"] = "catalog.product:" .. product[1],
      }}
      local body = "product=" .. product[1] .. "&variant_id=" .. product[2] .. "&quantity=1"
      requests[#requests + 1] = wrk.format("POST", "/cart/items", headers, body)
    end
  end
end

function request()
  local r = requests[(counter % #requests) + 1]
  counter = counter + threads
  return r
end
"""
    return write_script(path, script)
