"""Live order streams at scale: many open streams on one worker, a status change to many orders.

    .venv/bin/python -m bench.fanout                      # 1,000 streams over 100 orders (make bench-fanout)
    .venv/bin/python -m bench.fanout --orders 20 --per-order 5

What it does:
1. Serves the shop with `python -m web serve` (one worker, SQLite, events in-process) on a fresh
   demo database, and places `--orders` orders, each by its own guest (checkout without JavaScript).
2. Opens `--per-order` streams (GET /orders/{number}/events) per order with its guest's cookie, on
   loopback, read by one asyncio client; waits until each has its first event.
3. Reads the server's resident memory before and after opening them, and its CPU over an idle
   window with all of them open (one heartbeat, whose look at each order is included).
4. A staff member moves every order to "packed" through the JSON API, one after another; each
   stream's arrival of that status is timed from the moment its order's request was sent.
Prints the figures and writes them to var/bench/fanout.json. Exits 1 if a stream misses its event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.errors import BenchError
from bench.servers import HOST, PYTHON, ROOT, Server, free_port, request
from bench.shop import ADD_PRODUCTS, ShopClient, prepare_shop_db

STAFF_EMAIL = "fanout-staff@example.com"
STAFF_PASSWORD = "a staff passphrase for the bench"
ORDER_LOCATION = re.compile(r"/orders/([A-Z0-9]+)$")
SET_COOKIE = re.compile(r"session=([^;]+)")
HEARTBEAT_SECONDS = 20


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--per-order", type=int, default=10)
    parser.add_argument("--idle", type=float, default=HEARTBEAT_SECONDS + 2, help="seconds of idle CPU measured")
    return parser.parse_args(argv)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def place_orders(client: ShopClient, count: int) -> list[tuple[str, str]]:
    """`count` orders, each placed by its own guest: (number, that guest's cookie)."""
    first, product = client.visit_product(ADD_PRODUCTS[0])
    products = [product] + [client.visit_product(slug, first)[1] for slug in ADD_PRODUCTS[1:]]
    placed = []
    for review in client.new_reviews(products, count):
        status, headers, text = client.post_form(
            review.shopper, "/checkout/place", {"idempotency_key": review.key, "reviewed": review.reviewed}
        )
        found = ORDER_LOCATION.search(headers.get("Location") or "")
        if status != 303 or found is None:
            raise BenchError(f"placing an order answered {status}: {text[:300]!r}")
        placed.append((found.group(1), review.shopper.cookie))
    return placed


def staff_cookie(client: ShopClient, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, "-m", "web", "create-staff", STAFF_EMAIL, "--password-stdin"],
        cwd=ROOT,
        env=env,
        input=STAFF_PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"create-staff failed: {done.stderr}")
    visitor, _product = client.visit_product(ADD_PRODUCTS[0])
    status, headers, _text = client.post_form(
        visitor, "/login", {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "next": "/staff"}
    )
    cookies = [SET_COOKIE.search(value) for value in headers.get_all("Set-Cookie") or []]
    found = next((match.group(1) for match in cookies if match), None)
    if status != 303 or found is None:
        raise BenchError(f"staff login answered {status}")
    return found


def profile(pid: int) -> subprocess.Popen[bytes]:
    """py-spy on the server while the changes fan out (FANOUT_PROFILE=<file>: collapsed stacks)."""
    out = os.environ["FANOUT_PROFILE"]
    return subprocess.Popen(["py-spy", "record", "-p", str(pid), "-d", "8", "-r", "200", "-f", "raw", "-o", out])


