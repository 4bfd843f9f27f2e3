"""uvicorn's httptools protocol with the two limits it lacks: on a request's header bytes and on the
time a connection takes to send them.

uvicorn has neither: httptools buffers a header of any size (a 16 MB one was served), and nothing
closes a connection that opens and then sends its headers a byte at a time, or nothing at all
(slowloris: each holds one of MAX_CONCURRENCY's places). Here the bytes a connection receives are
counted from its start or the end of its last request, and fed to the parser at most
`max_header_bytes` at a time: once that many have come and the current request's headers are still incomplete, it is
answered 431 and closed, before more is buffered. A request body is not held to the limit. Every
browser sends each request in reads of its own, so its headers are counted exactly; a request
pipelined behind another in the same read may carry up to twice the limit.

Every half `header_timeout` a connection checks whether it is still waiting for the headers of the
request it was waiting for at the last two checks (or for its first request since it opened): if
so, it is closed, after between one and one and a half `header_timeout`.

Whether a request's headers are complete is uvicorn's own state (its scope gets the method once
they are; tests/test_server_limits.py fails if that changes). The fast path adds a subtraction and
a comparison per read and one attribute store per request; the timers are per connection, not per
request. Measured (2026-12-02, 2 cores, a 430-byte browser GET fed to the protocol with the app
stubbed out): about 0.25 µs a request over uvicorn's own 5.2 µs, where a bare Litestar route takes
about 46 µs in all (README, "Speed").
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

TOO_LARGE = b"Request headers too large"
NO_REQUEST = object()  # what check_headers() remembers when no request was waiting for its headers


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_header_bytes: int,
        header_timeout: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_header_bytes = max_header_bytes
        self.header_timeout = header_timeout
        # Bytes the connection may still receive before the current request's headers must be complete.
        self.header_room = max_header_bytes
        self.header_timer: asyncio.TimerHandle | None = None
        # The request (its scope; None before the first) found waiting for its headers at the last
        # check, and at how many checks in a row: none yet, but the connection has just opened.
        self.waiting: tuple[object, int] = (None, 0)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.header_timer = self.loop.call_later(self.header_timeout / 2, self.check_headers)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None
        super().connection_lost(exc)

    def reading_headers(self) -> bool:
        """Whether the connection waits for the rest of a request's headers, or for its first request."""
        return self.scope is None or "method" not in self.scope

    def data_received(self, data: bytes) -> None:
        room = self.header_room - len(data)
        if room > 0:
            self.header_room = room
            HttpToolsProtocol.data_received(self, data)
        else:
            self.feed_in_slices(memoryview(data))

    def feed_in_slices(self, data: memoryview) -> None:
        """Feed the parser no more than the room left at a time; when it is spent, refuse a request
        whose headers are still incomplete, or give a body the room again."""
        while data and not self.transport.is_closing():
            piece, data = data[: self.header_room], data[self.header_room :]
            self.header_room -= len(piece)
            HttpToolsProtocol.data_received(self, piece)  # type: ignore[arg-type]
            if self.header_room == 0:
                if self.reading_headers():
                    self.refuse_headers()
                    return
                self.header_room = self.max_header_bytes

    def refuse_headers(self) -> None:
        """431 and close; without an answer while the previous request's is still being sent."""
        self.logger.warning("Request headers larger than %d bytes refused.", self.max_header_bytes)
        if self.cycle is None or self.cycle.response_complete:
            content = [STATUS_LINE[431]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.append(b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n")
            content.append(b"content-length: %d\r\n\r\n%s" % (len(TOO_LARGE), TOO_LARGE))
            self.transport.write(b"".join(content))
        self.transport.close()

    def check_headers(self) -> None:
        """Close the connection when the same request has waited for its headers at three checks
        in a row; look again in half a timeout."""
        if self.transport.is_closing():
            return
        if self.reading_headers():
            request, checks = self.waiting
            checks = checks + 1 if request is self.scope else 0
            if checks == 2:
                self.transport.close()
                return
            self.waiting = (self.scope, checks)
        else:
            self.waiting = (NO_REQUEST, 0)
        self.header_timer = self.loop.call_later(self.header_timeout / 2, self.check_headers)

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        self.header_room = self.max_header_bytes  # the next request's headers are counted from here
