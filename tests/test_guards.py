"""Who may enter: requires_user and requires_staff for the three kinds of visitor, and the CSRF
decision every unsafe write must make."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar, Request, get, post
from litestar.testing import TestClient

from tests.conftest import BASE_URL, HTMX_GET, PASSWORD, Shopper, login, register, stored_sessions
from tests.factories import make_staff
from web.guards import requires_staff, requires_user, staff_of, user_of
from web.unit import Visit
from web.visit import visit


@get("/_test/mine", name="test.mine", guards=[requires_user])
async def mine(request: Request) -> dict[str, Any]:
    return {"user": await visit(request, user_of)}


@get("/_test/back-office", name="test.back_office", guards=[requires_staff])
async def back_office(request: Request) -> dict[str, Any]:
    return {"staff": await visit(request, staff_of)}


@get("/api/_test/mine", name="test.api_mine", guards=[requires_user])
async def api_mine(request: Request) -> dict[str, Any]:
    return {"user": await visit(request, user_of)}


@post("/_test/unsafe-without-a-decision", name="test.undecided")
async def undecided(request: Request) -> None:
    def work(v: Visit) -> None:
        v.session.set("touched", True)

    await visit(request, work, write=True)


@get("/_test/safe-write", name="test.safe_write")
async def safe_write(request: Request) -> dict[str, Any]:
    def work(v: Visit) -> dict[str, Any]:
        v.session.set("touched", True)
        return {"touched": True}

    return await visit(request, work, write=True)


@pytest.fixture
def guarded(app: Litestar) -> Litestar:
    for handler in (mine, back_office, api_mine, undecided, safe_write):
        app.register(handler)
    return app


@pytest.fixture
def visitor(guarded: Litestar) -> Iterator[Shopper]:
    with TestClient(guarded, base_url=BASE_URL) as client:
        yield Shopper(client)


def as_shopper(shopper: Shopper, email: str = "shopper@example.com") -> int:
    user_id = register(shopper.app, email)
    assert login(shopper, email).status_code == 303
    return user_id


@pytest.mark.parametrize("path", ["/_test/mine", "/_test/back-office", "/account"])
def test_an_anonymous_visitor_is_sent_to_log_in_and_back(visitor: Shopper, path: str) -> None:
    response = visitor.client.get(f"{path}?tab=2", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}%3Ftab%3D2"


def test_an_anonymous_htmx_request_is_redirected_by_htmx(visitor: Shopper) -> None:
    """A 303 would swap the login page into the target; HX-Redirect makes the whole page go there."""
    headers = {**HTMX_GET, "HX-Current-URL": f"{BASE_URL}/_test/mine?tab=2"}
    response = visitor.client.get("/_test/back-office", headers=headers, follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/login?next=/_test/mine%3Ftab%3D2"
    assert response.text == ""


def test_an_anonymous_api_call_is_a_401(visitor: Shopper) -> None:
    response = visitor.client.get("/api/_test/mine")
    assert response.status_code == 401
    assert response.json()["error"] == "LOGIN_REQUIRED"


def test_an_anonymous_form_post_returns_to_the_page_it_came_from(visitor: Shopper) -> None:
    visitor.visit("/")
    sent_from = {"Referer": f"{BASE_URL}/account?tab=password"}
    response = visitor.post("/account/password", {"current_password": "x", "new_password": "y"}, headers=sent_from)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account%3Ftab%3Dpassword"
    elsewhere = visitor.post("/account/password", {}, headers={"Referer": "https://evil.example/account"})
    assert elsewhere.headers["location"] == "/login?next=/"


def test_a_shopper_enters_user_pages_but_not_the_back_office(visitor: Shopper) -> None:
    user_id = as_shopper(visitor)
    assert visitor.client.get("/_test/mine").json() == {"user": user_id}
    refused = visitor.client.get("/_test/back-office")
    assert refused.status_code == 403
    assert "<html" in refused.text and "for the shop&#39;s staff only" in refused.text
    htmx = visitor.client.get("/_test/back-office", headers=HTMX_GET)
    assert htmx.status_code == 403 and 'id="toast"' in htmx.text


def test_staff_enter_the_back_office(visitor: Shopper) -> None:
    user_id = as_shopper(visitor, "staff@example.com")
    make_staff(visitor.app, "staff@example.com")
    assert visitor.client.get("/_test/back-office").json() == {"staff": user_id}


def test_a_logout_closes_the_door_again(visitor: Shopper) -> None:
    as_shopper(visitor)
    visitor.visit("/")
    assert visitor.post("/logout").status_code == 303
    assert visitor.client.get("/_test/mine", follow_redirects=False).status_code == 303


def test_a_login_then_returns_to_the_guarded_page(visitor: Shopper) -> None:
    register(visitor.app, "back@example.com")
    sent = visitor.client.get("/_test/mine", follow_redirects=False).headers["location"]
    visitor.visit(sent)
    response = login(visitor, "back@example.com", PASSWORD, next_path="/_test/mine")
    assert response.status_code == 303 and response.headers["location"] == "/_test/mine"


def test_an_unsafe_write_that_names_no_csrf_defence_is_refused_before_it_runs(visitor: Shopper) -> None:
    """visit(write=True) on a POST must be given a FormToken or JSON_CALL: forgetting it is a bug,
    and it must never mean "no check"."""
    visitor.visit("/")
    response = visitor.post("/_test/unsafe-without-a-decision", {})
    assert response.status_code == 500
    assert all("touched" not in record.data for record in stored_sessions(visitor.app).values())


def test_a_write_on_a_safe_method_needs_no_csrf_decision(visitor: Shopper) -> None:
    """Only unsafe methods can be forged across sites: a GET that writes (in its transaction,
    serialised per session) runs without one, and what it stored is kept."""
    response = visitor.client.get("/_test/safe-write")
    assert response.status_code == 200 and response.json() == {"touched": True}
    assert [record.data.get("touched") for record in stored_sessions(visitor.app).values()] == [True]
