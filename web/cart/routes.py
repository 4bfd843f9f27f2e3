"""Cart pages and forms. Without JavaScript every form posts and gets a 303 back with a flash;
with htmx the same forms get the target fragment plus out-of-band badge, drawer and toast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from web import forms
from web.cart import service as cart
from web.catalog import service as catalog
from web.headers import header
from web.owner import add_to_cart, load_cart, resolve_owner
from web.pages import (
    Renderer,
    current_path,
    fragments,
    is_htmx,
    layout,
    page,
    redirect_back,
    renderer,
    sent_csrf_token,
)
from web.visit import Visit, visit

CART_PATH = "/cart"
PRODUCT_PATH = "/products/"
ADD_STATUS = "catalog/partials/add_status.html"
BADGE = "cart/partials/badge.html"
DRAWER = "cart/partials/drawer.html"
CONTENTS = "cart/partials/contents.html"
IN_CART = "catalog/partials/in_cart.html"
TOAST = "partials/toast.html"


class Page:
    """The page an htmx request came from (HX-Current-URL), and how to render parts for it."""

    def __init__(self, request: Request) -> None:
        self.out: Renderer = renderer(request)
        self.url = current_path(request)
        self.path = self.url.split("?")[0]

    def whole_cart(self) -> str:
        """The partial that shows every line on this page: the drawer, or on the cart page, which has
        no drawer, the page's contents."""
        return CONTENTS if self.path == CART_PATH else DRAWER

    def render(self, name: str, context: dict[str, Any], *, oob: bool) -> str:
        return self.out.render(name, {**self.out.shown_at(self.url, context), "oob": oob})

    def cart_parts(self, view: cart.CartView) -> list[str]:
        """The badge, and on a product page its "N of this in your cart" line, so both agree with
        the cart after any change."""
        parts: list[str] = [self.out.partial(BADGE, count=view.count, oob=True)]
        if self.path.startswith(PRODUCT_PATH):
            slug = self.path[len(PRODUCT_PATH) :].lower()
            parts.append(self.out.partial(IN_CART, held=view.quantity_of_product(slug), oob=True))
        return parts


def cart_response(
    request: Request, context: dict[str, Any], target: str | None, next_path: str | None
) -> Response[str]:
    """After a cart change: a 303 back for plain forms, or the fragments htmx swaps in."""
    if not is_htmx(request):
        return redirect_back(request, next_path, CART_PATH)
    here = Page(request)
    parts: list[str] = []
    if target == ADD_STATUS:
        parts.append(here.out.partial(ADD_STATUS, message=context["message"], level=context["level"]))
    elif target:
        parts.append(here.render(target, context, oob=False))
    if target != (whole_cart := here.whole_cart()):
        parts.append(here.render(whole_cart, context, oob=True))
    parts.extend(here.cart_parts(context["cart"]))
    # The add status already says what an add did; the toast is then emptied so nothing is read out twice.
    message = None if target == ADD_STATUS else context["message"]
    parts.append(here.out.partial(TOAST, message=message, level=context["level"], oob=True))
    return fragments(*parts)


def edit_target(request: Request) -> str | None:
    """Which fragment a cart edit answers with: the drawer it came from, else the cart page's contents."""
    if header(request, "hx-target") == "cart-drawer":
        return DRAWER
    return CONTENTS if current_path(request).split("?")[0] == CART_PATH else None


async def change_cart(request: Request, change: Callable[[Visit, forms.MultiDict], tuple[str, str]]) -> Response[str]:
    """Run one cart edit as the request's unit of work and answer it.

    `change` does the edit and returns (message, level); the page's cart is read after it in the
    same transaction, so what the shopper sees is what was stored.
    """
    form = await forms.read(request)
    next_path = forms.one(form, "next", required=False)

    def work(v: Visit) -> dict[str, Any]:
        message, level = change(v, form)
        view = load_cart(v)
        if not is_htmx(request):
            v.session.flash(message, level)
        return {**layout(v, view, flashes=False), "message": message, "level": level}

    context = await visit(request, work, write=True, csrf=sent_csrf_token(request, form))
    return cart_response(request, context, edit_target(request), next_path)


@get("/cart", name="cart.view")
async def view_cart(request: Request) -> Response[str]:
    context = await visit(request, layout)
    return page(request, "cart/view.html", context)


@get("/cart/drawer", name="cart.drawer")
async def drawer(request: Request) -> Response[str]:
    """The cart as it is now, for a tab that becomes visible again: the drawer (on the cart page,
    the page's contents, as it has no drawer) and the badge."""
    if not is_htmx(request):
        return redirect_back(request, CART_PATH)
    context = await visit(request, layout)
    here = Page(request)
    return fragments(here.render(here.whole_cart(), context, oob=False), *here.cart_parts(context["cart"]))


@post("/cart/items", name="cart.add")
async def add_item(request: Request) -> Response[str]:
    form = await forms.read(request)
    product_slug = forms.one(form, "product", label="product")
    assert product_slug is not None
    variant_id = forms.identifier(form, "variant_id", "option")
    settings = request.app.state.shop.settings
    quantity = forms.quantity(form, settings.max_line_quantity)
    next_path = forms.one(form, "next", required=False)

    def work(v: Visit) -> dict[str, Any]:
        result = add_to_cart(v, variant_id, quantity, product_slug)
        view = result.cart
        if not is_htmx(request):
            v.session.flash(result.message, "success" if result.added else "info")
            return {}
        return {
            **layout(v, view, flashes=False),
            "message": result.message,
            "level": "success" if result.added else "info",
            "drawer_open": True,
        }

    context = await visit(request, work, write=True, csrf=sent_csrf_token(request, form))
    return cart_response(request, context, ADD_STATUS, next_path)


@post("/cart/lines/{line_id:int}/quantity", name="cart.set_quantity")
async def set_quantity(request: Request, line_id: forms.PathId) -> Response[str]:
    def change(v: Visit, form: forms.MultiDict) -> tuple[str, str]:
        quantity = forms.quantity(form, v.settings.max_line_quantity, minimum=0)
        owner = resolve_owner(v)
        result = cart.set_quantity(v.conn, owner.cart_id, line_id, quantity, v.settings.max_line_quantity, v.now)
        return result.message, "success"

    return await change_cart(request, change)


@post("/cart/lines/{line_id:int}/remove", name="cart.remove_line")
async def remove_line(request: Request, line_id: forms.PathId) -> Response[str]:
    def change(v: Visit, form: forms.MultiDict) -> tuple[str, str]:
        return cart.remove_line(v.conn, resolve_owner(v).cart_id, line_id).message, "success"

    return await change_cart(request, change)


@post("/cart/products/{slug:str}/remove", name="cart.remove_product")
async def remove_product(request: Request, slug: FromPath[str]) -> Response[str]:
    def change(v: Visit, form: forms.MultiDict) -> tuple[str, str]:
        product_id, _variant, name = catalog.resolve_variant(v.conn, slug, None)
        return cart.remove_product(v.conn, resolve_owner(v).cart_id, product_id, name).message, "success"

    return await change_cart(request, change)


@post("/cart/clear", name="cart.clear")
async def clear_cart(request: Request) -> Response[str]:
    def change(v: Visit, form: forms.MultiDict) -> tuple[str, str]:
        return cart.clear(v.conn, resolve_owner(v).cart_id).message, "success"

    return await change_cart(request, change)


router = Router(
    path="/", route_handlers=[view_cart, drawer, add_item, set_quantity, remove_line, remove_product, clear_cart]
)
