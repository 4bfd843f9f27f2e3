"""Soak (#13): mixed shopper journeys against one server for a while, and what its process does meanwhile.

    .venv/bin/python -m bench.soak                # 300 s (make soak)
    .venv/bin/python -m bench.soak --seconds 30   # what tests/test_soak.py runs

What it does:
1. Serves the shop with `python -m web serve` (one worker, APP_ENV=production, SQLite, events
   in-process, mail as .eml files by the background sender) on a fresh demo database in a temp
   directory, every variant's stock raised to bench/shop.py's BENCH_STOCK so stock never runs out
   and the per-line limit (99) is the only clamp. No limit is raised: the journeys stay within
   the login throttle and the account-mail quota of the one loopback address (see below).
2. Runs SHOPPERS concurrent shoppers (bench/journeys.py), half of them members who register,
   confirm by the mailed link and log in; each takes journeys one after another: browsing,
   adding (forms, htmx, /api), editing and removing lines, "Deliver to", logging out and in again
   (the guest cart merges), checking out (forms, htmx, /api; some placements sent twice), opening
   the order page and following its live stream until it sends the order's status.
3. Samples the server's resident memory (/proc/<pid>/status), open file descriptors
   (/proc/<pid>/fd), open database connections (descriptors on the SQLite file; the shop exposes
   no pool figures in /metrics) and open live streams (/metrics) every SAMPLE_SECONDS.
4. Measures the server at rest twice, after the warm-up (the first 20% of the run, at least 5 s)
   and at the end: the shoppers park between journeys with their connections closed, and the
   figures are taken once the descriptor count has settled.
5. Checks each shopper's cart (/api/cart) and orders (/api/orders, or each order for a guest)
   against its model, and the database's orders and stock against all the shoppers' models.
Prints the figures and the criteria, and writes them to var/bench/soak.json. Exits 1 when a
criterion fails (or the server does not start), 0 otherwise.

The limits it stays within, all counted for the one client address 127.0.0.1: account mails (the
per-address limit, LOGIN_MAX_FAILURES_PER_ADDRESS = 20 in 15 minutes) by registering once per
member (MEMBERS of them); failed logins (20 per address, 5 per account and address) by sending
at most journeys.WRONG_PASSWORDS wrong passwords in all; live streams (4 per session) by following
one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.journeys import Browser, Gate, Item, Order, Shopper, Tally, Unexpected
from bench.servers import HOST, PYTHON, ROOT, Server, free_port, request
from bench.shop import BENCH_STOCK, prepare_shop_db, raise_stock, reading
from web.settings import Settings

SHOPPERS = 12
MEMBERS = 6  # registrations: well inside the account-mail quota of one address (20 per 15 minutes)
SAMPLE_SECONDS = 2.0
WARMUP_SHARE = 0.2
MIN_WARMUP = 5.0
MEMORY_TOLERANCE = 0.10
SETTLE_SECONDS = 1.0  # the descriptor count unchanged this long: the server is at rest
SETTLE_LIMIT = 20.0
# A worker thread of anyio's (Argon2 checks, the mail sender) ends after 10 s idle, and with it the
# SQLite connection the mail sender's units keep per thread (web/db.py): at rest means past that.
IDLE_THREAD_SECONDS = 11.0
PARK_LIMIT = 180.0  # the longest a journey may take to finish when the shoppers are asked to park
OUT = ROOT / "var" / "bench" / "soak.json"
STREAMS_METRIC = re.compile(r"^storefront_live_streams(?:\{[^}]*\})? ([0-9.e+]+)$", re.MULTILINE)
SERVER_ERRORS_METRIC = re.compile(
    r'^storefront_request_duration_seconds_count\{[^}]*status="5\d\d"[^}]*\} ([0-9.e+]+)$', re.MULTILINE
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=300.0, help="how long the shoppers shop (default 300)")
    parser.add_argument("--shoppers", type=int, default=SHOPPERS, help=f"concurrent shoppers (default {SHOPPERS})")
    parser.add_argument("--seed", type=int, default=None, help="the shoppers' random seed (default: a new one)")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Sample:
    """The server's process at one moment."""

    at: float  # seconds since the shoppers started
    rss_kib: int
    fds: int
    db_connections: int  # descriptors open on the SQLite database file
    streams: int  # live streams open, by /metrics (-1 when it did not answer)


