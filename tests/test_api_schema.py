"""The published API: `GET /api/openapi.json` describes every /api route as the shop decodes and
answers it, and the API fuzzed from that document (schemathesis) never fails on its side.

The fuzz sends every documented operation bodies, parameters and headers generated from the
document, as a logged-in member of staff who has a cart and an order: valid ones (that fit the
document) and invalid ones (that break it somewhere), with the path's ids sometimes real so that
the calls reach the services. Each answer must be below 500, fit the document (status, content
type, JSON shape), and a refusal (4xx) must have changed nothing stored. HYPOTHESIS_PROFILE picks
the examples per operation and mode: "ci" (the default, a fixed 12) or "fuzz" (`make fuzz`, 300
new ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import BASE_URL, TABLES, Shopper, sql
from tests.fuzzing import profile
from tests.test_staff import logged_in
from tests.test_static_and_compression import fingerprinted
from web.app import create_app
from web.settings import Settings

UNDOCUMENTED = {"/api/openapi.json", "/api/docs", "/api/debug/session", "/api/cart/debug"}
# A refused login counts the attempt (committed before the password is checked, by design: see
# tests/test_throttle.py); every other table must be as it was after any refusal.
CHANGED_BY_A_REFUSED_LOGIN = {"throttles"}
NOTHING_INVALID_TO_SEND = {
    "GET /api/cart",
    "GET /api/auth/me",
    "GET /api/locality/status",
    "GET /api/orders/{number}",
    "GET /api/orders/{number}/messages",
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PROFILE = profile(fuzz_examples=300, ci_examples=12, suppress_health_check=list(hypothesis.HealthCheck))


@pytest.fixture
def member(app: Litestar) -> Iterator[Shopper]:
    """A member of staff with two lines in the cart and an order placed."""
    for staff in logged_in(app, "fuzz@example.com", staff=True):
        staff.add("tea-tin")
        staff.checkout()
        staff.add("test-1", 2)
        staff.add("tea-tin")
        yield staff


def documented(client: TestClient[Litestar]) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


def api_routes(app: Litestar) -> set[tuple[str, str]]:
    """Every (method, OpenAPI path) the app answers under /api/."""
    found = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/") and route.path not in UNDOCUMENTED:
            path = route.path.replace(":int}", "}").replace(":str}", "}")
            found |= {(method, path) for method in route.methods - {"HEAD", "OPTIONS"}}
    return found


def test_the_document_describes_every_api_route_with_its_body_and_answer(app: Litestar, client: Any) -> None:
    document = documented(client)
    assert document["openapi"] == "3.1.0"
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == api_routes(app)
    for (method, path), operation in operations.items():
        assert operation["summary"], (method, path)
        success = min(status for status in operation["responses"] if status != "default")
        assert "content" in operation["responses"][success], (method, path)
        assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    bodies = {
        key: op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for key, op in operations.items()
        if "requestBody" in op
    }
    assert bodies == {
        ("POST", "/api/cart"): "CartAdd",
        ("POST", "/api/auth/email-login"): "Login",
        ("POST", "/api/locality"): "Place",
        ("POST", "/api/checkout"): "Checkout",
        ("POST", "/api/orders/{number}/messages"): "MessageText",
        ("POST", "/api/staff/orders/{number}/status"): "StatusChange",
        ("PATCH", "/api/staff/variants/{variant_id}"): "VariantEdit",
    }
    cart_add = document["components"]["schemas"]["CartAdd"]
    assert cart_add["required"] == ["productId", "qty"]
    assert cart_add["properties"]["qty"]["minimum"] == 1
    # schemathesis reads it as a valid OpenAPI 3.1 document
    assert len(list(schemathesis.openapi.from_dict(document).get_all_operations())) == len(operations)


def test_the_document_is_the_same_for_everyone_and_sets_no_cookie(shopper: Shopper, client: Any) -> None:
    first = client.get("/api/openapi.json")
    shopper.add("test-1")
    assert shopper.client.get("/api/openapi.json").content == first.content
    assert "set-cookie" not in first.headers


def test_interactive_docs_in_development_only(client: Any, settings: Settings) -> None:
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    rapidoc = fingerprinted("vendor/rapidoc-9.3.8.min.js")
    assert f'<script type="module" src="{rapidoc}">' in docs.text
    assert 'spec-url="/api/openapi.json"' in docs.text
    assert client.get(rapidoc).status_code == 200
    # RapiDoc styles inline: its page alone allows inline styles, never inline scripts
    policy = docs.headers["content-security-policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in client.get("/").headers["content-security-policy"]
    production = create_app(settings.with_overrides(app_env="production", cookie_secure=True, secret_key="k" * 32))
    with TestClient(production, base_url="https://shop.test") as visitor:
        assert visitor.get("/api/docs").status_code == 404
        assert visitor.get("/api/openapi.json").status_code == 200
    production.state.shop.db.dispose()


def stored(app: Litestar) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: sorted((tuple(row) for row in sql(app, f"SELECT * FROM {table}")), key=repr)
        for table in TABLES
        if table not in CHANGED_BY_A_REFUSED_LOGIN
    }


def real_ids(app: Litestar, member: Shopper) -> dict[str, list[Any]]:
    """Path parameter values that name something the member can reach."""
    return {
        "number": [row[0] for row in sql(app, "SELECT number FROM orders")],
        "line_id": [line["id"] for line in member.cart()["items"]],
        "variant_id": [row[0] for row in sql(app, "SELECT id FROM variants ORDER BY id LIMIT 3")],
        "product_id": ["test-1", "tea-tin"],
    }


def cases(operation: Any, mode: GenerationMode, ids: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """The operation's cases in `mode`, half of them with real ids in the path."""
    names = [name for name in ids if "{" + name + "}" in operation.path]
    generated = operation.as_strategy(generation_mode=mode)
    if not names or mode is GenerationMode.NEGATIVE:
        return generated  # type: ignore[no-any-return]
    real = st.fixed_dictionaries({name: st.sampled_from(ids[name]) for name in names}).flatmap(
        lambda path: operation.as_strategy(generation_mode=mode, path_parameters=path)
    )
    return st.one_of(generated, real)


