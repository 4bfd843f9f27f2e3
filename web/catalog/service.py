"""Catalogue queries: categories, product listings, search and product pages. No HTTP here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape
from sqlalchemy import ColumnElement, Connection, Float, Integer, Row, Select, and_, func, literal_column, or_, select
from sqlalchemy import text as sql

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
    # In search results: the name and description with the words searched for in <mark>, escaped.
    marked_name: Markup | None = None
    marked_description: Markup | None = None


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
    # In search results: the words searched for, as matched (lower case, at most MAX_TERMS).
    terms: list[str] = field(default_factory=list)


MIN_PRICE = func.min(variants.c.price_cents)
# How a listing may be sorted: the `sort` value in the address, its label, and the order it means.
SORTS: dict[str, tuple[str, tuple[ColumnElement[object], ...]]] = {
    "featured": ("Featured", (products.c.position, products.c.name)),
    "price-asc": ("Price, low to high", (MIN_PRICE, products.c.name)),
    "price-desc": ("Price, high to low", (MIN_PRICE.desc(), products.c.name)),
    "newest": ("Newest", (products.c.id.desc(),)),
}
MAX_QUERY_LENGTH = 200
MAX_TERMS = 8
TERM = re.compile(r"[^\W_]+")


def searched_text() -> ColumnElement[object]:
    """The text PostgreSQL searches, the name weighing more than the description: migration 0010 indexes
    exactly this expression (GIN), so keep the two equal. (Built at call time: SQLAlchemy compiles
    to_tsvector() only when made after its PostgreSQL dialect was loaded, which an engine does.)"""
    simple: ColumnElement[str] = literal_column("'simple'")
    name = func.setweight(func.to_tsvector(simple, products.c.name), literal_column("'A'"))
    return name.op("||")(func.setweight(func.to_tsvector(simple, products.c.description), literal_column("'B'")))


def list_categories(conn: Connection) -> list[Category]:
    """The categories a shopper browses (an unlisted one, such as the demo's "Test", is left out)."""
    query = select(categories.c.slug, categories.c.name).where(categories.c.listed)
    rows = conn.execute(query.order_by(categories.c.position, categories.c.name))
    return [Category(r.slug, r.name) for r in rows]


def card(row: Row[tuple[object, ...]], terms: list[str] | None = None) -> ProductCard:
    """A card from a card_query() row; with the words searched for marked in search results."""
    marked = (mark(row.name, terms), mark(row.description, terms)) if terms else (None, None)
    prices = (row.min_price, row.max_price)
    return ProductCard(row.slug, row.name, row.image, row.photo, row.category, *prices, int(row.stock), *marked)


def card_query() -> Select[tuple[object, ...]]:
    return (
        select(
            products.c.slug,
            products.c.name,
            products.c.description,
            products.c.image,
            products.c.photo,
            categories.c.name.label("category"),
            MIN_PRICE.label("min_price"),
            func.max(variants.c.price_cents).label("max_price"),
            func.sum(variants.c.stock).label("stock"),
        )
        .select_from(products.join(categories).join(variants))
        .group_by(products.c.id, categories.c.name)
    )


def listing_page(
    conn: Connection,
    where: list[ColumnElement[bool]],
    order: tuple[ColumnElement[object], ...],
    page: int,
    page_size: int,
    terms: list[str] | None = None,
) -> Listing:
    """The `page` of the products matching `where`, in `order`, with `terms` marked on their cards;
    NotFound for a page past the last."""
    total = conn.execute(select(func.count()).select_from(products.join(categories)).where(*where)).scalar_one()
    pages = max(1, -(-total // page_size))
    if page > pages:
        raise NotFound(f"There is no page {page}: the last page is {pages}.")
    query = card_query().where(*where).order_by(*order)
    rows = conn.execute(query.limit(page_size).offset((page - 1) * page_size)).all()
    return Listing([card(row, terms) for row in rows], page, pages, total, terms or [])


def list_products(
    conn: Connection, category_slug: str | None, page: int, page_size: int, sort: str = "featured"
) -> Listing:
    """A page of products, of one category or of every listed one, in the order `sort` names (a SORTS key)."""
    where: list[ColumnElement[bool]] = [products.c.active]
    where.append(categories.c.slug == category_slug if category_slug else categories.c.listed)
    return listing_page(conn, where, SORTS[sort][1], page, page_size)


def search_terms(query: str) -> list[str]:
    """The words of a search, lower case: letters and digits only, so no quote or operator reaches the engine.

    InvalidInput for control characters (NUL among them) or a search longer than MAX_QUERY_LENGTH."""
    text.check(query, "q", "search")
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"A search can be at most {MAX_QUERY_LENGTH} characters long.", field="q")
    return list(dict.fromkeys(term.casefold() for term in TERM.findall(query)))[:MAX_TERMS]


def has_fts5_table(conn: Connection) -> bool:
    found = conn.execute(sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'product_search'"))
    return found.first() is not None


def matching(conn: Connection, terms: list[str]) -> tuple[ColumnElement[bool], tuple[ColumnElement[object], ...]]:
    """(condition, best-first order) for products whose name or description has a word starting with
    every term: PostgreSQL full-text search, SQLite FTS5, or LIKE on an SQLite built without FTS5."""
    if conn.dialect.name == "postgresql":
        query = func.to_tsquery(literal_column("'simple'"), " & ".join(f"{term}:*" for term in terms))
        searched = searched_text()
        return searched.op("@@")(query), (func.ts_rank(searched, query).desc(),)
    if has_fts5_table(conn):
        phrase = " ".join(f'"{term}"*' for term in terms)
        # bm25() with column weights: a word in the name counts ten times one in the description.
        fts = sql(
            "SELECT rowid AS id, bm25(product_search, 10.0, 1.0) AS rank "
            "FROM product_search WHERE product_search MATCH :q"
        )
        found = fts.bindparams(q=phrase).columns(id=Integer(), rank=Float()).subquery("found")
        rank = select(found.c.rank).where(found.c.id == products.c.id).scalar_subquery()
        return products.c.id.in_(select(found.c.id)), (rank,)
    words = [or_(products.c.name.ilike(f"%{term}%"), products.c.description.ilike(f"%{term}%")) for term in terms]
    return and_(*words), ()


def search_products(conn: Connection, query: str, page: int, page_size: int) -> Listing:
    """Listed, active products matching every word of `query`, best match first, with the words marked."""
    terms = search_terms(query)
    if not terms:
        return Listing([], 1, 1, 0, terms)
    condition, best_first = matching(conn, terms)
    where = [products.c.active, categories.c.listed, condition]
    return listing_page(conn, where, (*best_first, products.c.position, products.c.name), page, page_size, terms)


def mark(value: str, terms: list[str]) -> Markup:
    """`value` escaped, with each word that starts with one of `terms` in <mark>."""
    pieces, done = [], 0
    for word in TERM.finditer(value):
        if any(word.group().casefold().startswith(term) for term in terms):
            pieces += [escape(value[done : word.start()]), Markup("<mark>%s</mark>") % word.group()]
            done = word.end()
    return Markup("").join([*pieces, escape(value[done:])])


def related_products(conn: Connection, product: ProductPage, limit: int = 4) -> list[ProductCard]:
    """Other products in stock from the same category, as on its listing: for a sold-out product's page."""
    where = [products.c.active, categories.c.slug == product.category.slug, products.c.id != product.id]
    query = card_query().where(*where).having(func.sum(variants.c.stock) > 0).order_by(*SORTS["featured"][1])
    return [card(row) for row in conn.execute(query.limit(limit))]


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
