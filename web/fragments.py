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

from web.headers import header
from web.pages import Page, Renderer, current_path, fragments, renderer

# How a fragment renders: from the renderer, the page's context and whether it is out of band.
Render = Callable[[Renderer, Mapping[str, Any], bool], str]


@dataclass(frozen=True)
class Fragment:
    root_id: str
    template: str
    render: Render
    # Says itself what the action did, so the toast stays empty rather than saying it twice.
    announces: bool = False


def whole(template: str) -> Render:
    """A fragment rendered from the page's whole context (the drawer and the cart page's contents)."""
    return lambda out, context, oob: out.render(template, {**context, "oob": oob})


BADGE_TEMPLATE = "cart/partials/badge.html"
IN_CART_TEMPLATE = "catalog/partials/in_cart.html"
ADD_STATUS_TEMPLATE = "catalog/partials/add_status.html"
TOAST_TEMPLATE = "partials/toast.html"

BADGE = Fragment(
    "cart-badge", BADGE_TEMPLATE, lambda out, c, oob: out.partial(BADGE_TEMPLATE, count=c["cart"].count, oob=oob)
)
DRAWER = Fragment("cart-drawer", "cart/partials/drawer.html", whole("cart/partials/drawer.html"))
CONTENTS = Fragment("cart-contents", "cart/partials/contents.html", whole("cart/partials/contents.html"))
IN_CART = Fragment(
    "catalog-in-cart",
    IN_CART_TEMPLATE,
    lambda out, c, oob: out.partial(IN_CART_TEMPLATE, held=c["cart"].quantity_of_product(c["page_key"]), oob=oob),
)
ADD_STATUS = Fragment(
    "catalog-add-status",
    ADD_STATUS_TEMPLATE,
    lambda out, c, oob: out.partial(ADD_STATUS_TEMPLATE, message=c["message"], level=c["level"]),
    announces=True,
)

# The cart-dependent fragments each page carries; a page not named here has the header's badge and the drawer.
SHOWN_ON: dict[str, tuple[Fragment, ...]] = {
    "cart.view": (BADGE, CONTENTS),
    "catalog.product": (BADGE, DRAWER, IN_CART),
}
EVERY_PAGE = (BADGE, DRAWER)
# Every fragment a form may target, by the id htmx sends as HX-Target.
TARGETS = {fragment.root_id: fragment for fragment in (BADGE, DRAWER, CONTENTS, IN_CART, ADD_STATUS)}


def answer(request: Request, context: Mapping[str, Any], *, message: str | None = None) -> Response[str]:
    """The htmx answer to a change (or a refresh, without a message): the targeted fragment, then
    the page's other fragments out of band, then the toast with `message` (context's "level")."""
    out = renderer(request)
    page = Page.of(request)
    shows = SHOWN_ON.get(page.name, EVERY_PAGE)
    shown = out.shown_at(current_path(request), {**context, "page_key": page.key})
    target = TARGETS.get(header(request, "hx-target") or "")
    parts = [target.render(out, shown, False)] if target is not None else []
    parts.extend(fragment.render(out, shown, True) for fragment in shows if fragment is not target)
    if message is not None:
        said = None if target is not None and target.announces else message
        parts.append(out.partial(TOAST_TEMPLATE, message=said, level=context["level"], oob=True))
    return fragments(*parts)
