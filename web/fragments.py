"""What each page shows that a change elsewhere can make stale, and how a change answers htmx.

A Fragment is one partial template with its root id: it says what it shows. Each page declares,
by its route name, the fragments it carries (SHOWN_ON), and tells its htmx requests that name in
the X-Page header set on <body> (with the product's slug on a product page). A change answers
with the fragment its form targets (HX-Target), then every other fragment the page carries, out
of band, and the toast: all rendered from the partials the page itself was rendered from, so
nothing decides what to refresh by template names or by slicing URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response

from web.catalog import service as catalog
from web.headers import header
from web.locality import service as locality
from web.pages import Page, Renderer, current_path, fragments, renderer
from web.problems import NotFound
from web.unit import Visit

# How a fragment renders: from the renderer, the page's context and whether it is out of band.
Render = Callable[[Renderer, Mapping[str, Any], bool], str]
# What a fragment needs beyond the layout context, read in the unit of work from the page's key.
Load = Callable[[Visit, str], dict[str, Any]]
# What a change can make stale; an answer names one or both.
CART = frozenset({"cart"})
LOCALITY = frozenset({"locality"})
ANYTHING = CART | LOCALITY


@dataclass(frozen=True)
class Fragment:
    root_id: str
    template: str
    render: Render
    # What the fragment shows that a change can make stale: CART, LOCALITY or both.
    depends_on: frozenset[str] = frozenset()
    load: Load | None = None
    # Says itself what the action did, so the toast stays empty rather than saying it twice.
    announces: bool = False


def whole(template: str) -> Render:
    """A fragment rendered from the page's whole context (the drawer and the cart page's contents)."""
    return lambda out, context, oob: out.render(template, {**context, "oob": oob})


def product_delivery(v: Visit, slug: str) -> dict[str, Any]:
    """What a product page's delivery line needs; nothing for a product no longer sold."""
    try:
        product = catalog.product_page(v.conn, slug)
    except NotFound:
        return {}
    return {"product": product, "delivery": locality.for_product(v.conn, product.id, locality.chosen(v.session))}


def if_loaded(template: str) -> Render:
    """A fragment that shows something its loader may not find (a product withdrawn meanwhile)."""
    return lambda out, context, oob: out.render(template, {**context, "oob": oob}) if "product" in context else ""


BADGE_TEMPLATE = "cart/partials/badge.html"
IN_CART_TEMPLATE = "catalog/partials/in_cart.html"
ADD_STATUS_TEMPLATE = "catalog/partials/add_status.html"
TOAST_TEMPLATE = "partials/toast.html"

BADGE = Fragment(
    "cart-badge",
    BADGE_TEMPLATE,
    lambda out, c, oob: out.partial(BADGE_TEMPLATE, count=c["cart"].count, oob=oob),
    ANYTHING,
)
DRAWER = Fragment("cart-drawer", "cart/partials/drawer.html", whole("cart/partials/drawer.html"), ANYTHING)
CONTENTS = Fragment("cart-contents", "cart/partials/contents.html", whole("cart/partials/contents.html"), ANYTHING)
IN_CART = Fragment(
    "catalog-in-cart",
    IN_CART_TEMPLATE,
    lambda out, c, oob: out.partial(IN_CART_TEMPLATE, held=c["cart"].quantity_of_product(c["page_key"]), oob=oob),
    CART,
)
DELIVER_TO = Fragment(
    "locality-deliver-to",
    "locality/partials/deliver_to.html",
    whole("locality/partials/deliver_to.html"),
    LOCALITY,
)
DELIVERY = Fragment(
    "catalog-delivery",
    "catalog/partials/delivery.html",
    if_loaded("catalog/partials/delivery.html"),
    LOCALITY,
    load=product_delivery,
)
ADD_STATUS = Fragment(
    "catalog-add-status",
    ADD_STATUS_TEMPLATE,
    lambda out, c, oob: out.partial(ADD_STATUS_TEMPLATE, message=c["message"], level=c["level"]),
    announces=True,
)

# The fragments each page carries that a change elsewhere can make stale; a page not named here
# has the header's "Deliver to" control, the badge and the drawer.
EVERY_PAGE = (DELIVER_TO, BADGE, DRAWER)
SHOWN_ON: dict[str, tuple[Fragment, ...]] = {
    "cart.view": (DELIVER_TO, BADGE, CONTENTS),
    "catalog.product": (DELIVER_TO, BADGE, DRAWER, IN_CART, DELIVERY),
}
# Every fragment a form may target, by the id htmx sends as HX-Target.
TARGETS = {
    fragment.root_id: fragment for fragment in (DELIVER_TO, BADGE, DRAWER, CONTENTS, IN_CART, DELIVERY, ADD_STATUS)
}


def shown(page: Page, changed: frozenset[str]) -> tuple[Fragment, ...]:
    """The fragments of `page` that a change to `changed` makes stale."""
    return tuple(fragment for fragment in SHOWN_ON.get(page.name, EVERY_PAGE) if changed & fragment.depends_on)


def page_context(v: Visit, page: Page, changed: frozenset[str]) -> dict[str, Any]:
    """What the page's fragments that `changed` makes stale need beyond the layout, read in the unit."""
    context: dict[str, Any] = {}
    for fragment in shown(page, changed):
        if fragment.load is not None:
            context.update(fragment.load(v, page.key))
    return context


def answer(
    request: Request, context: Mapping[str, Any], *, message: str | None = None, changed: frozenset[str] = CART
) -> Response[str]:
    """The htmx answer to a change of `changed` (or a refresh, without a message): the targeted
    fragment, then the page's other fragments that the change makes stale, out of band, then the
    toast with `message` (at the context's "level")."""
    out = renderer(request)
    page = Page.of(request)
    target = TARGETS.get(header(request, "hx-target") or "")
    in_drawer = target is DRAWER and message is not None
    if in_drawer:
        # The page behind the open dialog is out of reach: the drawer says it, in its own region.
        context = {**context, "drawer_message": message, "drawer_level": context["level"]}
    values = out.shown_at(current_path(request), {**context, "page_key": page.key})
    parts = [target.render(out, values, False)] if target is not None else []
    parts.extend(fragment.render(out, values, True) for fragment in shown(page, changed) if fragment is not target)
    if message is not None:
        said = None if in_drawer or (target is not None and target.announces) else message
        parts.append(out.partial(TOAST_TEMPLATE, message=said, level=context["level"], oob=True))
    return fragments(*(part for part in parts if part))
