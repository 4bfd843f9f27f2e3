"""Test data put in place the way the shop holds it: stock, withdrawn products, new products, staff.

Tests say what they need ("test-1 has 500 in stock") instead of writing SQL; the statements live here.
"""

from __future__ import annotations

import itertools

from litestar import Litestar
from sqlalchemy import select, update

from web.models import categories, products, users, variants

_numbers = itertools.count(1)


def _run(app: Litestar, statement: object) -> None:
    with app.state.shop.db.engine.begin() as conn:
        conn.execute(statement)


def set_stock(app: Litestar, sku: str, stock: int) -> None:
    """One variant's stock (a product without options has one variant, whose SKU is the product's slug)."""
    _run(app, update(variants).where(variants.c.sku == sku).values(stock=stock))


def sell_out(app: Litestar, slug: str) -> None:
    """Every option of a product out of stock."""
    of_product = select(products.c.id).where(products.c.slug == slug).scalar_subquery()
    _run(app, update(variants).where(variants.c.product_id == of_product).values(stock=0))


def withdraw(app: Litestar, slug: str) -> None:
    """The product is no longer sold (inactive): hidden from the catalogue, refused at add, dropped from carts."""
    _run(app, update(products).where(products.c.slug == slug).values(active=False))


def rename(app: Litestar, slug: str, name: str) -> None:
    """A product's new name, as staff would set it (the search index follows it)."""
    _run(app, update(products).where(products.c.slug == slug).values(name=name))


def withdraw_category(app: Litestar, category: str) -> None:
    of_category = select(categories.c.id).where(categories.c.slug == category).scalar_subquery()
    _run(app, update(products).where(products.c.category_id == of_category).values(active=False))


def product(
    app: Litestar,
    *,
    name: str | None = None,
    price: int = 1000,
    options: dict[str, int] | None = None,
    category: str = "stationery",
) -> str:
    """A new product, with one variant per option (label → stock), or one of 10 in stock; returns its slug."""
    number = next(_numbers)
    slug = f"made-{number}"
    with app.state.shop.db.engine.begin() as conn:
        category_id = conn.execute(select(categories.c.id).where(categories.c.slug == category)).scalar_one()
        product_id = conn.execute(
            products.insert()
            .values(
                slug=slug,
                name=name or f"Made product {number}",
                description="Made by a test.",
                category_id=category_id,
                image="img/products/test-1.svg",
                active=True,
                position=1000 + number,
            )
            .returning(products.c.id)
        ).scalar_one()
        for position, (label, stock) in enumerate((options or {"": 10}).items()):
            conn.execute(
                variants.insert().values(
                    product_id=product_id,
                    sku=f"{slug}-{label.lower()}" if label else slug,
                    label=label,
                    price_cents=price,
                    stock=stock,
                    position=position,
                )
            )
    return slug


def make_staff(app: Litestar, email: str) -> None:
    _run(app, update(users).where(users.c.email == email.strip().lower()).values(is_staff=True))
