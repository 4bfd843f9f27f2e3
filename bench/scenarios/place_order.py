"""Order placement, as a browser without JavaScript places it: `POST /checkout/place` from the review page.

Each placement orders the session's whole cart and empties it, so every request needs a shopper of
its own. Each round prepares fresh shoppers the way a browser makes them (3 lines in the cart, the
contact and delivery steps done, the review page's key and fingerprint read), and a wrk script sends
each one's placement exactly once: across the warm-up and the measurement through a cursor file, and
past the last one with a request the shop refuses, counted apart. Only a 303 to /orders/<number>
counts as placed. Afterwards the database is checked: orders placed == successful answers (plus
requests still in flight when wrk stopped), every order has 3 lines, no stock below 0, and each
product's stock went down by one per order.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from bench.errors import BenchError
from bench.load import THREADS, lua_string, write_script
from bench.scenarios.base import Load, Scenario
from bench.shop import ADD_PRODUCTS, Placements, Review, mail_pending, placements, reset_stock

MIN_SHOPPERS = 200
# Orders per second a round must have shoppers for: about 1.7 times the best figure seen here
# (SQLite: about 330/s with the background mail sender on, since placement and the outbox run on
# Prepared statements; PostgreSQL + Redis: over 100/s with 1 worker). A run that
# uses them all up goes on with requests the shop refuses, which fail the round. Each shopper costs
# 7 requests to prepare, so a ceiling far above the engine's figure only costs time.
PLACE_RATE_CEILING = {"sqlite": 550, "postgres": 300}
MAIL_WAIT_S = 60  # for the confirmations still unsent when wrk stops, before the next measurement
TOKEN = re.compile(r"^[A-Za-z0-9_.-]+$")  # cookie (a minted one is signed: id.time.mac), CSRF token, key, fingerprint


class PlaceRun(NamedTuple):
    """One wrk run's own account, from its script: placements sent, answers, requests past the last shopper."""

    sent: int
    placed: int  # answered 303 to /orders/<number>
    refused: int  # any other answer, those past the last shopper included
    past_end: int  # requests sent when this run's shoppers were all used up

    @property
    def in_flight(self) -> int:
        """Sent but not answered when wrk stopped (the shop may still have placed them)."""
        return self.sent + self.past_end - self.placed - self.refused


@dataclass(frozen=True)
class PlaceCheck:
    """One round's placements (warm-up included), and what the database holds afterwards."""

    round: int
    shoppers: int
    runs: tuple[PlaceRun, ...]
    orders: int  # placed this round
    wrong_lines: int  # orders without exactly one line per product
    negative_stock: int  # variants below 0
    stock_taken: tuple[int, ...]  # per product, this round
    measured_s: float  # the measured run's duration (its run is the last)

    @property
    def orders_per_s(self) -> float:
        """Successful placements per second in the measured run."""
        return self.runs[-1].placed / self.measured_s if self.measured_s else 0.0

    @property
    def total(self) -> PlaceRun:
        """The round's runs added up."""
        return PlaceRun(*map(sum, zip(*self.runs, strict=True)))

    @property
    def ok(self) -> bool:
        total = self.total
        return (
            total.refused == 0
            and total.past_end == 0
            and total.placed <= self.orders <= total.placed + total.in_flight
            and self.wrong_lines == 0
            and self.negative_stock == 0
            and all(taken == self.orders for taken in self.stock_taken)
        )


def shoppers_per_round(seconds: float, engine: str) -> int:
    """Enough shoppers for the engine's PLACE_RATE_CEILING orders/s over the warm-up and the measurement."""
    return max(MIN_SHOPPERS, math.ceil(PLACE_RATE_CEILING[engine] * seconds))


class PlaceOrder(Scenario):
    title = "place order POST /checkout/place"
    name = "place_order"
    shopper_count: int  # fresh shoppers per round
    checks: list[PlaceCheck]  # one per round
    before: Placements  # the database before this round (its highest order id, the products' stock)
    prepared_s: float
    runs_path: Path  # this round's script writes one line per wrk run here

    def setup(self) -> None:
        plan = self.stack.plan
        self.server = self.stack.shop.server
        self.checks = []
        self.shopper_count = shoppers_per_round(plan.warmup + plan.duration, self.stack.engine.name)

    def describe(self) -> str:
        return f"placement sends each of {self.shopper_count} fresh shoppers' order once per round"

    def load(self, number: int) -> Load:
        stack, shop = self.stack, self.stack.shop
        sql = stack.engine.sql
        reset_stock(sql, ADD_PRODUCTS)  # every round starts from the same stock, whatever came before
        self.before = placements(sql, 0, len(ADD_PRODUCTS), ADD_PRODUCTS)
        started = time.monotonic()
        reviews = shop.client.new_reviews(shop.products, self.shopper_count)
        self.prepared_s = time.monotonic() - started
        stem = stack.plan.tmp / f"place-{stack.key}-{number}"
        self.runs_path = stem.with_suffix(".runs")
        script = place_script(stem, shop.server.origin, shop.client.cookie_name, reviews)
        return Load("/checkout/place", script)

    def measured(self, number: int, sent: int) -> None:
        sql = self.stack.engine.sql
        runs = tuple(PlaceRun(*map(int, line.split())) for line in self.runs_path.read_text().splitlines())
        # All read at one moment: placements still in flight when wrk stopped may be committing meanwhile.
        after = placements(sql, self.before.last_order, len(ADD_PRODUCTS), ADD_PRODUCTS)
        taken = tuple(b - a for b, a in zip(self.before.stock, after.stock, strict=True))
        # The measured run's errors are every answer but a 303 to the order (wrk counts only >= 400).
        result = self.results[-1] = replace(self.results[-1], non_2xx=runs[-1].refused)
        check = PlaceCheck(
            number,
            self.shopper_count,
            runs,
            after.orders,
            after.wrong_lines,
            after.negative_stock,
            taken,
            result.duration_s,
        )
        self.checks.append(check)
        started = time.monotonic()
        unsent = mail_pending(sql, MAIL_WAIT_S)  # the sender's work would go into the next measurement
        print(
            f"    ({self.shopper_count} shoppers prepared in {self.prepared_s:.1f} s; {check.orders_per_s:,.1f} "
            f"orders/s, {result.errors} errors measured; {after.orders:,} orders placed this round, their mail sent "
            f"{time.monotonic() - started:.1f} s after the end, {unsent} unsent)"
        )


