"""Fixtures: a fresh migrated database with the demo catalogue per test, and a `shopper` who acts as a user.

By default the suite runs on SQLite with sessions in the database. With TEST_DATABASE_URL (a PostgreSQL
server URL; a throwaway database is created and dropped) and TEST_REDIS_URL (a Redis database that is
flushed before each test) the same tests run on PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from web import demo
from web.__main__ import migrate
from web.app import create_app
from web.db import sqlalchemy_url
from web.sessions import ENDED, RedisSessionStore, Stored
from web.settings import Settings

BASE_URL = "http://shop.test"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
# Under pytest-xdist (`make test` runs two workers) each worker flushes its own Redis database:
# the one TEST_REDIS_URL names for the first worker, the one below it for the second, and so on.
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def worker_redis(url: str) -> str:
    if not url:
        return url
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) - WORKER
    return urlunsplit(parts._replace(path=f"/{database}"))


TEST_REDIS_URL = worker_redis(os.environ.get("TEST_REDIS_URL", ""))
TABLES = [
    "audit",
    "outbox",
    "order_messages",
    "order_events",
    "order_lines",
    "orders",
    "addresses",
    "cart_lines",
    "carts",
    "sessions",
    "throttles",
    "account_tokens",
    "users",
    "product_zones",
    "delivery_methods",
    "zone_countries",
    "shipping_zones",
    "variants",
    "products",
    "categories",
]
CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')
REVIEW_FIELD = re.compile(r'name="(idempotency_key|reviewed)" value="([^"]+)"')
ADDRESS = {
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "line2": "",
    "city": "Berlin",
    "postcode": "10117",
    "country": "DE",
}


def api_checkout(email: str, name: str) -> dict[str, Any]:
    """A body for POST /api/checkout: `email` and `name`, an address in Köln, standard delivery."""
    return {
        "email": email,
        "name": name,
        "address": {"line1": "Hauptstr. 5", "city": "Köln", "postcode": "50667", "country": "DE"},
        "deliveryMethod": "standard",
    }


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with the demo catalogue: an SQLite file to copy per test by default,
    or a throwaway PostgreSQL database (created here, dropped at the end) when TEST_DATABASE_URL is set."""
    if not TEST_DATABASE_URL:
        path = tmp_path_factory.mktemp("template") / "shop.db"
        url = f"sqlite:///{path}"
    else:
        name = f"storefront_test_{os.getpid()}_{secrets.token_hex(3)}"
        admin = create_engine(sqlalchemy_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = urlunsplit(urlsplit(TEST_DATABASE_URL)._replace(path=f"/{name}"))
    migrate(Settings(database_url=url))
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:
        demo.load(conn)
    engine.dispose()
    yield url
    if TEST_DATABASE_URL:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def reset_postgres(url: str) -> None:
    """Every test starts from the demo catalogue alone, with ids from 1 again. DELETE (children
    first) and restarting the sequences takes about 35 ms where a TRUNCATE of the same tables takes
    about 130: a few minutes over the whole suite."""
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        sequences = conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"))
        for (sequence,) in sequences.all():
            conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
        demo.load(conn)
    engine.dispose()


@pytest.fixture
def settings(database: str, tmp_path: Path) -> Settings:
    store = ""
    if TEST_REDIS_URL:
        import redis

        redis.Redis.from_url(TEST_REDIS_URL).flushdb()
        store = TEST_REDIS_URL
    # Mail goes to files in the test's own folder, sent when a test asks (send_mail), not in the background.
    # Photos go to its own media folder; live events go through Redis when the sessions do.
    own = {
        "outbox_dir": tmp_path / "outbox",
        "mail_in_background": False,
        "media_dir": tmp_path / "media",
        "events_url": TEST_REDIS_URL,
    }
    if TEST_DATABASE_URL:
        reset_postgres(database)
        return Settings(database_url=database, session_store_url=store).with_overrides(**own)
    path = tmp_path / "shop.db"
    shutil.copy(database.removeprefix("sqlite:///"), path)
    return Settings(database_url=f"sqlite:///{path}", session_store_url=store).with_overrides(**own)


@pytest.fixture
def app(settings: Settings) -> Iterator[Litestar]:
    app = create_app(settings)
    yield app
    app.state.shop.db.dispose()


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def sql(app: Litestar, statement: str, **params: Any) -> list[Any]:
    """Read or change the test database directly, outside the app's own code paths. A pooled
    connection the server closed meanwhile (tests/faults/ terminate them) is replaced once, as the
    app's units do (web/db.py, run_sync())."""
    try:
        return _sql(app, statement, params)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        return _sql(app, statement, params)


def _sql(app: Litestar, statement: str, params: dict[str, Any]) -> list[Any]:
    with app.state.shop.db.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


def variant_id(app: Litestar, slug: str, label: str = "") -> int:
    rows = sql(
        app,
        "SELECT v.id FROM variants v JOIN products p ON p.id = v.product_id WHERE p.slug = :slug AND v.label = :label",
        slug=slug,
        label=label,
    )
    return int(rows[0][0])


def add_form(app: Litestar, slug: str = "test-1", quantity: int | str = 1, *, label: str = "") -> dict[str, str]:
    """The add-to-cart form's fields as a product page sends them (without the CSRF token)."""
    return {"product": slug, "variant_id": str(variant_id(app, slug, label)), "quantity": str(quantity)}


def page_name(path: str) -> str:
    """The X-Page header the page at `path` sends with its htmx requests (test_fragments.py checks the pages)."""
    path = path.split("?")[0]
    if path == "/cart":
        return "cart.view"
    if path.startswith("/products/"):
        return f"catalog.product:{path.removeprefix('/products/').lower()}"
    return "catalog.index"


# An htmx GET of a whole page or fragment, where nothing but the request marker matters.
HTMX_GET = {"HX-Request": "true"}


def htmx_headers(csrf: str, page: str = "/", target: str | None = None) -> dict[str, str]:
    """What htmx sends from the page at `page`: the request marker, the headers <body> sets (CSRF
    token and page name), the page's URL and, for a form with hx-target, the target's id."""
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf, "X-Page": page_name(page), "HX-Current-URL": BASE_URL + page}
    if target:
        headers["HX-Target"] = target
    return headers


