"""forms.read(): url-encoded forms parsed as Litestar parses them, anything else left to Litestar."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from litestar import Litestar, Request, post
from litestar.testing import TestClient

from web import forms

NAMES = ("a", "b", "c", "é")


@post("/ours", status_code=200)
async def ours(request: Request) -> dict[str, Any]:
    form = await forms.read(request)
    values = {name: [v if isinstance(v, str) else type(v).__name__ for v in form.getall(name, [])] for name in NAMES}
    return {"kind": type(form).__name__, **values}


@post("/litestar", status_code=200)
async def litestar(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {name: form.getall(name, []) for name in NAMES}


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(Litestar(route_handlers=[ours, litestar])) as client:
        yield client


@pytest.mark.parametrize(
    "body",
    [
        "a=1&b=2",
        "a=1&a=2&a=",
        "a=x+y&b=%2B%26%3D&c",
        "%C3%A9=caf%C3%A9&a=%E2%80%AE",
        "a=%ZZ&b=%C3&c=%",
        "&&a=1&&",
        "a=1;b=2",
        "",
    ],
)
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded; charset=UTF-8"]
)
def test_url_encoded_fields_are_read_as_litestar_reads_them(client: Any, body: str, content_type: str) -> None:
    headers = {"content-type": content_type}
    mine = client.post("/ours", content=body, headers=headers).json()
    theirs = client.post("/litestar", content=body, headers=headers).json()
    assert mine.pop("kind") == "Fields"
    assert mine == theirs


def test_a_multipart_form_is_left_to_litestar(client: Any) -> None:
    mine = client.post("/ours", data={"a": "1", "b": "two words"}, files={"c": ("c.txt", b"file")}).json()
    assert mine["kind"] == "FormMultiDict"
    assert mine["a"] == ["1"] and mine["b"] == ["two words"] and mine["c"] == ["UploadFile"]


async def call(app: Litestar, messages: list[dict[str, Any]]) -> tuple[int, bytes]:
    """One POST /ours straight through ASGI, its body arriving as `messages`."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ours",
        "raw_path": b"/ours",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"shop.test"), (b"content-type", b"application/x-www-form-urlencoded")],
        "client": ("127.0.0.1", 1),
        "server": ("shop.test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_body_sent_in_pieces_is_read_whole() -> None:
    app = Litestar(route_handlers=[ours])
    pieces = [b"a=1&b=", b"t", b"wo&a=3"]
    messages = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    status, body = anyio.run(call, app, [*messages, {"type": "http.request", "body": b"", "more_body": False}])
    assert status == 200
    assert json.loads(body) == {"kind": "Fields", "a": ["1", "3"], "b": ["two"], "c": [], "é": []}


def test_a_client_gone_before_its_body_ended_is_a_400() -> None:
    app = Litestar(route_handlers=[ours])
    messages = [{"type": "http.request", "body": b"a=1", "more_body": True}, {"type": "http.disconnect"}]
    status, _body = anyio.run(call, app, messages)
    assert status == 400
