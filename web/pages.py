"""Rendering: full pages, htmx fragments and the layout context every page shares.

A page and the fragments htmx swaps in render from the same partial templates, so the badge, the
drawer and the cart page can never disagree about the cart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

from jinja2 import BytecodeCache, Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.bccache import Bucket
from litestar import Litestar, Request, Response
from litestar.enums import MediaType
from markupsafe import Markup

from web import owner
from web.cart.service import can_put_back, load_cart
from web.cart.store import CartView
from web.forms import safe_next
from web.headers import header, is_htmx
from web.locality import service as locality
from web.money import money
from web.settings import Settings
from web.static_files import Assets
from web.unit import Visit

# Rendered partials kept by partial(): about 1.5 KB each for a cart line, so a few MB per worker.
PARTIALS_KEPT = 4096


# What partial() takes as values: they key its cache, so none may change after it is rendered.
IMMUTABLE_SCALARS = frozenset({str, Markup, int, bool, float, type(None)})


def immutable(value: Any) -> bool:
    """Text, numbers and None, or a tuple (a named tuple such as a cart Line included) of them."""
    if type(value) in IMMUTABLE_SCALARS:
        return True
    return isinstance(value, tuple) and all(immutable(item) for item in value)


class CompiledTemplates(BytecodeCache):
    """Each template's compiled code, kept for the process: every app made in it (a test's, a
    worker's after a reload of its settings) loads a template without parsing and compiling it
    again. Jinja keys a template by its name and file and checks its source's hash, so an edited
    template (development reloads them) is compiled afresh."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self.code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED = CompiledTemplates()


class ShopEnvironment(Environment):
    """Jinja with each template's globals as a plain dict.

    Jinja's default is a ChainMap over the environment's globals, which every render and include
    walks key by key: it saves 5-6% of an htmx add (docs/design.md §8, "Hand-written stand-ins").
    Our globals are all set when the Renderer is made, before any template loads, so a copy sees
    the same.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


class Renderer:
    def __init__(self, settings: Settings, app: Litestar, assets: Assets | None = None) -> None:
        """`assets` are the static files whose URLs `static()` writes: the app's, which its
        static route serves, or when none are given (a bench, a test of templates) the settings' own."""
        self.env = ShopEnvironment(
            loader=FileSystemLoader(settings.templates_dir),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            auto_reload=not settings.production,
            trim_blocks=True,
            lstrip_blocks=True,
            bytecode_cache=COMPILED,
        )
        currency = settings.currency
        self.env.filters["money"] = lambda cents: money(cents, currency)
        self.env.filters["isotime"] = lambda at: datetime.fromtimestamp(at, UTC).isoformat()
        self.env.filters["shorttime"] = lambda at: datetime.fromtimestamp(at, UTC).strftime("%-d %b %Y, %H:%M UTC")
        self.env.filters["shortdate"] = lambda at: datetime.fromtimestamp(at, UTC).strftime("%-d %b %Y")
        self.env.filters["longdate"] = lambda iso: date.fromisoformat(iso).strftime("%A %-d %B %Y")
        # A route lookup costs microseconds and a page makes dozens; line ids keep the set of URLs growing.
        self.url: Callable[..., str] = lru_cache(maxsize=4096)(app.route_reverse)
        self.env.globals["url"] = self.url
        self.env.globals["static"] = (assets or Assets(settings.static_dir, production=settings.production)).url
        self.env.globals["max_line_quantity"] = settings.max_line_quantity
        self.env.globals["partial"] = self.partial
        self._partials = lru_cache(maxsize=PARTIALS_KEPT)(self._render_partial)
        # In production templates never change, so each is looked up once (Jinja's own cache takes a lock).
        self._templates: dict[str, Template] = {}
        self._keep_templates = settings.production
        # Development's error page names the template that failed (web/template_faults.py); production's never does.
        self.templates_dir = settings.templates_dir
        self.shows_template_faults = not settings.production

    def _template(self, name: str) -> Template:
        template = self.env.get_template(name)
        if self._keep_templates:
            self._templates[name] = template
        return template

    def shown_at(self, path: str, context: Mapping[str, Any]) -> dict[str, Any]:
        """The context with what depends on the page it is shown on: `request_path`, and `login_url`,
        where the "Log in" links go: the login form, returning to this page, or on the login and
        register pages to where their form was going (its `next`)."""
        values = context.get("values")
        target = values["next"] if isinstance(values, Mapping) and "next" in values else path
        login = self.url("accounts.login")
        return {**context, "request_path": path, "login_url": f"{login}?next={quote(target, safe='/')}"}

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return (self._templates.get(name) or self._template(name)).render(context)

    def partial(self, name: str, /, **values: Any) -> Markup:
        """A partial rendered from `values` and the globals alone, so the same values give the same
        HTML: it is rendered once and then reused while it stays among the PARTIALS_KEPT most recent.

        The key is the template itself (a new object when a file changes in development) and the
        values, which must be immutable (see immutable()), so no value can change under a kept
        HTML. A name the partial uses but was not given is an error, as anywhere else, so the key
        cannot miss anything the HTML depends on.
        """
        template = self._templates.get(name) or self._template(name)
        for key, value in values.items():
            if not immutable(value):
                raise TypeError(
                    f"partial({name!r}): {key} is a {type(value).__name__}; every value must be immutable "
                    "(text, numbers, None, or tuples and named tuples of them), or a change to it would be missed"
                )
        return self._partials(template, tuple(values.items()))

    @staticmethod
    def _render_partial(template: Template, values: tuple[tuple[str, Any], ...]) -> Markup:
        return Markup(template.render(dict(values)))