def send(member: Shopper, case: Any) -> httpx.Response:
    sent = case.as_transport_kwargs(base_url=BASE_URL)
    headers = sent.get("headers") or {}
    try:
        return member.client.request(
            sent["method"],
            sent["url"],
            params=sent.get("params"),
            headers=headers,
            content=body_of(sent),
        )
    except (UnicodeEncodeError, httpx.LocalProtocolError, httpx.InvalidURL):
        hypothesis.reject()  # a request no HTTP client can send (a header httpx cannot encode)


def body_of(sent: dict[str, Any]) -> bytes | None:
    if "json" in sent:
        return httpx.Request("POST", "http://x", json=sent["json"]).content
    data = sent.get("data")
    return data.encode() if isinstance(data, str) else data


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_api_fuzzed_from_its_document_never_fails_and_a_refusal_changes_nothing(
    app: Litestar, member: Shopper, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_dict(documented(member.client))
    ids = real_ids(app, member)
    # Logging out last, so the member stays logged in for everything else.
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()), key=lambda op: op.path == "/api/auth/logout"
    )
    nothing_invalid = set()
    for operation in operations:

        @PROFILE
        @hypothesis.given(case=cases(operation, mode, ids))
        def check(case: Any) -> None:
            before = stored(app)
            response = send(member, case)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
            case.validate_response(response, checks=CHECKS)
            if response.status_code >= 400:
                assert set(response.json()) >= {"error", "message"}, response.text
                assert stored(app) == before, f"{case.method} {case.formatted_path} was refused and changed data"

        try:
            check()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label
            nothing_invalid.add(operation.label)
        except Exception as error:
            error.add_note(f"while fuzzing {operation.label} ({mode.value})")
            raise
    if mode is GenerationMode.NEGATIVE:  # no parameter, or only a path's free text, in a GET
        assert nothing_invalid == NOTHING_INVALID_TO_SEND
