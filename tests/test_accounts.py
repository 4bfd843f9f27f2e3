"""Register, log in, log out, change password: rotation, no enumeration, throttling, safe redirects."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, PASSWORD, Shopper, add_form, login, register, sql, stored_sessions, variant_id
from web.sessions import session_key

TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def cookie_names(response: object) -> list[str]:
    return sorted(h.split("=", 1)[0] for h in response.headers.get_list("set-cookie"))  # type: ignore[attr-defined]


def test_register_normalises_the_email_and_asks_to_confirm_it(shopper: Shopper, app: Litestar) -> None:
    shopper.visit("/register")
    response = shopper.post("/register", {"email": "  Ada@Example.COM ", "password": PASSWORD, "display_name": "Ada"})
    assert response.status_code == 303
    assert response.headers["location"] == "/account/check-email"
    page = shopper.visit("/account/check-email")
    assert "We have sent a link to <strong>ada@example.com</strong>" in page.text
    row = sql(app, "SELECT email, display_name, password_hash, confirmed_at FROM users")[0]
    assert row[:2] == ("ada@example.com", "Ada") and row[3] is None
    assert row[2].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert sql(app, "SELECT recipient, subject FROM outbox") == [("ada@example.com", "Confirm your email address")]


def test_registering_a_taken_email_looks_exactly_like_a_new_one(app: Litestar) -> None:
    register(app, "taken@example.com")
    outcomes = []
    for email in ("taken@example.com", "fresh@example.com"):
        with TestClient(app, base_url=BASE_URL) as client:
            shopper = Shopper(client)
            shopper.visit("/register")
            response = shopper.post("/register", {"email": email, "password": "another fine passphrase"})
            following = shopper.visit(response.headers["location"])
            body = TOKEN.sub("TOKEN", following.text).replace(email, "EMAIL")
            outcomes.append((response.status_code, response.headers["location"], cookie_names(response), body))
    assert outcomes[0] == outcomes[1]
    assert sql(app, "SELECT count(*) FROM users") == [(2,)]
    # Only the mail differs, and it goes to the address's owner; the taken account is unchanged.
    mails = sql(app, "SELECT recipient, subject FROM outbox WHERE id > 1 ORDER BY id")
    assert mails == [
        ("taken@example.com", "Someone tried to register with your address"),
        ("fresh@example.com", "Confirm your email address"),
    ]
    with TestClient(app, base_url=BASE_URL) as client:
        assert login(Shopper(client), "taken@example.com", "another fine passphrase").status_code == 401
        assert login(Shopper(client), "taken@example.com").status_code == 303


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": "", "password": PASSWORD}, "email", "Please enter your email address."),
        ({"email": "x" * 10_000 + "@example.com", "password": PASSWORD}, "email", "valid email address"),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "valid email address"),
        ({"email": "a@b", "password": PASSWORD}, "email", "valid email address"),
        ({"password": PASSWORD}, "email", "Please enter your email address."),
        ({"email": "ok@example.com"}, "password", "Please choose a password."),
        ({"email": "ok@example.com", "password": "short"}, "password", "at least 8 characters"),
        ({"email": "ok@example.com", "password": "Password123"}, "password", "too easy to guess"),
        ({"email": "ok@example.com", "password": "ok@example.com"}, "password", "too easy to guess"),
        ({"email": "ok@example.com", "password": "x" * 1025}, "password", "at most 1024"),
        ({"email": "ok@example.com", "password": PASSWORD, "display_name": "n" * 101}, "display_name", "at most 100"),
    ],
)
def test_register_refuses_bad_input_and_creates_nothing(
    shopper: Shopper, app: Litestar, form: dict[str, str], field: str, message: str
) -> None:
    shopper.visit("/register")
    response = shopper.post("/register", form)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text and message in response.text
    assert "x" * 300 not in response.text
    assert sql(app, "SELECT count(*) FROM users") == [(0,)]


@pytest.mark.parametrize("password", ["pässwörd-ñ-日本語", "  spaces at both ends  ", "p" * 1024])
def test_long_and_non_ascii_passwords_work_as_typed(shopper: Shopper, app: Litestar, password: str) -> None:
    register(app, "uni@example.com", password)
    altered = password.strip() if password.strip() != password else password[:-1]
    assert login(shopper, "uni@example.com", altered).status_code == 401
    shopper.csrf = ""
    assert login(shopper, "uni@example.com", password).status_code == 303


@pytest.mark.parametrize(
    "form",
    [{"email": "", "password": "x"}, {"email": "a@example.com"}, {"email": "y" * 10_000, "password": "x"}],
)
def test_login_refuses_missing_or_malformed_fields(shopper: Shopper, form: dict[str, str]) -> None:
    shopper.visit("/login")
    response = shopper.post("/login", form)
    assert response.status_code == 400
    assert "field-error" in response.text
    assert response.headers.get_list("set-cookie") == []


def test_login_rotates_the_session_and_the_old_id_is_dead(shopper: Shopper, app: Litestar) -> None:
    register(app, "rot@example.com")
    shopper.add("test-1", 2)  # the guest's session is stored now
    shopper.visit("/login")
    old_cookie, old_token = shopper.session_cookie or "", shopper.csrf
    response = login(shopper, "rot@example.com", next_path="/cart")
    assert response.status_code == 303 and response.headers["location"] == "/cart"
    assert cookie_names(response) == ["session"]
    new_cookie = shopper.session_cookie or ""
    assert new_cookie != old_cookie
    keys = set(stored_sessions(app))
    assert session_key(old_cookie) not in keys and session_key(new_cookie) in keys
    page = shopper.visit("/cart")
    assert "Welcome, rot@example.com." in page.text
    assert shopper.csrf != old_token

    with TestClient(app, base_url=BASE_URL) as replay:
        replay.cookies.set("session", old_cookie)
        assert replay.get("/api/auth/me").json() == {"user": None}
        replay.cookies.clear()
        replay.cookies.set("session", old_cookie)
        refused = replay.post("/cart/clear", data={"csrf_token": old_token})
        assert refused.status_code == 403  # the old ID is never taken back, nor its token
        replay.cookies.clear()
        replay.cookies.set("session", new_cookie)
        assert replay.post("/cart/clear", data={"csrf_token": old_token}).status_code == 403
    assert [item["qty"] for item in shopper.cart()["items"]] == [2]


def test_old_csrf_token_is_refused_after_login(shopper: Shopper, app: Litestar) -> None:
    register(app, "tok@example.com")
    shopper.visit("/")
    old_token = shopper.csrf
    login(shopper, "tok@example.com")
    response = shopper.client.post("/cart/clear", data={"csrf_token": old_token})
    assert response.status_code == 403


def test_wrong_password_and_unknown_email_are_indistinguishable(app: Litestar) -> None:
    register(app, "known@example.com")
    outcomes = []
    for email in ("known@example.com", "unknown@example.com"):
        with TestClient(app, base_url=BASE_URL) as client:
            shopper = Shopper(client)
            shopper.visit("/login")
            response = login(shopper, email, "wrong password here")
            body = TOKEN.sub("TOKEN", response.text).replace(email, "EMAIL")
            outcomes.append((response.status_code, cookie_names(response), body))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 401
    assert "do not match an account" in outcomes[0][2]


def test_a_refused_login_ties_its_message_to_both_fields(shopper: Shopper) -> None:
    """A screen reader reads the refusal with the field it lands on (shop.js focuses the first one)."""
    shopper.visit("/login")
    page = login(shopper, "nobody@example.com", "wrong password here").text
    assert re.search(r'<p id="form-error" class="field-error">[^<]*do not match an account', page)
    for field in ("email", "password"):
        tag = re.search(rf'<input id="{field}"[^>]*>', page)
        assert tag and 'aria-describedby="form-error"' in tag.group(0), field


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_cannot_redirect_off_site(shopper: Shopper, app: Litestar, target: str) -> None:
    register(app, "next@example.com")
    response = login(shopper, "next@example.com", next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


@pytest.mark.sql_sessions_only  # Redis counts the window with its own clock (key TTL): see the next test
def test_throttling_per_account_with_a_controllable_clock(app: Litestar, shopper: Shopper) -> None:
    clock = [1_000_000.0]
    app.state.shop.sessions.now = lambda: clock[0]
    register(app, "victim@example.com")
    register(app, "bystander@example.com")
    for _ in range(5):
        assert login(shopper, "victim@example.com", "wrong password here").status_code == 401
    blocked = login(shopper, "victim@example.com")
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) == 900
    assert "Too many attempts" in blocked.text
    assert login(shopper, "bystander@example.com").status_code == 303
    clock[0] += 901
    shopper.csrf = ""
    assert login(shopper, "victim@example.com").status_code == 303


def test_throttling_per_client_address(app: Litestar, shopper: Shopper) -> None:
    for attempt in range(20):
        assert login(shopper, f"nobody{attempt}@example.com", "wrong password here").status_code == 401
    register(app, "real@example.com")
    assert login(shopper, "real@example.com").status_code == 429


def test_logout_destroys_the_session_and_keeps_the_users_cart(shopper: Shopper, app: Litestar) -> None:
    register(app, "out@example.com")
    login(shopper, "out@example.com")
    shopper.visit("/")
    shopper.add("test-1", 3)
    logged_in_cookie = shopper.session_cookie or ""
    response = shopper.post("/logout")
    assert response.status_code == 303
    assert cookie_names(response) == ["session"]
    assert shopper.session_cookie != logged_in_cookie
    assert session_key(logged_in_cookie) not in stored_sessions(app)
    page = shopper.visit("/")
    assert "You have been logged out" in page.text and 'data-count="0"' in page.text
    assert shopper.cart()["items"] == []
    login(shopper, "out@example.com")
    assert [(i["productId"], i["qty"]) for i in shopper.cart()["items"]] == [("test-1", 3)]


def test_password_change_ends_every_other_session(app: Litestar, shopper: Shopper, other_shopper: Shopper) -> None:
    register(app, "pw@example.com")
    login(shopper, "pw@example.com")
    login(other_shopper, "pw@example.com")
    before = shopper.session_cookie
    shopper.visit("/account")
    response = shopper.post(
        "/account/password", {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    )
    assert response.status_code == 303
    assert shopper.session_cookie != before
    assert shopper.client.get("/api/auth/me").json()["user"]["email"] == "pw@example.com"
    assert other_shopper.client.get("/api/auth/me").json() == {"user": None}
    shopper.csrf = ""
    shopper.post("/logout")
    shopper.csrf = ""
    assert login(shopper, "pw@example.com").status_code == 401
    assert login(shopper, "pw@example.com", "a brand new passphrase").status_code == 303


def test_password_change_needs_the_current_password(app: Litestar, shopper: Shopper) -> None:
    register(app, "cur@example.com")
    login(shopper, "cur@example.com")
    shopper.visit("/account")
    response = shopper.post("/account/password", {"current_password": "guess", "new_password": "another passphrase"})
    assert response.status_code == 400 and "current password is not right" in response.text
    weak = shopper.post("/account/password", {"current_password": PASSWORD, "new_password": "password"})
    assert weak.status_code == 400 and "too easy to guess" in weak.text


def test_account_page_needs_login(shopper: Shopper) -> None:
    response = shopper.client.get("/account", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/account"


def test_login_rehashes_when_parameters_rise(app: Litestar, shopper: Shopper) -> None:
    register(app, "re@example.com")
    shop = app.state.shop
    shop.settings = shop.settings.with_overrides(argon2_time_cost=3)
    app.state.shop = shop
    login(shopper, "re@example.com")
    assert ",t=3," in sql(app, "SELECT password_hash FROM users")[0][0]


def test_json_login_me_and_logout(app: Litestar, client: TestClient[Litestar]) -> None:
    user_id = register(app, "api@example.com")
    assert client.get("/api/auth/me").json() == {"user": None}
    response = client.post("/api/auth/email-login", json={"email": "API@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"] == {"id": user_id, "email": "api@example.com"}
    assert cookie_names(response) == ["session"] and "token" not in response.text.lower()
    assert client.get("/api/auth/me").json() == {"user": {"id": user_id, "email": "api@example.com"}}
    wrong = client.post("/api/auth/email-login", json={"email": "api@example.com", "password": "nope nope"})
    assert wrong.status_code == 401
    assert client.get("/api/auth/me").json()["user"]["id"] == user_id  # a failed attempt does not log out
    assert client.post("/api/auth/logout", json={}).status_code == 200
    assert client.get("/api/auth/me").json() == {"user": None}


def test_json_login_failures(app: Litestar, client: TestClient[Litestar]) -> None:
    register(app, "j@example.com")
    wrong = client.post("/api/auth/email-login", json={"email": "j@example.com", "password": "wrong password"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "INVALID_CREDENTIALS"
    assert client.post("/api/auth/email-login", json={"email": 5, "password": "x"}).status_code == 400
    assert (
        client.post("/api/auth/email-login", content=b"{", headers={"content-type": "application/json"}).status_code
        == 400
    )
    assert client.post("/api/auth/email-login", data={"email": "j@example.com"}).status_code == 415


def test_login_page_sends_a_logged_in_shopper_on(app: Litestar, shopper: Shopper) -> None:
    register(app, "on@example.com")
    login(shopper, "on@example.com")
    response = shopper.client.get("/login?next=/cart", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/cart"


def login_links(html: str) -> list[str]:
    return re.findall(
        r'<a (?:class="[^"]*" )?href="(/login\?next=[^"]*)">(?:<svg.*?</svg>)?(?:<span class="label">)?Log in<', html
    )


def test_the_log_in_links_return_to_the_page_or_to_where_the_form_was_going(shopper: Shopper) -> None:
    """The header's and the drawer's link alike; on the login and register pages, the form's own `next`."""
    variant = variant_id(shopper.app, "test-1")
    product = shopper.visit(f"/products/test-1?variant={variant}").text
    assert login_links(product) == [f"/login?next=/products/test-1%3Fvariant%3D{variant}"] * 2
    assert login_links(shopper.visit("/login?next=/cart").text) == ["/login?next=/cart"] * 2
    register_page = login_links(shopper.visit("/register?next=/account").text)
    assert len(register_page) >= 2 and set(register_page) == {"/login?next=/account"}
    headers = {"HX-Current-URL": "http://shop.test/products/test-2"}
    added = shopper.add("test-2", htmx=True, headers=headers)
    assert login_links(added.text) == ["/login?next=/products/test-2"]


