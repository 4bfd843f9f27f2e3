"""What a shopper's browser is sent, and how long it may keep it: pages, fragments, CSS, JavaScript
and JSON gzipped when it takes gzip (web/compression.py); static files under names that carry
their content's hash, kept for a year, the plain names kept for no time (web/static_files.py)."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, Shopper
from tests.livestreams import live_server
from web.app import create_app
from web.compression import MINIMUM_BYTES, accepts_gzip
from web.settings import ROOT, Settings

GZIP = {"accept-encoding": "gzip"}
IDENTITY = {"accept-encoding": "identity"}
IMMUTABLE = "public, max-age=31536000, immutable"
STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)">')


def fingerprinted(path: str, static_dir: Path = ROOT / "static") -> str:
    """The URL static(path) should give: the file's name with the first 12 hex digits of the
    SHA-256 of its content before its extension."""
    digest = hashlib.sha256((static_dir / path).read_bytes()).hexdigest()[:12]
    suffix = PurePosixPath(path).suffix
    return f"/static/{path.removesuffix(suffix)}.{digest}{suffix}"


def raw(client: TestClient[Litestar], path: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
    """A response and its body as sent, not decoded."""
    with client.stream("GET", path, headers=headers) as response:
        return response, b"".join(response.iter_raw())


@pytest.fixture
def own_static(settings: Settings, tmp_path: Path) -> Settings:
    """The settings with a copy of static/ of the test's own, which it may change."""
    shutil.copytree(ROOT / "static", tmp_path / "static")
    return settings.with_overrides(static_dir=tmp_path / "static")


@pytest.fixture
def own_client(own_static: Settings) -> Iterator[TestClient[Litestar]]:
    app = create_app(own_static)
    with TestClient(app, base_url=BASE_URL) as client:
        yield client
    app.state.shop.db.dispose()


def production(settings: Settings) -> Settings:
    return settings.with_overrides(app_env="production", cookie_secure=True, secret_key="k" * 32)


# Compression


def test_a_page_is_gzipped_for_a_client_that_takes_gzip_and_is_the_same_page_unpacked(shopper: Shopper) -> None:
    shopper.add("linen-shirt", label="M")
    shopper.visit("/products/linen-shirt")  # shows the add's message: the next two are the same page
    plain, plain_body = raw(shopper.client, "/products/linen-shirt", IDENTITY)
    packed, packed_body = raw(shopper.client, "/products/linen-shirt", GZIP)
    assert "content-encoding" not in plain.headers and plain.headers["content-length"] == str(len(plain_body))
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["content-length"] == str(len(packed_body))
    assert gzip.decompress(packed_body) == plain_body
    assert len(packed_body) < len(plain_body) / 2
    for response in (plain, packed):
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["cache-control"] == "no-store", "the page carries the session"
        assert response.headers["content-type"].startswith("text/html")


def test_nothing_is_gzipped_for_a_client_that_does_not_take_gzip(shopper: Shopper) -> None:
    for refused in ("identity", "", "gzip;q=0", "br, deflate", "*;q=0", "gzip;q=0, *"):
        response, body = raw(shopper.client, "/products/linen-shirt", {"accept-encoding": refused})
        assert "content-encoding" not in response.headers, refused
        assert body.startswith(b"<!doctype html>"), refused
        assert response.headers["vary"] == "Accept-Encoding", "a cache must not hand this copy to every client"


def test_accept_encoding_is_read_with_its_weights() -> None:
    def offers(value: str) -> list[tuple[bytes, bytes]]:
        return [(b"accept-encoding", value.encode())]

    for taken in ("gzip", "gzip, deflate, br, zstd", "br;q=1.0, GZIP;q=0.5", "x-gzip", "*", "deflate, *;q=0.1"):
        assert accepts_gzip(offers(taken)), taken
    for refused in ("", "identity", "br", "gzip;q=0", "gzip; q=0.000", "*;q=0", "gzip;q=0, *", "gzip;q=oops"):
        assert not accepts_gzip(offers(refused)), refused
    assert not accepts_gzip([])


def test_fragments_css_javascript_and_json_are_gzipped_too(shopper: Shopper, client: TestClient[Litestar]) -> None:
    added = shopper.add("linen-shirt", label="M", htmx=True, headers=GZIP)
    assert added.status_code == 200 and added.headers["content-encoding"] == "gzip", "the add's fragments"
    assert 'id="cart-badge"' in added.text
    for path in ("vendor/htmx-2.0.11.min.js", "css/shop.css", "js/shop.js"):
        response, body = raw(client, fingerprinted(path), GZIP)
        assert response.headers["content-encoding"] == "gzip", path
        assert gzip.decompress(body) == (ROOT / "static" / path).read_bytes(), path
        assert response.headers["etag"].startswith('W/"'), "the gzipped bytes are not those the file's ETag names"
        assert raw(client, fingerprinted(path), IDENTITY)[0].headers["etag"].startswith('"')
    document, body = raw(client, "/api/openapi.json", GZIP)
    assert document.headers["content-encoding"] == "gzip" and gzip.decompress(body).startswith(b"{")


def test_a_small_response_is_sent_as_it_is(client: TestClient[Litestar]) -> None:
    illustration = "img/products/linen-shirt.svg"
    assert (ROOT / "static" / illustration).stat().st_size < MINIMUM_BYTES
    for path in (fingerprinted(illustration), "/healthz"):
        response, body = raw(client, path, GZIP)
        assert response.status_code == 200 and len(body) < MINIMUM_BYTES, path
        assert "content-encoding" not in response.headers, path
        assert response.headers["vary"] == "Accept-Encoding", path


