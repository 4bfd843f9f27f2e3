"""Health, readiness, metrics, request logs, trusted proxies and housekeeping."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, PASSWORD, Shopper, login, register, sql, stored_sessions
from web.__main__ import main
from web.app import create_app
from web.settings import Settings


def metric(client: TestClient[Litestar], name: str) -> float:
    text = client.get("/metrics").text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ")]
    assert values, f"{name} not in /metrics"
    return values[0]


@pytest.fixture
def ops_app(settings: Settings) -> Iterator[Litestar]:
    app = create_app(settings.with_overrides(metrics_allow=("testclient",)))
    yield app
    app.state.shop.db.dispose()


def test_health_and_readiness_create_no_session(client: TestClient[Litestar], app: Litestar) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "pid": os.getpid()}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": "ok", "sessions": "ok"}
    assert health.headers.get_list("set-cookie") == [] and ready.headers.get_list("set-cookie") == []
    assert stored_sessions(app) == {}


def test_readiness_fails_when_the_database_does_not_answer(
    client: TestClient[Litestar], app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(_work: object) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(app.state.shop.db, "run_sync", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"].startswith("unavailable")


def test_a_database_outage_is_a_503_page_with_retry_after(
    client: TestClient[Litestar], app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.db import DatabaseUnavailable

    def down(_work: object) -> None:
        raise DatabaseUnavailable("database is locked")

    monkeypatch.setattr(app.state.shop.db, "run_sync", down)
    response = client.get("/cart")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "Nothing was changed" in response.text and "Traceback" not in response.text
    assert client.get("/api/cart").json()["error"] == "UNAVAILABLE"


def test_metrics_are_not_public_by_default(client: TestClient[Litestar]) -> None:
    assert client.get("/metrics").status_code == 404


def test_metrics_count_what_happens(ops_app: Litestar) -> None:
    with TestClient(ops_app, base_url=BASE_URL) as client:
        shopper = Shopper(client)
        shopper.add("test-1", 2)
        shopper.add("cotton-cap", 5)  # clamped to the one in stock
        client.post("/cart/clear", data={"csrf_token": "forged"})
        register(ops_app, "metrics@example.com")
        login(shopper, "metrics@example.com")
        body = client.get("/metrics")
        assert body.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert metric(client, "storefront_cart_adds_total") == 2
        assert metric(client, "storefront_cart_clamps_total") == 1
        assert metric(client, "storefront_csrf_rejections_total") == 1
        assert metric(client, "storefront_sessions_created_total") >= 2
        assert metric(client, "storefront_session_rotations_total") == 1
        assert metric(client, 'storefront_cart_merges_total{outcome="merged"}') == 1
        assert 'storefront_request_duration_seconds_count{method="POST",route="cart.add",status="303"} 2.0' in body.text


def test_one_json_log_line_per_request_without_secrets(
    shopper: Shopper, app: Litestar, capsys: pytest.CaptureFixture[str]
) -> None:
    register(app, "log@example.com")
    capsys.readouterr()
    shopper.visit("/")
    login(shopper, "log@example.com")
    response = shopper.client.get("/nope", headers={"X-Request-ID": "abc-123"})
    logged = capsys.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines()]
    # An address with no page is the catch-all's (web/errors.py): one route name for them all.
    assert [line["route"] for line in lines] == ["catalog.index", "accounts.login_submit", "errors.no_page"]
    assert lines[-1]["status"] == 404 and lines[-1]["request_id"] == "abc-123"
    assert response.headers["x-request-id"] == "abc-123"
    assert all(len(line["session"]) in (1, 12) and line["duration_ms"] >= 0 for line in lines)
    assert [line["method"] for line in lines] == ["GET", "POST", "GET"] and lines[0]["path"] == "/"
    assert shopper.session_cookie not in logged and PASSWORD not in logged and shopper.csrf not in logged


def test_the_log_line_encodes_what_the_client_chose(
    client: TestClient[Litestar], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    first = client.get('/nope/"quoted"\\ \u00e9\u202e', headers={"X-Request-ID": 'bad"id'})
    second = client.get("/nope")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["path"] == '/nope/"quoted"\\ \u00e9\u202e'
    generated = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert [line["request_id"] for line in lines] == generated
    assert generated[0] != generated[1] and all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in generated)


def test_forwarded_headers_count_only_from_a_trusted_proxy(settings: Settings) -> None:
    proxied = create_app(settings.with_overrides(trusted_proxies=("testclient",), metrics_allow=("10.0.0.7",)))
    with TestClient(proxied, base_url=BASE_URL) as client:
        headers = {"X-Forwarded-For": "203.0.113.9, 10.0.0.7", "X-Forwarded-Proto": "https"}
        assert client.get("/metrics", headers=headers).status_code == 200  # the proxy's last hop is the client
        shopper = Shopper(client)
        shopper.visit("/")
        https_origin = {"Origin": "https://shop.test", "X-Forwarded-Proto": "https"}
        added = shopper.add("test-1", 1, headers=https_origin)
        assert added.status_code == 303
    direct = create_app(settings)
    with TestClient(direct, base_url=BASE_URL) as client:
        assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404
        shopper = Shopper(client)
        shopper.visit("/")
        refused = shopper.add("test-1", 1, headers={"Origin": "https://shop.test", "X-Forwarded-Proto": "https"})
        assert refused.status_code == 403
    proxied.state.shop.db.dispose()
    direct.state.shop.db.dispose()


def test_housekeeping_purges_stale_guest_carts_and_old_empty_carts(
    app: Litestar,
    shopper: Shopper,
    other_shopper: Shopper,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(app, "keep@example.com")
    login(other_shopper, "keep@example.com")
    other_shopper.visit("/")
    other_shopper.add("test-2", 1)  # a user's cart, old but with a line: kept
    shopper.add("test-1", 1)  # a guest cart, about to go stale
    long_ago = int(time.time()) - 40 * 24 * 3600
    sql(app, "UPDATE carts SET created_at = :t", t=long_ago)
    sql(app, "UPDATE cart_lines SET updated_at = :t", t=long_ago)
    sql(app, "INSERT INTO carts (created_at) VALUES (:t)", t=long_ago)  # an empty guest cart
    sql(app, "INSERT INTO carts (created_at) VALUES (:t)", t=int(time.time()))  # empty but new: kept
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SESSION_STORE_URL", settings.session_store_url)
    assert main(["housekeeping"]) == 0
    out = capsys.readouterr().out
    assert "guest carts untouched for 30 days purged: 2" in out
    assert "empty carts older than a day purged: 0" in out
    assert sql(app, "SELECT count(*) FROM carts") == [(2,)]
    assert [(i["productId"], i["qty"]) for i in other_shopper.cart()["items"]] == [("test-2", 1)]
    assert shopper.add("test-1", 3).status_code == 303  # the guest simply gets a new cart
    assert [(i["productId"], i["qty"]) for i in shopper.cart()["items"]] == [("test-1", 3)]
