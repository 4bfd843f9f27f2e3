"""The report: the environment, each measurement, the summary tables and PASS/FAIL per target of docs/design.md §8."""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import statistics
from collections.abc import Sequence

import uvicorn

from bench.load import CONNECTIONS, THREADS, WrkResult, wrk_version
from bench.scenarios import AddToCart, Bare, CartPage, Floor, PlaceOrder, Scenario
from bench.servers import BUSY_CPU
from bench.sql_counts import SqlCount
from bench.stack import Stack

SETUPS = {
    "h11": "uvicorn's pure-Python parser, the setup docs/design.md §8's figures were measured with"
    " (a bare route at about 6,700 req/s there)",
    "httptools": "the parser the shop is served with (`litestar[standard]` installs it), for comparison",
}
TARGET_SHARE = 25.0  # % of the bare route's req/s
TARGET_P99_MS = 25.0
TARGET_SQL_ADD = 6
TARGET_SQL_CART = 5


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def share(stack: Stack, scenario: Scenario) -> float:
    """The scenario's median req/s as a percentage of the bare route's."""
    bare_rps = stack.scenario(Bare).median(lambda r: r.rps)
    rps = scenario.median(lambda r: r.rps)
    return 100 * rps / bare_rps if bare_rps else math.nan


def print_environment(wrk: str) -> None:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"uvicorn {uvicorn.__version__} ({loop}, {parser}); {wrk_version(wrk)}"
    )


def measurement_line(title: str, result: WrkResult) -> str:
    extra = f", {result.errors} ERRORS ({result.non_2xx} non-2xx)" if result.errors else ""
    if result.other_cpu is not None:
        extra += f", other load {result.other_cpu:.2f} CPU" + (" (BUSY)" if result.other_cpu > BUSY_CPU else "")
    cpu = f"  server CPU {result.server_cpu_us:,.0f} µs/req" if result.server_cpu_us is not None else ""
    return (
        f"  {title:<36} {result.rps:>7,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
        f"p99 {result.p99_ms:6.2f} ms  {result.bytes_per_request:>6,.0f} B/resp{cpu}{extra}"
    )


def report(stacks: Sequence[Stack], sql: Sequence[SqlCount], show_sql: bool) -> None:
    """Everything after the measurements, one section after the other."""
    for stack in stacks:
        print_summary(stack)
    print_writes(stacks)
    print_sql(sql, show_sql)
    for stack in stacks:
        print_targets(stack)
    print_sql_targets(sql)
    warn_if_busy(stacks)


def print_summary(stack: Stack) -> None:
    rounds = len(stack.scenario(Bare).results)
    print(f"{stack.parser}: medians of {rounds} round(s), 1 uvicorn worker each, wrk -t{THREADS} -c{CONNECTIONS}:")
    print(f"  {'':<36} {'req/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}  {'% of bare':>9}  {'CPU µs/req':>10}")
    for scenario in stack.shown():
        cpu = scenario.median(lambda r: math.nan if r.server_cpu_us is None else r.server_cpu_us)
        print(
            f"  {scenario.title:<36} {fmt(scenario.median(lambda r: r.rps), 0):>9}  "
            f"{fmt(scenario.median(lambda r: r.p50_ms), 2):>7}  {fmt(scenario.median(lambda r: r.p99_ms), 2):>7}  "
            f"{fmt(share(stack, scenario)):>8}%  {fmt(cpu, 0):>10}"
        )
    print()


def print_writes(stacks: Sequence[Stack]) -> None:
    print("Add-to-cart writes (every measured add should be a real upsert):")
    for stack in stacks:
        for check in stack.scenario(AddToCart).checks:
            spare = check.increments - check.requests
            print(
                f"  {stack.parser}, round {check.round}: {check.requests:,} adds completed (warm-up included), "
                f"{check.increments:,} line increments stored (+{spare} in flight at the end), "
                f"{check.lines_at_limit} lines at the per-line limit"
            )
    print("Order placements (each prepared shopper's order placed once, 3 lines each):")
    for stack in stacks:
        for c in stack.scenario(PlaceOrder).checks:
            t = c.total
            print(
                f"  {stack.parser}, round {c.round}: {t.placed:,} placements answered 303 to their order (warm-up "
                f"included), {t.refused} other answers ({t.past_end} past the last shopper), {c.orders:,} orders "
                f"placed (+{c.orders - t.placed} of {t.in_flight} in flight at the end), {c.wrong_lines} orders "
                f"without 3 lines, stock taken {'/'.join(map(str, c.stock_taken))}, {c.negative_stock} variants below 0"
            )


