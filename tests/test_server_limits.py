"""The app server's own limits, on a real server (one process for the whole module, as each costs
about 1.5 s to start) spoken to over raw sockets: headers past MAX_HEADER_BYTES are refused, a
connection that has not sent its headers within HEADER_TIMEOUT_SECONDS is closed, connections past
MAX_CONCURRENCY get 503, and HEAD goes over the wire without a body. serve() passes the settings on."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.livestreams import Server, live_server
from web.__main__ import serve
from web.settings import Settings, SettingsError

HEADER_TIMEOUT = 1
MAX_CONCURRENCY = 4
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: shop.test\r\n\r\n"


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server-limits")
    url = database
    if not TEST_DATABASE_URL:  # the server gets its own copy of the template database
        shutil.copy(database.removeprefix("sqlite:///"), folder / "shop.db")
        url = f"sqlite:///{folder / 'shop.db'}"
    settings = Settings(database_url=url, session_store_url=TEST_REDIS_URL, events_url=TEST_REDIS_URL)
    settings = settings.with_overrides(outbox_dir=folder / "outbox", media_dir=folder / "media")
    limits = {"HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT), "MAX_CONCURRENCY": str(MAX_CONCURRENCY)}
    with live_server(settings, folder, **limits) as running:
        yield running


def connect(server: Server) -> socket.socket:
    address = urlsplit(server.url)
    return socket.create_connection((address.hostname, address.port), timeout=5)


def answer(sock: socket.socket, *, to_head: bool = False) -> tuple[bytes, bytes]:
    """One response's head (status line and headers) and its Content-Length body (none `to_head`);
    b"" for both when the server closed the connection instead."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            return received, b""
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lengths = [int(line[15:]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    length = 0 if to_head or not lengths else lengths[0]
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def health(sock: socket.socket, extra: bytes = b"") -> bytes:
    """The status line of GET /healthz sent with `extra` header lines, or b"" if the connection closed."""
    try:
        sock.sendall(HEALTH[:-2] + extra + b"\r\n")
        head, _body = answer(sock)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    return head.split(b"\r\n")[0]


def test_headers_past_the_limit_are_refused_never_served(server: Server) -> None:
    with connect(server) as sock:
        assert health(sock, b"X-Padding: " + b"a" * 12 * 1024 + b"\r\n") == b"HTTP/1.1 200 OK"  # under 16 KiB
    with connect(server) as sock:
        refused = health(sock, b"X-Padding: " + b"a" * 64 * 1024 + b"\r\n")
    assert refused in (b"", b"HTTP/1.1 431 Request Header Fields Too Large"), refused
    with connect(server) as sock:  # many small headers count as much as one large one
        refused = health(sock, b"".join(b"X-Padding-%d: %s\r\n" % (i, b"a" * 1000) for i in range(64)))
    assert refused in (b"", b"HTTP/1.1 431 Request Header Fields Too Large"), refused
    with connect(server) as sock:  # a body is not held to the limit (its route refuses it on its own terms)
        body = b"a" * 60 * 1024
        sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: shop.test\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        assert answer(sock)[0].startswith(b"HTTP/1.1 405 Method Not Allowed")


def test_a_connection_that_stalls_or_drips_its_headers_is_closed_after_the_timeout(server: Server) -> None:
    with connect(server) as silent, connect(server) as dripping:
        started = time.monotonic()
        dripping.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop.test\r\nX-Slow: ")
        closed_at = None
        while closed_at is None and time.monotonic() - started < HEADER_TIMEOUT + 3:
            time.sleep(0.1)
            try:
                dripping.sendall(b"a")  # a byte at a time keeps uvicorn's own timers at bay, not this one
            except (ConnectionResetError, BrokenPipeError):
                closed_at = time.monotonic() - started
        assert closed_at is not None, "a connection dripping its headers stayed open"
        assert closed_at < HEADER_TIMEOUT * 1.5 + 0.5  # checked every half timeout
        silent.settimeout(1)
        assert silent.recv(1024) == b""  # one that sent nothing at all was closed too


def test_connections_past_the_limit_get_503(server: Server) -> None:
    held = [connect(server) for _ in range(MAX_CONCURRENCY - 1)]
    try:
        for sock in held:
            assert health(sock) == b"HTTP/1.1 200 OK"  # each stays open, kept alive
        with connect(server) as one_too_many:
            assert health(one_too_many) == b"HTTP/1.1 503 Service Unavailable"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while True:  # once the server has seen them close, it serves again
        with connect(server) as sock:
            if health(sock) == b"HTTP/1.1 200 OK":
                break
        assert time.monotonic() < deadline, "still refused after the held connections closed"
        time.sleep(0.05)


def test_head_goes_over_the_wire_with_gets_headers_and_no_body(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(HEALTH.replace(b"GET", b"HEAD", 1))
        head, _nothing = answer(sock, to_head=True)
        sock.sendall(HEALTH)  # on the same connection: had HEAD sent a body, it would come first
        got, body = answer(sock)
    assert head.startswith(b"HTTP/1.1 200 OK") and got.startswith(b"HTTP/1.1 200 OK")
    assert b"content-length: %d\r\n" % len(body) in head + b"\r\n"


def test_serve_passes_the_limits_from_the_environment_to_uvicorn(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    env = {
        "DATABASE_URL": settings.database_url,
        "SESSION_STORE_URL": settings.session_store_url,
        "MAX_HEADER_BYTES": "20000",
        "HEADER_TIMEOUT_SECONDS": "3",
        "KEEP_ALIVE_SECONDS": "7",
        "MAX_CONCURRENCY": "300",
    }
    passed: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: passed.update(options))
    serve(Settings.from_env(env), workers=1)
    assert passed["timeout_keep_alive"] == 7 and passed["limit_concurrency"] == 300
    assert passed["http"].keywords == {"max_header_bytes": 20000, "header_timeout": 3}


def test_the_database_pool_is_sized_by_its_settings() -> None:
    env = {"DB_POOL_SIZE": "25", "DB_MAX_OVERFLOW": "5", "DB_POOL_TIMEOUT_SECONDS": "3"}
    settings = Settings.from_env(env)
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_seconds) == (25, 5, 3)
    assert (Settings.from_env({}).db_pool_size, Settings.from_env({}).db_max_overflow) == (10, 10)
    with pytest.raises(SettingsError, match="DB_POOL_SIZE"):
        Settings.from_env({"DB_POOL_SIZE": "0"})