def take_sample(server: Server, db_path: Path, started: float) -> Sample:
    pid = server.pid
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    fds = db = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        fds += 1
        db += target == str(db_path)
    streams = STREAMS_METRIC.search(metrics(server))
    return Sample(round(time.monotonic() - started, 1), rss, fds, db, int(float(streams.group(1))) if streams else -1)


def metrics(server: Server) -> str:
    try:
        status, _headers, body = request(server.port, "GET", "/metrics")
    except OSError:
        return ""
    return body if status == 200 else ""


def server_errors_counted(server: Server) -> int:
    """Answers of 500 and up, as the server's own latency histogram counts them."""
    return int(sum(float(count) for count in SERVER_ERRORS_METRIC.findall(metrics(server))))


class Sampler(threading.Thread):
    """Samples the server every SAMPLE_SECONDS until stopped."""

    def __init__(self, server: Server, db_path: Path, started: float) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.server, self.db_path, self.started = server, db_path, started
        self.samples: list[Sample] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            if self.server.process is None or self.server.process.poll() is not None:
                return
            self.samples.append(take_sample(self.server, self.db_path, self.started))


def at_rest(server: Server, db_path: Path, started: float) -> Sample:
    """The server once nothing is in flight: at least IDLE_THREAD_SECONDS since the last request,
    no live stream open and the descriptor count unchanged for SETTLE_SECONDS (closed connections
    take a moment to be noticed), or SETTLE_LIMIT at most."""
    rested = time.monotonic() + IDLE_THREAD_SECONDS
    deadline = rested + SETTLE_LIMIT
    last = take_sample(server, db_path, started)
    steady_since = time.monotonic()
    while time.monotonic() < rested:
        time.sleep(0.25)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = take_sample(server, db_path, started)
        if now.fds != last.fds or now.streams > 0:
            steady_since = time.monotonic()
        elif time.monotonic() - steady_since >= SETTLE_SECONDS:
            return now
        last = now
    return last


