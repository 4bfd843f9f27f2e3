"""SQL statements, database round trips and Redis commands per request, counted in-process: the real
app driven with TestClient, no server.

Each engine is counted in a process of its own (`python -m bench.sql_counts`), started by
count_requests(): on PostgreSQL it runs psycopg's pure-Python libpq wrapper (PSYCOPG_IMPL=python),
whose every message to the server can be counted (counters.py), which the C one the servers run
does not allow; the figures are the same, only slower to get.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import logging
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.engines import Engine
from bench.errors import BenchError
from bench.servers import PYTHON, ROOT
from bench.shop import BENCH_STOCK, CHECKOUT_CONTACT, CSRF_INPUT, DELIVERY_METHOD, REVIEW_INPUT, Product

CART_LINES = (1, 10, 50)  # the carts each request is counted for, in distinct products
TIMED = 25  # times a page is requested again, after it was counted, for its server time
EXTRA_PRODUCTS = 40  # added to the demo catalogue (24 products) for a 50-line cart


@dataclass(frozen=True)
class SqlCount:
    label: str
    kind: str  # "add", "first-add", "cart" or "place" (checked against a target), or "" (for information)
    count: int  # db.statements: the tests' count (tests/counting.py)
    statements: tuple[str, ...]
    scenario: str = ""  # the benchmark scenario this request is (its `name`), if any
    lines: int = 0  # the cart's lines when the request came (for placement: the lines ordered)
    round_trips: int | None = None  # messages to the database, transaction control included
    trips: tuple[str, ...] = ()
    redis_commands: int | None = None
    redis: tuple[str, ...] = ()
    server_ms: float | None = None  # the median of the shop's own time for the request (its access log), pages only


def count_requests(engine: Engine, tmp: Path) -> list[SqlCount]:
    """The counts on `engine`'s counting database, from a process of its own."""
    out = tmp / f"sql-counts-{engine.name}.json"
    argv = [PYTHON, "-m", "bench.sql_counts", engine.count_url, engine.redis_url, str(tmp), str(out)]
    env = {**os.environ, "PSYCOPG_IMPL": "python"}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"counting requests on {engine.name} failed:\n{done.stdout}{done.stderr}")
    rows = json.loads(out.read_text())
    return [SqlCount(**{**row, **{key: tuple(row[key]) for key in ("statements", "trips", "redis")}}) for row in rows]


def main(argv: Sequence[str]) -> int:
    database_url, redis_url, tmp, out = argv
    counts = count_statements(database_url, redis_url, Path(tmp))
    Path(out).write_text(json.dumps([dataclasses.asdict(count) for count in counts]))
    return 0


def extra_products() -> list[Any]:
    """Demo products of the benchmark's own, so that a cart can have 50 lines of distinct products."""
    from web import demo

    first = demo.PRODUCTS[0]
    return [
        dataclasses.replace(first, slug=f"bench-{n}", name=f"Bench product {n}") for n in range(1, EXTRA_PRODUCTS + 1)
    ]


