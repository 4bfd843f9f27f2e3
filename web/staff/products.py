"""The back office's products: price and stock edited in place, the product photo, and the photo files.

`router` is guarded by requires_staff like web/staff/routes.py's; `media_router` serves the stored
photo files to everyone, by name only, with cache headers that last a year (a name is a content
hash, so it never changes what it holds).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import anyio.to_thread
from litestar import Request, Response, Router, get, patch, post
from litestar.datastructures import UploadFile
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath
from litestar.response import File

from web import api_types, forms, media
from web.api import decoded
from web.guards import requires_staff, staff_of
from web.headers import is_htmx
from web.money import money
from web.orders.routes import page_number
from web.pages import current_path, html, layout, page, redirect_back, renderer
from web.problems import EditConflict, InvalidInput, NotFound, Problem, TooLarge
from web.staff import catalog
from web.unit import Shop, Visit
from web.visit import JSON_CALL, FormToken, form_token, shop_of, visit

ROW = "staff/partials/variant_row.html"
PHOTO = "staff/partials/product_photo.html"
PRODUCTS = "/staff/products"
# Room for the multipart envelope around a photo of the largest size accepted.
UPLOAD_BODY_LIMIT = media.MAX_UPLOAD_BYTES + 64 * 1024
PHOTO_TOO_LARGE = "The photo is larger than 5 MB. Save it smaller (JPEG, PNG or WebP) and upload it again."
CACHED_FOR_A_YEAR = "public, max-age=31536000, immutable"
TYPED_MAX = 40  # characters of a refused value shown back in its input
# Photos decoded at once in this process: a 40-megapixel PNG takes about 160 MB while it is
# cleaned, so uploads arriving together wait their turn instead of multiplying that.
DECODING = anyio.CapacityLimiter(1)


@dataclass(frozen=True)
class RowForm:
    """A variant's row: the stored variant, what its inputs show (what was typed, when refused),
    the version and stock it was opened at, and what the last save said."""

    variant: catalog.VariantRow
    price: str
    stock: str
    version: int
    stock_seen: int
    message: str | None = None
    level: str = "info"
    field: str | None = None

    @classmethod
    def of(cls, variant: catalog.VariantRow, message: str | None = None, level: str = "info") -> RowForm:
        return cls(variant, variant.price_text, str(variant.stock), variant.version, variant.stock, message, level)


def product_filter(request: Request) -> catalog.ProductFilter:
    return catalog.ProductFilter.parse(request.query_params.get("q"), page_number(request))


@get("/staff/products", name="staff.products")
async def product_list(request: Request) -> Response[str]:
    wanted = product_filter(request)

    def work(v: Visit) -> dict[str, Any]:
        staff_of(v)
        found, pages, total = catalog.find_products(v, wanted)
        listed = [(product, [RowForm.of(variant) for variant in product.variants]) for product in found]
        return {**layout(v), "listed": listed, "pages": pages, "total": total, "wanted": wanted}

    context = await visit(request, work)
    return page(request, "staff/products.html", {**context, "return_to": current_path(request)})


def product_context(v: Visit, slug: str, rows: dict[int, RowForm] | None = None) -> dict[str, Any]:
    """A product's page: its rows (`rows` replacing some, as refused), its photo and the layout."""
    staff_of(v)
    product = catalog.product(v, slug)
    shown = [(rows or {}).get(variant.id) or RowForm.of(variant) for variant in product.variants]
    return {**layout(v), "product": product, "rows": shown, "photo_message": None, "photo_level": "info"}


@get("/staff/products/{slug:str}", name="staff.product")
async def product_page(request: Request, slug: FromPath[str]) -> Response[str]:
    context = await visit(request, lambda v: product_context(v, slug))
    return page(request, "staff/product.html", {**context, "return_to": current_path(request)})


def first(form: forms.MultiDict, name: str) -> str:
    values = form.getall(name, [])
    return values[0] if values and isinstance(values[0], str) else ""


def saved_message(row: catalog.VariantRow, currency: str) -> str:
    return f"Saved {row.title}: {money(row.price, currency)}, {row.stock} in stock."


def row_fragment(request: Request, row: RowForm, csrf_token: str, return_to: str, status: int) -> Response[str]:
    out = renderer(request)
    return html(out.render(ROW, {"row": row, "csrf_token": csrf_token, "return_to": return_to}), status)