def renderer(request: Request) -> Renderer:
    return request.app.state.renderer  # type: ignore[no-any-return]


def split_url(url: str) -> SplitResult | None:
    """A URL's parts, or None for text that is not a URL ("http://[" makes urlsplit() raise)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def current_path(request: Request) -> str:
    """Where an htmx request's page is (HX-Current-URL, when it is a URL), else this request's own path."""
    current = header(request, "hx-current-url")
    parts = split_url(current) if current else None
    if parts is not None:
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def layout(v: Visit, view: CartView | None = None, *, flashes: bool = True) -> dict[str, Any]:
    """What base.html needs: the cart for badge and drawer, the CSRF token and pending flash messages."""
    return {
        "user": owner.signed_in(v.session),
        "place": locality.chosen(v.session),
        "cart": view if view is not None else load_cart(v),
        "csrf_token": v.session.csrf_token,
        "flashes": v.session.take_flashes() if flashes else [],
        "drawer_open": False,
        # The cart page offers to put back what "Empty the cart" set aside.
        "can_put_back": can_put_back(v),
    }


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(body, status_code=status, media_type=MediaType.HTML, headers=headers)


@dataclass(frozen=True)
class Page:
    """Which page an htmx request came from: the X-Page header every page sets on <body>, its route's
    name and, for a page about one thing (a product), that thing's key: "catalog.product:linen-shirt".
    web/fragments.py looks up what the page shows by it."""

    name: str
    key: str = ""

    @classmethod
    def of(cls, request: Request) -> Page:
        name, _, key = (header(request, "x-page") or "").partition(":")
        return cls(name, key)

    def __str__(self) -> str:
        return f"{self.name}:{self.key}" if self.key else self.name


def page(request: Request, template: str, context: Mapping[str, Any], status: int = 200) -> Response[str]:
    """A whole page. `page_key` in the context names what a page about one thing shows (a product's slug)."""
    out = renderer(request)
    this = Page(request.route_handler.name or "", context.get("page_key", ""))
    shown = out.shown_at(current_path(request), {**context, "page_name": str(this)})
    return html(out.render(template, shown), status)


def fragments(*parts: str) -> Response[str]:
    """Several rendered partials in one htmx response: the target first, then out-of-band swaps."""
    return html("\n".join(parts))


def redirect_back(request: Request, target: str | None, fallback: str = "/") -> Response[str]:
    """PRG for forms without JavaScript: 303 back to where the shopper was. The target goes
    through safe_next(), which cannot fail, so neither can this after a commit."""
    location = safe_next(target, fallback)
    return Response("", status_code=303, headers={"Location": location}, media_type=MediaType.HTML)


def go_to(request: Request, target: str, fallback: str = "/") -> Response[str]:
    """Send the browser to another page: htmx by HX-Redirect (a 303 would swap that page into the
    target), anything else by redirect_back(). Through safe_next() either way."""
    if is_htmx(request):
        return html("", headers={"HX-Redirect": safe_next(target, fallback)})
    return redirect_back(request, target, fallback)
