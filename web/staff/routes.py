"""The back office: orders to work through, their status and their message threads, for the shop's staff only.

The whole router is guarded by requires_staff: an anonymous visitor is sent to log in and back, a
shopper gets a 403, and each unit of work asks staff_of() again for whom it acts.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from web import api_types, forms, text
from web.api import decoded
from web.guards import requires_staff, staff_of
from web.headers import is_htmx
from web.orders import live, messages
from web.orders import service as orders
from web.orders.routes import ThreadPage, order_json, post_from_page, thread_context
from web.pages import html, layout, page, redirect_back, renderer
from web.staff import catalog
from web.staff import service as staff
from web.unit import Visit
from web.visit import JSON_CALL, form_token, visit

TIMELINE = "orders/partials/timeline.html"


def order_filter(request: Request) -> staff.OrderFilter:
    query = request.query_params
    raw_page = query.get("page")
    number = (
        forms.whole_number(raw_page, name="page", label="page number", minimum=1, maximum=10_000) if raw_page else 1
    )
    return staff.OrderFilter.parse(query.get("status"), query.get("since"), query.get("until"), query.get("q"), number)


@get("/staff", name="staff.home")
async def home(request: Request) -> Response[str]:
    return redirect_back(request, "/staff/orders")


@get("/staff/orders", name="staff.orders")
async def order_list(request: Request) -> Response[str]:
    wanted = order_filter(request)

    def work(v: Visit) -> dict[str, Any]:
        staff_of(v)
        found, pages, total = staff.find_orders(v, wanted)
        return {
            **layout(v),
            "orders": found,
            "pages": pages,
            "total": total,
            "wanted": wanted,
            "statuses": list(orders.TRANSITIONS),
            "unread": messages.unread(v.conn, [order.id for order in found], "staff"),
        }

    return page(request, "staff/orders.html", await visit(request, work))


def order_context(v: Visit, number: str) -> dict[str, Any]:
    staff_of(v)
    found = staff.order(v, number)
    return {
        **layout(v),
        "order": found,
        "allowed": orders.TRANSITIONS[found.status],
        "labels": orders.LABELS,
        "live_cursor": live.page_cursor(v.conn, found),
    }


def staff_order(v: Visit, number: str) -> orders.Order:
    """Any order, for the staff member this request acts for."""
    staff_of(v)
    return staff.order(v, number)


def staff_page(v: Visit, number: str) -> dict[str, Any]:
    """The staff's order page: the order, its moves, and its thread (the shopper's messages read from now on)."""
    context = order_context(v, number)
    return {**context, **thread_context(v, context["order"], "staff")}


STAFF_PAGE = ThreadPage("staff", "staff.order", "staff/order.html", staff_order, staff_page)


@get("/staff/orders/{number:str}", name="staff.order")
async def order_page(request: Request, number: FromPath[str]) -> Response[str]:
    return page(request, "staff/order.html", await visit(request, lambda v: staff_page(v, number)))


@post("/staff/orders/{number:str}/messages", name="staff.order_message")
async def post_message(request: Request, number: FromPath[str]) -> Response[str]:
    """Staff answer the order's shopper, under "Storefront staff" and their display name."""
    return await post_from_page(request, number, STAFF_PAGE)


@post("/staff/orders/{number:str}/status", name="staff.order_status")
async def change_status(request: Request, number: FromPath[str]) -> Response[str]:
    form = await forms.read(request)
    to = forms.one(form, "status", label="new status") or ""

    def work(v: Visit) -> dict[str, Any]:
        moved = staff.move(v, staff_of(v), number, to)
        message = f"Order {moved.number} is now {moved.status_label.lower()}."
        if not is_htmx(request):
            v.session.flash(message, "success")
        return {**order_context(v, number), "message": message}

    context = await visit(request, work, write=True, csrf=form_token(request, form))
    if not is_htmx(request):
        return redirect_back(request, f"/staff/orders/{number.upper()}")
    out = renderer(request)
    shown = out.shown_at(f"/staff/orders/{number.upper()}", context)
    parts = [out.render("staff/partials/order_actions.html", shown), out.render(TIMELINE, {**shown, "oob": True})]
    parts.append(out.partial("partials/toast.html", message=context["message"], level="success", oob=True))
    return html("\n".join(parts))


@get("/staff/audit", name="staff.audit")
async def audit_page(request: Request) -> Response[str]:
    subject = text.check(request.query_params.get("subject") or "", "subject", "subject")[:40]
    product = text.check(request.query_params.get("product") or "", "product", "product")[:80]

    def work(v: Visit) -> dict[str, Any]:
        staff_of(v)
        if product:  # the product's own changes (its photo) and its variants' (price, stock)
            entries = staff.audit_entries(v, subjects=catalog.audit_subjects(v, product))
            return {**layout(v), "entries": entries, "subject": f"product:{product.lower()}"}
        return {**layout(v), "entries": staff.audit_entries(v, subject), "subject": subject}

    return page(request, "staff/audit.html", await visit(request, work))


@get(
    "/api/staff/orders",
    name="api.staff_orders",
    opt={"answer": api_types.StaffOrders, "tag": "staff", "query": api_types.STAFF_ORDER_QUERY},
)
async def api_orders(request: Request) -> dict[str, Any]:
    """Staff only: the orders, newest first, 20 a page, filtered by status, placing day and a search
    of number, email and name."""
    wanted = order_filter(request)

    def work(v: Visit) -> dict[str, Any]:
        staff_of(v)
        found, pages, total = staff.find_orders(v, wanted)
        return {"orders": [order_json(order) for order in found], "page": wanted.page, "pages": pages, "total": total}

    return await visit(request, work)


@post(
    "/api/staff/orders/{number:str}/status",
    name="api.staff_order_status",
    status_code=200,
    opt={"body": api_types.StatusChange, "answer": api_types.OneOrder, "tag": "staff"},
)
async def api_change_status(request: Request, number: FromPath[str]) -> dict[str, Any]:
    """Staff only: move an order along (placed, packed, shipped, delivered; or cancelled): the
    shopper is mailed and an open order page updates live."""
    to = (await decoded(request, api_types.StatusChange)).status
    return await visit(
        request, lambda v: {"order": order_json(staff.move(v, staff_of(v), number, to))}, write=True, csrf=JSON_CALL
    )


router = Router(
    path="/",
    guards=[requires_staff],
    route_handlers=[
        home,
        order_list,
        order_page,
        post_message,
        change_status,
        audit_page,
        api_orders,
        api_change_status,
    ],
)