def test_a_head_says_what_the_get_would_send(shopper: Shopper) -> None:
    shopper.add("linen-shirt", label="M")
    shopper.visit("/products/linen-shirt")
    head = shopper.client.head("/products/linen-shirt", headers=GZIP)
    got, body = raw(shopper.client, "/products/linen-shirt", GZIP)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-encoding"] == got.headers["content-encoding"] == "gzip"
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(body))


def test_an_order_stream_is_never_gzipped_and_its_events_come_at_once(
    app: Litestar, settings: Settings, tmp_path: Path
) -> None:
    """Against a real server: the in-process client cannot read a stream as it comes. The stream's
    first line goes out as it opens, its heartbeat a second later, both as plain text."""
    with TestClient(app, base_url=BASE_URL) as client:
        guest = Shopper(client)
        guest.add("linen-shirt", label="M")
        number = guest.checkout()
        cookies = {"session": client.cookies["session"]}
    with (
        live_server(settings, tmp_path, STREAM_HEARTBEAT_SECONDS="1") as server,
        httpx.Client(cookies=cookies, timeout=httpx.Timeout(10, read=5)) as http,
        http.stream("GET", f"{server.url}/orders/{number}/events", headers=GZIP) as stream,
    ):
        opened = time.monotonic()
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers and "vary" not in stream.headers
        received = b""
        for chunk in stream.iter_raw():
            received += chunk
            if b": heartbeat" in received:
                break
        assert received.startswith(b": live"), received[:40]
        assert time.monotonic() - opened < 3, "the heartbeat came when it was sent, not held back"


# Static files


def test_pages_link_their_static_files_by_content_hash_and_those_are_kept_for_a_year(
    client: TestClient[Litestar],
) -> None:
    page = client.get("/products/linen-shirt").text
    assert STYLESHEET.findall(page) == [fingerprinted("css/shop.css")]
    assert re.findall(r'<script src="([^"]+)"', page) == [
        fingerprinted("vendor/htmx-2.0.11.min.js"),
        fingerprinted("js/shop.js"),
    ]
    assert f'src="{fingerprinted("img/products/linen-shirt.svg")}"' in page
    for path in ("css/shop.css", "vendor/htmx-2.0.11.min.js", "js/shop.js", "img/products/linen-shirt.svg"):
        response = client.get(fingerprinted(path))
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == IMMUTABLE, path
        assert response.content == (ROOT / "static" / path).read_bytes(), "the file as it is, upstream's for vendor/"
        assert "set-cookie" not in response.headers, path


def test_the_plain_name_is_still_served_and_checked_again_each_time(client: TestClient[Litestar]) -> None:
    for path in ("css/shop.css", "vendor/htmx-2.0.11.min.js", "vendor/htmx-2.0.11.LICENSE"):
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-cache", path
        assert response.content == (ROOT / "static" / path).read_bytes(), path


def test_a_changed_file_gets_a_new_name_at_once_in_development(
    own_static: Settings, own_client: TestClient[Litestar]
) -> None:
    before = STYLESHEET.findall(own_client.get("/").text)
    assert before == [fingerprinted("css/shop.css", own_static.static_dir)]
    stylesheet = own_static.static_dir / "css" / "shop.css"
    stylesheet.write_bytes(stylesheet.read_bytes() + b"\n.changed { color: red; }\n")
    after = STYLESHEET.findall(own_client.get("/").text)
    assert after == [fingerprinted("css/shop.css", own_static.static_dir)] and after != before
    fresh = own_client.get(after[0])
    assert fresh.headers["cache-control"] == IMMUTABLE and fresh.content.endswith(b".changed { color: red; }\n")


def test_in_production_the_hashes_are_taken_at_startup(own_static: Settings) -> None:
    stylesheet = own_static.static_dir / "css" / "shop.css"
    urls = []
    for edit in (b"", b"\n.changed { color: red; }\n"):
        stylesheet.write_bytes(stylesheet.read_bytes() + edit)
        app = create_app(production(own_static))
        with TestClient(app, base_url="https://shop.test") as client:
            [url] = STYLESHEET.findall(client.get("/").text)
            assert url == fingerprinted("css/shop.css", own_static.static_dir)
            assert client.get(url).headers["cache-control"] == IMMUTABLE
        app.state.shop.db.dispose()
        urls.append(url)
    assert urls[0] != urls[1]


def test_a_name_with_a_hash_that_is_not_the_files_is_served_the_file_as_it_is_now(
    own_static: Settings, own_client: TestClient[Litestar]
) -> None:
    """A page from before a deploy names the stylesheet by its old hash: it is given the current
    one, which is better than none, with `no-cache`, so no browser or proxy keeps those bytes under
    a name they do not match. During a rolling deploy an old worker may be asked for a new hash the
    same way, and must not have its old file kept for a year under the new name."""
    [old] = STYLESHEET.findall(own_client.get("/").text)
    stylesheet = own_static.static_dir / "css" / "shop.css"
    stylesheet.write_bytes(stylesheet.read_bytes() + b"\n.changed { color: red; }\n")
    for stale in (old, "/static/css/shop.0123456789ab.css"):
        response = own_client.get(stale)
        assert response.status_code == 200, stale
        assert response.headers["cache-control"] == "no-cache", stale
        assert response.content == stylesheet.read_bytes(), stale


def test_a_name_of_no_file_is_404_hash_or_not(client: TestClient[Litestar]) -> None:
    missing = ("/static/css/nope.css", "/static/css/nope.0123456789ab.css", "/static/.0123456789ab.css")
    outside = ("/static/..%2F..%2Fweb%2Fapp.py", "/static/..%2F..%2Fweb%2Fapp.0123456789ab.py")
    for path in (*missing, *outside, "/static/css"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers.get("cache-control") != IMMUTABLE, path
