"""Catalogue pages: the index with category filter and pagination, and the product page."""

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


def page_number(request: Request) -> int:
    values = request.query_params.getall("page", [])
    if len(values) > 1:
        raise InvalidInput("The page number was sent more than once.", field="page")
    return whole_number(values[0], name="page", label="page number", minimum=1, maximum=10_000) if values else 1


@get("/", name="catalog.index")
async def index(request: Request) -> Response[str]:
    number = page_number(request)
    category_slug = request.query_params.get("category") or None

    def work(v: Visit) -> dict[str, Any]:
        current = catalog.category(v.conn, category_slug) if category_slug else None
        listing = catalog.list_products(v.conn, category_slug, number, v.settings.page_size)
        return {
            **layout(v),
            "categories": catalog.list_categories(v.conn),
            "category": current,
            "listing": listing,
        }

    return page(request, "catalog/index.html", await visit(request, work))


@get("/products/{slug:str}", name="catalog.product")
async def product(request: Request, slug: FromPath[str]) -> Response[str]:
    raw_variant = request.query_params.get("variant")
    chosen = int(raw_variant) if raw_variant and raw_variant.isascii() and raw_variant.isdigit() else None

    def work(v: Visit) -> dict[str, Any]:
        item = catalog.product_page(v.conn, slug)
        return {
            **layout(v),
            "product": item,
            "selected": item.variant(chosen),
            "delivery": locality.for_product(v.conn, item.id, locality.chosen(v.session)),
            "message": None,
            "level": "info",
            "page_key": item.slug,
        }

    return page(request, "catalog/product.html", await visit(request, work))


router = Router(path="/", route_handlers=[index, product])
