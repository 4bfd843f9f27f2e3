"""Storefront benchmark: the shop's hot paths next to a bare Litestar route, same server, same load.

    .venv/bin/python -m bench --production           # both HTTP parsers, 3 interleaved rounds of 15 s each
    .venv/bin/python -m bench --quick --production   # 1 round of 5 s per parser (`make bench-quick`)

What it does (bench/README.md has the reasoning):
1. For each engine (`--engines`: SQLite in a temp directory, PostgreSQL + Redis in a database and a
   Redis database of the run's own), prepares the shop's database and counts SQL statements,
   database round trips and Redis commands per request in-process (bench/sql_counts.py).
2. For each engine, number of workers (SQLite: 1; PostgreSQL: `--workers`) and uvicorn HTTP parser
   (h11, then httptools; `--http` picks one), serves bench/bare_app.py, the shop and the floor
   (bench/floor_app.py or bench/floor_pg_app.py: the add's form, session and SQL, nothing
   rendered), each with uvicorn, that many workers, access log off, log level warning.
3. Loads them with wrk (-t2 -c8, --latency) in interleaved rounds: bare GET, htmx add-to-cart
   (a Lua script rotating over many pre-created shoppers x 3 products, so every add is a real
   upsert), the floor with the same script, cart page and product page with 3 lines in the cart, order
   placement (a Lua script
   sending each of many pre-created shoppers' POST /checkout/place once). Prints req/s, p50, p99,
   % of bare and PASS/FAIL per target from docs/design.md §8 for each setup, and writes it all to
   var/bench/latest.json (`--json` for another path). Exits 0 whatever the
   figures; 1 if a server fails to start or dies, or the shop answers an error while shoppers are
   prepared; 2 if wrk is missing and cannot be installed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.engines import ENGINES, Engine, open_engine
from bench.errors import BenchError
from bench.load import CONNECTIONS, THREADS, ensure_wrk, run_wrk
from bench.report import measurement_line, print_environment, report, write_json
from bench.scenarios import SCENARIOS, Load, Scenario
from bench.servers import GRANIAN, PYTHON, ROOT, wait_until_quiet
from bench.shop import prepare_database
from bench.sql_counts import SqlCount, count_requests
from bench.stack import Plan, Stack
from web.settings import Settings

# uvicorn's HTTP parsers, each measured with all the servers. The share of the bare route depends on
# the parser: its cost is a fixed amount per request, most of a bare route's and little of the shop's.
PARSERS = ("h11", "httptools")
COUNTS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")  # "parser for all three"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 5 s after a 1 s warm-up (make bench-quick)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, or 1 with --quick)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 15, or 5 with --quick)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each measurement (default 2 / 1)")
    parser.add_argument(
        "--shop-cli",
        action="store_true",
        help="start the shop with `python -m web serve` (that command's own uvicorn options) instead of uvicorn",
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="serve the shop with APP_ENV=production (templates not re-checked on disk, Secure cookie)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="before each measurement, wait up to S seconds until other processes leave the CPUs idle",
    )
    parser.add_argument(
        "--http",
        choices=("both", *PARSERS, GRANIAN),
        default="both",
        help="uvicorn's HTTP parser for all three servers: h11, the pure-Python parser docs/design.md §8's figures "
        "were measured with (its bare route: ~6,700 req/s), httptools, the one the shop is served with, or both "
        "(the default: h11 first, then httptools); or granian: the three served by granian instead of uvicorn "
        "(pip install granian first; it is not one of the shop's dependencies)",
    )
    parser.add_argument(
        "--engines",
        type=engine_list,
        default=ENGINES,
        metavar="E[,E]",
        help="the databases to serve the shop on: sqlite (one worker), postgres (PostgreSQL + Redis for sessions "
        "and events, as BENCH_POSTGRES_URL and BENCH_REDIS_URL say: by default postgres@127.0.0.1:5432 and "
        "Redis database 12 at 127.0.0.1:6379); default both",
    )
    parser.add_argument(
        "--workers",
        type=worker_list,
        default=(1, 2),
        metavar="N[,N]",
        help="uvicorn workers per server on PostgreSQL, each measured in turn (default 1,2); SQLite runs 1",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "var" / "bench" / "latest.json",
        help="where the figures go as JSON (default var/bench/latest.json)",
    )
    parser.add_argument(
        "--show-sql", action="store_true", help="print the statements and Redis commands behind each count"
    )
    args = parser.parse_args(argv)
    if args.http == GRANIAN and shutil.which(GRANIAN, path=str(Path(PYTHON).parent)) is None:
        parser.error("--http granian needs granian installed beside this Python: .venv/bin/pip install granian")
    if args.shop_cli and args.http != "httptools":
        parser.error("--shop-cli needs --http httptools: `python -m web serve` keeps uvicorn's default parser")
    return args


def engine_list(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    unknown = [name for name in names if name not in ENGINES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"engines are {', '.join(ENGINES)}, comma-separated; got {value!r}")
    return names


def worker_list(value: str) -> tuple[int, ...]:
    try:
        counts = tuple(dict.fromkeys(int(count) for count in value.split(",")))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"workers are numbers from 1, comma-separated; got {value!r}")
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = ensure_wrk()
    print_environment(wrk)
    with tempfile.TemporaryDirectory(prefix="storefront-bench-") as tmp_name, contextlib.ExitStack() as servers:
        tmp = Path(tmp_name)
        try:
            plan = make_plan(args, wrk, tmp)
            engines, counts = prepare_engines(plan, servers)
            stacks = []
            for engine in engines:
                for workers in (1,) if engine.name == "sqlite" else args.workers:
                    for parser in PARSERS if args.http == "both" else (args.http,):
                        with contextlib.ExitStack() as these:
                            servers.callback(these.close)  # also on Ctrl-C or SIGTERM
                            stacks.append(measure_setup(plan, engine, workers, parser, these))
            report(stacks, counts, args.show_sql)
            write_json(args.json, stacks, counts)
            return 0
        except BenchError as error:  # a server failed to start or died, or the shop answered an error
            print(f"error: {error}", file=sys.stderr)
            return 1


def prepare_engines(plan: Plan, exit_stack: contextlib.ExitStack) -> tuple[list[Engine], dict[str, list[SqlCount]]]:
    """Each engine's databases (removed when `exit_stack` closes), the shop's prepared, and its counts."""
    engines, counts = [], {}
    for name in plan.args.engines:
        engine = open_engine(name, plan.tmp, exit_stack)
        print(f"{name}: preparing the shop's database and counting each request's statements ...", flush=True)
        prepare_database(engine.sql, {**plan.env, **engine.env})
        counts[name] = count_requests(engine, plan.tmp)
        engines.append(engine)
    return engines, counts


def make_plan(args: argparse.Namespace, wrk: str, tmp: Path) -> Plan:
    """The options' timings and the shop's environment, but for its database (each engine adds its own)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("SESSION_STORE_URL", None)
    env.pop("EVENTS_URL", None)
    env["OUTBOX_DIR"] = str(tmp / "outbox")  # the confirmation mail of every order placed, as .eml files
    if args.production:
        env.update(APP_ENV="production", COOKIE_SECURE="true", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(32))
    return Plan(
        args,
        wrk,
        tmp,
        env,
        Settings.from_env(env),
        rounds=args.rounds or (1 if args.quick else 3),
        duration=args.duration or (5.0 if args.quick else 15.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0),
    )