class Shopper:
    """A shopper in one browser: one cookie jar, the CSRF token from the last page seen."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self.client = client
        self.csrf = ""

    @property
    def app(self) -> Litestar:
        return self.client.app  # type: ignore[no-any-return]

    def visit(self, path: str = "/") -> Any:
        response = self.client.get(path)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        htmx: bool = False,
        page: str = "/",
        target: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """A form post; with `htmx`, as htmx sends it from `page` into `target` (htmx_headers())."""
        if not self.csrf:
            self.visit("/")
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers = {**htmx_headers(self.csrf, page, target), **headers}
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=form, headers=headers, follow_redirects=False, **kwargs)

    def add(self, slug: str, quantity: int | str = 1, *, label: str = "", htmx: bool = False, **kwargs: Any) -> Any:
        """Add from the product's page: its add form, whose htmx target is the add status."""
        data = {**add_form(self.app, slug, quantity, label=label), "next": f"/products/{slug}"}
        kwargs.setdefault("page", f"/products/{slug}")
        kwargs.setdefault("target", "catalog-add-status")
        return self.post("/cart/items", data, htmx=htmx, **kwargs)

    def contact(self, **changes: str) -> Any:
        """Checkout's first step, with a valid German address unless `changes` say otherwise."""
        self.visit("/checkout")
        return self.post("/checkout/contact", {**ADDRESS, **changes})

    def review(self, method: str = "standard", **changes: str) -> Any:
        """Checkout up to the review page (contact, delivery method); the review page's answer."""
        contact = self.contact(**changes)
        assert contact.status_code == 303, contact.text
        delivery = self.post("/checkout/delivery", {"method": method})
        assert delivery.status_code == 303, delivery.text
        return self.visit("/checkout/review")

    def place(self, review: Any | None = None, **kwargs: Any) -> Any:
        """Place the order from a review page (by default the one checkout() reaches)."""
        page = review if review is not None else self.review()
        fields = dict(REVIEW_FIELD.findall(page.text))
        return self.post("/checkout/place", fields, **kwargs)

    def checkout(self, **changes: str) -> str:
        """A whole checkout of the current cart; the order's number."""
        placed = self.place(self.review(**changes))
        assert placed.status_code == 303, placed.text
        return str(placed.headers["location"].rsplit("/", 1)[1])

    def cart(self) -> dict[str, Any]:
        response = self.client.get("/api/cart")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def quantities(self) -> dict[str, int]:
        return {f"{item['productId']}:{item['variantId']}": item["qty"] for item in self.cart()["items"]}

    @property
    def session_cookie(self) -> str | None:
        return self.client.cookies.get("session")


@pytest.fixture
def shopper(client: TestClient[Litestar]) -> Shopper:
    return Shopper(client)


