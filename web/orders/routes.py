"""Orders after checkout: the order page (the confirmation too), "My orders", finding an order by
number and email, cancelling, a guest's account that takes the order along, the order's message
thread with the staff; and /api for all of it.

Another shopper's order is a 404 on every route, alike whether it exists or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from web import api_types, forms, owner
from web.accounts import links
from web.accounts import service as accounts
from web.accounts.routes import SENT_TO, client_address, password_hasher, throttled
from web.api import decoded, item_json, require_json
from web.checkout import service as checkout
from web.guards import requires_user, user_of
from web.headers import header, is_htmx
from web.locality import service as locality
from web.orders import live, messages
from web.orders import service as orders
from web.pages import html, layout, page, redirect_back, renderer
from web.problems import Conflict, InvalidInput, LoginRequired, TooManyAttempts
from web.unit import Visit
from web.visit import JSON_CALL, form_token, shop_of, visit

LOOKUP_FAILED = "We could not find an order with that number and email. Check both and try again."
LOOKUP_THROTTLED = "Too many tries to find an order. Please wait a few minutes and try again."
MESSAGE_TEMPLATE = "orders/partials/message.html"
MESSAGE_FORM_TEMPLATE = "orders/partials/message_form.html"
MESSAGE_SENT = "Message sent."


def order_json(order: orders.Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.status,
        "payment": {"method": order.payment_method, "status": order.payment_status},
        "placedAt": order.placed_at,
        "email": order.email,
        "address": {
            "name": order.address.name,
            "line1": order.address.line1,
            "line2": order.address.line2,
            "city": order.address.city,
            "postcode": order.address.postcode,
            "country": order.address.country,
        },
        "delivery": {"method": order.delivery_method, "name": order.delivery_name, "expectedBy": order.expected_by},
        "items": [item_json(line) for line in order.lines],
        "totals": {
            "subtotal": order.subtotal,
            "delivery": order.delivery,
            "total": order.total,
            "currency": order.currency,
        },
        "history": [
            {"id": event.id, "from": event.from_status, "to": event.to_status, "at": event.at} for event in order.events
        ],
    }


def message_json(message: messages.Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "author": message.author,
        "authorName": message.author_name,
        "text": message.text,
        "at": message.at,  # Unix seconds, like an order's placedAt
    }


def thread_context(v: Visit, order: orders.Order, reader: messages.Side) -> dict[str, Any]:
    """What an order page's thread shows (templates/orders/partials/messages.html): the messages,
    read by `reader` from now on, and an empty box."""
    return {"thread": messages.read(v, order, reader), "audience": reader, "draft": "", "message_errors": {}}


def message_box(v: Visit, order: orders.Order, side: messages.Side) -> dict[str, Any]:
    """What the box for a new message needs, emptied (templates/orders/partials/message_form.html)."""
    return {"order": order, "audience": side, "csrf_token": v.session.csrf_token, "draft": "", "message_errors": {}}


@dataclass(frozen=True)
class ThreadPage:
    """An order page that carries the thread, for one side: the order as that side may reach it
    (NotFound otherwise), the page's route and template, and the page's context."""

    side: messages.Side
    route: str
    template: str
    order_of: Callable[[Visit, str], orders.Order]
    context_of: Callable[[Visit, str], dict[str, Any]]


async def post_from_page(request: Request, number: str, where: ThreadPage) -> Response[str]:
    """A message posted from an order page: with htmx the new message for the thread, the emptied
    box out of band and a toast; without, 303 back to the thread with a flash. Text refused, or past
    the session's pace, comes back in the box with the reason and its status (429 with
    Retry-After): the box alone for htmx, else the whole page."""
    shop = shop_of(request)
    form = await forms.read(request)
    text = forms.one(form, "text", required=False) or ""

    def work(v: Visit) -> tuple[messages.Message, dict[str, Any]]:
        order = where.order_of(v, number)
        sent = messages.post(v, order, where.side, text, shop.sessions)
        if not is_htmx(request):
            v.session.flash(MESSAGE_SENT, "success")
        return sent, message_box(v, order, where.side)

    try:
        sent, box = await visit(request, work, write=True, csrf=form_token(request, form))
    except (InvalidInput, TooManyAttempts) as error:
        return await message_refused(request, number, where, text, error)
    out = renderer(request)
    if not is_htmx(request):
        return redirect_back(request, f"{out.url(where.route, number=box['order'].number)}#messages")
    parts = [
        out.render(MESSAGE_TEMPLATE, {"message": sent, "audience": where.side}),
        out.render(MESSAGE_FORM_TEMPLATE, {**box, "oob": True}),
        out.partial("partials/toast.html", message=MESSAGE_SENT, level="success", oob=True),
    ]
    return html("\n".join(parts))


async def message_refused(
    request: Request, number: str, where: ThreadPage, text: str, error: InvalidInput | TooManyAttempts
) -> Response[str]:
    """The box again with the text as sent and why it was refused, tied to the field."""
    retry = {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyAttempts) else {}
    context = await visit(request, lambda v: where.context_of(v, number))
    refused = {**context, "draft": text, "message_errors": {"text": error.message}}
    if is_htmx(request):
        box = renderer(request).render(MESSAGE_FORM_TEMPLATE, {**refused, "oob": True})
        return html(box, error.status, retry)
    answer = page(request, where.template, refused, error.status)
    answer.headers.update(retry)
    return answer


def page_number(request: Request) -> int:
    raw = request.query_params.get("page")
    return forms.whole_number(raw, name="page", label="page number", minimum=1, maximum=10_000) if raw else 1


@get("/orders", name="orders.list", guards=[requires_user])
async def my_orders(request: Request) -> Response[str]:
    number = page_number(request)

    def work(v: Visit) -> dict[str, Any]:
        found, pages = orders.history(v, user_of(v), number)
        replies = messages.unread(v.conn, [order.id for order in found], "shopper")
        return {**layout(v), "orders": found, "page": number, "pages": pages, "replies": replies}

    return page(request, "orders/list.html", await visit(request, work))


@get("/orders/lookup", name="orders.lookup")
async def lookup_page(request: Request) -> Response[str]:
    return page(
        request, "orders/lookup.html", await visit(request, lambda v: {**layout(v), "values": {}, "errors": {}})
    )


@post("/orders/lookup", name="orders.lookup_submit")
async def lookup_submit(request: Request) -> Response[str]:
    """Find an order by number and email: the same answer for a wrong number as for a wrong email,
    throttled per client address like logging in."""
    shop = shop_of(request)
    form = await forms.read(request)
    number = (forms.one(form, "number", required=False) or "").strip()[:20]
    raw_email = (forms.one(form, "email", required=False) or "").strip()[:254]
    values = {"number": number, "email": raw_email}
    key = f"order-lookup:{client_address(request)}"
    limit = shop.settings.login_max_failures_per_address

    def work(v: Visit) -> str | None:
        # Counted before the look-up, atomically, so concurrent guesses cannot pass the limit.
        wait = shop.sessions.throttle_take(v.conn, {key: limit}, shop.settings.login_failure_window_seconds)
        if wait:
            shop.metrics.login_throttled.inc()
            raise TooManyAttempts(LOOKUP_THROTTLED, wait)
        try:
            email = accounts.normalise_email(raw_email)
        except InvalidInput:
            email = ""
        found = orders.lookup(v, number, email) if number and email else None
        if found is None:
            return None
        shop.sessions.throttle_release(v.conn, [key])  # a found order is no failed guess
        return found.number

    found = await visit(request, work, write=True, csrf=form_token(request, form))
    if found is None:
        context = await visit(request, lambda v: {**layout(v), "values": values, "errors": {"form": LOOKUP_FAILED}})
        return page(request, "orders/lookup.html", context, 404)
    return redirect_back(request, f"/orders/{found}")


def shopper_page(v: Visit, number: str) -> dict[str, Any]:
    """What the order page shows of an order this shopper may see (NotFound otherwise)."""
    order = orders.visible(v, number)
    guest = owner.signed_in(v.session) is None
    return {
        **layout(v),
        "order": order,
        "offer_account": guest and order.user_id is None,
        "errors": {},
        "live_cursor": live.page_cursor(v.conn, order),
        **thread_context(v, order, "shopper"),
    }


SHOPPER_PAGE = ThreadPage("shopper", "orders.order", "orders/order.html", orders.visible, shopper_page)


@get("/orders/{number:str}", name="orders.order")
async def order_page(request: Request, number: FromPath[str]) -> Response[str]:
    return page(request, "orders/order.html", await visit(request, lambda v: shopper_page(v, number)))


@post("/orders/{number:str}/messages", name="orders.message")
async def post_message(request: Request, number: FromPath[str]) -> Response[str]:
    """The shopper writes to the shop from the order page."""
    return await post_from_page(request, number, SHOPPER_PAGE)


@post("/orders/{number:str}/cancel", name="orders.cancel")
async def cancel(request: Request, number: FromPath[str]) -> Response[str]:
    form = await forms.read(request)

    def work(v: Visit) -> None:
        order = orders.cancel_by_shopper(v, number)
        v.session.flash(f"Your order {order.number} is cancelled. Nothing will be sent or charged.", "success")

    await visit(request, work, write=True, csrf=form_token(request, form))
    return redirect_back(request, f"/orders/{number.upper()}")


@post("/orders/{number:str}/account", name="orders.account")
async def account_for_order(request: Request, number: FromPath[str]) -> Response[str]:
    """A guest's account, made from the confirmation page with the order's email: it takes this
    order along, and only this one (a later account with the same email sees nothing it did not place).
    The answer is the same whether or not the email already had an account."""
    shop = shop_of(request)
    form = await forms.read(request)
    csrf = form_token(request, form)
    name = forms.one(form, "display_name", required=False)
    password = forms.one(form, "password", required=False)
    order = await visit(request, lambda v: orders.visible(v, number), csrf=csrf)
    try:
        display_name = accounts.check_display_name(name)
        checked = accounts.check_new_password(password, order.email)
    except InvalidInput as error:
        errors = {error.field or "form": error.message}
        refused = await visit(request, lambda v: {**shopper_page(v, number), "offer_account": True, "errors": errors})
        return page(request, "orders/order.html", refused, 400)
    address = client_address(request)
    wait = await visit(
        request,
        lambda v: links.take_mail_quota(v.conn, shop.sessions, shop.settings, order.email, address),
        write=True,
        csrf=csrf,
    )
    if wait:
        raise throttled("requests for account mail", wait)
    password_hash = await anyio.to_thread.run_sync(password_hasher(shop.settings).hash, checked)

    def work(v: Visit) -> None:
        registered = links.register(v.conn, shop.settings, order.email, password_hash, display_name, v.now)
        if registered.outcome != "exists" and order.user_id is None:
            orders.take_along(v, order.number, registered.user_id)
        v.session.set(SENT_TO, {"email": order.email, "why": "register"})

    await visit(request, work, write=True, csrf=csrf)
    shop.mail_written()
    return redirect_back(request, "/account/check-email")


# /api


@post(
    "/api/checkout",
    name="api.checkout",
    status_code=201,
    opt={
        "body": api_types.Checkout,
        "answer": api_types.OneOrder,
        "headers": api_types.IDEMPOTENCY,
        "replayable": True,
    },
)
async def api_checkout(request: Request) -> Response[dict[str, Any]]:
    """Place the cart as an order (paid on delivery): the stock is taken in the same transaction, so
    nothing is ever oversold, and the confirmation is mailed. Sent again with the same
    Idempotency-Key, it answers the order already placed (200) and places nothing."""
    body = await decoded(request, api_types.Checkout)
    sent_key = header(request, "idempotency-key") or ""
    if not 8 <= len(sent_key) <= 200 or not sent_key.isprintable():
        raise InvalidInput("Send an Idempotency-Key header of 8 to 200 printable characters.", field="Idempotency-Key")
    address = body.address
    values = {
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "postcode": address.postcode,
        "country": address.country,
        "email": body.email,
        "name": body.name,
    }
    method = body.delivery_method

    def work(v: Visit) -> orders.Placed:
        key = orders.scoped_key(v, sent_key)
        existing = orders.find_by_key(v.conn, key)
        if existing is not None:
            return orders.Placed(existing, replayed=True)
        email, address_, place = checkout.check_contact(v.conn, {k: str(val or "") for k, val in values.items()})
        locality.remember(v, place)
        zone = locality.zone(v.conn, place.zone_id)
        if zone is None or zone.method(method) is None:
            raise InvalidInput(f"“{method}” is not a delivery method to {place.country}.", field="deliveryMethod")
        try:
            return orders.place_order(v, orders.Checkout(email, address_, method), key)
        except (orders.EmptyCart, orders.StaleReview) as error:
            v.metrics.placements_refused.labels(error.code.lower()).inc()
            raise

    try:
        placed = await visit(request, work, write=True, csrf=JSON_CALL)
    except orders.DuplicateCheckout:
        placed = orders.Placed(await visit(request, lambda v: found_by_api_key(v, sent_key)), replayed=True)
    if not placed.replayed:
        shop_of(request).mail_written()
    return Response({"order": order_json(placed.order)}, status_code=200 if placed.replayed else 201)


def found_by_api_key(v: Visit, sent_key: str) -> orders.Order:
    order = orders.find_by_key(v.conn, orders.scoped_key(v, sent_key))
    if order is None:
        raise Conflict("The order could not be placed just now. Nothing was ordered: please try again.")
    return order


@get("/api/orders", name="api.orders", opt={"answer": api_types.Orders, "query": api_types.ORDER_QUERY})
async def api_orders(request: Request) -> dict[str, Any]:
    """The logged-in shopper's orders, newest first, 10 a page."""
    number = page_number(request)

    def work(v: Visit) -> dict[str, Any]:
        user = owner.resolve_owner(v).user_id
        if user is None:
            raise LoginRequired("Log in to list your orders.")
        found, pages = orders.history(v, user, number)
        return {"orders": [order_json(order) for order in found], "page": number, "pages": pages}

    return await visit(request, work)


