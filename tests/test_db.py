"""The data path: Prepared statements, statement counts and what a locked database does."""

from __future__ import annotations

import re
import sqlite3
from functools import partial
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Connection, bindparam, insert, select

from tests.conftest import Shopper, add_form, htmx_headers, variant_id
from tests.counting import statements
from tests.factories import set_stock
from web.db import Prepared
from web.models import outbox, products, variants

IN_STOCK = Prepared(
    select(products.c.slug, variants.c.stock)
    .join(variants)
    .where(products.c.slug == bindparam("slug"), variants.c.stock > 0)
    .order_by(variants.c.id)
)


def run(app: Litestar, work: Any) -> Any:
    return app.state.shop.db.run_sync(work)


def test_prepared_rows_have_the_statements_column_names(app: Litestar) -> None:
    rows = run(app, lambda conn: IN_STOCK.all(conn, slug="linen-shirt"))
    assert [row.slug for row in rows] == ["linen-shirt"] * len(rows) and len(rows) >= 2
    assert all(row.stock > 0 for row in rows)
    first = run(app, lambda conn: IN_STOCK.first(conn, slug="test-1"))
    assert (first.slug, first.stock) == ("test-1", 50)
    assert run(app, lambda conn: IN_STOCK.scalar(conn, slug="test-1")) == "test-1"


def test_prepared_keeps_the_values_bound_in_the_statement(app: Litestar) -> None:
    """`stock > 0` binds its 0 in the statement: a sold-out product has no row, an unknown one neither."""
    assert run(app, lambda conn: IN_STOCK.all(conn, slug="silk-scarf")) == []
    assert run(app, lambda conn: IN_STOCK.first(conn, slug="no-such-product")) is None
    assert run(app, lambda conn: IN_STOCK.scalar(conn, slug="no-such-product")) is None


def test_prepared_insert_writes_column_defaults_and_explicit_nulls(app: Litestar) -> None:
    """An INSERT run on the driver has no SQLAlchemy to fill in `Column(default=...)` or to tell a
    None written as NULL from a parameter left out: Prepared carries both in the compiled statement."""
    message = Prepared(
        insert(outbox).values(
            kind="test",
            dedupe_key=bindparam("key"),
            recipient="a@example.com",
            subject="s",
            body="b",
            next_attempt_at=1,
            created_at=1,
            claimed_until=None,
        )
    )

    def work(conn: Connection) -> Any:
        with app.state.shop.db.write(conn):
            message.run(conn, key="defaults")
        return conn.execute(
            select(outbox.c.status, outbox.c.attempts, outbox.c.body_html, outbox.c.last_error, outbox.c.claimed_until)
        ).one()

    assert tuple(run(app, work)) == ("pending", 0, "", "", None)


def test_statements_are_counted_whichever_way_they_run(app: Litestar) -> None:
    db = app.state.shop.db
    before = db.statements
    db.seen = []

    def work(conn: Connection) -> None:
        IN_STOCK.first(conn, slug="test-1")
        conn.exec_driver_sql("SELECT 1")

    try:
        run(app, work)
        assert db.statements - before == 2
        assert "products.slug" in db.seen[0] and db.seen[1] == "SELECT 1"
    finally:
        db.seen = None


def from_product(slug: str) -> dict[str, str]:
    """Where an add is sent from: the product's page, into its add status."""
    return {"page": f"/products/{slug}", "target": "catalog-add-status"}


def test_an_add_runs_the_same_few_statements_however_full_the_cart(shopper: Shopper) -> None:
    """docs/design.md §8: at most 6 statements per add and 5 per cart page, whatever the cart holds. An add
    to an existing cart runs 4: the session, BEGIN, the cart read with the variant's check, the upsert."""
    app = shopper.app
    slugs = ["test-1", "test-2", "tea-tin", "wall-clock", "desk-tray"]
    forms = {slug: add_form(app, slug) for slug in slugs}
    shopper.post("/cart/items", forms["test-1"], htmx=True, **from_product("test-1"))  # creates the cart
    adds, pages = [], []
    for slug in [*slugs[1:], "test-1"]:
        adds.append(statements(app, partial(shopper.post, "/cart/items", forms[slug], htmx=True, **from_product(slug))))
        pages.append(statements(app, partial(shopper.client.get, "/cart")))
    assert len(set(adds)) == 1 and adds[0] <= 4, adds
    assert len(set(pages)) == 1 and pages[0] <= 5, pages


