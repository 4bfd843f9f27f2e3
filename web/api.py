"""The JSON API for curl and scripts: the same services and the same owner resolver as the pages.

Unsafe calls need `Content-Type: application/json` (a cross-site form cannot send it without a
CORS preflight, which we never grant) and, when an Origin is sent, our own origin.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar, cast

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.params import FromPath

from web import api_types, forms, text
from web.cart import service as cart
from web.cart.store import CartView, read_cart
from web.catalog import service as catalog
from web.headers import media_type
from web.owner import resolve_owner
from web.problems import InvalidInput, UnsupportedMediaType
from web.sessions import short_hash
from web.unit import Visit
from web.visit import JSON_CALL, check_origin, shop_of, visit

T = TypeVar("T", bound=msgspec.Struct)
MAX_DEPTH = 32
# A JSON string (one left open runs to the end, so the scan stays linear) or a bracket.
JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
OPENING = {b"[", b"{"}
CLOSING = {b"]", b"}"}


def item_json(line: Any) -> dict[str, Any]:
    """A cart line or an order line, as /api shows both."""
    return {
        "productId": line.product_slug,
        "variantId": line.variant_id,
        "title": line.title,
        "qty": line.quantity,
        "unitPrice": line.unit_price,
        "lineTotal": line.line_total,
    }


def cart_json(view: CartView, currency: str) -> dict[str, Any]:
    return {
        "items": [{"id": line.id, **item_json(line)} for line in view.lines],
        "totals": {"count": view.count, "subtotal": view.subtotal, "currency": currency},
        "notices": view.notices,
    }


def require_json(request: Request) -> None:
    if media_type(request) != "application/json":
        raise UnsupportedMediaType("Send this request with Content-Type: application/json.")
    check_origin(request)


async def json_object(request: Request) -> dict[str, Any]:
    """The JSON object a call sends: refused (400) when it is not one, nests deeper than
    MAX_DEPTH, or holds text no database can store (see storable())."""
    require_json(request)
    raw = await request.body()
    if too_deep(raw):
        raise InvalidInput(f"The body nests arrays and objects more than {MAX_DEPTH} deep.")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.")
    storable(body, None)
    return body


def too_deep(raw: bytes) -> bool:
    """Whether a JSON text nests arrays and objects deeper than MAX_DEPTH (brackets in strings aside).

    Checked before parsing: json.loads recurses once a level, so a body a thousand deep would end in
    a RecursionError (a 500). Any body of ours has a few brackets, and is let through by the count.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for token in JSON_TOKENS.findall(raw):
        if token in OPENING:
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif token in CLOSING:
            depth -= 1
    return False


def storable(value: Any, field: str | None) -> None:
    """InvalidInput naming the field when any text in `value` holds a lone surrogate, which JSON's
    "\\ud800" escapes can send and UTF-8 (so the database, and the answer) cannot hold."""
    if isinstance(value, str):
        if not text.storable(value):
            raise InvalidInput(f"{field} contains characters that cannot be stored.", field=field)
    elif isinstance(value, dict):
        for name, item in value.items():
            if not text.storable(name):
                raise InvalidInput("The body has a field name that cannot be stored.", field=field)
            storable(item, name)
    elif isinstance(value, list):
        for item in value:
            storable(item, field)


async def decoded(request: Request, shape: type[T]) -> T:
    """The call's body as `shape`: json_object()'s checks, then the strict decoding of web/api_types.py.
    `shape` must be the body the handler documents (its `opt["body"]`), so the published schema is
    the one enforced."""
    documented = request.route_handler.opt.get("body")
    assert documented is shape, f"{request.route_handler.name} documents {documented}, decodes {shape}"
    return cast(T, api_types.decode(await json_object(request), shape))


@get("/api/cart", name="api.cart", opt={"answer": api_types.Cart})
async def read(request: Request) -> dict[str, Any]:
    """The cart: its lines, clamped to what may be bought now, and its totals."""

    def work(v: Visit) -> dict[str, Any]:
        return cart_json(cart.load_cart(v), v.settings.currency)

    return await visit(request, work)


@post(
    "/api/cart", name="api.cart_add", status_code=201, opt={"body": api_types.CartAdd, "answer": api_types.CartChange}
)
async def add(request: Request) -> dict[str, Any]:
    """Put a product in the cart: added to any line of the same variant, clamped to the stock and to
    the per-line maximum, with a message saying what was added."""
    settings = shop_of(request).settings
    body = await decoded(request, api_types.CartAdd)
    if body.qty > settings.max_line_quantity:
        raise InvalidInput(f"qty must be a whole number from 1 to {settings.max_line_quantity}.", field="qty")

    def work(v: Visit) -> dict[str, Any]:
        _product, variant, _name = catalog.resolve_variant(v.conn, body.product_id, body.variant_id)
        result = cart.add_to_cart(v, variant, body.qty)
        return {**cart_json(result.cart, settings.currency), "message": result.message}

    return await visit(request, work, write=True, csrf=JSON_CALL)


@delete(
    "/api/cart/product/{product_id:str}",
    name="api.cart_remove_product",
    status_code=200,
    opt={"answer": api_types.CartChange},
)
async def remove_product(request: Request, product_id: FromPath[str]) -> dict[str, Any]:
    """Take every variant of a product out of the cart."""
    require_json(request)

    def work(v: Visit) -> dict[str, Any]:
        message = cart.remove_product(v, product_id)
        return {**cart_json(cart.load_cart(v), v.settings.currency), "message": message}

    return await visit(request, work, write=True, csrf=JSON_CALL)


@delete(
    "/api/cart/items/{line_id:int}", name="api.cart_remove_line", status_code=200, opt={"answer": api_types.CartChange}
)
async def remove_line(request: Request, line_id: forms.PathId) -> dict[str, Any]:
    """Take one line out of the cart."""
    require_json(request)

    def work(v: Visit) -> dict[str, Any]:
        message = cart.remove_line(v, line_id)
        return {**cart_json(cart.load_cart(v), v.settings.currency), "message": message}

    return await visit(request, work, write=True, csrf=JSON_CALL)


@get("/api/debug/session", name="api.debug_session")
async def debug_session(request: Request) -> dict[str, Any]:
    """Development only: what the server knows of this visitor, without revealing the session ID."""

    def work(v: Visit) -> dict[str, Any]:
        known = not v.session.is_new
        return {
            "sessionHash": short_hash(v.session.id) if known else None,
            "userId": resolve_owner(v).user_id,
            "cookieNames": sorted(request.cookies),
        }

    return await visit(request, work)


@get("/api/cart/debug", name="api.cart_debug")
async def debug_cart(request: Request) -> dict[str, Any]:
    """Development only: whose cart this request resolves to, and how many items it holds."""

    def work(v: Visit) -> dict[str, Any]:
        owner = resolve_owner(v)
        view, _stale = read_cart(v.conn, owner.cart_id, v.settings.max_line_quantity)
        return {"owner": {"kind": owner.kind, "userId": owner.user_id}, "itemCount": view.count}

    return await visit(request, work)


def router(development: bool) -> Router:
    handlers: list[Any] = [read, add, remove_product, remove_line]
    if development:
        handlers += [debug_session, debug_cart]
    return Router(path="/", route_handlers=handlers)
