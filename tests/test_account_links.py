"""Links mailed to an account's address: confirming a registration, choosing a new password.

Registering and "forgot password" answer alike for known and unknown addresses; the links work
once, expire, are stored only as hashes, and are used by a button, never by opening them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import (
    BASE_URL,
    PASSWORD,
    TOKEN_FIELD,
    Shopper,
    confirm,
    login,
    mailed_token,
    register,
    sql,
)
from web.accounts import links
from web.accounts import service as accounts

NEW_PASSWORD = "a brand new passphrase"


def sign_up(shopper: Shopper, email: str, password: str = PASSWORD) -> None:
    response = shopper.post("/register", {"email": email, "password": password})
    assert response.status_code == 303 and response.headers["location"] == "/account/check-email"


def subjects(app: Litestar, email: str) -> list[str]:
    return [row[0] for row in sql(app, "SELECT subject FROM outbox WHERE recipient = :to ORDER BY id", to=email)]


def test_an_unconfirmed_account_cannot_log_in_until_its_link_is_used(app: Litestar, shopper: Shopper) -> None:
    sign_up(shopper, "new@example.com")
    wrong = login(shopper, "new@example.com", "not the password")
    right = login(shopper, "new@example.com")
    # The same answer as a wrong password: else registering an address and logging in with the
    # password just chosen would tell whether it had an account before (401) or not.
    assert (right.status_code, right.text.count("do not match an account")) == (401, 1)
    assert TOKEN_FIELD.sub("T", right.text) == TOKEN_FIELD.sub("T", wrong.text)
    assert subjects(app, "new@example.com") == ["Confirm your email address"] * 2  # a new link, quietly
    confirmed = confirm(shopper, "new@example.com")
    assert confirmed.status_code == 303 and confirmed.headers["location"] == "/login"
    page = shopper.visit("/login")
    assert "Your email address is confirmed" in page.text and 'value="new@example.com"' in page.text
    assert login(shopper, "new@example.com").status_code == 303


def test_registering_then_logging_in_tells_nothing_about_an_existing_account(app: Litestar) -> None:
    register(app, "known@example.com")
    answers = []
    for email in ("known@example.com", "unknown@example.com"):
        with TestClient(app, base_url=BASE_URL) as client:
            prober = Shopper(client)
            sign_up(prober, email, "the prober's passphrase")
            answer = login(prober, email, "the prober's passphrase")
            answers.append((answer.status_code, TOKEN_FIELD.sub("T", answer.text).replace(email, "E")))
    assert answers[0] == answers[1] and answers[0][0] == 401
    api = Shopper(TestClient(app, base_url=BASE_URL))
    body = {"email": "unknown@example.com", "password": "the prober's passphrase"}
    assert api.client.post("/api/auth/email-login", json=body).json()["error"] == "INVALID_CREDENTIALS"


def test_confirming_needs_the_password_the_link_was_sent_for(app: Litestar, shopper: Shopper) -> None:
    """A stranger who registers the owner's address again cannot have the owner's click confirm
    the stranger's password: each link confirms its own registration's password, after asking."""
    sign_up(shopper, "owner@example.com", PASSWORD)
    owners = mailed_token(app, "owner@example.com")
    with TestClient(app, base_url=BASE_URL) as client:
        sign_up(Shopper(client), "owner@example.com", "the squatter's passphrase")
    squatters = mailed_token(app, "owner@example.com")
    # The owner opens the newest mail (the stranger's) and types the password they chose: refused.
    wrong = shopper.post("/account/confirm", {"token": squatters, "password": PASSWORD})
    assert wrong.status_code == 400 and "not the password this link was sent for" in wrong.text
    assert sql(app, "SELECT confirmed_at FROM users") == [(None,)]
    # Their own link still works (a later registration ends no earlier link), and ends the other.
    assert shopper.post("/account/confirm", {"token": owners, "password": PASSWORD}).status_code == 303
    assert (
        shopper.post("/account/confirm", {"token": squatters, "password": "the squatter's passphrase"}).status_code
        == 400
    )
    assert login(shopper, "owner@example.com", "the squatter's passphrase").status_code == 401
    assert login(shopper, "owner@example.com").status_code == 303


def test_a_confirmation_link_is_hashed_at_rest_used_by_its_button_once(app: Litestar, shopper: Shopper) -> None:
    sign_up(shopper, "once@example.com")
    token = mailed_token(app, "once@example.com")
    assert sql(app, "SELECT token_hash FROM account_tokens") == [(hashlib.sha256(token.encode()).hexdigest(),)]
    for _ in range(2):  # a mail scanner's preview, then the shopper: opening it uses nothing
        assert shopper.visit(f"/account/confirm?token={token}").status_code == 200
    assert sql(app, "SELECT confirmed_at FROM users") == [(None,)]
    assert shopper.post("/account/confirm", {"token": token, "password": PASSWORD}).status_code == 303
    again = shopper.post("/account/confirm", {"token": token, "password": PASSWORD})
    assert again.status_code == 400 and "This link has expired or has been used" in again.text
    assert shopper.visit(f"/account/confirm?token={token}").status_code == 400
    for bad in ("", "nonsense", "x" * 5000, "%ED%A0%80", "%00"):
        body = f"csrf_token={shopper.csrf}&token={bad}"
        headers = {"content-type": "application/x-www-form-urlencoded"}
        assert shopper.client.post("/account/confirm", content=body, headers=headers).status_code == 400


def test_an_expired_confirmation_link_does_nothing(app: Litestar, shopper: Shopper) -> None:
    sign_up(shopper, "late@example.com")
    sql(app, "UPDATE account_tokens SET expires_at = 1")
    token = mailed_token(app, "late@example.com")
    assert shopper.visit(f"/account/confirm?token={token}").status_code == 400
    assert shopper.post("/account/confirm", {"token": token, "password": PASSWORD}).status_code == 400
    assert sql(app, "SELECT confirmed_at FROM users") == [(None,)]


def test_account_mails_to_one_address_are_limited(app: Litestar, shopper: Shopper) -> None:
    for _ in range(3):
        sign_up(shopper, "flood@example.com")
    refused = shopper.post("/register", {"email": "flood@example.com", "password": PASSWORD})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert shopper.post("/account/forgot", {"email": "flood@example.com"}).status_code == 429
    assert subjects(app, "flood@example.com") == ["Confirm your email address"] * 3


def test_forgot_password_answers_alike_for_known_and_unknown_addresses(app: Litestar) -> None:
    register(app, "known@example.com")
    outcomes = []
    for email in ("known@example.com", "unknown@example.com"):
        with TestClient(app, base_url=BASE_URL) as client:
            shopper = Shopper(client)
            shopper.visit("/account/forgot")
            response = shopper.post("/account/forgot", {"email": email})
            following = shopper.visit(response.headers["location"])
            body = TOKEN_FIELD.sub("TOKEN", following.text).replace(email, "EMAIL")
            outcomes.append((response.status_code, response.headers["location"], body))
    assert outcomes[0] == outcomes[1]
    assert "we have sent it a link to choose a new password" in outcomes[0][2]
    assert subjects(app, "known@example.com")[-1] == "Choose a new password"
    assert subjects(app, "unknown@example.com") == []


def test_a_new_password_by_link_ends_every_session_and_the_link(app: Litestar, shopper: Shopper) -> None:
    register(app, "reset@example.com")
    with TestClient(app, base_url=BASE_URL) as elsewhere_client:
        elsewhere = Shopper(elsewhere_client)
        assert login(elsewhere, "reset@example.com").status_code == 303
        shopper.post("/account/forgot", {"email": "reset@example.com"})
        token = mailed_token(app, "reset@example.com")
        form = shopper.visit(f"/account/reset?token={token}")
        assert form.status_code == 200 and "reset@example.com" in form.text
        weak = shopper.post("/account/reset", {"token": token, "new_password": "short"})
        assert weak.status_code == 400 and "at least 8 characters" in weak.text
        done = shopper.post("/account/reset", {"token": token, "new_password": NEW_PASSWORD})
        assert done.status_code == 303 and done.headers["location"] == "/login"
        assert elsewhere.client.get("/api/auth/me").json() == {"user": None}
    assert shopper.post("/account/reset", {"token": token, "new_password": "yet another passphrase"}).status_code == 400
    assert login(shopper, "reset@example.com").status_code == 401
    assert login(shopper, "reset@example.com", NEW_PASSWORD).status_code == 303


def test_a_password_changed_on_the_account_page_ends_the_new_password_links_mailed_before(
    app: Litestar, shopper: Shopper
) -> None:
    """Whoever asked for a link (someone reading the owner's mail, say) cannot use it once the owner
    has chosen a new password themselves."""
    register(app, "changer@example.com")
    with TestClient(app, base_url=BASE_URL) as other_client:
        Shopper(other_client).post("/account/forgot", {"email": "changer@example.com"})
    token = mailed_token(app, "changer@example.com")
    login(shopper, "changer@example.com")
    shopper.visit("/account")
    changed = shopper.post("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 303
    with TestClient(app, base_url=BASE_URL) as other_client:
        other = Shopper(other_client)
        other.visit("/account/forgot")
        used = other.post("/account/reset", {"token": token, "new_password": "the stranger's passphrase"})
        assert used.status_code == 400, used.text
    shopper.post("/logout")
    shopper.csrf = ""
    assert login(shopper, "changer@example.com", NEW_PASSWORD).status_code == 303


def test_a_new_password_by_link_confirms_an_unconfirmed_account(app: Litestar, shopper: Shopper) -> None:
    sign_up(shopper, "forgetful@example.com")
    shopper.post("/account/forgot", {"email": "forgetful@example.com"})
    token = mailed_token(app, "forgetful@example.com")
    assert shopper.post("/account/reset", {"token": token, "new_password": NEW_PASSWORD}).status_code == 303
    assert login(shopper, "forgetful@example.com", NEW_PASSWORD).status_code == 303


def test_a_confirmation_link_is_no_new_password_link(app: Litestar, shopper: Shopper) -> None:
    sign_up(shopper, "mixed@example.com")
    token = mailed_token(app, "mixed@example.com")
    assert shopper.visit(f"/account/reset?token={token}").status_code == 400
    assert shopper.post("/account/reset", {"token": token, "new_password": NEW_PASSWORD}).status_code == 400


def test_a_password_changed_while_a_login_checks_the_old_one_wins(
    app: Litestar, shopper: Shopper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reset by mail landing during a login's slow password check: the login, checked against
    the old password, must not go through afterwards."""
    register(app, "raced@example.com")
    real_verify = accounts.verify

    def verify_then_reset(ph: Any, stored: str, password: str) -> bool:
        ok = real_verify(ph, stored, password)
        sql(app, "UPDATE users SET password_hash = 'changed meanwhile' WHERE email = 'raced@example.com'")
        return ok

    monkeypatch.setattr(accounts, "verify", verify_then_reset)
    assert login(shopper, "raced@example.com").status_code == 401
    assert shopper.client.get("/api/auth/me").json() == {"user": None}


def test_two_new_password_links_issued_at_once_leave_one_that_works(app: Litestar) -> None:
    """Two "forgot password" requests at once: the second one's issue waits for the first one's
    commit and ends the link it issued, as one after the other would (on PostgreSQL both UPDATEs
    would otherwise find no earlier link; SQLite's writers take turns anyway)."""
    register(app, "twice@example.com")
    [(user_id,)] = sql(app, "SELECT id FROM users WHERE email = 'twice@example.com'")
    db = app.state.shop.db
    second_done = threading.Event()

    def issue(conn: Any) -> None:
        with db.write(conn):
            links.issue(conn, user_id, "reset", 1_000)

    def issue_second() -> None:
        db.run_sync(issue)
        second_done.set()

    def issue_first(conn: Any) -> bool:
        with db.write(conn):
            links.issue(conn, user_id, "reset", 1_000)
            second = threading.Thread(target=issue_second)
            second.start()
            time.sleep(0.5)  # time enough for the second issue to end links and insert, were it not made to wait
            return not second_done.is_set()

    waited = db.run_sync(issue_first)
    assert second_done.wait(timeout=30)
    live = "SELECT count(*) FROM account_tokens WHERE user_id = :id AND used_at IS NULL AND expires_at > 1000"
    assert sql(app, live, id=user_id) == [(1,)]
    assert waited