def shop_env(tmp: Path, port: int) -> dict[str, str]:
    """The shop's environment: production, its own database, outbox and media in `tmp`, one process."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'shop.db'}", "PYTHONUNBUFFERED": "1"}
    for inherited in ("PROMETHEUS_MULTIPROC_DIR", "STOREFRONT_TEST_PAUSE", "SMTP_URL", "SESSION_STORE_URL"):
        env.pop(inherited, None)
    env.update(
        APP_ENV="production",
        COOKIE_SECURE="true",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(32),
        HOST=HOST,
        PORT=str(port),
        OUTBOX_DIR=str(tmp / "outbox"),
        MEDIA_DIR=str(tmp / "media"),
        MAIL_IN_BACKGROUND="true",
        EVENTS_URL="",
    )
    return env


def catalogue(db_path: Path) -> list[Item]:
    """Every variant shoppers may buy anywhere the soak delivers (products limited to some zones left out)."""
    with reading(db_path) as conn:
        rows = conn.execute(
            "SELECT p.slug, v.id, v.price_cents FROM variants v JOIN products p ON p.id = v.product_id"
            " WHERE p.active AND p.id NOT IN (SELECT product_id FROM product_zones) ORDER BY v.id"
        ).fetchall()
    return [Item(slug, int(variant), int(price)) for slug, variant, price in rows]


def database_problems(db_path: Path, shoppers: Sequence[Shopper], items: Sequence[Item]) -> list[str]:
    """The database's orders against every shopper's: the same numbers (no order more, none
    missing), each with its lines, amounts and owner; each variant's stock down by what was ordered."""
    expected = {order.number: (shopper, order) for shopper in shoppers for order in shopper.orders}
    with reading(db_path) as conn:
        rows = conn.execute(
            "SELECT o.number, o.subtotal_cents, o.delivery_cents, o.total_cents, o.country, coalesce(u.email, ''),"
            " l.variant_id, l.quantity FROM orders o JOIN order_lines l ON l.order_id = o.id"
            " LEFT JOIN users u ON u.id = o.user_id ORDER BY o.number, l.variant_id"
        ).fetchall()
        stock = dict(conn.execute("SELECT id, stock FROM variants").fetchall())
    found: dict[str, tuple[Order, str]] = {}
    for number, subtotal, delivery, total, country, owner, variant, quantity in rows:
        order, _owner = found.get(number, (Order(number, (), subtotal, delivery, total, country), owner))
        found[number] = (Order(number, (*order.lines, (variant, quantity)), subtotal, delivery, total, country), owner)
    problems = []
    extra, missing = sorted(set(found) - set(expected)), sorted(set(expected) - set(found))
    if extra:
        problems.append(f"orders no shopper placed: {extra[:10]}")
    if missing:
        problems.append(f"orders placed but not in the database: {missing[:10]}")
    for number in sorted(set(found) & set(expected)):
        (order, owner), (shopper, placed) = found[number], expected[number]
        if order != placed:
            problems.append(f"order {number} is {order}, placed as {placed}")
        if owner != (shopper.account.email if shopper.account else ""):
            problems.append(f"order {number} belongs to {owner or 'a guest'}, placed by {shopper.name}")
    sold: dict[int, int] = {}
    for _shopper, order in expected.values():
        for variant, quantity in order.lines:
            sold[variant] = sold.get(variant, 0) + quantity
    for item in items:
        left, bought = stock[item.variant_id], sold.get(item.variant_id, 0)
        if left != BENCH_STOCK - bought:
            problems.append(f"variant {item.variant_id}: stock {left} after {bought} sold from {BENCH_STOCK}")
    return problems[:20]


