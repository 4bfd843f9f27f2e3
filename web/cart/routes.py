"""Cart pages and forms. Without JavaScript every form posts and gets a 303 back with a flash;
with htmx the same forms get the fragment they target plus what else the page shows, out of band
(web/fragments.py). Each route reads: parse, one unit of work (owner, cart service), render."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from web import forms
from web.cart import service as cart
from web.cart.store import Said
from web.fragments import ANYTHING, answer, page_context
from web.headers import is_htmx
from web.pages import Page, layout, page, redirect_back
from web.unit import Visit
from web.visit import form_token, shop_of, visit

CART_PATH = "/cart"


async def change_cart(request: Request, change: Callable[[Visit, forms.MultiDict], str]) -> Response[str]:
    """Run one cart edit as the request's unit of work and answer it.

    `change` does the edit and says what it did; the page's cart is read after it in the same
    transaction, so what the shopper sees is what was stored.
    """
    form = await forms.read(request)
    next_path = forms.safe_next(forms.one(form, "next", required=False), CART_PATH)

    def work(v: Visit) -> dict[str, Any]:
        said = change(v, form)
        level, message = (said.level if isinstance(said, Said) else "success"), str(said)
        if not is_htmx(request):
            v.session.flash(message, level)
            return {}
        return {**layout(v, flashes=False), "message": message, "level": level}

    context = await visit(request, work, write=True, csrf=form_token(request, form))
    if not is_htmx(request):
        return redirect_back(request, next_path)
    return answer(request, context, message=context["message"])


@get("/cart", name="cart.view")
async def view_cart(request: Request) -> Response[str]:
    context = await visit(request, layout)
    return page(request, "cart/view.html", context)


@get("/cart/drawer", name="cart.drawer")
async def drawer(request: Request) -> Response[str]:
    """The cart as it is now, for a tab that becomes visible again: what the page shows of it."""
    if not is_htmx(request):
        return redirect_back(request, CART_PATH)
    here = Page.of(request)
    # Another tab may have changed the cart or where to deliver: everything the page shows of either.
    context = await visit(request, lambda v: {**layout(v), **page_context(v, here, ANYTHING)})
    return answer(request, context, changed=ANYTHING)


@post("/cart/items", name="cart.add")
async def add_item(request: Request) -> Response[str]:
    shop = shop_of(request)
    form = await forms.read(request)
    product_slug = forms.one(form, "product", label="product")
    assert product_slug is not None
    variant_id = forms.identifier(form, "variant_id", "option")
    quantity = forms.quantity(form, shop.settings.max_line_quantity)
    next_path = forms.safe_next(forms.one(form, "next", required=False), CART_PATH)

    def work(v: Visit) -> dict[str, Any]:
        result = cart.add_to_cart(v, variant_id, quantity, product_slug)
        # Fewer than asked (the stock or the per-line limit): a warning; none at all: a note.
        level = "info" if not result.added else "warning" if result.added < result.requested else "success"
        if not is_htmx(request):
            v.session.flash(result.message, level)
            return {}
        return {**layout(v, result.cart, flashes=False), "message": result.message, "level": level, "drawer_open": True}

    context = await visit(request, work, write=True, csrf=form_token(request, form))
    if not is_htmx(request):
        return redirect_back(request, with_choice(next_path, product_slug, variant_id, quantity))
    return answer(request, context, message=context["message"])


def with_choice(next_path: str, product_slug: str, variant_id: int, quantity: int) -> str:
    """Back on the product's own page, the option and quantity just added stay chosen (the page
    preselects `?variant=` and fills in `?quantity=`, 1 when absent), so the next add without
    JavaScript takes the same option, not the first."""
    parts = urlsplit(next_path)
    if parts.path.lower() != f"/products/{product_slug.lower()}":
        return next_path
    query = [(name, value) for name, value in parse_qsl(parts.query) if name not in ("variant", "quantity")]
    choice = [("variant", str(variant_id))] + ([("quantity", str(quantity))] if quantity != 1 else [])
    return urlunsplit(("", "", parts.path, urlencode([*query, *choice]), ""))


@post("/cart/lines/{line_id:int}/quantity", name="cart.set_quantity")
async def set_quantity(request: Request, line_id: forms.PathId) -> Response[str]:
    def change(v: Visit, form: forms.MultiDict) -> str:
        return cart.set_quantity(v, line_id, forms.quantity(form, v.settings.max_line_quantity, minimum=0))

    return await change_cart(request, change)


@post("/cart/lines/{line_id:int}/remove", name="cart.remove_line")
async def remove_line(request: Request, line_id: forms.PathId) -> Response[str]:
    return await change_cart(request, lambda v, _form: cart.remove_line(v, line_id))


@post("/cart/products/{slug:str}/remove", name="cart.remove_product")
async def remove_product(request: Request, slug: FromPath[str]) -> Response[str]:
    return await change_cart(request, lambda v, _form: cart.remove_product(v, slug))


@post("/cart/clear", name="cart.clear")
async def clear_cart(request: Request) -> Response[str]:
    return await change_cart(request, lambda v, _form: cart.empty(v))


@post("/cart/put-back", name="cart.put_back")
async def put_back(request: Request) -> Response[str]:
    """What the last "Empty the cart" set aside, back in the cart."""
    return await change_cart(request, lambda v, _form: cart.put_back(v))


router = Router(
    path="/",
    route_handlers=[view_cart, drawer, add_item, set_quantity, remove_line, remove_product, clear_cart, put_back],
)