def measure_setup(plan: Plan, engine: Engine, workers: int, parser: str, exit_stack: contextlib.ExitStack) -> Stack:
    """Set up every scenario's server on one engine, with `workers` workers and one HTTP parser, and
    measure them all in interleaved rounds."""
    stack = Stack(plan, engine, workers, parser, exit_stack, SCENARIOS)
    print(f"{stack.label}: starting the servers and preparing shoppers ...", flush=True)
    for scenario in stack.scenarios:
        scenario.setup()
    print_setup(stack)
    for number in range(1, plan.rounds + 1):
        print(f"{stack.label}, round {number}/{plan.rounds}")
        for scenario in stack.scenarios:
            scenario.measured(number, measure(stack, scenario, scenario.load(number)))
        if number == 1:
            stack.note_shop_memory("warm")
        print()
    stack.note_shop_memory("end")
    return stack


def print_setup(stack: Stack) -> None:
    """The "servers:" and "load:" lines: where each server listens, and how they are loaded."""
    plan = stack.plan
    # Each server once, in the summary's order: bare, floor, shop.
    servers = list({id(scenario.server): scenario.server for scenario in stack.shown()}.values())
    count = COUNTS[len(servers)] if len(servers) < len(COUNTS) else str(len(servers))
    how = "`python -m web serve`" if plan.args.shop_cli else "uvicorn, access log off"
    if stack.parser == GRANIAN:
        how = "granian (its own HTTP/1, uvloop), access log off"
    how += f", APP_ENV={plan.settings.app_env}, for all {count}: {stack.workers} worker(s), HTTP parser {stack.parser}"
    listening = ", ".join(f"{server.key} on :{server.port}" for server in servers)
    engine = stack.engine
    where = f"{engine.url}" + (f", sessions and events in {engine.redis_url}" if engine.redis_url else "")
    print(f"servers: {listening} ({how}); {engine.name} at {where}")
    clauses = [clause for scenario in stack.scenarios if (clause := scenario.describe())]
    print(
        f"load: wrk -t{THREADS} -c{CONNECTIONS} --latency, {plan.warmup:g} s warm-up + {plan.duration:g} s per "
        f"measurement, {plan.rounds} interleaved round(s){'; ' if clauses else ''}{', '.join(clauses)}\n"
    )


def measure(stack: Stack, scenario: Scenario, load: Load) -> int:
    """Warm up, then measure; returns how many requests completed in both."""
    plan, server = stack.plan, scenario.server
    url = f"{server.origin}{load.path}"
    pids = [each.pid for each in stack.servers]
    if plan.args.wait_quiet > 0:
        wait_until_quiet(plan.args.wait_quiet, pids)
    warm = 0
    if plan.warmup > 0:
        warm = run_wrk(plan.wrk, url, load.script, plan.warmup, load.headers, pids, server.pid).requests
    result = run_wrk(plan.wrk, url, load.script, plan.duration, load.headers, pids, server.pid)
    for each in stack.servers:
        each.check_alive()
    scenario.results.append(result)
    print(measurement_line(scenario.title, result))
    return warm + result.requests


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers and the temp directory are gone by now
        print("interrupted", file=sys.stderr)
        sys.exit(130)
