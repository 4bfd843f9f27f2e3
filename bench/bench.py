"""Storefront benchmark: the shop's hot paths next to a bare Litestar route, same server, same load.

    .venv/bin/python bench/bench.py --production           # both HTTP parsers, 3 interleaved rounds of 15 s each
    .venv/bin/python bench/bench.py --quick --production   # 1 round of 5 s per parser (`make bench-quick`)

What it does (bench/README.md has the reasoning):
1. Counts SQL statements per request in-process (TestClient + `db.statements`).
2. For each of uvicorn's HTTP parsers (h11, then httptools; `--http` picks one), serves
   bench/bare_app.py, the shop (migrated temp SQLite DB with the demo catalogue) and
   bench/floor_app.py (the add's form and SQL on the shop's database, nothing rendered), each with
   uvicorn, one worker, access log off, log level warning.
3. Loads them with wrk (-t2 -c8, --latency) in interleaved rounds: bare GET, htmx add-to-cart
   (a Lua script rotating over many pre-created shoppers x 3 products, so every add is a real
   upsert), the floor with the same script, cart page with 3 lines. Prints req/s, p50, p99, % of
   bare and PASS/FAIL per target from DESIGN.md section 8 for each parser. Exits 0 whatever the
   figures; 1 if a server fails to start or dies, or the shop answers an error while shoppers are
   prepared; 2 if wrk is missing and cannot be installed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import logging
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
PYTHON = sys.executable
HOST = "127.0.0.1"

THREADS = 2
CONNECTIONS = 8
# Products the add-to-cart load rotates over (single-variant demo products). Their stock is raised
# in the benchmark's own database so the per-line limit (CART_MAX_LINE_QUANTITY, 99) is the cap.
ADD_PRODUCTS = ("test-1", "test-2", "tea-tin")
BENCH_STOCK = 100_000
BUSY_CPU = 0.2  # other processes using more than this many CPUs during a measurement: figures suspect
MIN_SHOPPERS = 64
# Throughput the add rotation must absorb without any line reaching its limit (about 2.5x the
# best figure in DESIGN.md section 8); the number of shoppers per round is sized from it.
ADD_RATE_CEILING = 5_000

# uvicorn's HTTP parsers, each measured with all three apps. The share of the bare route depends on
# the parser: its cost is a fixed amount per request, most of a bare route's and little of the shop's.
PARSERS = ("h11", "httptools")
SETUPS = {
    "h11": "uvicorn's pure-Python parser, the setup DESIGN.md section 8's figures were measured with"
    " (a bare route at about 6,700 req/s there)",
    "httptools": "the parser the shop is served with (`litestar[standard]` installs it), for comparison",
}
TARGET_SHARE = 25.0  # % of the bare route's req/s
TARGET_P99_MS = 25.0
TARGET_SQL_ADD = 6
TARGET_SQL_CART = 5

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
VARIANT_INPUT = re.compile(r'name="variant_id" value="(\d+)"')
LUA_SAFE = re.compile(r"^[A-Za-z0-9_.:/=&%-]*$")


class BenchError(RuntimeError):
    """Something the benchmark needs did not work (a server, a request, the prepared data)."""


class ServerFailed(BenchError):
    """A server (or the shop's database setup) did not start, or a server died."""


# --------------------------------------------------------------------------------------------
# wrk


def ensure_wrk() -> str:
    """wrk's path; installed with apt-get when missing and we may, otherwise exit 2."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is not installed; installing it with apt-get ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    print(
        "error: this benchmark needs wrk (https://github.com/wg/wrk) on PATH.\n"
        "Install it with your package manager (Debian/Ubuntu: `sudo apt-get install wrk`, macOS: `brew install wrk`)"
        " and run again.",
        file=sys.stderr,
    )
    sys.exit(2)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    bytes_per_request: float
    non_2xx: int
    socket_errors: int
    server_cpu_us: float | None = None  # the server's CPU time per request (user + system)
    other_cpu: float | None = None  # CPUs used meanwhile by processes other than wrk and our servers

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


# Appended to every script: wrk's own summary as one JSON line, in microseconds.
REPORT_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"requests\": %.0f, \"duration_us\": %.0f, \"bytes\": %.0f, \"p50_us\": %.0f, " ..
    "\"p90_us\": %.0f, \"p99_us\": %.0f, \"max_us\": %.0f, \"connect\": %.0f, \"read\": %.0f, " ..
    "\"write\": %.0f, \"status\": %.0f, \"timeout\": %.0f}\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class CpuSample:
    at: float  # monotonic seconds
    busy: float  # CPU seconds the whole machine spent busy since boot
    servers: dict[int, float]  # CPU seconds per server pid
    ours: float  # CPU seconds of this process and its finished children (wrk)


def cpu_sample(pids: Sequence[int]) -> CpuSample | None:
    """Linux /proc accounting; None elsewhere."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        busy = (sum(fields) - fields[3] - fields[4]) / tick  # all but idle and iowait
        servers = {}
        for pid in pids:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            servers[pid] = (int(stat[11]) + int(stat[12])) / tick  # utime + stime
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    ours = children.ru_utime + children.ru_stime + me.ru_utime + me.ru_stime
    return CpuSample(time.monotonic(), busy, servers, ours)


def cpu_split(start: CpuSample | None, end: CpuSample | None, target: int) -> tuple[float | None, float | None]:
    """(CPU seconds the target server used, CPUs the rest of the machine used on average).

    The rest is everything but our servers, wrk and this process: other sessions' test runs on a
    shared 2-core machine skew the figures, and this makes that visible.
    """
    if start is None or end is None or end.at <= start.at:
        return None, None
    servers = {pid: end.servers[pid] - start.servers.get(pid, 0.0) for pid in end.servers}
    ours = sum(servers.values()) + end.ours - start.ours
    return servers.get(target), max(end.busy - start.busy - ours, 0.0) / (end.at - start.at)


def wait_until_quiet(limit: float, pids: Sequence[int]) -> None:
    """Wait (at most `limit` seconds) until other processes use at most BUSY_CPU for 3 s in a row."""
    deadline = time.monotonic() + limit
    quiet = 0
    told = False
    while quiet < 3 and time.monotonic() < deadline:
        start = cpu_sample(pids)
        time.sleep(1)
        _server, other = cpu_split(start, cpu_sample(pids), 0)
        if other is None:
            return
        quiet = quiet + 1 if other <= BUSY_CPU else 0
        if not quiet and not told:
            print(
                f"    (other processes use {other:.2f} CPU; waiting up to {limit:g} s for a quiet machine)", flush=True
            )
            told = True


def run_wrk(
    wrk: str,
    url: str,
    script: Path,
    seconds: float,
    headers: Sequence[str] = (),
    pids: Sequence[int] = (),
    target: int = 0,
) -> WrkResult:
    argv = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "--timeout", "5s"]
    for header in headers:
        argv += ["-H", header]
    argv += ["-s", str(script), url]
    before = cpu_sample(pids)
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)
    server_cpu, other_cpu = cpu_split(before, cpu_sample(pids), target)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    requests = int(data["requests"])
    return WrkResult(
        requests=requests,
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        bytes_per_request=data["bytes"] / requests if requests else 0.0,
        non_2xx=int(data["status"]),
        socket_errors=int(data["connect"] + data["read"] + data["write"] + data["timeout"]),
        server_cpu_us=server_cpu * 1e6 / requests if server_cpu is not None and requests else None,
        other_cpu=other_cpu,
    )


