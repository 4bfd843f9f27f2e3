"""The shop as the benchmark prepares it: its database, and shoppers made the way a browser makes them."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlencode

from sqlalchemy import Connection, bindparam, text
from sqlalchemy import Engine as SqlEngine

from bench.errors import BenchError, ServerFailed
from bench.servers import PYTHON, ROOT, Server, request

if TYPE_CHECKING:
    from http.client import HTTPMessage

# Products the add-to-cart load rotates over (single-variant demo products). Their stock is raised
# in the benchmark's own database so the per-line limit (CART_MAX_LINE_QUANTITY, 99) is the cap.
ADD_PRODUCTS = ("test-1", "test-2", "tea-tin")
BENCH_STOCK = 100_000

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
VARIANT_INPUT = re.compile(r'name="variant_id" value="(\d+)"')
# What a shopper fills in at checkout: a German address (the demo's home zone), standard delivery.
CHECKOUT_CONTACT = {
    "email": "shopper@example.com",
    "name": "Bench Shopper",
    "line1": "Unter den Linden 1",
    "line2": "",
    "city": "Berlin",
    "postcode": "10117",
    "country": "DE",
}
DELIVERY_METHOD = "standard"
REVIEW_INPUT = re.compile(r'name="(idempotency_key|reviewed)" value="([^"]+)"')
# Shoppers for checkout are made this many at a time (the server has one worker; this overlaps its
# work with ours).
PREPARING_THREADS = 4


class Shopper(NamedTuple):
    """A browser's session: the session cookie's value and the CSRF token its pages carry."""

    cookie: str
    csrf: str


class Review(NamedTuple):
    """A shopper at checkout's review page: the review form's idempotency key and fingerprint."""

    shopper: Shopper
    key: str
    reviewed: str


class Product(NamedTuple):
    """A product as its page's add-to-cart form names it."""

    slug: str
    variant_id: int


@dataclass(frozen=True)
class ShopClient:
    """The shop's server, driven over HTTP like a browser with htmx would."""

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
            "HX-Target": "catalog-add-status",
            "X-Page": f"catalog.product:{product.slug}",
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

    def post_form(self, shopper: Shopper, path: str, fields: Mapping[str, str]) -> tuple[int, HTTPMessage, str]:
        """A form posted by a browser without JavaScript: its hidden CSRF field, the page's origin."""
        headers = {
            "Cookie": self.cookie_header(shopper),
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": self.server.origin,
        }
        return request(self.server.port, "POST", path, headers, urlencode({"csrf_token": shopper.csrf, **fields}))

    def review(self, shopper: Shopper) -> Review:
        """Checkout up to its review page without JavaScript: the contact and delivery steps (each
        303 to the next), then the review page's hidden fields, which placing the order sends."""
        steps = (
            ("/checkout/contact", CHECKOUT_CONTACT, "/checkout/delivery"),
            ("/checkout/delivery", {"method": DELIVERY_METHOD}, "/checkout/review"),
        )
        for path, fields, to in steps:
            status, headers, text = self.post_form(shopper, path, fields)
            if status != 303 or headers.get("Location") != to:
                raise BenchError(
                    f"POST {path} answered {status} to {headers.get('Location')!r}, not 303 to {to}: {text[:300]!r}; "
                    f"shop log:\n{self.server.log_tail()}"
                )
        status, _headers, body = request(
            self.server.port, "GET", "/checkout/review", {"Cookie": self.cookie_header(shopper)}
        )
        found = dict(REVIEW_INPUT.findall(body))
        if status != 200 or len(found) != 2:
            raise BenchError(
                f"GET /checkout/review answered {status} without the review form; shop log:\n{self.server.log_tail()}"
            )
        return Review(shopper, found["idempotency_key"], found["reviewed"])

    def new_reviews(self, products: Sequence[Product], count: int) -> list[Review]:
        """`count` shoppers, each with one of each product in the cart, at checkout's review page."""
        with ThreadPoolExecutor(PREPARING_THREADS) as pool:
            return list(pool.map(lambda _: self.review(self.new_shopper(products)), range(count)))


@dataclass(frozen=True)
class ShopSetup:
    """What the scenarios on one shop server share, prepared once when the server has started."""

    client: ShopClient
    products: list[Product]  # ADD_PRODUCTS, with their variant ids
    regular: Shopper  # has the products in the cart, the first one twice (its add measured `add_bytes`)
    add_bytes: int  # the length of the shop's answer to an htmx add of a product already in the cart

    @classmethod
    def prepare(cls, client: ShopClient) -> ShopSetup:
        first, product = client.visit_product(ADD_PRODUCTS[0])
        products = [product] + [client.visit_product(slug, first)[1] for slug in ADD_PRODUCTS[1:]]
        regular = client.new_shopper(products)
        return cls(client, products, regular, client.add(regular, product))

    @property
    def server(self) -> Server:
        return self.client.server


# --------------------------------------------------------------------------------------------
# A SQLite database in a temp directory, read with sqlite3 (bench/soak.py, bench/fanout.py)


