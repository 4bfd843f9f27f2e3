"""Responses gzipped for the clients that take gzip: HTML pages and fragments, CSS, JavaScript,
JSON, SVG and plain text, from MINIMUM_BYTES up. A product page with its stylesheet and scripts
goes from 83,920 to 25,556 bytes (HTML 5,612 -> 1,964, CSS 20,818 -> 4,814, htmx 52,182 -> 16,896,
shop.js 5,308 -> 1,882; 2026-12-03); an htmx add's fragments from 2,666 to 1,036, for 22 µs of zlib.

Litestar's CompressionConfig is not used: it compresses every content type, so an order's live
stream (text/event-stream) and the photos (WebP, already compressed) too, and it says
`Vary: Accept-Encoding` only on what it compressed, so a shared cache that stored a copy fetched
without gzip would hand it to everyone. This middleware looks at the response's type first; a
response of any other type, or already encoded, passes through untouched, byte for byte and
message by message. It runs inside web/ops.py's observe(), which has already made a HEAD a GET:
a HEAD is told the Content-Encoding and Content-Length its GET would be.

Measured and not done: brotli (a C package of its own) at quality 5 takes the same files to about
23.5 KB, 4% less; gzip-9 once per static file, kept, would save 1.7 ms a fetch of htmx, which an
immutable name makes once per browser and deploy.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from web.headers import raw_header

COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/plain",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/problem+json",
        "image/svg+xml",
    }
)
# A response shorter than this fits one TCP packet (about 1,400 bytes of payload) gzipped or not.
MINIMUM_BYTES = 1024
# zlib's default: the product page's HTML in 46 µs (level 9 saves no byte of it and takes longer).
LEVEL = 6
GZIP_WINDOW = 16 + zlib.MAX_WBITS
VARY = b"vary"
ACCEPT_ENCODING = b"Accept-Encoding"


def weight(parameters: str) -> float:
    """An offer's q-value: 1 when it gives none, 0 when it is not a number."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def accepts_gzip(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """The request's Accept-Encoding takes gzip: named without `q=0`, or else `*` without `q=0`."""
    weights: dict[str, float] = {}
    for offer in (raw_header(headers, "accept-encoding") or "").split(","):
        coding, _, parameters = offer.partition(";")
        weights[coding.strip().lower()] = weight(parameters)
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def compressible(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """A response of a compressible type that no one has encoded yet."""
    content_type = (raw_header(headers, "content-type") or "").split(";", 1)[0].strip().lower()
    return content_type in COMPRESSIBLE and raw_header(headers, "content-encoding") is None


def varied(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with Accept-Encoding among those the response varies by."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == VARY:
            return [*headers[:index], (VARY, value + b", " + ACCEPT_ENCODING), *headers[index + 1 :]]
    return [*headers, (VARY, ACCEPT_ENCODING)]


def encoded(headers: list[tuple[bytes, bytes]], length: int | None) -> list[tuple[bytes, bytes]]:
    """The headers of the gzipped body: its length when known (a stream has none), and a strong ETag
    made weak, since the gzipped bytes are not the ones it names (as nginx does)."""
    kept: list[tuple[bytes, bytes]] = [(b"content-encoding", b"gzip")]
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            continue
        if lowered == b"etag" and value.startswith(b'"'):
            value = b"W/" + value
        kept.append((name, value))
    if length is not None:
        kept.append((b"content-length", str(length).encode()))
    return kept


def gzip_responses(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: each compressible response says it varies by Accept-Encoding, and is
    gzipped when the client accepts gzip and the body is MINIMUM_BYTES or more. A body sent in
    parts is gzipped part by part, each flushed, so what is sent arrives as soon as it would have."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        wanted = accepts_gzip(scope["headers"])
        held: HTTPResponseStartEvent | None = None
        compressor: zlib._Compress | None = None

        async def send_compressed(message: Message) -> None:
            nonlocal held, compressor
            if message["type"] == "http.response.start":
                if not compressible(message["headers"]):
                    await send(message)
                    return
                message["headers"] = varied(list(message["headers"]))
                if wanted:
                    held = message  # until the body shows whether it is worth gzipping
                else:
                    await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body = message["body"]
            more = message.get("more_body", False)
            if compressor is None:
                if held is None:  # not compressible, or not wanted
                    await send(message)
                    return
                if not more and len(body) < MINIMUM_BYTES:
                    await send(held)
                    held = None
                    await send(message)
                    return
                compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, GZIP_WINDOW)
            gzipped = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH if more else zlib.Z_FINISH)
            if held is not None:
                held["headers"] = encoded(list(held["headers"]), None if more else len(gzipped))
                await send(held)
                held = None
            await send({"type": "http.response.body", "body": gzipped, "more_body": more})

        await app(scope, receive, send_compressed)

    return middleware
