"""Several worker processes on PostgreSQL and Redis serve one shop: one session, one cart."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import CSRF, MAILED_LINK, PASSWORD, TEST_REDIS_URL, reset_postgres
from web.db import sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
pytestmark = pytest.mark.scaleout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def shop_url(database: str, tmp_path: Path) -> Iterator[str]:
    reset_postgres(database)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "SESSION_STORE_URL": TEST_REDIS_URL,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "APP_ENV": "development",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "web", "serve", "--workers", str(WORKERS)], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the shop did not start: " + (tmp_path / "server.log").read_text()[-2000:])
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_a_shoppers_requests_across_workers_see_one_session_and_one_cart(shop_url: str, database: str) -> None:
    # No keep-alive: every request is a new connection, which any worker may accept.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=shop_url, limits=limits, timeout=10, follow_redirects=True) as browser:
        pids: set[int] = set()
        deadline = time.monotonic() + 20  # the second worker may still be starting
        while len(pids) < WORKERS and time.monotonic() < deadline:
            pids.add(browser.get("/healthz").json()["pid"])
        assert len(pids) == WORKERS, f"requests reached {len(pids)} worker(s)"

        def token() -> str:
            found = CSRF.search(browser.get("/products/test-1").text)
            assert found
            return found.group(1)

        def cart() -> dict[str, int]:
            return {item["productId"]: item["qty"] for item in browser.get("/api/cart").json()["items"]}

        variant = browser.get("/api/cart").json()  # no session yet: nothing is created by a read
        assert variant["items"] == [] and "session" not in browser.cookies
        csrf = token()
        cookie = browser.cookies["session"]
        assert browser.post("/api/cart", json={"productId": "test-1", "qty": 1}).status_code == 201
        variant_id = re.search(r'name="variant_id" value="(\d+)"', browser.get("/products/test-2").text)
        assert variant_id
        for _ in range(2):
            added = browser.post(
                "/cart/items",
                data={"product": "test-2", "variant_id": variant_id.group(1), "quantity": "1", "csrf_token": csrf},
            )
            assert added.status_code == 200  # followed the 303 back
        for _ in range(20):
            assert cart() == {"test-1": 1, "test-2": 2}
        assert browser.cookies["session"] == cookie

        email = "workers@example.com"
        browser.post("/register", data={"email": email, "password": PASSWORD, "csrf_token": token()})
        engine = create_engine(sqlalchemy_url(database))
        with engine.connect() as conn:
            body = conn.execute(text("SELECT body FROM outbox WHERE recipient = :to"), {"to": email}).scalar_one()
        engine.dispose()
        link = MAILED_LINK.search(body)
        assert link is not None
        browser.post("/account/confirm", data={"token": link.group(1), "password": PASSWORD, "csrf_token": token()})
        logged_in = browser.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token()})
        assert logged_in.status_code == 200 and "Welcome, workers@example.com." in logged_in.text
        assert browser.cookies["session"] != cookie
        for _ in range(20):
            assert cart() == {"test-1": 1, "test-2": 2}
            assert browser.get("/api/auth/me").json()["user"]["email"] == email

        browser.post("/logout", data={"csrf_token": token()})
        for _ in range(10):
            assert cart() == {}
        browser.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token()})
        for _ in range(10):
            assert cart() == {"test-1": 1, "test-2": 2}
        metrics = browser.get("/metrics").text
        assert "storefront_cart_adds_total 3.0" in metrics  # summed over both workers