@post("/staff/variants/{variant_id:int}", name="staff.variant_edit")
async def edit_variant(request: Request, variant_id: forms.PathId) -> Response[str]:
    """Save a row: htmx gets the row back; without JavaScript, 303 back with a flash. Refused (bad
    input, or saved by someone else meanwhile): the row with the reason, or the product's page."""
    form = await forms.read(request)
    token = form_token(request, form)
    return_to = forms.safe_next(first(form, "next"), PRODUCTS)
    htmx = is_htmx(request)
    try:
        edit = catalog.edit_from_form(
            forms.one(form, "price"),
            forms.one(form, "stock"),
            forms.one(form, "stock_seen", required=False),
            forms.one(form, "version", required=False, label="version"),
        )

        def work(v: Visit) -> tuple[RowForm, str]:
            saved = catalog.edit_variant(v, staff_of(v), variant_id, edit)
            message = saved_message(saved, v.settings.currency)
            if not htmx:
                v.session.flash(message, "success")
            return RowForm.of(saved, message, "success"), v.session.csrf_token

        row, csrf_token = await visit(request, work, write=True, csrf=token)
    except (InvalidInput, EditConflict) as problem:
        return await refused_edit(request, variant_id, form, problem, token, return_to)
    if not htmx:
        return redirect_back(request, return_to, PRODUCTS)
    return row_fragment(request, row, csrf_token, return_to, 200)


def refused_row(variant: catalog.VariantRow, form: forms.MultiDict, problem: Problem) -> RowForm:
    """The row after a refused save: a conflict shows what the variant holds now (and its new
    version); bad input keeps what was typed and the version it was opened at."""
    if isinstance(problem, EditConflict):
        return RowForm.of(variant, problem.message, "error")
    opened = RowForm.of(variant)
    version, seen = first(form, "version"), first(form, "stock_seen")
    return replace(
        opened,
        price=first(form, "price")[:TYPED_MAX],
        stock=first(form, "stock")[:TYPED_MAX],
        version=int(version) if catalog.WHOLE.fullmatch(version) else opened.version,
        stock_seen=int(seen) if catalog.WHOLE.fullmatch(seen) else opened.stock_seen,
        message=problem.message,
        level="error",
        field=problem.field,
    )


async def refused_edit(
    request: Request, variant_id: int, form: forms.MultiDict, problem: Problem, token: FormToken, return_to: str
) -> Response[str]:
    def work(v: Visit) -> dict[str, Any]:
        staff_of(v)
        row = refused_row(catalog.variant(v, variant_id), form, problem)
        if is_htmx(request):
            return {"row": row, "csrf_token": v.session.csrf_token}
        return product_context(v, row.variant.product_slug, {variant_id: row})

    context = await visit(request, work, csrf=token)
    if is_htmx(request):
        return row_fragment(request, context["row"], context["csrf_token"], return_to, problem.status)
    return page(request, "staff/product.html", {**context, "return_to": return_to}, problem.status)


async def uploaded_photo(request: Request) -> tuple[bytes, FormToken]:
    """The photo a product's upload form sent, and the form's token; TooLarge past the body limit."""
    try:
        form = await forms.read(request)
    except RequestEntityTooLarge:
        raise TooLarge(PHOTO_TOO_LARGE, field="photo") from None
    upload = form.getall("photo", [None])[0]
    token = form_token(request, form)
    return (await upload.read() if isinstance(upload, UploadFile) else b""), token


@post("/staff/products/{slug:str}/photo", name="staff.product_photo", request_max_body_size=UPLOAD_BODY_LIMIT)
async def upload_photo(request: Request, slug: FromPath[str]) -> Response[str]:
    """Store an uploaded photo (cleaned and resized off the event loop) and show it for the product."""
    data, token = await uploaded_photo(request)

    def check(v: Visit) -> None:  # a photo is only decoded for staff, from our own form, for a product
        staff_of(v)
        catalog.product(v, slug)

    await visit(request, check, csrf=token)
    try:
        photo = await prepared(data, shop_of(request))
    except (InvalidInput, TooLarge) as problem:
        return await refused_photo(request, slug, problem, token)
    return await photo_changed(request, slug, photo, token, "The new photo is shown in the shop.")


