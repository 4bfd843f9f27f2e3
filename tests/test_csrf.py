"""Every unsafe request is checked: the synchronizer token from the session, and Origin / Sec-Fetch-Site."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, Shopper, add_form, htmx_headers, sql, stored_sessions, variant_id


def cart_rows(app: Litestar) -> list[object]:
    return sql(app, "SELECT cart_id, variant_id, quantity FROM cart_lines ORDER BY id")


def signed_add(app: Litestar, **extra: str) -> dict[str, str]:
    return {**add_form(app), **extra}


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_missing_or_wrong_token_is_403_and_changes_nothing(shopper: Shopper, app: Litestar, token: str | None) -> None:
    shopper.add("test-2", 1)
    before = cart_rows(app)
    data = signed_add(app)
    if token is not None:
        data["csrf_token"] = token
    response = shopper.client.post("/cart/items", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "out of date" in response.text
    assert "<html" in response.text
    assert cart_rows(app) == before


def test_htmx_token_in_header_is_accepted_and_wrong_header_refused(shopper: Shopper, app: Litestar) -> None:
    shopper.visit("/")
    headers = htmx_headers(shopper.csrf, "/products/test-1", "catalog-add-status")
    assert shopper.client.post("/cart/items", data=signed_add(app), headers=headers).status_code == 200
    headers["X-CSRF-Token"] = "forged"
    refused = shopper.client.post("/cart/items", data=signed_add(app), headers=headers)
    assert refused.status_code == 403
    assert 'id="toast"' in refused.text and "hx-swap-oob" in refused.text
    assert refused.headers["hx-reswap"] == "none"
    assert shopper.quantities() == {f"test-1:{variant_id(app, 'test-1')}": 1}


def test_token_of_another_session_is_refused(shopper: Shopper, other_shopper: Shopper, app: Litestar) -> None:
    other_shopper.visit("/")
    shopper.visit("/")
    response = shopper.client.post("/cart/items", data=signed_add(app, csrf_token=other_shopper.csrf))
    assert response.status_code == 403
    assert cart_rows(app) == []


def test_post_without_any_session_is_refused_and_sets_no_cookie(client: TestClient[Litestar], app: Litestar) -> None:
    response = client.post("/cart/items", data=signed_add(app, csrf_token="guess"))
    assert response.status_code == 403
    assert response.headers.get_list("set-cookie") == []
    assert stored_sessions(app) == {}


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)
def test_cross_site_requests_are_refused_even_with_a_valid_token(
    shopper: Shopper, app: Litestar, headers: dict[str, str]
) -> None:
    shopper.visit("/")
    response = shopper.client.post("/cart/items", data=signed_add(app, csrf_token=shopper.csrf), headers=headers)
    assert response.status_code == 403
    assert "another site" in response.text
    assert cart_rows(app) == []


def test_same_origin_headers_are_accepted(shopper: Shopper, app: Litestar) -> None:
    shopper.visit("/")
    headers = {"Origin": BASE_URL, "Sec-Fetch-Site": "same-origin"}
    response = shopper.client.post(
        "/cart/items", data=signed_add(app, csrf_token=shopper.csrf), headers=headers, follow_redirects=False
    )
    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/cart/clear", "/cart/lines/1/remove", "/cart/lines/1/quantity"])
def test_every_cart_edit_checks_the_token(shopper: Shopper, app: Litestar, path: str) -> None:
    shopper.add("test-1", 2)
    before = cart_rows(app)
    response = shopper.client.post(path, data={"quantity": "0", "csrf_token": "nope"})
    assert response.status_code == 403
    assert cart_rows(app) == before