def lua_string(value: str) -> str:
    if not LUA_SAFE.match(value):
        raise BenchError(f"unexpected characters in a value for the wrk script: {value!r}")
    return f'"{value}"'


def add_script(
    path: Path, origin: str, cookie_name: str, shoppers: Sequence[Shopper], products: Sequence[Product]
) -> Path:
    """A wrk script for htmx add-to-cart that rotates over every (product, shopper) pair.

    Requests are formatted once per thread in init(); request() only picks the next one. Thread k
    of n takes pairs k, k+n, k+2n, ... so consecutive adds hit different shoppers' carts.
    """
    shopper_rows = ",\n".join(f"  {{{lua_string(s.cookie)}, {lua_string(s.csrf)}}}" for s in shoppers)
    product_rows = ",\n".join(f"  {{{lua_string(p.slug)}, {lua_string(str(p.variant_id))}}}" for p in products)
    script = f"""-- bench/bench.py: htmx add-to-cart over {len(shoppers)} shoppers x {len(products)} products
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
    path.write_text(script + REPORT_LUA)
    return path


# --------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_path: str
    process: subprocess.Popen[bytes] | None = None
    ready_status: int = 200

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited with {self.process.returncode} on start:\n{self.log_tail()}")
            try:
                status, _headers, _body = request(self.port, "GET", self.ready_path, timeout=2)
            except OSError:
                time.sleep(0.1)
                continue
            if status == self.ready_status:
                return
            raise ServerFailed(f"{self.name} answered {status} on {self.ready_path}:\n{self.log_tail()}")
        raise ServerFailed(f"{self.name} did not answer on port {self.port} within {timeout:g} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise ServerFailed(f"{self.name} died:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def uvicorn_argv(app: str, port: int, *extra: str) -> list[str]:
    """The shop's uvicorn options, access log off: one worker, default loop and HTTP (uvloop, httptools)
    unless `extra` picks another HTTP parser."""
    return [
        PYTHON,
        "-m",
        "uvicorn",
        app,
        *extra,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--no-proxy-headers",  # `python -m web serve` passes proxy_headers=False
    ]


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    timeout: float = 10,
) -> tuple[int, http.client.HTTPMessage, str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Shoppers


@dataclass(frozen=True)
class Shopper:
    cookie: str
    csrf: str


@dataclass(frozen=True)
class Product:
    slug: str
    variant_id: int


@dataclass(frozen=True)
class Shop:
    server: Server
    cookie_name: str

    def cookie_header(self, shopper: Shopper) -> str:
        return f"{self.cookie_name}={shopper.cookie}"

    def visit_product(self, slug: str, shopper: Shopper | None = None) -> tuple[Shopper, Product]:
        """GET a product page like a browser: the session cookie, the form's CSRF token and variant id."""
        headers = {"Cookie": self.cookie_header(shopper)} if shopper else {}
        status, response_headers, body = request(self.server.port, "GET", f"/products/{slug}", headers)
        if status != 200:
            raise BenchError(f"GET /products/{slug} answered {status}; shop log:\n{self.server.log_tail()}")
        cookie = shopper.cookie if shopper else ""
        for value in response_headers.get_all("Set-Cookie") or []:
            found = re.match(rf"\s*{re.escape(self.cookie_name)}=([^;]+)", value)
            if found:
                cookie = found.group(1)
        csrf = CSRF_INPUT.search(body)
        variant = VARIANT_INPUT.search(body)
        if not cookie or csrf is None or variant is None:
            raise BenchError(f"GET /products/{slug}: no session cookie, csrf_token or variant_id in the answer")
        return Shopper(cookie, csrf.group(1)), Product(slug, int(variant.group(1)))

    def add(self, shopper: Shopper, product: Product) -> int:
        """One htmx add-to-cart, exactly as the wrk script sends it; the answer's length in bytes."""
        headers = {
            "Cookie": self.cookie_header(shopper),
            "HX-Request": "true",
            "X-CSRF-Token": shopper.csrf,
            "Content-Type": "application/x-www-form-urlencoded",
            "HX-Current-URL": f"{self.server.origin}/products/{product.slug}",
        }
        body = urlencode({"product": product.slug, "variant_id": product.variant_id, "quantity": 1})
        status, _headers, text = request(self.server.port, "POST", "/cart/items", headers, body)
        if status != 200:
            raise BenchError(
                f"htmx add of {product.slug} answered {status}: {text[:300]!r}; shop log:\n{self.server.log_tail()}"
            )
        return len(text.encode())

    def new_shopper(self, products: Sequence[Product]) -> Shopper:
        """A shopper who has one of each product in the cart, so the cart and its lines already exist."""
        shopper, _product = self.visit_product(products[0].slug)
        for product in products:
            self.add(shopper, product)
        return shopper


