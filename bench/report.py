"""The report: the environment, each measurement, the summary tables and PASS/FAIL per target of docs/design.md §8."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from bench.engines import server_versions
from bench.load import CONNECTIONS, THREADS, WrkResult, wrk_version
from bench.scenarios import AddToCart, Bare, CartPage, Floor, PlaceOrder, Scenario
from bench.servers import BUSY_CPU
from bench.sql_counts import SqlCount
from bench.stack import Stack

SETUPS = {
    "h11": "uvicorn's pure-Python parser, the setup docs/design.md §8's figures were measured with"
    " (a bare route at about 6,700 req/s there)",
    "httptools": "the parser the shop is served with (`litestar[standard]` installs it), for comparison",
    "granian": "granian instead of uvicorn (its own HTTP/1 in Rust), for comparison",
}
TARGET_SHARE = 25.0  # % of the bare route's req/s
TARGET_P99_MS = 25.0
TARGET_SQL_ADD = 6
TARGET_SQL_CART = 5
TARGET_MEMORY_GROWTH = 0.20  # a shop worker's resident memory, end of the run against after round 1 (#15)
TARGET_CART_50_MS = 10.0  # the cart page of a 50-line cart, server time (issue #15)


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


def report(stacks: Sequence[Stack], counts: Mapping[str, Sequence[SqlCount]], show_sql: bool) -> None:
    """Everything after the measurements, one section after the other."""
    for stack in stacks:
        print_summary(stack)
    print_writes(stacks)
    for engine, sql in counts.items():
        print_sql(engine, sql, show_sql)
    for stack in stacks:
        print_targets(stack)
    for engine, sql in counts.items():
        print_sql_targets(engine, sql)
    warn_if_busy(stacks)


def optional(value: float | None) -> float:
    return math.nan if value is None else value


def errors(scenario: Scenario) -> int:
    """Errors over all rounds: answers other than 2xx/3xx (for placement: other than a 303 to the order)
    and socket errors. Any fails its round."""
    return sum(r.errors for r in scenario.results)


def ratio_to_floor(stack: Stack, scenario: Scenario) -> float:
    floor = stack.scenario(Floor).median(lambda r: r.rps)
    return scenario.median(lambda r: r.rps) / floor if floor else math.nan


def print_summary(stack: Stack) -> None:
    rounds = len(stack.scenario(Bare).results)
    print(
        f"{stack.label}: medians of {rounds} round(s), {stack.workers} uvicorn worker(s) per server, "
        f"wrk -t{THREADS} -c{CONNECTIONS}; CPU µs per request of the server (all its workers), PostgreSQL and Redis:"
    )
    print(
        f"  {'':<36} {'req/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}  {'% of bare':>9}  {'x floor':>7}  {'errors':>6}  "
        f"{'CPU':>5}  {'PG':>5}  {'Redis':>5}"
    )
    postgres = stack.engine.name == "postgres"
    for scenario in stack.shown():
        cpu = scenario.median(lambda r: optional(r.server_cpu_us))
        pg = scenario.median(lambda r: optional(r.postgres_cpu_us)) if postgres else math.nan
        rd = scenario.median(lambda r: optional(r.redis_cpu_us)) if postgres else math.nan
        print(
            f"  {scenario.title:<36} {fmt(scenario.median(lambda r: r.rps), 0):>9}  "
            f"{fmt(scenario.median(lambda r: r.p50_ms), 2):>7}  {fmt(scenario.median(lambda r: r.p99_ms), 2):>7}  "
            f"{fmt(share(stack, scenario)):>8}%  {fmt(ratio_to_floor(stack, scenario), 2):>7}  "
            f"{errors(scenario):>6}  {fmt(cpu, 0):>5}  {fmt(pg, 0):>5}  {fmt(rd, 0):>5}"
        )
    print()


def print_writes(stacks: Sequence[Stack]) -> None:
    print("Add-to-cart writes (every measured add should be a real upsert):")
    for stack in stacks:
        for check in stack.scenario(AddToCart).checks:
            spare = check.increments - check.requests
            print(
                f"  {stack.label}, round {check.round}: {check.requests:,} adds completed (warm-up included), "
                f"{check.increments:,} line increments stored (+{spare} in flight at the end), "
                f"{check.lines_at_limit} lines at the per-line limit"
            )
    print("Order placements (each prepared shopper's order placed once, 3 lines each):")
    for stack in stacks:
        for c in stack.scenario(PlaceOrder).checks:
            t = c.total
            print(
                f"  {stack.label}, round {c.round}: {t.placed:,} placements answered 303 to their order (warm-up "
                f"included), {t.refused} other answers ({t.past_end} past the last shopper), {c.orders:,} orders "
                f"placed (+{c.orders - t.placed} of {t.in_flight} in flight at the end), {c.wrong_lines} orders "
                f"without 3 lines, stock taken {'/'.join(map(str, c.stock_taken))}, {c.negative_stock} variants below 0"
            )


def print_sql(engine: str, sql: Sequence[SqlCount], show_sql: bool) -> None:
    trips = "statements SQLite ran, COMMIT included" if engine == "sqlite" else "round trips to PostgreSQL"
    print(
        f"\n{engine}: per request (in-process, TestClient): SQL statements (db.statements), {trips}, "
        "Redis commands (MONITOR):"
    )
    for item in sql:
        redis = "-" if item.redis_commands is None else str(item.redis_commands)
        print(f"  {item.label:<44} {item.count:>3} {optional_int(item.round_trips):>4} {redis:>4}")
        if show_sql:
            for statement in item.trips or item.statements:
                print(f"      {statement[:200]}")
            for command in item.redis:
                print(f"      redis: {command[:200]}")


def optional_int(value: int | None) -> str:
    return "-" if value is None else str(value)


def print_targets(stack: Stack) -> None:
    print(f"\nTargets (docs/design.md §8) on {stack.label}; {stack.parser}: {SETUPS[stack.parser]}:")
    for kind, name in ((AddToCart, "add-to-cart"), (CartPage, "cart page")):
        scenario = stack.scenario(kind)
        p99 = scenario.median(lambda r: r.p99_ms)
        wrong = errors(scenario)
        percent = share(stack, scenario)
        print(f"  {verdict(percent >= TARGET_SHARE)}  {name} throughput >= {TARGET_SHARE:g}% of bare: {fmt(percent)}%")
        print(f"  {verdict(p99 < TARGET_P99_MS)}  {name} p99 < {TARGET_P99_MS:g} ms: {fmt(p99, 2)} ms")
        print(f"  {verdict(wrong == 0)}  {name} answers all 2xx: {wrong} errors")
    failed = [f"{s.title}, round {n}" for s in stack.scenarios for n, r in enumerate(s.results, 1) if r.errors]
    listed = "; ".join(failed) or "none failed"
    print(f"  {verdict(not failed)}  every round of every scenario without errors: {listed}")
    floor = fmt(share(stack, stack.scenario(Floor)))
    print(f"  info  the floor, the most any add-to-cart on this stack can reach: {floor}% of bare")
    checks = stack.scenario(AddToCart).checks
    writes_ok = bool(checks) and all(c.ok for c in checks)
    print(
        f"  {verdict(writes_ok)}  every add was a real write (no line at its limit, "
        "adds <= increments <= adds + in flight)"
    )
    warm, end = stack.shop_memory.get("warm", []), stack.shop_memory.get("end", [])
    if stack.plan.rounds > 1 and warm and len(warm) == len(end):
        grown = [after / before - 1 for before, after in zip(warm, end, strict=True)]
        listed = ", ".join(f"{before:.1f} → {after:.1f} MiB" for before, after in zip(warm, end, strict=True))
        ok = max(grown) <= TARGET_MEMORY_GROWTH
        title = f"each shop worker's memory at the end within {TARGET_MEMORY_GROWTH:.0%} of after round 1"
        print(f"  {verdict(ok)}  {title}: {listed} ({', '.join(f'{g:+.1%}' for g in grown)})")
    elif end:
        print(f"  info  the shop's workers' memory at the end: {', '.join(f'{mib:.1f} MiB' for mib in end)}")
    place = stack.scenario(PlaceOrder)
    orders = statistics.median(c.orders_per_s for c in place.checks) if place.checks else math.nan
    p50, p99 = place.median(lambda r: r.p50_ms), place.median(lambda r: r.p99_ms)
    print(f"  info  order placement: {fmt(orders)} orders/s, p50 {fmt(p50, 2)} ms, p99 {fmt(p99, 2)} ms")
    wrong = errors(place)
    print(f"  {verdict(wrong == 0)}  order placement answers all 303 to the order: {wrong} errors")
    placed_ok = bool(place.checks) and all(c.ok for c in place.checks)
    print(
        f"  {verdict(placed_ok)}  orders placed == successful answers (+ in flight), 3 lines each, "
        "stock taken once per order, none below 0"
    )


def print_sql_targets(engine: str, sql: Sequence[SqlCount]) -> None:
    print(f"\nSQL targets on {engine} (SQL statements: db.statements, what docs/design.md §8 counts):")
    adds = [s.count for s in sql if s.kind == "add"]
    first = [s.count for s in sql if s.kind == "first-add"]
    carts = [s.count for s in sql if s.kind == "cart"]
    listed = ", ".join(map(str, adds))
    print(f"  {verdict(max(adds) <= TARGET_SQL_ADD)}  SQL per add to an existing cart <= {TARGET_SQL_ADD}: {listed}")
    print(f"  {verdict(len(set(adds)) == 1)}  SQL per add constant in lines (1, a new 2nd, 10, 50 lines): {listed}")
    ok = max(first) <= TARGET_SQL_ADD
    print(f"  {verdict(ok)}  SQL per first add (creates the cart) <= {TARGET_SQL_ADD}: {first[0]}")
    listed = ", ".join(map(str, carts))
    print(f"  {verdict(max(carts) <= TARGET_SQL_CART)}  SQL per cart page <= {TARGET_SQL_CART}: {listed}")
    print(f"  {verdict(len(set(carts)) == 1)}  SQL per cart page constant in lines (1, 10, 50 lines): {listed}")
    listed = ", ".join(str(s.count) for s in sql if s.kind == "place")
    constant = len({s.count for s in sql if s.kind == "place"}) == 1
    print(f"  {verdict(constant)}  SQL per placement constant in lines (1, 10, 50): {listed}")
    timed = {s.lines: s.server_ms for s in sql if s.scenario == "cart_page" and s.server_ms is not None}
    if timed:
        listed = ", ".join(f"{lines}: {fmt(ms, 2)} ms" for lines, ms in sorted(timed.items()))
        ok = timed.get(max(timed), math.inf) < TARGET_CART_50_MS
        title = f"cart page server time (median of its access log) < {TARGET_CART_50_MS:g} ms at 50 lines"
        print(f"  {verdict(ok)}  {title}: {listed}")
    pages = ", ".join(
        f"{s.lines}: {fmt(s.server_ms, 2)} ms" for s in sql if s.scenario == "product_page" and s.server_ms is not None
    )
    if pages:
        print(f"  info  product page server time by cart lines: {pages}")
    for name in ("add_to_cart", "cart_page", "product_page", "place_order"):
        rows = [s for s in sql if s.scenario == name]
        trips = {s.round_trips for s in rows}
        redis = {s.redis_commands for s in rows}
        listed = ", ".join(f"{s.lines}: {optional_int(s.round_trips)}/{optional_int(s.redis_commands)}" for s in rows)
        ok = len(trips) == 1 and len(redis) == 1
        print(f"  {verdict(ok)}  {name} round trips/Redis commands constant in lines: {listed}")


def per_lines(sql: Sequence[SqlCount], name: str, pick: str) -> dict[str, float | None] | None:
    """{lines: figure} of the counted requests that are scenario `name`, or None if none are."""
    rows = {str(s.lines): getattr(s, pick) for s in sql if s.scenario == name}
    return rows or None


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "platform": platform.platform(),
    }


def versions() -> dict[str, Any]:
    found: dict[str, Any] = {"python": platform.python_version()}
    for package in ("litestar", "sqlalchemy", "psycopg", "uvicorn", "redis", "httptools", "uvloop"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return {**found, **server_versions()}


def scenario_row(stack: Stack, scenario: Scenario, sql: Sequence[SqlCount]) -> dict[str, Any]:
    def median(pick: Any) -> float | None:
        value = scenario.median(pick)
        return None if math.isnan(value) else round(value, 3)

    return {
        "name": scenario.name,
        "engine": stack.engine.name,
        "workers": stack.workers,
        "http": stack.parser,
        "rps": median(lambda r: r.rps),
        "p50_ms": median(lambda r: r.p50_ms),
        "p99_ms": median(lambda r: r.p99_ms),
        "errors": errors(scenario),
        "failed_rounds": sum(1 for r in scenario.results if r.errors),
        "ratio_to_floor": median(lambda _r: ratio_to_floor(stack, scenario)),
        "share_of_bare": median(lambda _r: share(stack, scenario) / 100),
        "server_cpu_us": median(lambda r: optional(r.server_cpu_us)),
        "postgres_cpu_us": median(lambda r: optional(r.postgres_cpu_us)) if stack.engine.name == "postgres" else None,
        "redis_cpu_us": median(lambda r: optional(r.redis_cpu_us)) if stack.engine.name == "postgres" else None,
        "rounds": len(scenario.results),
        "statements": per_lines(sql, scenario.name, "count"),
        "round_trips": per_lines(sql, scenario.name, "round_trips"),
        "redis_commands": per_lines(sql, scenario.name, "redis_commands"),
        "server_ms": per_lines(sql, scenario.name, "server_ms"),
    }


def write_json(path: Path, stacks: Sequence[Stack], counts: Mapping[str, Sequence[SqlCount]]) -> None:
    """The figures as JSON: the machine, the versions, one row per scenario and setup, and the counts."""
    figures = {
        "machine": machine(),
        "versions": versions(),
        "scenarios": [
            scenario_row(stack, scenario, counts.get(stack.engine.name, ()))
            for stack in stacks
            for scenario in stack.shown()
        ],
        "memory": [
            {
                "engine": stack.engine.name,
                "workers": stack.workers,
                "http": stack.parser,
                "after_round_1_mib": stack.shop_memory.get("warm"),
                "end_mib": stack.shop_memory.get("end"),
            }
            for stack in stacks
        ],
        "counts": {
            engine: [
                {
                    "label": s.label,
                    "scenario": s.scenario or None,
                    "lines": s.lines or None,
                    "statements": s.count,
                    "round_trips": s.round_trips,
                    "redis_commands": s.redis_commands,
                    "sent": list(s.trips),
                    "redis": list(s.redis),
                }
                for s in sql
            ]
            for engine, sql in counts.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nFigures written to {path}")


def warn_if_busy(stacks: Sequence[Stack]) -> None:
    loads = [r.other_cpu for s in stacks for sc in s.scenarios for r in sc.results if r.other_cpu is not None]
    if loads and max(loads) > BUSY_CPU:
        print(
            f"\nWARNING: other processes used up to {max(loads):.2f} of {os.cpu_count()} CPUs during the measurements"
            " (see 'other load' above): the figures are skewed; run again on a quiet machine."
        )
