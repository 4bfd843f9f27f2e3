"""Checkout: contact and address, delivery method, review, place the order.

Each step is a plain form that posts and answers 303 to the next step (PRG) without JavaScript;
with htmx the same form swaps the next step in place (and the address bar follows). The server
keeps the draft; the review form carries only the checkout's idempotency key and the fingerprint
of what was reviewed, never a price.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, Router, get, post

from web import forms, owner
from web.checkout import service as checkout
from web.fragments import DELIVER_TO
from web.headers import is_htmx
from web.locality import service as locality
from web.orders import service as orders
from web.pages import go_to, html, layout, page, redirect_back, renderer
from web.problems import InvalidInput, NotDeliverable, Problem
from web.unit import Visit
from web.visit import form_token, shop_of, visit

CONTACT_FIELDS = ("email", "name", "line1", "line2", "city", "postcode", "country")


class Gone(Exception):
    """A step asked for before the steps it needs: go back to `to`."""

    def __init__(self, to: str, message: str) -> None:
        super().__init__(message)
        self.to = to
        self.message = message


def needs_cart(v: Visit) -> Any:
    view = layout(v)
    if not view["cart"].lines:
        raise Gone("/cart", "Your cart is empty: add something before checking out.")
    return view


def contact_context(
    v: Visit, values: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    context = needs_cart(v)
    user = owner.signed_in(v.session)
    saved = checkout.saved_addresses(v.conn, user.id) if user is not None else []
    return {
        **context,
        "step": "contact",
        "values": values or checkout.prefill(v, user.email if user else None),
        "errors": errors or {},
        "countries": locality.countries(v.conn),
        "saved_addresses": saved,
    }


def delivery_context(v: Visit, errors: dict[str, str] | None = None) -> dict[str, Any]:
    context = needs_cart(v)
    kept = checkout.draft(v)
    place = locality.chosen(v.session)
    if kept.address is None or place is None:
        raise Gone("/checkout", "Tell us where your order goes first.")
    zone = locality.zone(v.conn, place.zone_id)
    if zone is None:
        raise Gone("/checkout", "We no longer deliver there: choose another address.")
    methods = zone.offers(context["cart"].subtotal, orders.today(v.now))
    return {
        **context,
        "step": "delivery",
        "draft": kept,
        "zone": zone,
        "methods": methods,
        "chosen_method": kept.method or (methods[0][0].code if methods else ""),
        "errors": errors or {},
    }


def review_context(v: Visit, problem: str | None = None) -> dict[str, Any]:
    kept = checkout.draft(v)
    if kept.address is None:
        raise Gone("/checkout", "Tell us where your order goes first.")
    if not kept.method:
        raise Gone("/checkout/delivery", "Choose how your order should be delivered.")
    # The quote reads (and settles) the cart once, so its notices of lines just reduced are shown.
    quote = orders.quote(v, kept.method)
    context = layout(v, quote.cart)
    if not quote.cart.lines:
        raise Gone("/cart", "Your cart is empty: add something before checking out.")
    if quote.method is None:
        raise Gone("/checkout/delivery", "Choose how your order should be delivered.")
    return {
        **context,
        "step": "review",
        "draft": kept,
        "quote": quote,
        "key": checkout.current_key(v),
        "problem": problem,
        "moved_to": checkout.moved_away(v, kept),
    }


TEMPLATES = {"contact": "checkout/contact.html", "delivery": "checkout/delivery.html", "review": "checkout/review.html"}
BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "contact": contact_context,
    "delivery": delivery_context,
    "review": review_context,
}
PATHS = {"contact": "/checkout", "delivery": "/checkout/delivery", "review": "/checkout/review"}


def step_answer(request: Request, step: str, context: dict[str, Any], status: int = 200) -> Response[str]:
    """A step as a whole page, or for htmx as the step's fragment (with the header's "Deliver to",
    which the contact step may have changed), the address bar moved to the step's own URL."""
    if not is_htmx(request):
        return page(request, TEMPLATES[step], context, status)
    out = renderer(request)
    values = out.shown_at(PATHS[step], {**context, "oob": False})
    parts = [out.render(f"checkout/partials/{step}.html", values)]
    parts.append(out.render(DELIVER_TO.template, {**values, "oob": True}))
    return html("\n".join(parts), status, headers={"HX-Push-Url": PATHS[step]})


async def show(request: Request, step: str, **extra: Any) -> Response[str]:
    try:
        context = await visit(request, lambda v: BUILDERS[step](v, **extra))
    except Gone as gone:
        return await gone_back(request, gone)
    return step_answer(request, step, context)


async def gone_back(request: Request, gone: Gone) -> Response[str]:
    """Back to the step that is missing, saying why."""

    def note(v: Visit) -> None:
        v.session.flash(gone.message, "info")

    await visit(request, note)
    return go_to(request, gone.to)


async def refused_step(
    request: Request, step: str, context_of: Callable[[Visit, dict[str, str]], dict[str, Any]], error: Problem
) -> Response[str]:
    """The step again with what was wrong, or, when a step before it was undone meanwhile (the cart
    emptied in another tab, say), the way back to that step with why."""
    errors = {error.field or "form": error.message}
    try:
        refused = await visit(request, lambda v: context_of(v, errors))
    except Gone as gone:
        return await gone_back(request, gone)
    return step_answer(request, step, refused, error.status)


@get("/checkout", name="checkout.contact")
async def contact_page(request: Request) -> Response[str]:
    return await show(request, "contact")