def bench_db_stats(db_path: Path, carts_after: int, limit: int) -> tuple[int, int, int]:
    """(lines, total quantity, lines at the per-line limit) in carts with id > carts_after."""
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(quantity), 0), coalesce(sum(quantity >= ?), 0)"
            " FROM cart_lines WHERE cart_id > ?",
            (limit, carts_after),
        ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def max_cart_id(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as conn:
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM carts").fetchone()[0])


def raise_stock(db_path: Path, slugs: Sequence[str]) -> None:
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as conn, conn:
        marks = ",".join("?" * len(slugs))
        conn.execute(
            f"UPDATE variants SET stock = ? WHERE product_id IN (SELECT id FROM products WHERE slug IN ({marks}))",
            (BENCH_STOCK, *slugs),
        )


# --------------------------------------------------------------------------------------------
# SQL statements per request, in-process


@dataclass(frozen=True)
class SqlCount:
    label: str
    kind: str  # "add", "first-add" or "cart" (checked against a target), or "" (for information)
    count: int
    statements: tuple[str, ...]


def count_statements(tmp: Path) -> list[SqlCount]:
    """Statements per request through the real app (TestClient), read from `db.statements`."""
    sys.path.insert(0, str(ROOT))
    from litestar.testing import TestClient
    from sqlalchemy import text

    from web import demo
    from web.__main__ import migrate
    from web.app import create_app
    from web.settings import Settings

    logging.getLogger("httpx").setLevel(logging.WARNING)  # TestClient logs every request at INFO
    settings = Settings(database_url=f"sqlite:///{tmp / 'sql-count.db'}")
    with contextlib.redirect_stdout(io.StringIO()):
        migrate(settings)
    app = create_app(settings)
    app.state.access_log.stream = io.StringIO()  # the shop's per-request log line, not wanted here
    db = app.state.shop.db
    with db.engine.begin() as conn:
        demo.load(conn)
        rows = conn.execute(
            text(
                "SELECT p.slug, v.id FROM variants v JOIN products p ON p.id = v.product_id"
                " WHERE p.active AND v.stock > 0 ORDER BY p.position, p.id, v.id"
            )
        ).all()
    first_variant: dict[str, int] = {}
    for slug, variant_id in rows:
        first_variant.setdefault(str(slug), int(variant_id))
    products = [Product(slug, variant_id) for slug, variant_id in first_variant.items()]
    if len(products) < 10:
        raise BenchError("the demo catalogue has fewer than 10 products in stock")
    test_1 = next(p for p in products if p.slug == "test-1")
    others = [p for p in products if p.slug != "test-1"][:9]

    db.seen = seen = []
    results: list[SqlCount] = []
    base = "http://shop.test"
    with TestClient(app, base_url=base) as client:
        csrf = ""

        def measure(label: str, kind: str, call: Callable[[], Any]) -> None:
            seen.clear()
            before = db.statements
            response = call()
            if response.status_code != 200:
                raise BenchError(f"{label}: status {response.status_code}: {response.text[:300]}")
            results.append(SqlCount(label, kind, db.statements - before, tuple(" ".join(s.split()) for s in seen)))

        def page(path: str) -> Any:
            nonlocal csrf
            response = client.get(path)
            found = CSRF_INPUT.search(response.text)
            if found:
                csrf = found.group(1)
            return response

        def add(product: Product, quantity: int = 1) -> Any:
            headers = {"HX-Request": "true", "X-CSRF-Token": csrf, "HX-Current-URL": f"{base}/products/{product.slug}"}
            form = {"product": product.slug, "variant_id": str(product.variant_id), "quantity": str(quantity)}
            return client.post("/cart/items", data=form, headers=headers)

        measure("product page, new visitor", "", lambda: page("/products/test-1"))
        measure("product page, returning visitor", "", lambda: page("/products/test-1"))
        measure("add: first add (creates the cart)", "first-add", lambda: add(test_1))
        measure("cart page, 1 line", "cart", lambda: page("/cart"))
        measure("add: product already in the cart", "add", lambda: add(test_1))
        measure("add: new line in an existing cart", "add", lambda: add(others[0]))
        for product in others[1:]:
            add(product)
        measure("cart page, 10 lines", "cart", lambda: page("/cart"))
        measure("add: product already in a 10-line cart", "add", lambda: add(test_1))
        add(test_1, settings.max_line_quantity)
        measure("add: line at its limit (no upsert)", "", lambda: add(test_1))
    db.dispose()
    return results


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class Scenario:
    key: str
    title: str
    results: list[WrkResult] = field(default_factory=list)

    def median(self, pick: Callable[[WrkResult], float]) -> float:
        return statistics.median(pick(r) for r in self.results) if self.results else math.nan


@dataclass
class AddCheck:
    round: int
    shoppers: int
    requests: int
    increments: int
    lines_at_limit: int


def prepare_shop_db(tmp: Path, env: dict[str, str]) -> Path:
    db_path = tmp / "shop.db"
    for command in ("migrate", "load-demo"):
        done = subprocess.run(
            [PYTHON, "-m", "web", command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ServerFailed(f"`python -m web {command}` failed:\n{done.stdout}{done.stderr}")
    raise_stock(db_path, ADD_PRODUCTS)
    return db_path


def shoppers_per_round(seconds: float, products: int, per_line: int) -> int:
    """Enough shoppers that no cart line reaches its limit even at ADD_RATE_CEILING req/s."""
    return max(MIN_SHOPPERS, math.ceil(ADD_RATE_CEILING * seconds / (products * per_line)))


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_environment(wrk: str) -> None:
    import importlib.util

    import uvicorn

    wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (wrk_version.stdout or wrk_version.stderr).strip().splitlines()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"uvicorn {uvicorn.__version__} ({loop}, {parser}); {first[0] if first else 'wrk'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        choices=("both", *PARSERS),
        default="both",
        help="uvicorn's HTTP parser for all three servers: h11, the pure-Python parser DESIGN.md section 8's figures "
        "were measured with (its bare route: ~6,700 req/s), httptools, the one the shop is served with, or both "
        "(the default: h11 first, then httptools)",
    )
    parser.add_argument("--show-sql", action="store_true", help="print the statements behind each SQL count")
    args = parser.parse_args(argv)
    if args.shop_cli and args.http != "httptools":
        parser.error("--shop-cli needs --http httptools: `python -m web serve` keeps uvicorn's default parser")
    rounds = args.rounds or (1 if args.quick else 3)
    duration = args.duration or (5.0 if args.quick else 15.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = ensure_wrk()
    print_environment(wrk)
    with tempfile.TemporaryDirectory(prefix="storefront-bench-") as tmp_name, contextlib.ExitStack() as servers:
        tmp = Path(tmp_name)
        try:
            sql = count_statements(tmp)
            return run(args, wrk, tmp, servers, sql, rounds, duration, warmup)
        except BenchError as error:  # a server failed to start or died, or the shop answered an error
            print(f"error: {error}", file=sys.stderr)
            return 1


@dataclass
class Measured:
    """One parser's run: its scenarios (medians over the rounds) and the add-to-cart write checks."""

    parser: str
    scenarios: dict[str, Scenario]
    checks: list[AddCheck]


@dataclass(frozen=True)
class Plan:
    """What every parser's run shares: the options, the shop's environment and database, the timings."""

    args: argparse.Namespace
    wrk: str
    tmp: Path
    env: dict[str, str]
    settings: Any
    db_path: Path
    rounds: int
    duration: float
    warmup: float


def run(
    args: argparse.Namespace,
    wrk: str,
    tmp: Path,
    servers: contextlib.ExitStack,
    sql: list[SqlCount],
    rounds: int,
    duration: float,
    warmup: float,
) -> int:
    sys.path.insert(0, str(ROOT))
    from web.settings import Settings

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'shop.db'}", "PYTHONUNBUFFERED": "1"}
    if args.production:
        env.update(APP_ENV="production", COOKIE_SECURE="true", DEBUG="false")
    settings = Settings.from_env(env)
    plan = Plan(args, wrk, tmp, env, settings, prepare_shop_db(tmp, env), rounds, duration, warmup)
    measured = []
    for parser in PARSERS if args.http == "both" else (args.http,):
        with contextlib.ExitStack() as these:
            servers.callback(these.close)  # also on Ctrl-C or SIGTERM
            measured.append(measure_parser(plan, parser, these))
    report(measured, sql, args.show_sql)
    return 0


def measure_parser(plan: Plan, parser: str, servers: contextlib.ExitStack) -> Measured:
    """Serve the bare app, the floor and the shop with one HTTP parser and measure them in interleaved rounds."""
    args, wrk, tmp, env, settings, db_path = plan.args, plan.wrk, plan.tmp, plan.env, plan.settings, plan.db_path
    rounds, duration, warmup = plan.rounds, plan.duration, plan.warmup
    bare_port, floor_port, shop_port = free_port(), free_port(), free_port()
    bare = Server(
        "bare Litestar app",
        uvicorn_argv("bare_app:app", bare_port, "--app-dir", str(BENCH_DIR), "--http", parser),
        dict(os.environ),
        bare_port,
        tmp / f"bare-{parser}.log",
        "/",
    )
    if args.shop_cli:
        shop_argv = [PYTHON, "-m", "web", "serve", "--workers", "1"]
        shop_env = {**env, "HOST": HOST, "PORT": str(shop_port)}
    else:
        shop_argv = uvicorn_argv("web.app:create_app", shop_port, "--factory", "--http", parser)
        shop_env = env
    shop_server = Server("shop", shop_argv, shop_env, shop_port, tmp / f"shop-{parser}.log", "/products/test-1")
    for server in (bare, shop_server):
        servers.callback(server.stop)
        server.start()
    shop = Shop(shop_server, settings.cookie_name)
    how = "`python -m web serve`" if args.shop_cli else "uvicorn, access log off"
    how += f", APP_ENV={settings.app_env}, HTTP parser for all three: {parser}"

    # The cart page's shopper: three lines, the same products the add load rotates over.
    first, product = shop.visit_product(ADD_PRODUCTS[0])
    products = [product] + [shop.visit_product(slug, first)[1] for slug in ADD_PRODUCTS[1:]]
    cart_shopper = shop.new_shopper(products)
    floor_env = {**env, "STOREFRONT_DB": str(db_path), "STOREFRONT_FLOOR_BYTES": str(shop.add(cart_shopper, product))}
    floor = Server(
        "floor app",
        uvicorn_argv("floor_app:app", floor_port, "--app-dir", str(BENCH_DIR), "--http", parser),
        floor_env,
        floor_port,
        tmp / f"floor-{parser}.log",
        "/nowhere",
        ready_status=404,
    )
    servers.callback(floor.stop)
    floor.start()
    print(f"servers: bare on :{bare_port}, floor on :{floor_port}, shop on :{shop_port} ({how}); SQLite at {db_path}")
    per_line = settings.max_line_quantity - 1  # each line starts at 1
    n_shoppers = shoppers_per_round(warmup + duration, len(products), per_line)
    print(
        f"load: wrk -t{THREADS} -c{CONNECTIONS} --latency, {warmup:g} s warm-up + {duration:g} s per measurement, "
        f"{rounds} interleaved round(s); add-to-cart rotates over {n_shoppers} fresh shoppers x {len(products)} "
        f"products per round, and the floor over the same ones after it\n"
    )

    report_lua = tmp / "report.lua"
    report_lua.write_text(REPORT_LUA)
    scenarios = {
        "bare": Scenario("bare", "bare Litestar GET /"),
        "floor": Scenario("floor", "floor: form + add's SQL, no HTML"),
        "add": Scenario("add", "htmx add-to-cart POST /cart/items"),
        "cart": Scenario("cart", "cart page GET /cart (3 lines)"),
    }
    checks: list[AddCheck] = []
    cart_cookie = f"Cookie: {shop.cookie_header(cart_shopper)}"
    pids = [bare.pid, floor.pid, shop_server.pid]

    def measure(key: str, server: Server, path: str, script: Path, headers: Sequence[str] = ()) -> int:
        """Warm up, then measure; returns how many requests completed in both."""
        url = f"{server.origin}{path}"
        if args.wait_quiet > 0:
            wait_until_quiet(args.wait_quiet, pids)
        warm = run_wrk(wrk, url, script, warmup, headers, pids, server.pid).requests if warmup > 0 else 0
        result = run_wrk(wrk, url, script, duration, headers, pids, server.pid)
        for each in (bare, floor, shop_server):
            each.check_alive()
        scenarios[key].results.append(result)
        extra = f", {result.errors} ERRORS ({result.non_2xx} non-2xx)" if result.errors else ""
        if result.other_cpu is not None:
            extra += f", other load {result.other_cpu:.2f} CPU" + (" (BUSY)" if result.other_cpu > BUSY_CPU else "")
        cpu = f"  server CPU {result.server_cpu_us:,.0f} µs/req" if result.server_cpu_us is not None else ""
        print(
            f"  {scenarios[key].title:<36} {result.rps:>7,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
            f"p99 {result.p99_ms:6.2f} ms  {result.bytes_per_request:>6,.0f} B/resp{cpu}{extra}"
        )
        return warm + result.requests

    for number in range(1, rounds + 1):
        print(f"{parser}, round {number}/{rounds}")
        measure("bare", bare, "/", report_lua)

        carts_before = max_cart_id(db_path)
        started = time.monotonic()
        shoppers = [shop.new_shopper(products) for _ in range(n_shoppers)]
        prepared = time.monotonic() - started
        script = add_script(
            tmp / f"add-{parser}-{number}.lua", shop_server.origin, shop.cookie_name, shoppers, products
        )
        sent = measure("add", shop_server, "/cart/items", script)
        lines, quantity, at_limit = bench_db_stats(db_path, carts_before, settings.max_line_quantity)
        checks.append(AddCheck(number, n_shoppers, sent, quantity - lines, at_limit))
        print(f"    ({n_shoppers} shoppers prepared in {prepared:.1f} s; {quantity - lines:,} line increments stored)")

        measure("floor", floor, "/cart/items", script)
        measure("cart", shop_server, "/cart", report_lua, [cart_cookie])
        print()
    for server in (floor, shop_server, bare):
        server.stop()
    return Measured(parser, scenarios, checks)


def share(measured: Measured, key: str) -> float:
    bare_rps = measured.scenarios["bare"].median(lambda r: r.rps)
    rps = measured.scenarios[key].median(lambda r: r.rps)
    return 100 * rps / bare_rps if bare_rps else math.nan


def report(measured: list[Measured], sql: list[SqlCount], show_sql: bool) -> None:
    for each in measured:
        rounds = len(each.scenarios["bare"].results)
        print(f"{each.parser}: medians of {rounds} round(s), 1 uvicorn worker each, wrk -t{THREADS} -c{CONNECTIONS}:")
        print(f"  {'':<36} {'req/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}  {'% of bare':>9}  {'CPU µs/req':>10}")
        for key, scenario in each.scenarios.items():
            cpu = scenario.median(lambda r: math.nan if r.server_cpu_us is None else r.server_cpu_us)
            print(
                f"  {scenario.title:<36} {fmt(scenario.median(lambda r: r.rps), 0):>9}  "
                f"{fmt(scenario.median(lambda r: r.p50_ms), 2):>7}  {fmt(scenario.median(lambda r: r.p99_ms), 2):>7}  "
                f"{fmt(share(each, key)):>8}%  {fmt(cpu, 0):>10}"
            )
        print()

    print("Add-to-cart writes (every measured add should be a real upsert):")
    for each in measured:
        for check in each.checks:
            spare = check.increments - check.requests
            print(
                f"  {each.parser}, round {check.round}: {check.requests:,} adds completed (warm-up included), "
                f"{check.increments:,} line increments stored (+{spare} in flight at the end), "
                f"{check.lines_at_limit} lines at the per-line limit"
            )

    print("\nSQL statements per request (in-process, TestClient, db.statements):")
    for item in sql:
        print(f"  {item.label:<44} {item.count:>3}")
        if show_sql:
            for statement in item.statements:
                print(f"      {statement[:200]}")

    for each in measured:
        setup = SETUPS[each.parser]
        print(f"\nTargets (DESIGN.md section 8) with {each.parser}, {setup}:")
        for key, name in (("add", "add-to-cart"), ("cart", "cart page")):
            scenario = each.scenarios[key]
            p99 = scenario.median(lambda r: r.p99_ms)
            errors = sum(r.errors for r in scenario.results)
            print(
                f"  {verdict(share(each, key) >= TARGET_SHARE)}  {name} throughput >= {TARGET_SHARE:g}% of bare: "
                f"{fmt(share(each, key))}%"
            )
            print(f"  {verdict(p99 < TARGET_P99_MS)}  {name} p99 < {TARGET_P99_MS:g} ms: {fmt(p99, 2)} ms")
            print(f"  {verdict(errors == 0)}  {name} answers all 2xx: {errors} errors")
        print(
            f"  info  the floor, the most any add-to-cart on this stack can reach: {fmt(share(each, 'floor'))}% of bare"
        )
        writes_ok = all(c.lines_at_limit == 0 and c.increments >= c.requests for c in each.checks)
        print(f"  {verdict(writes_ok)}  every add was a real write (no line at its limit, increments >= adds)")

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

    loads = [
        r.other_cpu for m in measured for sc in m.scenarios.values() for r in sc.results if r.other_cpu is not None
    ]
    if loads and max(loads) > BUSY_CPU:
        print(
            f"\nWARNING: other processes used up to {max(loads):.2f} of {os.cpu_count()} CPUs during the measurements"
            " (see 'other load' above): the figures are skewed; run again on a quiet machine."
        )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers and the temp directory are gone by now
        print("interrupted", file=sys.stderr)
        sys.exit(130)
