"""create_app(): the only wiring."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.static_files import create_static_files_router
from litestar.types import Message, Scope

from web import api
from web.accounts.routes import router as accounts_router
from web.cart.routes import router as cart_router
from web.catalog.routes import router as catalog_router
from web.db import Database, DatabaseUnavailable, check_migrated
from web.errors import EXCEPTION_HANDLERS
from web.metrics import Metrics
from web.ops import observe
from web.ops import router as ops_router
from web.pages import Renderer
from web.sessions import Session, session_store
from web.settings import Settings
from web.visit import Shop

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
# The same as raw header pairs, and the names before_send sets, which replace any a response had.
SECURITY_HEADER_PAIRS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
NO_STORE = (b"cache-control", b"no-store")
SECURITY_NAMES = {name for name, _value in SECURITY_HEADER_PAIRS}
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
    shop = Shop(settings, db, session_store(settings), Metrics())

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        # Raw pairs rather than a headers object: this runs on every response (bench/README.md).
        session: Session | None = scope.get("state", {}).get("session")
        ours = SECURITY_NAMES if session is None else SESSION_NAMES
        headers = [pair for pair in message.get("headers", ()) if pair[0].lower() not in ours]
        headers.extend(SECURITY_HEADER_PAIRS)
        if session is not None:
            headers.append(NO_STORE)
            if session.issued:
                headers.append((b"set-cookie", session_cookie(settings, session).encode("latin-1")))
        message["headers"] = headers

    app = Litestar(
        route_handlers=[
            catalog_router,
            cart_router,
            accounts_router,
            ops_router,
            api.router(development=not settings.production),
            create_static_files_router(path="/static", directories=[settings.static_dir], name="static"),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[before_send],
        request_max_body_size=settings.max_body_bytes,
        on_shutdown=[db.dispose],
        debug=settings.debug,
        openapi_config=None,
    )
    app.state.shop = shop
    app.state.renderer = Renderer(settings, app)
    app.state.metrics = shop.metrics
    observe(app, settings, shop.metrics)
    configure_logging()
    return app


def configure_logging() -> None:
    """Application and access logs to standard error, one line each; access lines are JSON."""
    logger = logging.getLogger("storefront")
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