async def prepared(data: bytes, shop: Shop) -> str:
    """media.prepare_and_store() in a worker thread, one upload at a time (DECODING)."""
    return await anyio.to_thread.run_sync(media.prepare_and_store, data, shop.settings.media_dir, limiter=DECODING)


@post("/staff/products/{slug:str}/photo/remove", name="staff.product_photo_remove")
async def remove_photo(request: Request, slug: FromPath[str]) -> Response[str]:
    form = await forms.read(request)
    return await photo_changed(request, slug, None, form_token(request, form), "The shop shows the illustration again.")


async def photo_changed(
    request: Request, slug: str, photo: str | None, token: FormToken, message: str
) -> Response[str]:
    htmx = is_htmx(request)

    def work(v: Visit) -> dict[str, Any]:
        product = catalog.set_photo(v, staff_of(v), slug, photo)
        if not htmx:
            v.session.flash(message, "success")
        return {"product": product, "csrf_token": v.session.csrf_token}

    context = await visit(request, work, write=True, csrf=token)
    if not htmx:
        return redirect_back(request, f"{PRODUCTS}/{context['product'].slug}")
    section = {**context, "photo_message": message, "photo_level": "success"}
    return html(renderer(request).render(PHOTO, section))


async def refused_photo(request: Request, slug: str, problem: Problem, token: FormToken) -> Response[str]:
    context = await visit(request, lambda v: product_context(v, slug), csrf=token)
    context = {**context, "photo_message": problem.message, "photo_level": "error"}
    if is_htmx(request):
        return html(renderer(request).render(PHOTO, context), problem.status)
    return_to = f"{PRODUCTS}/{context['product'].slug}"
    return page(request, "staff/product.html", {**context, "return_to": return_to}, problem.status)


def variant_json(row: catalog.VariantRow) -> dict[str, Any]:
    return {"variant": row.current()}


@get(
    "/api/staff/variants/{variant_id:int}",
    name="api.staff_variant",
    opt={"answer": api_types.OneVariant, "tag": "staff"},
)
async def api_variant(request: Request, variant_id: forms.PathId) -> dict[str, Any]:
    """Staff only: a variant's price (in cents), stock and version, as a PATCH needs them."""

    def work(v: Visit) -> dict[str, Any]:
        staff_of(v)
        return variant_json(catalog.variant(v, variant_id))

    return await visit(request, work)


def api_edit(body: api_types.VariantEdit) -> catalog.VariantEdit:
    """The edit a PATCH asks for (see api_types.VariantEdit), `stockSeen` only with a new stock."""
    if body.stock_seen is not None and body.stock is None:
        raise InvalidInput(
            "stockSeen goes with a new stock: send stock too, or leave stockSeen out.", field="stockSeen"
        )
    return catalog.VariantEdit(body.price, body.stock, body.version, body.stock_seen)


@patch(
    "/api/staff/variants/{variant_id:int}",
    name="api.staff_variant_edit",
    opt={"body": api_types.VariantEdit, "answer": api_types.OneVariant, "tag": "staff"},
)
async def api_edit_variant(request: Request, variant_id: forms.PathId) -> dict[str, Any]:
    """Staff only: set a variant's price and/or stock. A `version` that is not the variant's, or a new
    stock with a `stockSeen` the variant no longer holds, is 409 EDIT_CONFLICT with `current`."""
    edit = api_edit(await decoded(request, api_types.VariantEdit))

    def work(v: Visit) -> dict[str, Any]:
        return variant_json(catalog.edit_variant(v, staff_of(v), variant_id, edit))

    return await visit(request, work, write=True, csrf=JSON_CALL)


@get("/media/{file:str}", name="media.photo")
async def photo_file(request: Request, file: FromPath[str]) -> File:
    """A stored photo file, by its name alone (never a path): cached for a year, as it never changes."""
    path = media.stored_file(shop_of(request).settings.media_dir, file)
    if path is None:
        raise NotFound("There is no photo at this address.")
    cache = {"Cache-Control": CACHED_FOR_A_YEAR}
    return File(path, media_type=media.CONTENT_TYPE, content_disposition_type="inline", headers=cache)


router = Router(
    path="/",
    guards=[requires_staff],
    route_handlers=[
        product_list,
        product_page,
        edit_variant,
        upload_photo,
        remove_photo,
        api_variant,
        api_edit_variant,
    ],
)
media_router = Router(path="/", route_handlers=[photo_file])
