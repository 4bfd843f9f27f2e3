"""One opaque cookie, server-side data, no adoption of unknown IDs, expiry and purge."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Connection

from tests.conftest import BASE_URL, CSRF, TEST_REDIS_URL, Shopper, add_form, change_sessions, sql, stored_sessions
from tests.test_static_and_compression import fingerprinted
from web.__main__ import main
from web.app import create_app
from web.db import committed
from web.sessions import RedisSessionStore, session_key
from web.settings import Settings, SettingsError


def set_cookie_headers(response: object) -> list[str]:
    return response.headers.get_list("set-cookie")  # type: ignore[attr-defined,no-any-return]


def test_first_page_sets_one_opaque_httponly_cookie(client: TestClient[Litestar], app: Litestar) -> None:
    response = client.get("/")
    cookies = set_cookie_headers(response)
    assert len(cookies) == 1
    name, _, rest = cookies[0].partition("=")
    value = rest.split(";")[0]
    assert name == "session"
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}\.[0-9a-f]{8}\.[A-Za-z0-9_-]{22}", value)  # random, when (masked), MAC
    flags = cookies[0].lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags
    assert stored_sessions(app) == {}  # nothing to keep yet: nothing stored
    csrf = CSRF.search(response.text)
    assert csrf is not None
    added = client.post("/cart/items", data={**add_form(app), "csrf_token": csrf.group(1)}, follow_redirects=False)
    assert added.status_code == 303
    stored = stored_sessions(app)
    assert list(stored) == [session_key(value)]
    assert value not in str(stored[session_key(value)].data)


def test_exactly_one_cookie_name_across_browse_add_edit_flow(shopper: Shopper) -> None:
    names: set[str] = set()
    responses = [shopper.visit("/"), shopper.visit("/products/test-1")]
    responses.append(shopper.add("test-1", 2))
    responses.append(shopper.visit("/products/test-1"))
    responses.append(shopper.add("test-2", 1, htmx=True))
    line = shopper.cart()["items"][0]["id"]
    responses.append(shopper.post(f"/cart/lines/{line}/quantity", {"quantity": "3"}))
    responses.append(shopper.post(f"/cart/lines/{line}/remove", htmx=True))
    responses.append(shopper.visit("/cart"))
    responses.append(shopper.client.get("/api/cart"))
    for response in responses:
        assert response.status_code < 400
        names.update(header.split("=", 1)[0] for header in set_cookie_headers(response))
    assert names == {"session"}
    assert list(shopper.client.cookies.keys()) == ["session"]


def test_cookie_is_issued_once_not_on_every_request(shopper: Shopper, app: Litestar) -> None:
    first = shopper.visit("/")
    assert set_cookie_headers(first)
    assert set_cookie_headers(shopper.visit("/cart")) == []
    assert set_cookie_headers(shopper.add("test-1")) == []  # stored now, under the ID the browser has
    assert list(stored_sessions(app)) == [session_key(shopper.session_cookie or "")]
    assert set_cookie_headers(shopper.visit("/cart")) == []


def test_planted_session_id_is_replaced(client: TestClient[Litestar], app: Litestar) -> None:
    planted = "A" * 43
    client.cookies.set("session", planted)
    response = client.get("/")
    issued = set_cookie_headers(response)
    assert len(issued) == 1
    new_id = issued[0].split(";")[0].split("=", 1)[1]
    assert new_id != planted
    assert stored_sessions(app) == {}
    forged = new_id[:-1] + ("A" if new_id[-1] != "A" else "B")  # our shape, not our MAC
    client.cookies.clear()
    client.cookies.set("session", forged)
    again = set_cookie_headers(client.get("/"))
    assert len(again) == 1 and forged not in again[0]


def test_overlong_or_odd_cookie_values_are_replaced_not_errors(client: TestClient[Litestar]) -> None:
    client.cookies.set("session", "x" * 4000)
    response = client.get("/")
    assert response.status_code == 200
    assert set_cookie_headers(response)


def test_expired_session_is_refused_and_its_cart_not_shown(shopper: Shopper, app: Litestar, settings: Settings) -> None:
    shopper.add("test-1", 2)
    old = shopper.session_cookie
    change_sessions(app, expires_at=lambda _: int(time.time()) + 1)
    time.sleep(1.1)  # expiry is in whole seconds, as the stores keep it
    # As in life, it expired at least the idle timeout after its ID was minted (which the ID says).
    app.state.shop.sessions.now = lambda: time.time() + settings.session_idle_seconds
    response = shopper.visit("/cart")
    assert set_cookie_headers(response), "a fresh session must be issued"
    assert shopper.session_cookie != old
    assert shopper.cart()["items"] == []


def test_static_files_health_and_api_reads_create_no_session(client: TestClient[Litestar], app: Litestar) -> None:
    static = ("/static/css/shop.css", fingerprinted("css/shop.css"), fingerprinted("vendor/htmx-2.0.11.min.js"))
    for path in (*static, "/api/cart", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert set_cookie_headers(response) == [], path
    assert stored_sessions(app) == {}


def test_unchanged_session_is_not_rewritten(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-1")
    shopper.visit("/")  # shows the add's message, so nothing is left to change
    [before] = stored_sessions(app).values()
    change_sessions(app, expires_at=lambda t: t - 10)
    shopper.client.get("/api/cart")
    shopper.visit("/cart")
    [after] = stored_sessions(app).values()
    assert (after.data, after.expires_at) == (before.data, before.expires_at - 10)


def test_expiry_is_refreshed_after_a_few_minutes(shopper: Shopper, app: Litestar) -> None:
    shopper.add("test-1")
    change_sessions(app, expires_at=lambda t: t - 3600)
    [stale] = stored_sessions(app).values()
    shopper.visit("/cart")
    [fresh] = stored_sessions(app).values()
    assert fresh.expires_at >= stale.expires_at + 3600 - 5


def test_absolute_lifetime_caps_the_idle_refresh(shopper: Shopper, app: Litestar, settings: Settings) -> None:
    shopper.add("test-1")
    created = int(time.time()) - settings.session_absolute_seconds + 100
    change_sessions(app, created_at=lambda _: created, expires_at=lambda _: int(time.time()) + 50)
    shopper.visit("/cart")
    [record] = stored_sessions(app).values()
    assert record.expires_at <= created + settings.session_absolute_seconds


@pytest.mark.sql_sessions_only  # Redis expires sessions by itself: there is nothing to purge
def test_purge_command_deletes_only_expired_sessions(
    shopper: Shopper,
    other_shopper: Shopper,
    app: Litestar,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shopper.add("test-1")
    other_shopper.add("test-1")
    sql(app, "UPDATE sessions SET expires_at = 1 WHERE key = :key", key=session_key(shopper.session_cookie or ""))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    assert main(["purge-sessions"]) == 0
    assert "expired sessions purged: 1" in capsys.readouterr().out
    assert sql(app, "SELECT key FROM sessions") == [(session_key(other_shopper.session_cookie or ""),)]


def test_production_cookie_is_host_prefixed_and_secure(settings: Settings) -> None:
    production = settings.with_overrides(app_env="production", cookie_secure=True, secret_key="k" * 32)
    with TestClient(create_app(production), base_url="https://shop.test") as client:
        cookies = set_cookie_headers(client.get("/"))
    assert len(cookies) == 1
    assert cookies[0].startswith("__Host-session=")
    assert "; Secure" in cookies[0] and "Path=/" in cookies[0]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"APP_ENV": "production", "DEBUG": "1"}, "DEBUG must be off"),
        ({"APP_ENV": "production", "COOKIE_SECURE": "0"}, "COOKIE_SECURE must be on"),
        ({"APP_ENV": "production"}, "SECRET_KEY must be set"),
        ({"APP_ENV": "production", "SECRET_KEY": "short"}, "SECRET_KEY must be set"),
        ({"APP_ENV": "staging"}, "APP_ENV must be"),
        ({"PORT": "eighty"}, "PORT must be a whole number"),
    ],
)
def test_unsafe_settings_refuse_to_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_app_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    from web.db import DatabaseUnavailable

    with pytest.raises(DatabaseUnavailable, match="not migrated"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))


def test_session_data_survives_a_new_client_with_the_same_cookie(app: Litestar, shopper: Shopper) -> None:
    shopper.add("test-1", 2)
    with TestClient(app, base_url=BASE_URL) as another_tab:
        another_tab.cookies.set("session", shopper.session_cookie or "")
        items = another_tab.get("/api/cart").json()["items"]
    assert [(item["productId"], item["qty"]) for item in items] == [("test-1", 2)]


# (Not /checkout: with an empty cart it sends the visitor to the cart with a message, which is
# something to keep.)
ANONYMOUS_PAGES = ["/", "/products/tea-tin", "/cart", "/login", "/register", "/orders/lookup", "/nowhere", "/api/cart"]


def test_anonymous_page_views_store_no_session(app: Litestar) -> None:
    """A crawler, with or without a cookie jar, costs no write: nothing is stored until there is
    something to keep (before, every cookieless page view wrote a session row)."""
    for keeps_cookies in (False, True):
        with TestClient(app, base_url=BASE_URL) as client:
            for _ in range(3):
                for path in ANONYMOUS_PAGES:
                    if not keeps_cookies:
                        client.cookies.clear()
                    assert client.get(path).status_code in {200, 404}, path
    assert stored_sessions(app) == {}
    if not TEST_REDIS_URL:
        assert sql(app, "SELECT count(*) FROM sessions") == [(0,)]


def test_two_tabs_of_a_new_visitor_post_with_their_own_pages_tokens_into_one_cart(app: Litestar) -> None:
    with TestClient(app, base_url=BASE_URL) as client:
        first = CSRF.search(client.get("/products/test-1").text)
        second = CSRF.search(client.get("/products/test-2").text)
        assert first and second and first.group(1) == second.group(1)  # one ID, so one token
        for slug, token in (("test-1", first.group(1)), ("test-2", second.group(1))):
            added = client.post(
                "/cart/items", data={**add_form(app, slug), "csrf_token": token}, follow_redirects=False
            )
            assert added.status_code == 303, added.text
        assert sorted(item["productId"] for item in client.get("/api/cart").json()["items"]) == ["test-1", "test-2"]
    assert len(stored_sessions(app)) == 1


def test_a_page_token_works_only_with_its_own_cookie(app: Litestar) -> None:
    with TestClient(app, base_url=BASE_URL) as mine, TestClient(app, base_url=BASE_URL) as theirs:
        token = CSRF.search(mine.get("/").text)
        theirs.get("/")
        assert token is not None
        forged = theirs.post(
            "/cart/items", data={**add_form(app), "csrf_token": token.group(1)}, follow_redirects=False
        )
        assert forged.status_code == 403
        theirs.cookies.clear()
        cookieless = theirs.post("/cart/items", data={**add_form(app), "csrf_token": token.group(1)})
        assert cookieless.status_code == 403
    assert stored_sessions(app) == {}


def test_a_minted_id_is_taken_back_only_within_the_idle_timeout(app: Litestar, settings: Settings) -> None:
    """So the ID of a stored session that expired (Redis forgets it entirely) never comes back."""
    store = app.state.shop.sessions
    clock = [1_000_000.0]
    store.now = lambda: clock[0]
    with app.state.shop.db.engine.begin() as conn:
        first = store.load(conn, None)
        assert first.minted
        clock[0] += settings.session_idle_seconds - 60
        assert store.load(conn, first.id).id == first.id  # brought back: the same (empty) session
        clock[0] += 60
        assert store.load(conn, first.id).id != first.id
        forged = first.id[:33] + ("0" if first.id[33] != "0" else "1") + first.id[34:]  # the masked minute
        clock[0] -= 120
        assert store.load(conn, forged).id != forged


def redis_store(app: Litestar) -> RedisSessionStore:
    store = app.state.shop.sessions
    if not isinstance(store, RedisSessionStore):
        pytest.skip("sessions in Redis (the PostgreSQL + Redis pass)")
    return store


def saved(app: Litestar, save: Callable[[Connection], None]) -> None:
    """A unit that saves a session, committed as the shop commits one (what waited for it runs)."""
    with app.state.shop.db.engine.connect() as conn:
        save(conn)
        conn.commit()
        committed(conn)


def test_in_redis_a_session_ended_meanwhile_by_another_device_stays_ended(shopper: Shopper, app: Litestar) -> None:
    store = redis_store(app)
    shopper.add("test-1")
    cookie = shopper.session_cookie
    with app.state.shop.db.engine.connect() as conn:
        session = store.load(conn, cookie)  # a request of this session has loaded it ...
    store.redis.delete(store._session(session_key(cookie)))  # ... when another device ends it
    session.flash("Added another.")
    saved(app, lambda conn: store.save(conn, session))
    assert store.redis.get(store._session(session_key(cookie))) is None
    assert shopper.cart()["items"] == []  # the cookie names no session now: a new, empty one


def test_in_redis_a_due_expiry_refresh_does_not_undo_a_write_made_meanwhile(shopper: Shopper, app: Litestar) -> None:
    store = redis_store(app)
    shopper.add("test-1")
    cookie = shopper.session_cookie
    name = store._session(session_key(cookie))
    engine = app.state.shop.db.engine
    with engine.connect() as conn:
        reader, writer = store.load(conn, cookie), store.load(conn, cookie)
    reader.expires_at -= app.state.shop.settings.session_refresh_seconds  # a page view whose refresh is due
    writer.set("written", "meanwhile")
    with engine.connect() as reading:
        store.save(reading, reader)  # the page view reads the session for its refresh ...
        saved(app, lambda conn: store.save(conn, writer))  # ... a write of the session commits ...
        reading.commit()  # ... and then the page view's unit ends
        committed(reading)
    assert json.loads(store.redis.get(name))["data"]["written"] == "meanwhile"


@pytest.mark.skipif(not TEST_REDIS_URL, reason="counts the commands sent to Redis")
def test_a_one_key_session_save_is_one_redis_command_without_multi(
    app: Litestar, shopper: Shopper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guest's first add saves the session: one SET, not MULTI, SET, EXEC (web/sessions.py _execute).
    Counted in this process (the Redis server is shared with the other test processes)."""
    from redis.client import Pipeline

    sent: list[str] = []
    client = app.state.shop.sessions.redis
    single = client.execute_command
    in_transaction = Pipeline._execute_transaction
    in_pipeline = Pipeline._execute_pipeline

    def command(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]).upper())
        return single(*args, **options)

    def transaction(self: Pipeline, connection: Any, commands: Any, raise_on_error: bool) -> Any:
        sent.extend(["MULTI", *(str(args[0]).upper() for args, _ in commands), "EXEC"])
        return in_transaction(self, connection, commands, raise_on_error)

    def pipeline(self: Pipeline, connection: Any, commands: Any, raise_on_error: bool) -> Any:
        sent.extend(str(args[0]).upper() for args, _ in commands)
        return in_pipeline(self, connection, commands, raise_on_error)

    shopper.visit("/products/test-1")
    monkeypatch.setattr(client, "execute_command", command)
    monkeypatch.setattr(Pipeline, "_execute_transaction", transaction)
    monkeypatch.setattr(Pipeline, "_execute_pipeline", pipeline)
    assert shopper.add("test-1", htmx=True).status_code == 200
    assert sent == ["GET", "SET"]
