"""create_app(): the only wiring."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from litestar import Litestar

from web import api, components, openapi, static_files
from web.accounts.link_pages import router as account_links_router
from web.accounts.routes import router as accounts_router
from web.cart.routes import router as cart_router
from web.catalog.routes import router as catalog_router
from web.checkout.routes import router as checkout_router
from web.compression import gzip_responses
from web.db import Database, DatabaseUnavailable, check_migrated
from web.errors import EXCEPTION_HANDLERS, no_page_here
from web.locality.routes import router as locality_router
from web.mail import Postman
from web.metrics import Metrics
from web.ops import AccessLog, observe
from web.ops import router as ops_router
from web.orders.routes import router as orders_router
from web.pages import Renderer, layout
from web.sessions import Session, session_store
from web.settings import Settings
from web.staff.products import media_router
from web.staff.products import router as staff_products_router
from web.staff.routes import router as staff_router
from web.streams import Live
from web.streams import router as streams_router
from web.unit import Shop

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
# The same as raw header pairs, and the names finish_headers sets, which replace any a response had.
SECURITY_HEADER_PAIRS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
NO_STORE = (b"cache-control", b"no-store")
# Production only: browsers that have seen it use HTTPS alone for two years, subdomains too. Never in
# development, which is plain HTTP on localhost (a browser would then refuse it there).
STRICT_TRANSPORT_SECURITY = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
SECURITY_NAMES = {name for name, _value in SECURITY_HEADER_PAIRS} | {STRICT_TRANSPORT_SECURITY[0]}
SESSION_NAMES = SECURITY_NAMES | {NO_STORE[0]}


def session_cookie(settings: Settings, session: Session) -> str:
    """The one cookie this site sets: an opaque ID, HttpOnly, SameSite=Lax, Path=/ (Secure in production)."""
    parts = [
        f"{settings.cookie_name}={session.id}",
        "Path=/",
        f"Max-Age={settings.session_absolute_seconds}",
        "HttpOnly",
        "SameSite=Lax",
    ]
    if settings.cookie_secure:
        parts.append("Secure")
    return "; ".join(parts)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    settings.check()
    db = Database(settings)
    try:
        check_migrated(db)
    except DatabaseUnavailable:
        db.dispose()
        raise
    metrics = Metrics()
    postman = Postman(db, settings, metrics) if settings.mail_in_background else None
    live = Live(settings, metrics)
    shop = Shop(settings, db, session_store(settings), metrics, postman, live)
    shop.page_layout = lambda v: layout(v, flashes=False)
    assets = static_files.Assets(settings.static_dir, production=settings.production)
    site_headers = [*SECURITY_HEADER_PAIRS, STRICT_TRANSPORT_SECURITY] if settings.production else SECURITY_HEADER_PAIRS

    def finish_headers(
        headers: Iterable[tuple[bytes, bytes]], session: Session | None, policy: str | None
    ) -> list[tuple[bytes, bytes]]:
        """The site's headers on every response, replacing any it set itself (the page's own
        Content-Security-Policy instead of the site's, when it has one: web/headers.py OWN_POLICY);
        for a session's pages `Cache-Control: no-store`, and the cookie when the session ID is new
        to the browser."""
        ours = SECURITY_NAMES if session is None else SESSION_NAMES
        finished = [pair for pair in headers if pair[0].lower() not in ours]
        if policy is None:
            finished.extend(site_headers)
        else:
            finished.extend(pair for pair in site_headers if pair[0] != b"content-security-policy")
            finished.append((b"content-security-policy", policy.encode("latin-1")))
        if session is not None:
            finished.append(NO_STORE)
            if session.cookie_due:
                finished.append((b"set-cookie", session_cookie(settings, session).encode("latin-1")))
        return finished

    app = Litestar(
        route_handlers=[
            catalog_router,
            cart_router,
            accounts_router,
            account_links_router,
            locality_router,
            checkout_router,
            orders_router,
            streams_router,
            staff_router,
            staff_products_router,
            media_router,
            ops_router,
            api.router(development=not settings.production),
            openapi.router(development=not settings.production),
            *([] if settings.production else [components.router]),
            static_files.router(assets),
            no_page_here,
        ],
        middleware=[gzip_responses],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        on_startup=[live.start, *([postman.start] if postman else [])],
        on_shutdown=[live.shutdown, *([postman.stop] if postman else []), db.dispose],
        debug=settings.debug,
        openapi_config=None,
    )
    app.state.shop = shop
    app.state.live = live
    app.state.renderer = Renderer(settings, app, assets)
    app.state.access_log = AccessLog()
    observe(app, settings, shop.metrics, finish_headers, app.state.access_log)
    configure_logging()
    return app


def configure_logging() -> None:
    """Application logs to standard error, one line each (the JSON access lines are web/ops.py's AccessLog)."""
    logger = logging.getLogger("storefront")
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
