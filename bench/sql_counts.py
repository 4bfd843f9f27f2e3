"""SQL statements per request, counted in-process: the real app driven with TestClient, no server."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import text

from bench.errors import BenchError
from bench.shop import BENCH_STOCK, CHECKOUT_CONTACT, CSRF_INPUT, DELIVERY_METHOD, REVIEW_INPUT, Product
from tests.counting import UnexpectedStatus, statements
from web import demo
from web.__main__ import migrate
from web.app import create_app
from web.settings import Settings

PLACED_LINES = (1, 5, 20)  # the carts placed, in distinct products


@dataclass(frozen=True)
class SqlCount:
    label: str
    kind: str  # "add", "first-add", "cart" or "place" (checked against a target), or "" (for information)
    count: int
    statements: tuple[str, ...]


def count_statements(tmp: Path) -> list[SqlCount]:
    """Statements per request through the real app (TestClient), on a migrated database in `tmp` with the demo."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # TestClient logs every request at INFO
    # No background mail sender: its statements, in another thread, would land in the requests' counts.
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'sql-count.db'}", outbox_dir=tmp / "sql-count-outbox", mail_in_background=False
    )
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
    if len(products) < max(PLACED_LINES):
        raise BenchError(f"the demo catalogue has fewer than {max(PLACED_LINES)} products in stock")
    test_1 = next(p for p in products if p.slug == "test-1")
    others = [p for p in products if p.slug != "test-1"][:9]

    db.seen = seen = []  # the statements' text, for --show-sql
    results: list[SqlCount] = []
    base = "http://shop.test"
    with TestClient(app, base_url=base) as client:
        csrf = ""

        def measure(label: str, kind: str, call: Callable[[], Any]) -> None:
            seen.clear()
            try:
                count = statements(app, call)
            except UnexpectedStatus as error:
                raise BenchError(f"{label}: status {error.status}: {error.text[:300]}") from None
            results.append(SqlCount(label, kind, count, tuple(" ".join(s.split()) for s in seen)))

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

        placed_ids = ",".join(str(p.variant_id) for p in products[: max(PLACED_LINES)])
        with db.engine.begin() as conn:
            conn.execute(text(f"UPDATE variants SET stock = {BENCH_STOCK} WHERE id IN ({placed_ids})"))
        for lines in PLACED_LINES:
            measure(f"place order, {lines}-line cart", "place", functools.partial(place, review(lines)))
    db.dispose()
    return results
