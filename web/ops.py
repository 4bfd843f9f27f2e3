"""What operators need: health and readiness probes, metrics, one log line per request, and
X-Forwarded-* from a trusted proxy. None of these routes ever creates a session."""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO, cast

from litestar import Litestar, Request, Response, Router, get
from litestar.enums import MediaType, ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from sqlalchemy import text

from web.headers import OWN_POLICY, raw_header
from web.mail import outbox_stats
from web.metrics import Metrics
from web.sessions import Session, short_hash
from web.settings import Settings
from web.visit import HEAD, REQUEST_ID_KEY, shop_of

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
END_OF_BODY: Message = {"type": "http.response.body", "body": b"", "more_body": False}


@get("/healthz", name="ops.health", media_type=MediaType.JSON)
async def health() -> dict[str, Any]:
    """The process is up and answering; `pid` tells which worker process did."""
    return {"status": "ok", "pid": os.getpid()}


@get("/readyz", name="ops.ready", media_type=MediaType.JSON)
async def ready(request: Request) -> Response[dict[str, Any]]:
    """The database and the session store answer: this worker can serve shoppers."""
    shop = shop_of(request)
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
    shop = shop_of(request)
    settings = shop.settings
    address = request.client.host if request.client else ""
    if "*" not in settings.metrics_allow and address not in settings.metrics_allow:
        return Response(b"Not found", status_code=404, media_type=MediaType.TEXT)
    counts, oldest = await shop.db.run(lambda conn: outbox_stats(conn, int(time.time())))
    for status, count in counts.items():
        shop.metrics.outbox.labels(status).set(count)
    shop.metrics.outbox_oldest_pending.set(oldest)
    return Response(shop.metrics.exposition(), media_type=PROMETHEUS_TEXT)


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


class AccessLog:
    """One JSON line per request, on `stream` (standard error when None, looked up at each write).

    Written directly rather than through `logging`: a log record and its handler chain cost more
    than Litestar takes for a whole bare request (bench/README.md). Every value a client chose is
    encoded by json.dumps; the request id and session hash are checked or generated characters.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def write(
        self,
        request_id: str,
        method: str,
        path: str,
        route: str,
        status: int,
        seconds: float,
        session: str,
        client: str,
    ) -> None:
        dumps = json.dumps
        line = (
            f'{{"request_id":"{request_id}","method":{dumps(method)},"path":{dumps(path)},"route":{dumps(route)},'
            f'"status":{status},"duration_ms":{round(seconds * 1000, 2)},"session":"{session}",'
            f'"client":{dumps(client)}}}\n'
        )
        (self.stream or sys.stderr).write(line)


class RequestIds:
    """Ids for requests that bring none: a random prefix per process and a counter, unique across
    workers and restarts without a system call per request."""

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(4)
        self.counter = itertools.count()

    def __call__(self, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The client's or proxy's X-Request-ID when it is a plain token, else a new id."""
        sent = raw_header(headers, "x-request-id")
        if sent is not None and REQUEST_ID.fullmatch(sent):
            return sent
        return f"{self.prefix}{next(self.counter):08x}"


def headers_only(send: Send) -> Send:
    """A HEAD's send: the response's start, without Set-Cookie, and at once its end; the body is
    dropped. The answer being complete, the server's receive() says the client has gone, so a
    streaming response is cancelled before its body starts: a HEAD of an order's live stream opens
    no stream (tests/test_headers.py checks it, in case Litestar's streaming changes)."""

    async def send_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [pair for pair in message["headers"] if pair[0].lower() != b"set-cookie"]
            await send(message)
            await send(END_OF_BODY)

    return send_headers


FinishHeaders = Callable[[Iterable[tuple[bytes, bytes]], Session | None, str | None], list[tuple[bytes, bytes]]]


def observe(app: Litestar, settings: Settings, metrics: Metrics, finish_headers: FinishHeaders, log: AccessLog) -> None:
    """Wrap the app's request handling: proxy headers, HEAD answered by the GET routes (Litestar
    answers 405), the response's final headers (the site's, the session cookie, the request id),
    one JSON log line and the latency metric.

    Wraps Litestar's own ASGI handler, so unmatched routes and errors are logged and measured too.
    """
    inner: ASGIApp = app.asgi_handler
    trusted = set(settings.trusted_proxies)
    request_ids = RequestIds()

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await inner(scope, receive, send)
            return
        client = scope.get("client")
        if client and client[0] in trusted:
            apply_forwarded(scope)
            client = scope.get("client")
        started = time.perf_counter()
        request_id = request_ids(scope["headers"])
        scope["state"][REQUEST_ID_KEY] = request_id
        status = 500
        method = scope["method"]
        if method == "HEAD":
            # Answered by the route's GET, which saves no session (web/visit.py); only its headers go out.
            scope = cast(HTTPScope, {**scope, "method": "GET"})
            scope["state"][HEAD] = True
            send = headers_only(send)

        async def finish(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                state = scope["state"]
                headers = finish_headers(message.get("headers", ()), state.get("session"), state.get(OWN_POLICY))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await inner(scope, receive, finish)
        finally:
            seconds = time.perf_counter() - started
            handler_ = scope.get("route_handler")
            route = getattr(handler_, "name", None) or ("static" if scope["path"].startswith("/static/") else "-")
            session: Session | None = scope["state"].get("session")
            metrics.observe_request(route, method, status, seconds)
            if session is not None and (session.created or (session.rotated and session.issued)):
                (metrics.sessions_created if session.created else metrics.session_rotations).inc()
            log.write(
                request_id,
                method,
                scope["path"],
                route,
                status,
                seconds,
                short_hash(session.id) if session else "-",
                client[0] if client else "-",
            )

    app.asgi_handler = handler
