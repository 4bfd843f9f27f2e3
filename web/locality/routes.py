"""Deliver to: the header control, its small form, the plain page without JavaScript, and /api.

A change answers htmx with the header control and, out of band, every fragment of the page that
depends on where things go (the drawer's and the cart page's flagged lines, the badge, a product
page's delivery line and add button): the server re-renders them, there is no client cache.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post

from web import api_types, forms
from web.api import decoded
from web.cart import service as cart
from web.cart.store import CartView
from web.fragments import DELIVER_TO, LOCALITY, answer, page_context
from web.headers import is_htmx
from web.locality import service as locality
from web.pages import Page, current_path, html, layout, page, redirect_back, renderer
from web.problems import InvalidInput, Problem
from web.unit import Visit
from web.visit import JSON_CALL, form_token, visit

FORM_PAGE = "locality/deliver_to.html"


def form_values(v: Visit, values: dict[str, str], errors: dict[str, str], *, open_: bool) -> dict[str, Any]:
    place = locality.chosen(v.session)
    shown = values or {"country": place.country if place else "", "postcode": place.postcode if place else ""}
    return {
        **layout(v),
        "countries": locality.countries(v.conn),
        "values": shown,
        "errors": errors,
        "deliver_open": open_,
    }


def control(request: Request, context: dict[str, Any], status: int = 200) -> Response[str]:
    """The header control alone, open or closed, as htmx swaps it."""
    out = renderer(request)
    return html(out.render(DELIVER_TO.template, out.shown_at(current_path(request), context)), status)


@get("/deliver-to", name="locality.form")
async def deliver_to_form(request: Request) -> Response[str]:
    """With htmx, the header control opened into its form; without, a page with the same form."""
    next_path = forms.safe_next(request.query_params.get("next"), "/")
    htmx = is_htmx(request)
    context = await visit(request, lambda v: {**form_values(v, {}, {}, open_=htmx), "next": next_path})
    if htmx:
        return control(request, context)
    return page(request, FORM_PAGE, context)


@get("/deliver-to/control", name="locality.control")
async def deliver_to_control(request: Request) -> Response[str]:
    """The header control closed again (its form's Cancel)."""
    if not is_htmx(request):
        return redirect_back(request, forms.safe_next(request.query_params.get("next"), "/"))
    return control(request, await visit(request, lambda v: {**layout(v), "deliver_open": False}))


def change_message(place: locality.Place, view: CartView) -> tuple[str, str]:
    blocked = len(view.undeliverable)
    if not blocked:
        return f"Delivering to {place.label}.", "success"
    what = (
        "1 item in your cart cannot be delivered there: remove it"
        if blocked == 1
        else (f"{blocked} items in your cart cannot be delivered there: remove them")
    )
    return f"Delivering to {place.label}. {what} or change where to deliver.", "warning"


@post("/deliver-to", name="locality.set")
async def set_deliver_to(request: Request) -> Response[str]:
    form = await forms.read(request)
    next_path = forms.safe_next(forms.one(form, "next", required=False))
    raw = {
        "country": forms.one(form, "country", required=False) or "",
        "postcode": forms.one(form, "postcode", required=False) or "",
    }
    values = {name: value[:40] for name, value in raw.items()}

    def work(v: Visit) -> dict[str, Any]:
        place = locality.choose(v.conn, raw["country"], raw["postcode"])
        locality.remember(v, place)
        message, level = change_message(place, cart.load_cart(v))
        if not is_htmx(request):
            v.session.flash(message, level)
            return {}
        return {
            **layout(v, flashes=False),
            **page_context(v, Page.of(request), LOCALITY),
            "message": message,
            "level": level,
        }

    try:
        context = await visit(request, work, write=True, csrf=form_token(request, form))
    except (InvalidInput, locality.NotServed) as error:
        return await refuse(request, values, error, next_path)
    if not is_htmx(request):
        return redirect_back(request, next_path)
    return answer(request, context, message=context["message"], changed=LOCALITY)


async def refuse(request: Request, values: dict[str, str], error: Problem, next_path: str) -> Response[str]:
    """The form again with the message next to its field: the open control for htmx, else the page."""
    errors = {error.field or "form": error.message}
    htmx = is_htmx(request)
    refused = await visit(request, lambda v: {**form_values(v, values, errors, open_=htmx), "next": next_path})
    if is_htmx(request):
        return control(request, refused, error.status)
    return page(request, FORM_PAGE, refused, error.status)


def status_json(v: Visit) -> dict[str, Any]:
    """Where the shopper delivers to, that zone's methods priced for the cart, and the lines that cannot go there."""
    place = locality.chosen(v.session)
    zone = locality.zone(v.conn, place.zone_id) if place is not None else None
    view = cart.load_cart(v)
    methods = (
        [
            {
                "id": method.code,
                "name": method.name,
                "price": method.price_for(view.subtotal, zone.free_over),
                "days": [method.days_min, method.days_max],
            }
            for method in zone.methods
        ]
        if zone is not None
        else []
    )
    return {
        "locality": {"country": place.country, "postcode": place.postcode} if place is not None else None,
        "zone": zone.code if zone is not None else None,
        "methods": methods,
        "undeliverable": [line.id for line in view.undeliverable],
    }


@get("/api/locality/status", name="api.locality_status", opt={"answer": api_types.DeliverTo})
async def api_status(request: Request) -> dict[str, Any]:
    """Where the shopper delivers to, that zone's methods priced for the cart, and the lines that
    cannot go there."""
    return await visit(request, status_json)


@post(
    "/api/locality",
    name="api.locality_set",
    status_code=200,
    opt={"body": api_types.Place, "answer": api_types.DeliverTo},
)
async def api_set(request: Request) -> dict[str, Any]:
    """Choose where to deliver to: it decides the delivery methods and which products can go there."""
    body = await decoded(request, api_types.Place)

    def work(v: Visit) -> dict[str, Any]:
        locality.remember(v, locality.choose(v.conn, body.country, body.postcode))
        return status_json(v)

    return await visit(request, work, write=True, csrf=JSON_CALL)


router = Router(path="/", route_handlers=[deliver_to_form, deliver_to_control, set_deliver_to, api_status, api_set])