@get("/api/orders/{number:str}", name="api.order", opt={"answer": api_types.OneOrder})
async def api_order(request: Request, number: FromPath[str]) -> dict[str, Any]:
    """One order of this session's shopper (a guest's own orders too): its lines, totals, delivery and history."""
    return await visit(request, lambda v: {"order": order_json(orders.visible(v, number))})


def thread_of(v: Visit, number: str) -> tuple[orders.Order, messages.Side]:
    """The order and the side this session takes in its thread: staff on any order, anyone else as
    its shopper (visible(): NotFound for someone else's order, alike for one that does not exist)."""
    if live.is_staff(v):
        return orders.by_number(v.conn, number), "staff"
    return orders.visible(v, number), "shopper"


@get("/api/orders/{number:str}/messages", name="api.order_messages", opt={"answer": api_types.Messages})
async def api_messages(request: Request, number: FromPath[str]) -> dict[str, Any]:
    """The order's thread with the shop's staff, oldest first; reading it marks the other side's messages read."""

    def work(v: Visit) -> dict[str, Any]:
        order, side = thread_of(v, number)
        return {"messages": [message_json(message) for message in messages.read(v, order, side)]}

    return await visit(request, work)


@post(
    "/api/orders/{number:str}/messages",
    name="api.order_message",
    status_code=201,
    opt={"body": api_types.MessageText, "answer": api_types.OneMessage},
)
async def api_post_message(request: Request, number: FromPath[str]) -> dict[str, Any]:
    """A message to the order's thread, as its shopper or, from a staff session, as staff."""
    shop = shop_of(request)
    text = (await decoded(request, api_types.MessageText)).text

    def work(v: Visit) -> dict[str, Any]:
        order, side = thread_of(v, number)
        return {"message": message_json(messages.post(v, order, side, text, shop.sessions))}

    return await visit(request, work, write=True, csrf=JSON_CALL)


@post("/api/orders/{number:str}/cancel", name="api.order_cancel", status_code=200, opt={"answer": api_types.OneOrder})
async def api_cancel(request: Request, number: FromPath[str]) -> dict[str, Any]:
    """Cancel an order that has not been packed yet: its stock goes back on the shelf."""
    require_json(request)
    return await visit(
        request, lambda v: {"order": order_json(orders.cancel_by_shopper(v, number))}, write=True, csrf=JSON_CALL
    )


router = Router(
    path="/",
    route_handlers=[
        my_orders,
        lookup_page,
        lookup_submit,
        order_page,
        post_message,
        cancel,
        account_for_order,
        api_checkout,
        api_orders,
        api_order,
        api_messages,
        api_post_message,
        api_cancel,
    ],
)