class Stream:
    """One open stream, read line by line: its first `status` event, then the next one's arrival."""

    def __init__(self, number: str) -> None:
        self.number = number
        self.ready = asyncio.Event()
        self.arrived: float | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int, cookie: str) -> None:
        reader, self.writer = await asyncio.open_connection(HOST, port)
        self.writer.write(
            (
                f"GET /orders/{self.number}/events HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                f"Cookie: session={cookie}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        status = await reader.readline()
        if b" 200 " not in status:
            raise BenchError(f"stream for {self.number} answered {status!r}")
        seen = 0
        while line := await reader.readline():
            if line.startswith(b"event: status"):
                seen += 1
                if seen == 1:
                    self.ready.set()
                else:
                    self.arrived = time.monotonic()
                    return

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def fan_out(
    port: int, orders: list[tuple[str, str]], per_order: int, staff: str, idle: float, pid: int
) -> dict[str, float]:
    before = rss_kib(pid)
    streams = [Stream(number) for number, _cookie in orders for _ in range(per_order)]
    cookies = {number: cookie for number, cookie in orders}
    tasks = [asyncio.create_task(stream.run(port, cookies[stream.number])) for stream in streams]
    opened = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(stream.ready.wait() for stream in streams)), timeout=120)
    open_seconds = time.monotonic() - opened
    await asyncio.sleep(1)
    after = rss_kib(pid)

    cpu_start, idle_start = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(idle)
    idle_cpu = (cpu_seconds(pid) - cpu_start) / (time.monotonic() - idle_start)

    sent: dict[str, float] = {}

    def publish_all() -> None:
        for number, _cookie in orders:
            sent[number] = time.monotonic()
            status, _headers, text = request(
                port,
                "POST",
                f"/api/staff/orders/{number}/status",
                {"Cookie": f"session={staff}", "Content-Type": "application/json"},
                json.dumps({"status": "packed"}),
            )
            if status != 200:
                raise BenchError(f"moving {number} answered {status}: {text[:200]!r}")

    spy = profile(pid) if os.environ.get("FANOUT_PROFILE") else None
    published = time.monotonic()
    await asyncio.to_thread(publish_all)
    publish_seconds = time.monotonic() - published
    if spy is not None:
        spy.wait(timeout=60)
    done, _pending = await asyncio.wait(tasks, timeout=30)
    for task in done:
        if task.exception():
            raise task.exception()  # type: ignore[misc]
    delays = sorted((stream.arrived - sent[stream.number]) * 1000 for stream in streams if stream.arrived)
    for stream in streams:
        stream.close()
    for task in tasks:
        task.cancel()
    if len(delays) != len(streams):
        raise BenchError(f"{len(streams) - len(delays)} of {len(streams)} streams missed their event")
    return {
        "streams": len(streams),
        "orders": len(orders),
        "open_seconds": round(open_seconds, 2),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_stream": round((after - before) / len(streams), 1),
        "idle_cpu_percent": round(idle_cpu * 100, 2),
        "idle_seconds": idle,
        "publish_seconds": round(publish_seconds, 2),
        "p50_ms": round(statistics.median(delays), 1),
        "p99_ms": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 1),
        "max_ms": round(delays[-1], 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="storefront-fanout-") as folder:
        tmp = Path(folder)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp / 'shop.db'}",
            "APP_ENV": "development",
            "HOST": HOST,
            "PORT": str(port),
            "OUTBOX_DIR": str(tmp / "outbox"),
            "MAIL_IN_BACKGROUND": "0",
            "SESSION_STORE_URL": "",
            "EVENTS_URL": "",
            "STREAMS_PER_SESSION": str(args.per_order),
            "STREAM_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        }
        prepare_shop_db(tmp, env)
        server = Server("shop", "the shop", [PYTHON, "-m", "web", "serve"], env, port, tmp / "shop.log", "/readyz")
        server.start()
        try:
            client = ShopClient(server, "session")
            orders = place_orders(client, args.orders)
            staff = staff_cookie(client, env)
            figures = asyncio.run(fan_out(port, orders, args.per_order, staff, args.idle, server.pid))
        except BenchError as error:
            print(f"fan-out failed: {error}\n{server.log_tail()}")
            return 1
        finally:
            server.stop()
    print(
        f"{figures['streams']} streams over {figures['orders']} orders, one worker (SQLite, events in-process)\n"
        f"  opened in {figures['open_seconds']} s; server RSS {figures['rss_before_kib'] / 1024:.1f} MiB before, "
        f"{figures['rss_after_kib'] / 1024:.1f} MiB after: {figures['kib_per_stream']} KiB per open stream\n"
        f"  idle with every stream open: {figures['idle_cpu_percent']}% of a core over {figures['idle_seconds']:g} s "
        f"(one heartbeat and its look at each order included)\n"
        f"  {figures['orders']} status changes sent in {figures['publish_seconds']} s; publish to arrival "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms"
    )
    out = ROOT / "var" / "bench" / "fanout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"  written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
