"""Catalogue queries: categories, product listings and product pages. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, func, select

from web import text
from web.models import categories, products, variants
from web.problems import InvalidInput, NotFound


@dataclass(frozen=True)
class Category:
    slug: str
    name: str


@dataclass(frozen=True)
class ProductCard:
    slug: str
    name: str
    image: str
    # The photo staff uploaded (web/media.py's content hash), shown instead of the illustration.
    photo: str | None
    category: str
    min_price: int
    max_price: int
    stock: int


@dataclass(frozen=True)
class VariantInfo:
    id: int
    label: str
    price: int
    stock: int


@dataclass(frozen=True)
class ProductPage:
    id: int
    slug: str
    name: str
    description: str
    image: str
    photo: str | None
    category: Category
    variants: list[VariantInfo]

    @property
    def has_options(self) -> bool:
        return len(self.variants) > 1 or bool(self.variants[0].label)

    @property
    def stock(self) -> int:
        return sum(v.stock for v in self.variants)

    def variant(self, variant_id: int | None) -> VariantInfo:
        """The chosen variant if in stock, else the first one in stock, else the first.

        A sold-out option is disabled in the form, so preselecting it would leave no option to send.
        """
        for v in self.variants:
            if v.id == variant_id and v.stock > 0:
                return v
        return next((v for v in self.variants if v.stock > 0), self.variants[0])


@dataclass(frozen=True)
class Listing:
    products: list[ProductCard]
    page: int
    pages: int
    total: int


def list_categories(conn: Connection) -> list[Category]:
    rows = conn.execute(select(categories.c.slug, categories.c.name).order_by(categories.c.position, categories.c.name))
    return [Category(r.slug, r.name) for r in rows]


def list_products(conn: Connection, category_slug: str | None, page: int, page_size: int) -> Listing:
    where: list[ColumnElement[bool]] = [products.c.active]
    if category_slug:
        where.append(categories.c.slug == category_slug)
    total = conn.execute(select(func.count()).select_from(products.join(categories)).where(*where)).scalar_one()
    pages = max(1, -(-total // page_size))
    if page > pages:
        raise NotFound(f"There is no page {page}: the last page is {pages}.")
    rows = conn.execute(
        select(
            products.c.slug,
            products.c.name,
            products.c.image,
            products.c.photo,
            categories.c.name.label("category"),
            func.min(variants.c.price_cents).label("min_price"),
            func.max(variants.c.price_cents).label("max_price"),
            func.sum(variants.c.stock).label("stock"),
        )
        .select_from(products.join(categories).join(variants))
        .where(*where)
        .group_by(products.c.id, categories.c.name)
        .order_by(products.c.position, products.c.name)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    cards = [
        ProductCard(r.slug, r.name, r.image, r.photo, r.category, r.min_price, r.max_price, int(r.stock)) for r in rows
    ]
    return Listing(cards, page, pages, total)


def category(conn: Connection, slug: str) -> Category:
    text.check(slug, "category", "category")
    row = conn.execute(select(categories.c.slug, categories.c.name).where(categories.c.slug == slug)).first()
    if row is None:
        raise NotFound(f"There is no category called “{slug}”.")
    return Category(row.slug, row.name)


def product_page(conn: Connection, slug: str) -> ProductPage:
    if not text.plain(slug):  # names no product, and PostgreSQL refuses NUL in a query with an error
        raise NotFound("That product does not exist or is no longer sold.")
    rows = conn.execute(
        select(
            products.c.id,
            products.c.slug,
            products.c.name,
            products.c.description,
            products.c.image,
            products.c.photo,
            categories.c.slug.label("category_slug"),
            categories.c.name.label("category_name"),
            variants.c.id.label("variant_id"),
            variants.c.label,
            variants.c.price_cents,
            variants.c.stock,
        )
        .select_from(products.join(categories).join(variants))
        .where(products.c.slug == slug.lower(), products.c.active)
        .order_by(variants.c.position, variants.c.id)
    ).all()
    if not rows:
        raise NotFound("That product does not exist or is no longer sold.")
    first = rows[0]
    return ProductPage(
        first.id,
        first.slug,
        first.name,
        first.description,
        first.image,
        first.photo,
        Category(first.category_slug, first.category_name),
        [VariantInfo(r.variant_id, r.label, r.price_cents, r.stock) for r in rows],
    )


def resolve_variant(conn: Connection, product_slug: str, variant_id: int | None) -> tuple[int, int, str]:
    """(product id, variant id, product name) for a public product id and an optional variant.

    The product's first variant in stock (else its first) when none is given, as on the product
    page; a variant of another product is refused.
    """
    if not text.plain(product_slug):  # names no product (and is not echoed), as in product_page()
        raise NotFound("There is no product with that id.")
    product = conn.execute(
        select(products.c.id, products.c.name).where(products.c.slug == product_slug.lower(), products.c.active)
    ).first()
    if product is None:
        raise NotFound(f"There is no product “{product_slug}”.")
    query = select(variants.c.id).where(variants.c.product_id == product.id)
    if variant_id is None:
        in_stock_first = (variants.c.stock == 0, variants.c.position, variants.c.id)
        chosen = conn.execute(query.order_by(*in_stock_first).limit(1)).scalar()
    else:
        chosen = conn.execute(query.where(variants.c.id == variant_id)).scalar()
        if chosen is None:
            raise InvalidInput(f"Variant {variant_id} is not an option of “{product_slug}”.", field="variantId")
    if chosen is None:
        raise NotFound(f"“{product_slug}” has no variants to sell.")
    return product.id, chosen, product.name