def count_statements(database_url: str, redis_url: str, tmp: Path) -> list[SqlCount]:
    """Counts per request through the real app (TestClient), on a migrated database with the demo."""
    from unittest import mock

    from litestar.testing import TestClient
    from sqlalchemy import text

    from bench.counters import DatabaseCounter, RedisCounter
    from tests.counting import UnexpectedStatus, statements
    from web import demo
    from web.__main__ import migrate
    from web.app import create_app
    from web.settings import Settings

    logging.getLogger("httpx").setLevel(logging.WARNING)  # TestClient logs every request at INFO
    # No background mail sender: its statements, in another thread, would land in the requests' counts.
    settings = Settings(
        database_url=database_url,
        session_store_url=redis_url,
        outbox_dir=tmp / "sql-count-outbox",
        mail_in_background=False,
    ).with_overrides(events_url=redis_url)
    with contextlib.redirect_stdout(io.StringIO()):
        migrate(settings)
    app = create_app(settings)
    log = app.state.access_log.stream = io.StringIO()  # the shop's per-request log lines: their duration_ms
    db = app.state.shop.db
    with db.engine.begin() as conn, mock.patch.object(demo, "PRODUCTS", [*demo.PRODUCTS, *extra_products()]):
        demo.load(conn)
    with db.engine.begin() as conn:
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
    if len(products) < max(CART_LINES):
        raise BenchError(f"the catalogue has fewer than {max(CART_LINES)} products in stock")
    ids = ",".join(str(p.variant_id) for p in products)
    with db.engine.begin() as conn:
        conn.execute(text(f"UPDATE variants SET stock = {BENCH_STOCK} WHERE id IN ({ids})"))
    test_1 = next(p for p in products if p.slug == "test-1")
    others = [p for p in products if p.slug != "test-1"]
    trips = DatabaseCounter(db)
    commands = RedisCounter(redis_url) if redis_url else None

    seen: list[str] = []
    db.seen = seen  # the statements' text, for --show-sql
    results: list[SqlCount] = []
    base = "http://shop.test"
    with TestClient(app, base_url=base) as client:
        csrf = ""

        def server_ms(call: Callable[[], Any]) -> float:
            """The median of the shop's own time for `call()` (its access log's duration_ms), TIMED times."""
            log.seek(0)
            log.truncate()
            for _ in range(TIMED):
                call()
            times = [json.loads(line)["duration_ms"] for line in log.getvalue().splitlines() if line.startswith("{")]
            if len(times) != TIMED:
                raise BenchError(f"expected {TIMED} access log lines, found {len(times)}")
            return float(statistics.median(times))

        def measure(
            label: str, kind: str, call: Callable[[], Any], scenario: str = "", lines: int = 0, timed: bool = False
        ) -> None:
            seen.clear()
            trips.start()
            if commands:
                commands.start()
            try:
                count = statements(app, call)
            except UnexpectedStatus as error:
                raise BenchError(f"{label}: status {error.status}: {error.text[:300]}") from None
            sent = trips.stop()
            redis = commands.stop() if commands else None
            results.append(
                SqlCount(
                    label,
                    kind,
                    count,
                    tuple(" ".join(s.split()) for s in seen),
                    scenario,
                    lines,
                    len(sent),
                    tuple(sent),
                    None if redis is None else len(redis),
                    tuple(redis or ()),
                    server_ms(call) if timed else None,
                )
            )

        def page(path: str) -> Any:
            nonlocal csrf
            response = client.get(path)
            found = CSRF_INPUT.search(response.text)
            if found:
                csrf = found.group(1)
            return response

        def add(product: Product, quantity: int = 1) -> Any:
            headers = {
                "HX-Request": "true",
                "X-CSRF-Token": csrf,
                "HX-Current-URL": f"{base}/products/{product.slug}",
                "HX-Target": "catalog-add-status",
                "X-Page": f"catalog.product:{product.slug}",
            }
            form = {"product": product.slug, "variant_id": str(product.variant_id), "quantity": str(quantity)}
            return client.post("/cart/items", data=form, headers=headers)

        def at_lines(lines: int) -> None:
            """The requests the benchmark loads, for a cart of `lines` lines."""
            what = f"{lines}-line cart"
            measure(f"add: product already in a {what}", "add", lambda: add(test_1), "add_to_cart", lines)
            measure(f"cart page, {what}", "cart", lambda: page("/cart"), "cart_page", lines, timed=True)
            measure(f"product page, {what}", "", lambda: page("/products/test-1"), "product_page", lines, timed=True)

        measure("product page, new visitor", "", lambda: page("/products/test-1"))
        measure("product page, returning visitor", "", lambda: page("/products/test-1"))
        measure("add: first add (creates the cart)", "first-add", lambda: add(test_1))
        at_lines(1)
        measure("add: new line in an existing cart", "add", lambda: add(others[0]))
        filled = 2
        for lines in CART_LINES[1:]:
            for product in others[filled - 1 : lines - 1]:
                add(product)
            filled = lines
            at_lines(lines)
        add(test_1, settings.max_line_quantity)
        measure("add: line at its limit (no upsert)", "", lambda: add(test_1))

        def review(lines: int) -> dict[str, str]:
            """A new visitor with `lines` products in the cart, checkout done up to the review: its form."""
            client.cookies.clear()
            page(f"/products/{products[0].slug}")
            for product in products[:lines]:
                add(product)
            steps = (("/checkout/contact", CHECKOUT_CONTACT), ("/checkout/delivery", {"method": DELIVERY_METHOD}))
            for path, fields in steps:
                response = client.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)
                if response.status_code != 303:
                    raise BenchError(f"POST {path}: status {response.status_code}: {response.text[:300]}")
            return dict(REVIEW_INPUT.findall(page("/checkout/review").text))

        def place(form: dict[str, str]) -> Any:
            # As htmx sends it: the same unit of work as the plain form's, answered 200 with
            # HX-Redirect instead of a 303, which statements() requires.
            headers = {"HX-Request": "true", "X-CSRF-Token": csrf, "HX-Target": "checkout-review"}
            response = client.post("/checkout/place", data=form, headers=headers)
            if not response.headers.get("hx-redirect", "").startswith("/orders/"):
                raise BenchError(
                    f"placement not placed: {response.status_code} {response.headers} {response.text[:300]}"
                )
            return response

        for lines in CART_LINES:
            call = functools.partial(place, review(lines))
            measure(f"place order, {lines}-line cart", "place", call, "place_order", lines)
    if commands:
        commands.close()
    db.dispose()
    return results


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