def lines_of(html: str) -> str:
    """The drawer's list of lines and its subtotal, as a shopper sees them."""
    drawer = html[html.index('<dialog id="cart-drawer"') :]
    return drawer[drawer.index('<ul class="cart-lines">') : drawer.index("</strong></p>")]


def test_the_first_add_makes_the_cart_in_six_statements_and_shows_it_as_stored(shopper: Shopper) -> None:
    """The answer is built from the cart read before the upsert and the line the upsert stored."""
    app = shopper.app
    shopper.visit("/products/tea-tin")
    form = add_form(app, "tea-tin", 2)
    db = app.state.shop.db
    before = db.statements
    added = shopper.post("/cart/items", form, htmx=True, **from_product("tea-tin"))
    assert added.status_code == 200, added.text
    assert db.statements - before <= 6
    stored = shopper.client.get("/cart/drawer", headers=htmx_headers(shopper.csrf, "/products/tea-tin", "cart-drawer"))
    assert lines_of(added.text) == lines_of(stored.text)
    assert 'value="2" required' in lines_of(stored.text)


def test_the_first_add_through_the_api_answers_the_cart_as_stored(client: TestClient[Litestar]) -> None:
    answer = client.post("/api/cart", json={"productId": "tea-tin", "qty": 3})
    assert answer.status_code == 201, answer.text
    stored = client.get("/api/cart").json()
    assert answer.json()["items"] == stored["items"] and answer.json()["totals"] == stored["totals"]
    assert [item["qty"] for item in stored["items"]] == [3]


@pytest.mark.parametrize(
    ("slug", "quantity", "stock", "notices"),
    [
        ("test-2", 2, None, []),  # a product already in the cart
        ("tea-tin", 1, None, []),  # a new line, after the others
        ("test-1", 5, 3, []),  # already at the (lowered) stock: nothing added
        ("test-2", 1, 1, ["Only 1 left of Test product 1: quantity reduced to 1."]),
        ("test-2", 1, 0, ["Test product 1 is no longer available and was removed from your cart."]),
    ],
    ids=["existing-line", "new-line", "at-its-limit", "other-line-stale", "other-line-sold-out"],
)
def test_every_add_answers_the_cart_as_stored(
    shopper: Shopper, slug: str, quantity: int, stock: int | None, notices: list[str]
) -> None:
    """The add's drawer and notices are what a fresh read shows afterwards, and the stale lines are stored clamped."""
    app = shopper.app
    # Lines made in another order than their variants' ids, so the answer must order them itself.
    for product, count in (("desk-tray", 2), ("test-1", 3), ("test-2", 1)):
        shopper.add(product, count)
    if stock is not None:
        set_stock(app, "test-1", stock)
    added = shopper.add(slug, quantity, htmx=True)
    assert added.status_code == 200, added.text
    stored = shopper.client.get("/cart/drawer", headers=htmx_headers(shopper.csrf, f"/products/{slug}", "cart-drawer"))
    assert lines_of(added.text) == lines_of(stored.text)
    assert re.findall(r'<p class="notice">(.*?)</p>', added.text) == notices
    assert '<p class="notice">' not in stored.text  # said once, and stored as shown
    api = shopper.client.post("/api/cart", json={"productId": slug, "qty": 1})
    assert api.json()["items"] == shopper.cart()["items"]


@pytest.mark.sqlite_only
def test_a_database_locked_by_another_writer_is_a_503_and_changes_nothing(
    app: Litestar, shopper: Shopper, client: TestClient[Litestar]
) -> None:
    shopper.add("test-1")
    path = app.state.shop.db.url.split(":///", 1)[1]
    outsider = sqlite3.connect(path, isolation_level=None)
    try:
        outsider.execute("BEGIN IMMEDIATE")  # another process writing, past our busy timeout
        response = shopper.add("test-1", htmx=True)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "Traceback" not in response.text
    finally:
        outsider.rollback()
        outsider.close()
    assert shopper.quantities() == {f"test-1:{variant_id(app, 'test-1')}": 1}