def soak(
    seconds: float,
    shoppers: int = SHOPPERS,
    seed: int | None = None,
    out: Path | None = OUT,
    warmup: float | None = None,
    memory_tolerance: float = MEMORY_TOLERANCE,
) -> dict[str, Any]:
    """Run the soak; its figures and criteria (`figures["passed"]`), also written to `out`. The
    warm-up is the first WARMUP_SHARE of the run (at least MIN_WARMUP s) unless `warmup` says;
    the memory at the end may be `memory_tolerance` above or below the memory after it."""
    seed = secrets.randbits(32) if seed is None else seed
    warmup = max(MIN_WARMUP, seconds * WARMUP_SHARE) if warmup is None else warmup
    with tempfile.TemporaryDirectory(prefix="storefront-soak-") as folder:
        tmp = Path(folder)
        port = free_port()
        env = shop_env(tmp, port)
        db_path = prepare_shop_db(tmp, env)
        with reading(db_path) as conn:
            slugs = [slug for (slug,) in conn.execute("SELECT slug FROM products").fetchall()]
        raise_stock(db_path, slugs)
        items = catalogue(db_path)
        settings = Settings.from_env(env)
        argv = [PYTHON, "-m", "web", "serve", "--workers", "1"]
        server = Server("shop", "the shop", argv, env, port, tmp / "shop.log", "/readyz")
        server.start()
        try:
            figures = run(
                server, db_path, items, settings, tmp / "outbox", seconds, warmup, shoppers, seed, memory_tolerance
            )
        finally:
            server.stop()
        figures["server_log_tail"] = server.log_tail(10) if not figures["passed"] else ""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def run(
    server: Server,
    db_path: Path,
    items: list[Item],
    settings: Settings,
    outbox: Path,
    seconds: float,
    warmup: float,
    count: int,
    seed: int,
    memory_tolerance: float,
) -> dict[str, Any]:
    tally = Tally()
    members = min(MEMBERS, count // 2)
    crowd = [
        Shopper(
            n,
            n < members,
            Browser(server.origin, settings.cookie_name, tally),
            items,
            settings.max_line_quantity,
            outbox,
            seed + n,
        )
        for n in range(count)
    ]
    started = time.monotonic()
    before = take_sample(server, db_path, started)
    sampler = Sampler(server, db_path, started)
    stop, gate = threading.Event(), Gate(count)
    threads = [threading.Thread(target=shopper.run, args=(stop, gate), name=shopper.name) for shopper in crowd]
    sampler.start()
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    paused = time.monotonic()
    parked = gate.close_and_wait(PARK_LIMIT)
    after_warmup = at_rest(server, db_path, started)
    gate.reopen()
    pause = time.monotonic() - paused
    time.sleep(max(0.0, started + seconds + pause - time.monotonic()))
    stop.set()
    gate.reopen()
    for thread in threads:
        thread.join(PARK_LIMIT)
    sampler.done.set()
    sampler.join()
    at_end = at_rest(server, db_path, started)
    server.check_alive()
    checked, check_failures = 0, []
    for shopper in crowd:
        if shopper.failure:
            continue
        try:
            problem = shopper.final_check()
        except Unexpected as error:
            problem = str(error)
        finally:
            shopper.browser.close()
        if problem:
            check_failures.append(f"{shopper.name}: {problem}")
        else:
            checked += 1
    db_problems = database_problems(db_path, crowd, items)
    counted_by_server = server_errors_counted(server)

    samples = sorted([before, *sampler.samples, after_warmup, at_end], key=lambda sample: sample.at)
    peak = max(samples, key=lambda sample: sample.rss_kib)
    growth = (at_end.rss_kib - after_warmup.rss_kib) / after_warmup.rss_kib
    server_errors = sum(count for status, count in tally.statuses.items() if status >= 500)
    criteria = {
        "no 5xx answers": server_errors == 0 and counted_by_server == 0,
        "no transport errors": not tally.transport_errors,
        "every answer as the journey expected": not tally.unexpected and parked,
        f"memory at the end within {memory_tolerance:.0%} of after warm-up": abs(growth) <= memory_tolerance,
        "file descriptors not above after warm-up": at_end.fds <= after_warmup.fds,
        "database connections not above after warm-up": at_end.db_connections <= after_warmup.db_connections,
        "every cart and order as its shopper's model": (
            not tally.model_mismatches and not check_failures and checked == count
        ),
        "the database's orders and stock as placed": not db_problems,
    }
    return {
        "passed": all(criteria.values()),
        "criteria": criteria,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "paused_seconds": round(pause, 1),
        "shoppers": count,
        "members": members,
        "seed": seed,
        "requests": tally.requests,  # the final checks' included
        "requests_per_second": round(tally.requests / seconds, 1),
        "statuses": {str(status): n for status, n in sorted(tally.statuses.items())},
        "routes": dict(sorted(tally.routes.items())),
        "server_errors": server_errors,
        "server_errors_counted_by_server": counted_by_server,
        "transport_errors": tally.transport_errors[:10],
        "first_server_errors": tally.server_errors[:10],
        "unexpected": tally.unexpected[:10],
        "model_mismatches": tally.model_mismatches[:10],
        "journeys": sum(shopper.journeys for shopper in crowd),
        "orders": sum(len(shopper.orders) for shopper in crowd),
        "replayed_placements": tally.replays,
        "streams_followed": tally.streams_followed,
        "wrong_passwords": tally.wrong_passwords,
        "registrations": sum(shopper.account is not None for shopper in crowd),
        "shoppers_checked": checked,
        "check_failures": check_failures[:10],
        "database_problems": db_problems,
        "rss_kib": {
            "before": before.rss_kib,
            "after_warmup": after_warmup.rss_kib,
            "end": at_end.rss_kib,
            "max": peak.rss_kib,
            "max_at": peak.at,
            "growth_percent": round(growth * 100, 2),
        },
        "fds": {
            "before": before.fds,
            "after_warmup": after_warmup.fds,
            "end": at_end.fds,
            "max": max(sample.fds for sample in samples),
        },
        "db_connections": {
            "before": before.db_connections,
            "after_warmup": after_warmup.db_connections,
            "end": at_end.db_connections,
            "max": max(sample.db_connections for sample in samples),
        },
        "max_streams_open": max(sample.streams for sample in samples),
        "samples": [sample.__dict__ for sample in samples],
    }


def report(figures: dict[str, Any]) -> str:
    rss, fds, db = figures["rss_kib"], figures["fds"], figures["db_connections"]
    statuses = ", ".join(f"{status}: {n:,}" for status, n in figures["statuses"].items())
    rows = [
        (
            "run",
            f"{figures['seconds']:g} s ({figures['warmup_seconds']:g} s warm-up), {figures['shoppers']} shoppers "
            f"({figures['members']} members), seed {figures['seed']}",
        ),
        (
            "requests",
            f"{figures['requests']:,} ({figures['requests_per_second']:g}/s), {figures['journeys']:,} journeys",
        ),
        ("statuses", statuses),
        ("5xx", f"{figures['server_errors']} seen, {figures['server_errors_counted_by_server']} counted by the server"),
        ("transport errors", str(len(figures["transport_errors"]))),
        (
            "orders",
            f"{figures['orders']:,} placed ({figures['replayed_placements']} sent twice), "
            f"{figures['streams_followed']:,} live streams followed",
        ),
        (
            "accounts",
            f"{figures['registrations']} registered and confirmed by mail, "
            f"{figures['wrong_passwords']} wrong passwords",
        ),
        (
            "RSS",
            f"{rss['before'] / 1024:.1f} MiB at start, {rss['after_warmup'] / 1024:.1f} after warm-up, "
            f"{rss['end'] / 1024:.1f} at the end ({rss['growth_percent']:+.1f}%), "
            f"max {rss['max'] / 1024:.1f} at {rss['max_at']:g} s",
        ),
        (
            "file descriptors",
            f"{fds['before']} at start, {fds['after_warmup']} after warm-up, {fds['end']} at the end, "
            f"max {fds['max']} under load",
        ),
        (
            "database connections",
            f"{db['before']} at start, {db['after_warmup']} after warm-up, {db['end']} at the end, max {db['max']}",
        ),
        ("carts and orders", f"{figures['shoppers_checked']} of {figures['shoppers']} shoppers as modelled"),
    ]
    width = max(len(name) for name, _value in rows)
    lines = [f"  {name:<{width}}  {value}" for name, value in rows]
    lines.append("")
    lines += [f"  {'PASS' if ok else 'FAIL'}  {name}" for name, ok in figures["criteria"].items()]
    for key in (
        "first_server_errors",
        "transport_errors",
        "unexpected",
        "model_mismatches",
        "check_failures",
        "database_problems",
    ):
        for problem in figures[key]:
            lines.append(f"  {key.replace('_', ' ')}: {problem}")
    if figures.get("server_log_tail"):
        lines.append("  server log:\n" + figures["server_log_tail"])
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"soak: {args.seconds:g} s, {args.shoppers} shoppers against one server (APP_ENV=production)", flush=True)
    try:
        figures = soak(args.seconds, args.shoppers, args.seed)
    except BenchError as error:
        print(f"error: {error}")
        return 1
    print(report(figures))
    print(f"  written to {OUT.relative_to(ROOT)}")
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