def test_the_first_login_says_welcome_and_the_next_welcome_back(app: Litestar, shopper: Shopper) -> None:
    register(app, "first@example.com", name="Fay")
    login(shopper, "first@example.com")
    assert "Welcome, Fay." in shopper.visit("/").text
    shopper.post("/logout")
    shopper.csrf = ""
    login(shopper, "first@example.com")
    assert "Welcome back, Fay." in shopper.visit("/").text


def test_a_form_rendered_before_a_password_change_is_refused_after_it(app: Litestar, shopper: Shopper) -> None:
    """The change rotates the session, and its token with it: a page opened before the change (in
    another tab, say) cannot post with the old token, and the next page's works."""
    register(app, "seal@example.com")
    login(shopper, "seal@example.com")
    shopper.visit("/account")
    before = shopper.csrf
    changed = shopper.post(
        "/account/password", {"current_password": PASSWORD, "new_password": "a sealed new passphrase"}
    )
    assert changed.status_code == 303
    stale = shopper.post("/cart/items", add_form(app, "test-1"))
    assert stale.status_code == 403 and shopper.cart()["items"] == []
    shopper.visit("/account")
    assert shopper.csrf != before
    assert shopper.post("/cart/items", add_form(app, "test-1")).status_code == 303
    assert list(shopper.quantities().values()) == [1]