@post("/checkout/contact", name="checkout.contact_submit")
async def contact_submit(request: Request) -> Response[str]:
    form = await forms.read(request)
    values = {name: (forms.one(form, name, required=False) or "")[:300] for name in CONTACT_FIELDS}
    saved = forms.one(form, "saved_address", required=False)
    to_book = forms.one(form, "save_address", required=False) == "yes"

    def work(v: Visit) -> dict[str, Any]:
        from_book = bool(saved) and saved != "new"
        if from_book:
            values.update(saved_address(v, saved or ""))
        moved = checkout.save_contact(v, values, to_address_book=to_book and not from_book)
        if moved and not is_htmx(request):
            v.session.flash(f"Delivering to {locality.chosen(v.session).label} from now on.", "info")  # type: ignore[union-attr]
        return delivery_context(v) if is_htmx(request) else {}

    try:
        context = await visit(request, work, write=True, csrf=form_token(request, form))
    except (InvalidInput, locality.NotServed) as error:
        return await refused_step(request, "contact", lambda v, errors: contact_context(v, values, errors), error)
    except Gone as gone:
        return await gone_back(request, gone)
    if not is_htmx(request):
        return redirect_back(request, "/checkout/delivery")
    return step_answer(request, "delivery", context)


def saved_address(v: Visit, choice: str) -> dict[str, str]:
    """The fields of the address book entry the shopper picked (by its place in the list)."""
    user = owner.signed_in(v.session)
    book = checkout.saved_addresses(v.conn, user.id) if user is not None else []
    if not book or not choice.isdigit() or int(choice) >= len(book):
        raise InvalidInput("Choose one of your saved addresses, or enter a new one.", field="saved_address")
    return dict(book[int(choice)].__dict__)


@get("/checkout/delivery", name="checkout.delivery")
async def delivery_page(request: Request) -> Response[str]:
    return await show(request, "delivery")


@post("/checkout/delivery", name="checkout.delivery_submit")
async def delivery_submit(request: Request) -> Response[str]:
    form = await forms.read(request)
    code = forms.one(form, "method", required=False)

    def work(v: Visit) -> dict[str, Any]:
        delivery_context(v)  # the steps before must be done
        checkout.choose_method(v, code)
        return review_context(v) if is_htmx(request) else {}

    try:
        context = await visit(request, work, write=True, csrf=form_token(request, form))
    except InvalidInput as error:
        return await refused_step(request, "delivery", delivery_context, error)
    except Gone as gone:
        return await gone_back(request, gone)
    if not is_htmx(request):
        return redirect_back(request, "/checkout/review")
    return step_answer(request, "review", context)


@get("/checkout/review", name="checkout.review")
async def review_page(request: Request) -> Response[str]:
    return await show(request, "review")


@post("/checkout/place", name="checkout.place")
async def place(request: Request) -> Response[str]:
    form = await forms.read(request)
    sent_key = forms.one(form, "idempotency_key", required=False)
    reviewed = forms.one(form, "reviewed", required=False) or ""

    def work(v: Visit) -> orders.Placed:
        key = orders.scoped_key(v, checkout.check_key(v, sent_key))
        details = checkout.draft(v).checkout
        if details is None:  # a replay after the order was placed (the draft has no method then)
            return orders.Placed(found_again(v, sent_key), replayed=True)
        result = orders.place_order(v, details, key, reviewed)
        if result.replayed:
            return result
        checkout.placed(v)
        v.session.flash(f"Thank you! Your order {result.order.number} is placed.", "success")
        return result

    try:
        result = await visit(request, work, write=True, csrf=form_token(request, form))
    except orders.DuplicateCheckout:
        result = orders.Placed(await visit(request, lambda v: found_again(v, sent_key)), replayed=True)
    except (orders.OutOfStock, orders.StaleReview, NotDeliverable, orders.EmptyCart) as error:
        return await refused_review(request, error)
    except Gone as gone:
        return await gone_back(request, gone)
    if not result.replayed:
        shop_of(request).mail_written()
    return go_to(request, f"/orders/{result.order.number}")


def found_again(v: Visit, sent_key: str | None) -> orders.Order:
    """The order a key placed, for a replay; a key that placed nothing yet means the steps are not done."""
    order = orders.find_by_key(v.conn, orders.scoped_key(v, checkout.check_key(v, sent_key)))
    if order is None:
        raise Gone("/checkout", "Tell us where your order goes first.")
    owner.remember_order(v, order.number)
    return order


async def refused_review(request: Request, error: Problem) -> Response[str]:
    """The review again, with what stopped the order and the cart as it is now (short lines clamped)."""
    reason = {
        "OUT_OF_STOCK": "out_of_stock",
        "NOT_DELIVERABLE": "not_deliverable",
        "STALE_REVIEW": "stale_review",
        "EMPTY_CART": "empty_cart",
    }
    try:
        context = await visit(request, lambda v: counted(v, reason.get(error.code, "other"), error.message))
    except Gone as gone:  # nothing left to review (the last line sold out): say why on the way back
        return await gone_back(request, Gone(gone.to, error.message))
    return step_answer(request, "review", context, error.status)


def counted(v: Visit, reason: str, message: str) -> dict[str, Any]:
    if reason != "out_of_stock":  # counted where it is found
        v.metrics.placements_refused.labels(reason).inc()
    return review_context(v, problem=message)


router = Router(
    path="/",
    route_handlers=[contact_page, contact_submit, delivery_page, delivery_submit, review_page, place],
)
