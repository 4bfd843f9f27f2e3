"""Headers and the session cookie read from the raw ASGI scope, as Litestar would read them; HEAD
answered as GET without a body or a session; Strict-Transport-Security in production."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from litestar import Litestar, Request
from litestar.testing import TestClient

from tests.conftest import Shopper, change_sessions, stored_sessions
from web.app import create_app
from web.headers import cookie, header
from web.settings import Settings


def request(*headers: tuple[str, str]) -> Request[Any, Any, Any]:
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return Request({"type": "http", "headers": raw, "state": {}})  # type: ignore[typeddict-item]


def test_a_header_is_its_first_value_or_none() -> None:
    sent = request(("hx-request", "true"), ("x-csrf-token", "abc"), ("x-csrf-token", "def"))
    assert header(sent, "hx-request") == "true"
    assert header(sent, "x-csrf-token") == "abc"
    assert header(sent, "hx-target") is None
    assert header(sent, "x-csrf-token") == sent.headers.get("x-csrf-token")


@pytest.mark.parametrize(
    ("cookies", "expected"),
    [
        (["session=abc"], "abc"),
        (["theme=dark; session=abc; other=1"], "abc"),
        (["  session = abc  ;theme=dark"], "abc"),
        (["session=first; session=second"], "second"),  # as Litestar's request.cookies: the last one
        (["theme=dark", "session=abc"], "abc"),  # HTTP/2 may split the cookies over several headers
        (["theme=dark; flag; sessionx=1"], None),
        ([], None),
    ],
)
def test_the_session_cookie_is_found_as_litestar_finds_it(cookies: list[str], expected: str | None) -> None:
    sent = request(*(("cookie", value) for value in cookies))
    assert cookie(sent, "session") == expected
    if len(cookies) <= 1:
        assert cookie(sent, "session") == sent.cookies.get("session")


def same_headers(response: Any) -> dict[str, str]:
    """A response's headers but those that differ between two answers to the same request."""
    return {name: value for name, value in response.headers.items() if name not in {"x-request-id", "set-cookie"}}


@pytest.mark.parametrize("path", ["/", "/products/test-1", "/cart", "/healthz", "/static/css/shop.css"])
def test_head_is_answered_as_get_without_a_body_or_a_session(
    client: TestClient[Litestar], app: Litestar, path: str
) -> None:
    # Not gzipped: a gzipped page's length changes with its CSRF token (test_static_and_compression.py
    # checks a HEAD gzipped, for one session).
    plain = {"accept-encoding": "identity"}
    head = client.head(path, headers=plain)
    assert head.status_code == 200 and head.content == b""
    assert "set-cookie" not in head.headers
    assert stored_sessions(app) == {}
    got = client.get(path, headers=plain)
    assert head.headers["content-length"] == str(len(got.content))
    assert same_headers(head) == same_headers(got)


def test_head_neither_refreshes_nor_changes_a_session(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-1", 1)
    change_sessions(app, expires_at=lambda at: at - 3600)  # any GET now would refresh the expiry
    before = stored_sessions(app)
    head = shopper.client.head("/cart")
    assert head.status_code == 200 and "set-cookie" not in head.headers
    assert stored_sessions(app) == before
    shopper.visit("/cart")
    assert stored_sessions(app) != before


def test_head_is_answered_where_get_is_and_nowhere_else(client: TestClient[Litestar]) -> None:
    assert client.head("/orders/lookup").status_code == 200
    assert client.head("/nope").status_code == 404
    refused = client.head("/cart/items")
    assert refused.status_code == 405 and "GET" not in refused.headers["allow"]


def test_head_of_an_order_stream_answers_at_once_without_opening_it(
    shopper: Shopper, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    shopper.add("linen-shirt", label="M")
    number = shopper.checkout()
    opened: list[str] = []
    monkeypatch.setattr(app.state.live, "open", lambda session_id, number: opened.append(number))
    answers: list[Any] = []
    asking = threading.Thread(
        target=lambda: answers.append(shopper.client.head(f"/orders/{number}/events")), daemon=True
    )
    asking.start()
    asking.join(10)
    assert answers, "HEAD of the stream did not answer"
    assert answers[0].status_code == 200 and answers[0].content == b""
    assert answers[0].headers["content-type"].startswith("text/event-stream")
    assert opened == [] and app.state.live.streams == {}
    assert shopper.client.head("/orders/NOPE42/events").status_code == 404


def test_production_sends_strict_transport_security_and_development_does_not(
    settings: Settings, client: TestClient[Litestar]
) -> None:
    """Two years, subdomains too: browsers then never try the shop over plain HTTP. Development
    serves plain HTTP on localhost, which a browser told so would refuse."""
    assert "strict-transport-security" not in client.get("/").headers
    production = settings.with_overrides(app_env="production", cookie_secure=True, secret_key="k" * 32)
    app = create_app(production)
    with TestClient(app, base_url="https://shop.test") as client:
        for path in ("/", "/healthz", "/nope", "/static/css/shop.css"):
            sent = client.get(path).headers.get_list("strict-transport-security")
            assert sent == ["max-age=63072000; includeSubDomains"], path
    app.state.shop.db.dispose()
