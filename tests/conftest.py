"""Fixtures: a fresh migrated database with the demo catalogue per test, and a `shopper` who acts as a user."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import create_engine, text

from web import demo
from web.__main__ import migrate
from web.app import create_app
from web.settings import Settings

BASE_URL = "http://shop.test"
CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database with the demo catalogue, copied for every test."""
    path = tmp_path_factory.mktemp("template") / "shop.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    migrate(settings)
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        demo.load(conn)
    engine.dispose()
    return path


@pytest.fixture
def settings(template_db: Path, tmp_path: Path) -> Settings:
    path = tmp_path / "shop.db"
    shutil.copy(template_db, path)
    return Settings(database_url=f"sqlite:///{path}")


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=BASE_URL) as client:
        yield client


def sql(app: Litestar, statement: str, **params: Any) -> list[Any]:
    """Read or change the test database directly, outside the app's own code paths."""
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

    def post(self, path: str, data: dict[str, Any] | None = None, *, htmx: bool = False, **kwargs: Any) -> Any:
        if not self.csrf:
            self.visit("/")
        headers = dict(kwargs.pop("headers", {}))
        if htmx:
            headers = {"HX-Request": "true", "X-CSRF-Token": self.csrf, "HX-Current-URL": f"{BASE_URL}/", **headers}
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=form, headers=headers, follow_redirects=False, **kwargs)

    def add(self, slug: str, quantity: int | str = 1, *, label: str = "", htmx: bool = False, **kwargs: Any) -> Any:
        data = {"product": slug, "variant_id": str(variant_id(self.app, slug, label)), "quantity": str(quantity)}
        data["next"] = f"/products/{slug}"
        return self.post("/cart/items", data, htmx=htmx, **kwargs)

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


def register(app: Litestar, email: str, password: str = PASSWORD, name: str = "") -> int:
    """Create an account through the registration form of a throwaway client; returns the user id."""
    with TestClient(app, base_url=BASE_URL) as client:
        shopper = Shopper(client)
        response = shopper.post("/register", {"email": email, "password": password, "display_name": name})
        assert response.status_code == 303, response.text
    return int(sql(app, "SELECT id FROM users WHERE email = :email", email=email.strip().lower())[0][0])


def login(shopper: Shopper, email: str, password: str = PASSWORD, next_path: str = "/") -> Any:
    if not shopper.csrf:
        shopper.visit("/login")
    return shopper.post("/login", {"email": email, "password": password, "next": next_path})