def place_script(stem: Path, origin: str, cookie_name: str, reviews: Sequence[Review]) -> Path:
    """A wrk script that sends each review's placement once, however many wrk runs share it.

    The shoppers are read from a file (`stem`.txt, one a line) in each thread's init(); thread k of n
    sends shoppers k, k+n, k+2n, ... from the cursor the last run left in `stem`.cursor. Each run
    appends "sent placed refused past_end" to `stem`.runs.
    """
    rows = []
    for review in reviews:
        values = (review.shopper.cookie, review.shopper.csrf, review.key, review.reviewed)
        if not all(TOKEN.match(value) for value in values):
            raise BenchError(f"unexpected characters in a prepared shopper for the wrk script: {values!r}")
        rows.append(" ".join(values))
    shoppers = stem.with_suffix(".txt")
    shoppers.write_text("\n".join(rows) + "\n")
    paths = {name: lua_string(str(stem.with_suffix(f".{name}"))) for name in ("txt", "cursor", "runs")}
    script = f"""-- python -m bench: POST /checkout/place, each of {len(reviews)} shoppers once
local threads = {THREADS}
local origin = {lua_string(origin)}
local cookie_name = {lua_string(cookie_name)}
local threads_seen = {{}}

function setup(thread)
  if #threads_seen == 0 then
    local file = io.open({paths["cursor"]}, "r")
    first = file and tonumber(file:read("*l")) or 0
    if file then file:close() end
  end
  thread:set("thread_index", #threads_seen)
  thread:set("first", first)
  threads_seen[#threads_seen + 1] = thread
end

function init(args)
  requests = {{}}
  next_index = first + thread_index
  sent, placed, refused, past_end = 0, 0, 0, 0
  checked = thread_index ~= 0
  local index = 0
  for line in io.lines({paths["txt"]}) do
    if index >= next_index and (index - next_index) % threads == 0 then
      local cookie, csrf, key, reviewed = line:match("^(%S+) (%S+) (%S+) (%S+)$")
      local headers = {{
        ["Cookie"] = cookie_name .. "=" .. cookie,
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Origin"] = origin,
      }}
      local body = "csrf_token=" .. csrf .. "&idempotency_key=" .. key .. "&reviewed=" .. reviewed
      requests[index] = wrk.format("POST", "/checkout/place", headers, body)
    end
    index = index + 1
  end
  -- Past the last shopper: a placement without a session, which the shop refuses (CSRF).
  beyond = wrk.format("POST", "/checkout/place", {{["Content-Type"] = "application/x-www-form-urlencoded"}}, "")
end

function request()
  if not checked then
    -- Before the run wrk calls request() once in the first thread to see what it returns: not sent.
    checked = true
    return requests[next_index] or beyond
  end
  local r = requests[next_index]
  if r == nil then
    past_end = past_end + 1
    return beyond
  end
  next_index = next_index + threads
  sent = sent + 1
  return r
end

function response(status, headers, body)
  local location = headers["location"] or headers["Location"] or ""
  if status == 303 and location:sub(1, 8) == "/orders/" then
    placed = placed + 1
  else
    refused = refused + 1
  end
end

function finish()
  local cursor, totals = first, {{0, 0, 0, 0}}
  for _, thread in ipairs(threads_seen) do
    cursor = math.max(cursor, thread:get("next_index"))
    for i, name in ipairs({{"sent", "placed", "refused", "past_end"}}) do
      totals[i] = totals[i] + thread:get(name)
    end
  end
  local file = io.open({paths["cursor"]}, "w")
  file:write(cursor, "\\n")
  file:close()
  file = io.open({paths["runs"]}, "a")
  file:write(table.concat(totals, " "), "\\n")
  file:close()
end
"""
    return write_script(stem.with_suffix(".lua"), script)
