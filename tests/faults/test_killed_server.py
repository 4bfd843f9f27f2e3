"""The server process is killed (SIGKILL) in the middle of placing an order and of merging a cart
at login, then started again: each happened entirely or not at all (here: not at all, the kill
coming after the unit's writes and before its commit), the same request then does it once, and
the order's confirmation is delivered exactly once.

The server is held at the unit's pause point (STOREFRONT_TEST_PAUSE, web/faults.py) to be killed
there. It runs on the test's database (and Redis, in the scale-out pass), beside the in-process
app that sets things up and looks at what was stored.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.conftest import PASSWORD, REVIEW_FIELD, Shopper, sql
from tests.faults.conftest import EMAIL, SHOP_BUT_THROTTLES, everything, guest_and_account_carts, send, wait_for_file
from tests.livestreams import live_server
from web import faults, mail
from web.metrics import Metrics
from web.settings import Settings, SettingsError


def killed_at(point: str, settings: Settings, folder: Path, path: str, form: dict[str, str], cookie: str) -> None:
    """Send the form to a server that pauses at `point`, and SIGKILL it there."""
    paused = folder / f"paused-{point}"
    with live_server(settings, folder, STOREFRONT_TEST_PAUSE=f"{point}:{paused}") as server:
        sending = threading.Thread(target=send, args=(server, path, form, cookie), daemon=True)
        sending.start()
        wait_for_file(paused)
        server.process.kill()
        server.process.wait(timeout=10)
        sending.join(timeout=10)
    paused.unlink(missing_ok=True)


def until(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_server_killed_while_placing_an_order_placed_none_of_it_and_the_retry_is_mailed_once(
    app: Litestar, settings: Settings, tmp_path: Path, shopper: Shopper
) -> None:
    shopper.add("test-1", 2)
    review = shopper.review()
    form = {**dict(REVIEW_FIELD.findall(review.text)), "csrf_token": shopper.csrf}
    cookie = str(shopper.session_cookie)
    before = everything(app)

    killed_at("placement", settings, tmp_path, "/checkout/place", form, cookie)
    assert everything(app) == before  # no stock taken, no order, no mail, the cart and session as they were

    with live_server(settings, tmp_path, MAIL_IN_BACKGROUND="1", MAIL_POLL_SECONDS="1") as server:
        placed = send(server, "/checkout/place", form, cookie)
        assert placed.status_code == 303, placed.text
        assert send(server, "/checkout/place", form, cookie).headers["location"] == placed.headers["location"]
        until(lambda: sql(app, "SELECT status FROM outbox") == [("sent",)])
        assert "storefront_mail_sent_total 1.0" in httpx.get(f"{server.url}/metrics").text
    assert mail.deliver_pending(app.state.shop.db, settings, Metrics()).sent == 0
    assert sql(app, "SELECT count(*) FROM orders") == [(1,)]
    assert sql(app, "SELECT stock FROM variants WHERE id = (SELECT variant_id FROM order_lines)") == [(48,)]
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 1


def test_a_server_killed_while_merging_at_login_merged_nothing_and_the_next_login_merges_once(
    app: Litestar, settings: Settings, tmp_path: Path, shopper: Shopper, other_shopper: Shopper
) -> None:
    guest_and_account_carts(app, shopper, other_shopper)
    guest = shopper.quantities()
    shopper.visit("/login")
    form = {"email": EMAIL, "password": PASSWORD, "next": "/", "csrf_token": shopper.csrf}
    cookie = str(shopper.session_cookie)
    before = everything(app, SHOP_BUT_THROTTLES)

    killed_at("merge", settings, tmp_path, "/login", form, cookie)
    assert everything(app, SHOP_BUT_THROTTLES) == before  # both carts, and the guest's session, as they were

    with live_server(settings, tmp_path) as server:
        assert httpx.get(f"{server.url}/api/auth/me", cookies={"session": cookie}).json() == {"user": None}
        assert shopper.quantities() == guest
        logged_in = send(server, "/login", form, cookie)
        assert logged_in.status_code == 303, logged_in.text
        user_cookie = logged_in.cookies["session"]
        cart = httpx.get(f"{server.url}/api/cart", cookies={"session": user_cookie}).json()
    assert sorted(item["qty"] for item in cart["items"]) == [1, 3]
    assert sql(app, "SELECT count(*) FROM carts") == [(1,)]


def test_pause_points_are_refused_and_ignored_in_production(tmp_path: Path) -> None:
    flag = tmp_path / "paused"
    production = {"APP_ENV": "production", "SECRET_KEY": "k" * 32, "STOREFRONT_TEST_PAUSE": f"placement:{flag}"}
    with pytest.raises(SettingsError, match="STOREFRONT_TEST_PAUSE is for tests only"):
        Settings.from_env(production)
    unchecked = Settings(app_env="production", test_pause=f"placement:{flag}")  # as if the check were skipped
    passing = threading.Thread(target=faults.pause_point, args=(unchecked, "placement"), daemon=True)
    passing.start()
    passing.join(timeout=2)
    assert not passing.is_alive() and not flag.exists()  # returned at once, paused nothing
    flag.unlink(missing_ok=True)