@pytest.fixture
def other_shopper(app: Litestar) -> Iterator[Shopper]:
    with TestClient(app, base_url=BASE_URL) as client:
        yield Shopper(client)


PASSWORD = "a long enough passphrase"


# A CSRF token or link token in a page, to compare pages that differ only by them.
TOKEN_FIELD = re.compile(r"[A-Za-z0-9_-]{43}")
MAILED_LINK = re.compile(r"https?://\S+/account/(?:confirm|reset)\?token=([A-Za-z0-9_-]+)")


def mailed_token(app: Litestar, email: str) -> str:
    """The token of the last account link mailed to `email` (read from the outbox)."""
    bodies = sql(app, "SELECT body FROM outbox WHERE recipient = :to ORDER BY id DESC", to=email.strip().lower())
    found = MAILED_LINK.search(bodies[0][0]) if bodies else None
    assert found is not None, f"no account link was mailed to {email}"
    return found.group(1)


def confirm(shopper: Shopper, email: str, password: str = PASSWORD) -> Any:
    """Follow the confirmation link last mailed to `email`: its page, then its button with the
    password the registration chose."""
    token = mailed_token(shopper.app, email)
    assert shopper.visit(f"/account/confirm?token={token}").status_code == 200
    return shopper.post("/account/confirm", {"token": token, "password": password})


def register(app: Litestar, email: str, password: str = PASSWORD, name: str = "") -> int:
    """Create an account through the registration form of a throwaway client, and confirm it by the
    mailed link; returns the user id."""
    with TestClient(app, base_url=BASE_URL) as client:
        shopper = Shopper(client)
        response = shopper.post("/register", {"email": email, "password": password, "display_name": name})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/account/check-email"
        confirmed = confirm(shopper, email, password)
        assert confirmed.status_code == 303 and confirmed.headers["location"] == "/login", confirmed.text
    return int(sql(app, "SELECT id FROM users WHERE email = :email", email=email.strip().lower())[0][0])


def login(shopper: Shopper, email: str, password: str = PASSWORD, next_path: str = "/") -> Any:
    if not shopper.csrf:
        shopper.visit("/login")
    return shopper.post("/login", {"email": email, "password": password, "next": next_path})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that only make sense on one engine say so by marker; they are reported as skipped with why.
    A long test goes first: started last, it would keep one worker busy after the others are done."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
    engine = "postgres" if TEST_DATABASE_URL else "sqlite"
    store = "redis" if TEST_REDIS_URL else "sql"
    scaleout = f"{engine}+{store}"
    rules = [
        ("sqlite_only", engine, "sqlite"),
        ("postgres_only", engine, "postgres"),
        ("sql_sessions_only", store, "sql"),
        ("scaleout", scaleout, "postgres+redis"),
        ("own_sqlite", engine, "sqlite"),
    ]
    for item in items:
        for marker, running, needs in rules:
            if item.get_closest_marker(marker) and running != needs:
                item.add_marker(pytest.mark.skip(reason=f"{marker}: this run uses {running}"))


def session_records(app: Litestar) -> dict[str, Stored]:
    """Every record the session store holds by its key (the SHA-256 of the cookie value), whichever
    store holds them, the marks of ended minted IDs included."""
    store = app.state.shop.sessions
    with app.state.shop.db.engine.begin() as conn:
        if isinstance(store, RedisSessionStore):
            prefix = store._session("")
            keys = [raw.decode()[len(prefix) :] for raw in store.redis.scan_iter(f"{prefix}*")]
        else:
            keys = [row[0] for row in conn.execute(text("SELECT key FROM sessions"))]
        records = {key: store._read(conn, key) for key in keys}
        return {key: record for key, record in records.items() if record is not None}


def stored_sessions(app: Litestar) -> dict[str, Stored]:
    """Every stored session by its key (not the marks of ended minted IDs: they are no sessions)."""
    return {key: record for key, record in session_records(app).items() if ENDED not in record.data}


def change_sessions(app: Litestar, *, expires_at: Any = None, created_at: Any = None) -> None:
    """Rewrite every stored session's times; each argument maps the old value to the new one."""
    store = app.state.shop.sessions
    with app.state.shop.db.engine.begin() as conn:
        for key, record in stored_sessions(app).items():
            changed = Stored(
                record.data,
                created_at(record.created_at) if created_at else record.created_at,
                expires_at(record.expires_at) if expires_at else record.expires_at,
            )
            store._delete(conn, key)
            store._write(conn, key, changed, record.data.get("user_id"), new=True)
