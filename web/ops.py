"""What operators need: health and readiness probes, metrics, one log line per request, and
X-Forwarded-* from a trusted proxy. None of these routes ever creates a session."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from typing import Any

from litestar import Litestar, Request, Response, Router, get
from litestar.enums import MediaType, ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from sqlalchemy import text

from web.metrics import Metrics
from web.sessions import Session, short_hash
from web.settings import Settings
from web.visit import Shop

access_log = logging.getLogger("storefront.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@get("/healthz", name="ops.health", media_type=MediaType.JSON)
async def health() -> dict[str, Any]:
    """The process is up and answering; `pid` tells which worker process did."""
    return {"status": "ok", "pid": os.getpid()}


@get("/readyz", name="ops.ready", media_type=MediaType.JSON)
async def ready(request: Request) -> Response[dict[str, Any]]:
    """The database and the session store answer: this worker can serve shoppers."""
    shop: Shop = request.app.state.shop
    checks: dict[str, str] = {}
    try:
        await shop.db.run(lambda conn: conn.execute(text("SELECT 1")).scalar_one())
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"unavailable: {type(error).__name__}"
    try:
        shop.sessions.ping()
        checks["sessions"] = "ok"
    except Exception as error:
        checks["sessions"] = f"unavailable: {type(error).__name__}"
    ok = all(value == "ok" for value in checks.values())
    return Response({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)


@get("/metrics", name="ops.metrics")
async def metrics(request: Request) -> Response[bytes]:
    """Prometheus text format, for the addresses in METRICS_ALLOW only (404 for anyone else)."""
    settings: Settings = request.app.state.shop.settings
    address = request.client.host if request.client else ""
    if "*" not in settings.metrics_allow and address not in settings.metrics_allow:
        return Response(b"Not found", status_code=404, media_type=MediaType.TEXT)
    return Response(request.app.state.metrics.exposition(), media_type=PROMETHEUS_TEXT)


router = Router(path="/", route_handlers=[health, ready, metrics])


def apply_forwarded(scope: HTTPScope) -> None:
    """Take the client address and scheme from X-Forwarded-For / -Proto (set by our own proxy)."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    forwarded_for = headers.get("x-forwarded-for")
    if forwarded_for:
        client = forwarded_for.split(",")[-1].strip()
        scope["client"] = (client, 0)
    proto = headers.get("x-forwarded-proto", "").strip().lower()
    if proto in {"http", "https"}:
        scope["scheme"] = proto


def observe(app: Litestar, settings: Settings, metrics: Metrics) -> None:
    """Wrap the app's request handling: proxy headers, request id, one JSON log line, latency metric.

    Wraps Litestar's own ASGI handler (after its before_send hooks), so unmatched routes and
    errors are logged and measured too.
    """
    inner: ASGIApp = app.asgi_handler
    trusted = set(settings.trusted_proxies)

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await inner(scope, receive, send)
            return
        client = scope.get("client")
        if client and client[0] in trusted:
            apply_forwarded(scope)
        started = time.perf_counter()
        sent_id = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent_id if REQUEST_ID.fullmatch(sent_id) else secrets.token_hex(8)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await inner(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            handler_ = scope.get("route_handler")
            route = getattr(handler_, "name", None) or ("static" if scope["path"].startswith("/static/") else "-")
            session: Session | None = scope.get("state", {}).get("session")
            metrics.requests.labels(route, scope["method"], str(status)).observe(duration)
            if session is not None and session.issued:
                (metrics.session_rotations if session.rotated else metrics.sessions_created).inc()
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": scope["path"],
                            "route": route,
                            "status": status,
                            "duration_ms": round(duration * 1000, 2),
                            "session": short_hash(session.id) if session else "-",
                            "client": client[0] if (client := scope.get("client")) else "-",
                        },
                        separators=(",", ":"),
                    )
                )

    app.asgi_handler = handler
