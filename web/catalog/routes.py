"""Catalogue pages: the index with category filter, sorting and pagination, search, and the product page."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.params import FromPath

from web.catalog import service as catalog
from web.forms import whole_number
from web.locality import service as locality
from web.pages import layout, page
from web.problems import InvalidInput
from web.unit import Visit
from web.visit import visit


def one_value(request: Request, name: str, label: str) -> str | None:
    values = request.query_params.getall(name, [])
    if len(values) > 1:
        raise InvalidInput(f"The {label} was sent more than once.", field=name)
    return values[0] if values else None


def page_number(request: Request) -> int:
    value = one_value(request, "page", "page number")
    return whole_number(value, name="page", label="page number", minimum=1, maximum=10_000) if value is not None else 1


def sort_order(request: Request) -> str:
    value = one_value(request, "sort", "sort order") or "featured"
    if value not in catalog.SORTS:
        choices = ", ".join(catalog.SORTS)
        raise InvalidInput(f"Products can be sorted by {choices}, not by “{value[:40]}”.", field="sort")
    return value


@get("/", name="catalog.index")
async def index(request: Request) -> Response[str]:
    number = page_number(request)
    sort = sort_order(request)
    category_slug = one_value(request, "category", "category") or None

    def work(v: Visit) -> dict[str, Any]:
        current = catalog.category(v.conn, category_slug) if category_slug else None
        listing = catalog.list_products(v.conn, category_slug, number, v.settings.page_size, sort)
        return {
            **layout(v),
            "categories": catalog.list_categories(v.conn),
            "category": current,
            "listing": listing,
            "sort": sort,
            "sorts": {key: label for key, (label, _) in catalog.SORTS.items()},
            "page_query": {"category": category_slug or "", "sort": "" if sort == "featured" else sort},
        }

    return page(request, "catalog/index.html", await visit(request, work))


@get("/search", name="catalog.search")
async def search(request: Request) -> Response[str]:
    number = page_number(request)
    query = (one_value(request, "q", "search") or "").strip()

    def work(v: Visit) -> dict[str, Any]:
        listing = catalog.search_products(v.conn, query, number, v.settings.page_size) if query else None
        return {
            **layout(v),
            "query": query,
            "listing": listing,
            "categories": catalog.list_categories(v.conn),
            "page_query": {"q": query},
        }

    return page(request, "catalog/search.html", await visit(request, work))


def chosen_quantity(request: Request, most: int) -> int:
    """The quantity in the address (a stepper's link, or the page after an add), 1 when absent or unusable."""
    raw = request.query_params.get("quantity", "")
    if not (raw.isascii() and raw.isdigit()) or int(raw[:9]) == 0:
        return 1
    return most if len(raw) > 9 else min(int(raw), most)


@get("/products/{slug:str}", name="catalog.product")
async def product(request: Request, slug: FromPath[str]) -> Response[str]:
    raw_variant = request.query_params.get("variant")
    chosen = int(raw_variant) if raw_variant and raw_variant.isascii() and raw_variant.isdigit() else None

    def work(v: Visit) -> dict[str, Any]:
        item = catalog.product_page(v.conn, slug)
        return {
            **layout(v),
            "product": item,
            "related": catalog.related_products(v.conn, item) if item.stock == 0 else [],
            "quantity": chosen_quantity(request, v.settings.max_line_quantity),
            "selected": item.variant(chosen),
            "delivery": locality.for_product(v.conn, item.id, locality.chosen(v.session)),
            "message": None,
            "level": "info",
            "page_key": item.slug,
        }

    return page(request, "catalog/product.html", await visit(request, work))


router = Router(path="/", route_handlers=[index, search, product])
