"""Headers and the session cookie read from the raw ASGI scope, as Litestar would read them."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Request

from web.headers import cookie, header


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
