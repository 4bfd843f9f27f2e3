"""A failure raised in the middle of a unit of work, after its writes and before its commit, leaves
nothing of it: placing an order (after the stock is taken) and merging the guest cart at login.

The failure is raised at the unit's pause point (web/faults.py), which comes after every write
the unit makes.
"""

from __future__ import annotations

import pytest
from litestar import Litestar

from tests.conftest import Shopper, login, sql
from tests.faults.conftest import (
    CART_AND_ORDERS,
    EMAIL,
    SHOP_BUT_THROTTLES,
    everything,
    guest_and_account_carts,
    shown_error_id,
)
from web import faults
from web.locality import service as locality
from web.settings import Settings


def fail_at(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    real = faults.pause_point

    def failing(settings: Settings, name: str) -> None:
        if name == point:
            raise RuntimeError(f"failed at {name}")
        real(settings, name)

    monkeypatch.setattr(faults, "pause_point", failing)


def test_a_placement_failing_after_the_stock_is_taken_leaves_stock_cart_order_and_mail_as_they_were(
    app: Litestar, shopper: Shopper, monkeypatch: pytest.MonkeyPatch
) -> None:
    shopper.add("test-1", 2)
    shopper.add("tea-tin")
    review = shopper.review()
    before = everything(app)
    fail_at(monkeypatch, "placement")

    failed = shopper.place(review)
    assert failed.status_code == 500 and "Traceback" not in failed.text
    shown_error_id(failed)
    assert everything(app) == before

    monkeypatch.undo()
    assert shopper.place(review).status_code == 303
    assert sql(app, "SELECT status FROM outbox") == [("pending",)]
    assert sql(app, "SELECT count(*) FROM cart_lines") == [(0,)]


def test_a_login_merge_failing_after_its_writes_leaves_both_carts_and_the_login_goes_on(
    app: Litestar, shopper: Shopper, other_shopper: Shopper, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest_and_account_carts(app, shopper, other_shopper)
    before = everything(app, CART_AND_ORDERS)
    fail_at(monkeypatch, "merge")

    assert login(shopper, EMAIL).status_code == 303  # a failed merge never blocks a login
    assert "could not move your guest cart" in shopper.visit("/").text
    assert everything(app, CART_AND_ORDERS) == before

    monkeypatch.undo()
    shopper.csrf = ""
    assert login(shopper, EMAIL).status_code == 303  # kept for the next login, and merged once
    assert sorted(shopper.quantities().values()) == [1, 3]
    assert shopper.quantities() == other_shopper.quantities()


def test_a_login_failing_after_its_merge_leaves_both_carts_and_the_session(
    app: Litestar, shopper: Shopper, other_shopper: Shopper, monkeypatch: pytest.MonkeyPatch
) -> None:
    guest_and_account_carts(app, shopper, other_shopper)
    cookie = shopper.session_cookie
    before = everything(app, SHOP_BUT_THROTTLES)

    def failing(*_args: object) -> None:
        raise RuntimeError("failed after the merge")

    monkeypatch.setattr(locality, "at_login", failing)  # the login's next step after the merge
    failed = login(shopper, EMAIL)
    assert failed.status_code == 500
    shown_error_id(failed)
    assert everything(app, SHOP_BUT_THROTTLES) == before  # the attempt was counted before, on its own
    assert shopper.session_cookie == cookie
    assert shopper.client.get("/api/auth/me").json()["user"] is None