def print_sql(sql: Sequence[SqlCount], show_sql: bool) -> None:
    print("\nSQL statements per request (in-process, TestClient, db.statements):")
    for item in sql:
        print(f"  {item.label:<44} {item.count:>3}")
        if show_sql:
            for statement in item.statements:
                print(f"      {statement[:200]}")


def print_targets(stack: Stack) -> None:
    print(f"\nTargets (docs/design.md §8) with {stack.parser}, {SETUPS[stack.parser]}:")
    for kind, name in ((AddToCart, "add-to-cart"), (CartPage, "cart page")):
        scenario = stack.scenario(kind)
        p99 = scenario.median(lambda r: r.p99_ms)
        errors = sum(r.errors for r in scenario.results)
        percent = share(stack, scenario)
        print(f"  {verdict(percent >= TARGET_SHARE)}  {name} throughput >= {TARGET_SHARE:g}% of bare: {fmt(percent)}%")
        print(f"  {verdict(p99 < TARGET_P99_MS)}  {name} p99 < {TARGET_P99_MS:g} ms: {fmt(p99, 2)} ms")
        print(f"  {verdict(errors == 0)}  {name} answers all 2xx: {errors} errors")
    floor = fmt(share(stack, stack.scenario(Floor)))
    print(f"  info  the floor, the most any add-to-cart on this stack can reach: {floor}% of bare")
    checks = stack.scenario(AddToCart).checks
    writes_ok = all(c.lines_at_limit == 0 and c.increments >= c.requests for c in checks)
    print(f"  {verdict(writes_ok)}  every add was a real write (no line at its limit, increments >= adds)")
    place = stack.scenario(PlaceOrder)
    orders = statistics.median(c.orders_per_s for c in place.checks) if place.checks else math.nan
    p50, p99 = place.median(lambda r: r.p50_ms), place.median(lambda r: r.p99_ms)
    print(f"  info  order placement: {fmt(orders)} orders/s, p50 {fmt(p50, 2)} ms, p99 {fmt(p99, 2)} ms")
    errors = sum(r.errors for r in place.results)
    print(f"  {verdict(errors == 0)}  order placement answers all 303 to the order: {errors} errors")
    placed_ok = bool(place.checks) and all(c.ok for c in place.checks)
    print(
        f"  {verdict(placed_ok)}  orders placed == successful answers (+ in flight), 3 lines each, "
        "stock taken once per order, none below 0"
    )


def print_sql_targets(sql: Sequence[SqlCount]) -> None:
    print("\nSQL targets:")
    adds = [s.count for s in sql if s.kind == "add"]
    first = [s.count for s in sql if s.kind == "first-add"]
    carts = [s.count for s in sql if s.kind == "cart"]
    listed = ", ".join(map(str, adds))
    print(f"  {verdict(max(adds) <= TARGET_SQL_ADD)}  SQL per add to an existing cart <= {TARGET_SQL_ADD}: {listed}")
    print(f"  {verdict(len(set(adds)) == 1)}  SQL per add constant in lines (1, 2, 10 lines): {listed}")
    ok = max(first) <= TARGET_SQL_ADD
    print(f"  {verdict(ok)}  SQL per first add (creates the cart) <= {TARGET_SQL_ADD}: {first[0]}")
    listed = ", ".join(map(str, carts))
    print(f"  {verdict(max(carts) <= TARGET_SQL_CART)}  SQL per cart page <= {TARGET_SQL_CART}: {listed}")
    print(f"  {verdict(len(set(carts)) == 1)}  SQL per cart page constant in lines (1 vs 10 lines): {listed}")
    listed = ", ".join(str(s.count) for s in sql if s.kind == "place")
    constant = len({s.count for s in sql if s.kind == "place"}) == 1
    print(f"  {verdict(constant)}  SQL per placement constant in lines (1, 5, 20): {listed}")


def warn_if_busy(stacks: Sequence[Stack]) -> None:
    loads = [r.other_cpu for s in stacks for sc in s.scenarios for r in sc.results if r.other_cpu is not None]
    if loads and max(loads) > BUSY_CPU:
        print(
            f"\nWARNING: other processes used up to {max(loads):.2f} of {os.cpu_count()} CPUs during the measurements"
            " (see 'other load' above): the figures are skewed; run again on a quiet machine."
        )