def migrate_and_load(env: Mapping[str, str]) -> None:
    """`python -m web migrate` and `load-demo` on env's DATABASE_URL."""
    for command in ("migrate", "load-demo"):
        done = subprocess.run(
            [PYTHON, "-m", "web", command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ServerFailed(f"`python -m web {command}` failed:\n{done.stdout}{done.stderr}")


def prepare_shop_db(tmp: Path, env: Mapping[str, str]) -> Path:
    """The shop's SQLite database in `tmp` (env's DATABASE_URL): migrated, the demo loaded, the stock raised."""
    db_path = tmp / "shop.db"
    migrate_and_load(env)
    raise_stock(db_path, ADD_PRODUCTS)
    return db_path


def raise_stock(db_path: Path, slugs: Sequence[str]) -> None:
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as conn, conn:
        marks = ",".join("?" * len(slugs))
        conn.execute(
            f"UPDATE variants SET stock = ? WHERE product_id IN (SELECT id FROM products WHERE slug IN ({marks}))",
            (BENCH_STOCK, *slugs),
        )


@contextlib.contextmanager
def reading(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the benchmark's database in a read transaction: its queries all see one moment."""
    with contextlib.closing(sqlite3.connect(db_path, timeout=10, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        yield conn
        conn.execute("COMMIT")


# --------------------------------------------------------------------------------------------
# The benchmark's database (SQLite or PostgreSQL), prepared and read back through SQLAlchemy


def prepare_database(sql: SqlEngine, env: Mapping[str, str]) -> None:
    """The shop's database (env's DATABASE_URL, `sql`): migrated, the demo loaded, the stock raised."""
    migrate_and_load(env)
    reset_stock(sql, ADD_PRODUCTS)


def reset_stock(sql: SqlEngine, slugs: Sequence[str]) -> None:
    with sql.begin() as conn:
        conn.execute(
            text(
                "UPDATE variants SET stock = :stock WHERE product_id IN (SELECT id FROM products WHERE slug IN :slugs)"
            ).bindparams(bindparam("slugs", expanding=True)),
            {"stock": BENCH_STOCK, "slugs": list(slugs)},
        )


@contextlib.contextmanager
def read_transaction(sql: SqlEngine) -> Iterator[Connection]:
    """A connection to the benchmark's database in a read transaction: its queries all see one moment."""
    if sql.dialect.name == "sqlite":
        # pysqlite begins no transaction for a SELECT by itself: begin one explicitly.
        with sql.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN")
            yield conn
            conn.exec_driver_sql("COMMIT")
        return
    # PostgreSQL's READ COMMITTED takes a new snapshot per statement; REPEATABLE READ keeps one.
    with sql.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def query_row(conn: Connection, sql: str, **params: object) -> tuple[int, ...]:
    """The one row of numbers `sql` selects."""
    row = conn.execute(text(sql), params).one()
    return tuple(int(value) for value in row)


def max_cart_id(sql: SqlEngine) -> int:
    with read_transaction(sql) as conn:
        return query_row(conn, "SELECT coalesce(max(id), 0) FROM carts")[0]


class Placements(NamedTuple):
    """What placements left in the database, read at one moment."""

    last_order: int  # the highest order id
    orders: int  # orders after the one asked about
    wrong_lines: int  # of those, the orders with another number of lines than asked
    negative_stock: int  # variants below 0
    stock: tuple[int, ...]  # of the products asked about (each has one variant)


def placements(sql: SqlEngine, orders_after: int, lines: int, slugs: Sequence[str]) -> Placements:
    with read_transaction(sql) as conn:
        last, orders, wrong, negative = query_row(
            conn,
            "SELECT (SELECT coalesce(max(id), 0) FROM orders), count(*),"
            " coalesce(sum(CASE WHEN (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) != :lines"
            " THEN 1 ELSE 0 END), 0),"
            " (SELECT count(*) FROM variants WHERE stock < 0) FROM orders o WHERE o.id > :after",
            lines=lines,
            after=orders_after,
        )
        rows = conn.execute(
            text(
                "SELECT p.slug, sum(v.stock) FROM variants v JOIN products p ON p.id = v.product_id"
                " WHERE p.slug IN :slugs GROUP BY p.slug"
            ).bindparams(bindparam("slugs", expanding=True)),
            {"slugs": list(slugs)},
        ).all()
    stock = {str(slug): int(total) for slug, total in rows}
    return Placements(last, orders, wrong, negative, tuple(stock[slug] for slug in slugs))


def mail_pending(sql: SqlEngine, timeout: float) -> int:
    """Wait up to `timeout` seconds for the shop's background sender to send the outbox's mail; what is left."""
    deadline = time.monotonic() + timeout
    while True:
        with read_transaction(sql) as conn:
            pending = query_row(conn, "SELECT count(*) FROM outbox WHERE status = 'pending'")[0]
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(0.1)


def cart_line_stats(sql: SqlEngine, carts_after: int, limit: int) -> tuple[int, ...]:
    """(lines, total quantity, lines at the per-line limit) in carts with id > carts_after."""
    with read_transaction(sql) as conn:
        return query_row(
            conn,
            "SELECT count(*), coalesce(sum(quantity), 0),"
            " coalesce(sum(CASE WHEN quantity >= :limit THEN 1 ELSE 0 END), 0)"
            " FROM cart_lines WHERE cart_id > :after",
            limit=limit,
            after=carts_after,
        )
