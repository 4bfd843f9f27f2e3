"""The back office's catalogue: products and their variants as staff see them, price and stock
edited with compare-and-set, and the product photo. No HTTP here.

Every staff edit of a variant raises its `version` in the same UPDATE that checks the version the
editor read (`... WHERE id = :id AND version = :seen`), so of two staff saving the same variant
the second is refused with what it holds now (EditConflict), never silently overwritten. Sales
change stock without raising the version, so a save that changes stock also names the stock it
was shown (`... AND stock = :stock_seen`): staff typing 70 over a row opened at 60 are refused if
a sale took it to 55 meanwhile, rather than losing that sale. Each change is audited in its own
transaction (web/staff/service.py's record()).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, func, or_, select, update

from web import text
from web.models import audit, products, variants
from web.money import money
from web.problems import EditConflict, InvalidInput, NotFound
from web.staff import service as staff
from web.unit import Visit

PAGE_SIZE = 20
MAX_STOCK = 1_000_000
MAX_PRICE_CENTS = 10_000_000  # 100,000.00 in the shop's currency
MAX_VERSION = 2**31 - 1
# A price as staff type it: whole units, optionally a point (or comma) and one or two decimals.
PRICE = re.compile(r"([0-9]{1,9})(?:[.,]([0-9]{1,2}))?")
WHOLE = re.compile(r"[0-9]{1,9}")
CHANGED_MEANWHILE = "This option was changed by someone else since you opened it. Nothing was saved"


@dataclass(frozen=True)
class VariantRow:
    """One variant as staff edit it; `version` is what a save must name to be accepted."""

    id: int
    product_slug: str
    product_name: str
    sku: str
    label: str
    price: int
    stock: int
    version: int

    @property
    def title(self) -> str:
        return f"{self.product_name} ({self.label})" if self.label else self.product_name

    @property
    def price_text(self) -> str:
        """The price as its input shows it: 59.00."""
        return f"{self.price // 100}.{self.price % 100:02d}"

    def current(self) -> dict[str, object]:
        """What the variant holds now, as /api and a refused save report it (price in cents)."""
        return {
            "id": self.id,
            "productId": self.product_slug,
            "sku": self.sku,
            "label": self.label,
            "price": self.price,
            "stock": self.stock,
            "version": self.version,
        }


@dataclass(frozen=True)
class StaffProduct:
    id: int
    slug: str
    name: str
    image: str
    photo: str | None
    active: bool
    variants: tuple[VariantRow, ...]


@dataclass(frozen=True)
class ProductFilter:
    search: str = ""
    page: int = 1

    @classmethod
    def parse(cls, search: str | None, page: int) -> ProductFilter:
        return cls(text.check(search or "", "q", "search").strip()[:200], page)


@dataclass(frozen=True)
class VariantEdit:
    """A save of one variant: the new price (cents) and/or stock, the version it was read at and
    the stock it showed then (`stock_seen`; None sets `stock` whatever the variant holds now)."""

    price: int | None
    stock: int | None
    version: int
    stock_seen: int | None = None

    def __post_init__(self) -> None:
        if self.price is None and self.stock is None:
            raise InvalidInput("Give a new price or a new stock.", field="price")


def parse_price(raw: str | None) -> int:
    """A price as staff type it (59, 59.5, 59.50 or 59,50) in cents, from 0 to MAX_PRICE_CENTS."""
    found = PRICE.fullmatch(text.check(raw or "", "price", "price").strip())
    limit = f"{MAX_PRICE_CENTS // 100:,}.00"
    if found is None:
        raise InvalidInput(
            f"The price must be an amount such as 59.90: no more than two decimals, from 0.00 to {limit}.",
            field="price",
        )
    cents = int(found.group(1)) * 100 + int((found.group(2) or "0").ljust(2, "0"))
    if cents > MAX_PRICE_CENTS:
        raise InvalidInput(f"The price can be at most {limit}.", field="price")
    return cents


def parse_stock(raw: str | None, name: str = "stock") -> int:
    """A stock count from 0 to MAX_STOCK: never below zero."""
    typed = text.check(raw or "", name, "stock").strip()
    if typed.startswith("-") and WHOLE.fullmatch(typed[1:]):
        raise InvalidInput("Stock cannot be below zero.", field=name)
    if not WHOLE.fullmatch(typed) or int(typed) > MAX_STOCK:
        raise InvalidInput(f"The stock must be a whole number from 0 to {MAX_STOCK:,}.", field=name)
    return int(typed)


def parse_version(raw: str | None) -> int:
    typed = (raw or "").strip()
    if not WHOLE.fullmatch(typed) or not 1 <= int(typed) <= MAX_VERSION:
        raise InvalidInput("This form is missing the version it was opened at. Reload the page.", field="version")
    return int(typed)


def edit_from_form(price: str | None, stock: str | None, stock_seen: str | None, version: str | None) -> VariantEdit:
    """A save from a variant's row. Its stock counts only when changed from what the row showed
    (`stock_seen`): a price edit must not undo the sales made since the row was opened, and a
    changed stock is saved only if the variant still holds what the row showed."""
    new_stock = parse_stock(stock)
    shown = parse_stock(stock_seen, "stock_seen") if stock_seen else None
    changed = None if new_stock == shown else new_stock
    return VariantEdit(parse_price(price), changed, parse_version(version), shown)


ROW_COLUMNS = (
    variants.c.id,
    variants.c.product_id,
    products.c.slug.label("product_slug"),
    products.c.name.label("product_name"),
    variants.c.sku,
    variants.c.label,
    variants.c.price_cents,
    variants.c.stock,
    variants.c.version,
)


def row_of(r: Any) -> VariantRow:
    return VariantRow(r.id, r.product_slug, r.product_name, r.sku, r.label, r.price_cents, r.stock, r.version)


def products_with_variants(conn: Connection, product_rows: list[Any]) -> list[StaffProduct]:
    """The given products with their variants, read in one statement."""
    ids = [r.id for r in product_rows]
    rows = conn.execute(
        select(*ROW_COLUMNS)
        .select_from(variants.join(products))
        .where(variants.c.product_id.in_(ids))
        .order_by(variants.c.position, variants.c.id)
    ).all()
    of_product: dict[int, list[VariantRow]] = {product_id: [] for product_id in ids}
    for r in rows:
        of_product[r.product_id].append(row_of(r))
    return [
        StaffProduct(p.id, p.slug, p.name, p.image, p.photo, p.active, tuple(of_product[p.id])) for p in product_rows
    ]


PRODUCT_COLUMNS = (
    products.c.id,
    products.c.slug,
    products.c.name,
    products.c.image,
    products.c.photo,
    products.c.active,
)


def find_products(v: Visit, wanted: ProductFilter) -> tuple[list[StaffProduct], int, int]:
    """One page of products (sold or not) whose name or a variant's SKU contains the search, in
    catalogue order, with their variants; the page count and the total."""
    query = select(*PRODUCT_COLUMNS)
    if wanted.search:
        sku_matches = exists().where(
            variants.c.product_id == products.c.id, variants.c.sku.icontains(wanted.search, autoescape=True)
        )
        query = query.where(or_(products.c.name.icontains(wanted.search, autoescape=True), sku_matches))
    total = int(v.conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
    rows = v.conn.execute(
        query.order_by(products.c.position, products.c.name, products.c.id)
        .limit(PAGE_SIZE)
        .offset((wanted.page - 1) * PAGE_SIZE)
    ).all()
    return products_with_variants(v.conn, list(rows)), max(1, -(-total // PAGE_SIZE)), total


def product(v: Visit, slug: str) -> StaffProduct:
    """Any product by its slug, sold or not: staff see them all."""
    if not text.plain(slug):  # names no product, and PostgreSQL refuses NUL in a query with an error
        raise NotFound("There is no product with that id.")
    row = v.conn.execute(select(*PRODUCT_COLUMNS).where(products.c.slug == slug.lower())).first()
    if row is None:
        raise NotFound(f"There is no product “{slug}”.")
    return products_with_variants(v.conn, [row])[0]


def variant(v: Visit, variant_id: int, *, lock: bool = False) -> VariantRow:
    query = select(*ROW_COLUMNS).select_from(variants.join(products)).where(variants.c.id == variant_id)
    row = v.conn.execute(query.with_for_update(of=variants) if lock else query).first()
    if row is None:
        raise NotFound(f"There is no variant {variant_id}.")
    return row_of(row)


def edit_variant(v: Visit, staff_id: int, variant_id: int, edit: VariantEdit) -> VariantRow:
    """Set a variant's price and/or stock if nobody saved it since `edit.version` was read and, for
    a new stock, if it still holds `edit.stock_seen` (when given), raising its version, with an
    audit row of what changed (before → after), all in one transaction. EditConflict with the
    current values otherwise; an edit that changes nothing writes nothing."""
    with v.writing():
        before = variant(v, variant_id, lock=True)
        changes = {
            name: value
            for name, value in (("price", edit.price), ("stock", edit.stock))
            if value is not None and value != getattr(before, name)
        }
        guarded_stock = edit.stock_seen if "stock" in changes else None
        if before.version != edit.version or guarded_stock not in (None, before.stock):
            raise EditConflict(f"{CHANGED_MEANWHILE}: {summary(before, v.settings.currency)}.", before.current())
        if not changes:
            return before
        values = {"price_cents" if name == "price" else name: value for name, value in changes.items()}
        unchanged = [variants.c.id == variant_id, variants.c.version == edit.version]
        if guarded_stock is not None:
            unchanged.append(variants.c.stock == guarded_stock)
        saved = v.conn.execute(
            update(variants).where(*unchanged).values(**values, version=variants.c.version + 1)
        ).rowcount
        if saved != 1:
            current = variant(v, variant_id)
            raise EditConflict(f"{CHANGED_MEANWHILE}: {summary(current, v.settings.currency)}.", current.current())
        was = {name: getattr(before, name) for name in changes}
        staff.record(v, staff_id, "variant.edit", f"variant:{variant_id}", was, changes)
        return variant(v, variant_id)


def summary(row: VariantRow, currency: str) -> str:
    """What a variant holds now, in words: "it is now €59.00 with 12 in stock"."""
    return f"it is now {money(row.price, currency)} with {row.stock} in stock"


def set_photo(v: Visit, staff_id: int, slug: str, photo: str | None) -> StaffProduct:
    """Show `photo` (a content hash stored by web/media.py) for the product, or, with None, its demo
    illustration again; audited in the same transaction."""
    with v.writing():
        before = product(v, slug)
        if before.photo == photo:
            return before
        v.conn.execute(update(products).where(products.c.id == before.id).values(photo=photo))
        staff.record(v, staff_id, "product.photo", f"product:{before.slug}", {"photo": before.photo}, {"photo": photo})
        return product(v, slug)


def photos_in_use(conn: Connection, since: int) -> set[str]:
    """The photos products show, and those a product stopped showing at or after `since` (from the
    audit), which a page rendered before the change may still ask for."""
    shown = conn.execute(select(products.c.photo).where(products.c.photo.is_not(None))).scalars()
    replaced = conn.execute(select(audit.c.before).where(audit.c.action == "product.photo", audit.c.at >= since))
    return {*shown, *(json.loads(before).get("photo") for before in replaced.scalars())} - {None}


def audit_subjects(v: Visit, slug: str) -> list[str]:
    """What the audit files a product's changes under: the product itself and each of its variants."""
    ids = v.conn.execute(
        select(variants.c.id).join(products).where(products.c.slug == slug.lower()).order_by(variants.c.id)
    ).scalars()
    return [f"product:{slug.lower()}", *(f"variant:{variant_id}" for variant_id in ids)]
