"""Logging in merges the guest cart into the user's: summed, clamped, reported, once, race-safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, PASSWORD, Shopper, add_form, login, register, sql
from tests.factories import set_stock
from web.cart import store as cart_store


def lines(shopper: Shopper) -> list[tuple[str, int]]:
    return sorted((item["productId"], item["qty"]) for item in shopper.cart()["items"])


def test_seed_scenario_guest_adds_twice_then_logs_in(shopper: Shopper, app: Litestar) -> None:
    user_id = register(app, "seed@example.com")
    shopper.add("test-2", 1)
    shopper.add("test-2", 1, htmx=True)
    assert login(shopper, "seed@example.com").status_code == 303
    assert lines(shopper) == [("test-2", 2)]
    assert sql(app, "SELECT user_id FROM carts") == [(user_id,)]
    debug = shopper.client.get("/api/cart/debug").json()
    assert debug == {"owner": {"kind": "user", "userId": user_id}, "itemCount": 2}


def test_merge_sums_clamps_and_drops_and_reports(app: Litestar, shopper: Shopper, other_shopper: Shopper) -> None:
    register(app, "merge@example.com")
    login(other_shopper, "merge@example.com")
    other_shopper.visit("/")
    other_shopper.add("test-1", 3)
    other_shopper.add("linen-shirt", 1, label="M")
    shopper.add("test-1", 4)
    shopper.add("linen-shirt", 2, label="M")  # stock 2: the sum 3 is clamped
    shopper.add("cotton-cap", 1)  # stock 1, then sold out before login
    shopper.add("test-2", 2)
    set_stock(app, "cotton-cap", 0)
    login(shopper, "merge@example.com")
    assert lines(shopper) == [("linen-shirt", 2), ("test-1", 7), ("test-2", 2)]
    page = shopper.visit("/cart")
    assert "7 items from your guest cart were added to your cart." in page.text
    assert "Linen shirt (M): only 2 left, quantity reduced." in page.text
    assert "Cotton cap is sold out and was not added." in page.text
    assert sql(app, "SELECT count(*) FROM carts") == [(1,)]
    assert lines(other_shopper) == lines(shopper)


def test_merge_clamps_to_the_per_line_maximum(app: Litestar, shopper: Shopper, other_shopper: Shopper) -> None:
    set_stock(app, "test-1", 500)
    register(app, "max@example.com")
    login(other_shopper, "max@example.com")
    other_shopper.visit("/")
    other_shopper.add("test-1", 60)
    shopper.add("test-1", 60)
    login(shopper, "max@example.com")
    assert lines(shopper) == [("test-1", 99)]
    assert "at most 99 per item" in shopper.visit("/").text


def test_login_with_an_empty_guest_cart_reports_nothing(app: Litestar, shopper: Shopper) -> None:
    register(app, "empty@example.com")
    login(shopper, "empty@example.com")
    page = shopper.visit("/")
    assert "Welcome, empty@example.com." in page.text and "guest cart" not in page.text


def test_replayed_login_never_merges_twice(app: Litestar, shopper: Shopper) -> None:
    register(app, "twice@example.com")
    shopper.add("test-1", 2)
    guest_cookie, guest_token = shopper.session_cookie or "", shopper.csrf
    assert login(shopper, "twice@example.com").status_code == 303
    with TestClient(app, base_url=BASE_URL) as replay:
        replay.cookies.set("session", guest_cookie)
        form = {"email": "twice@example.com", "password": PASSWORD, "csrf_token": guest_token}
        assert replay.post("/login", data=form, follow_redirects=False).status_code == 403
    assert lines(shopper) == [("test-1", 2)]
    shopper.csrf = ""
    assert login(shopper, "twice@example.com").status_code == 303  # logging in again while logged in
    assert lines(shopper) == [("test-1", 2)]


def parallel(calls: list[object]) -> list[int]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))  # type: ignore[operator]


def tab(app: Litestar, cookie: str) -> TestClient[Litestar]:
    """Another tab of the same browser. Not entered as a context manager: lifespans must not overlap."""
    client = TestClient(app, base_url=BASE_URL)
    client.cookies.set("session", cookie)
    return client


def test_double_submitted_login_merges_once(app: Litestar, shopper: Shopper) -> None:
    register(app, "double@example.com")
    shopper.add("test-1", 2)
    shopper.add("test-2", 1)
    cookie, token = shopper.session_cookie or "", shopper.csrf
    form = {"email": "double@example.com", "password": PASSWORD, "csrf_token": token}

    def submit() -> int:
        return tab(app, cookie).post("/login", data=form, follow_redirects=False).status_code

    statuses = parallel([submit, submit, submit])
    assert statuses.count(303) >= 1 and set(statuses) <= {303, 403}
    assert sql(app, "SELECT count(*) FROM carts") == [(1,)]
    assert sorted(sql(app, "SELECT quantity FROM cart_lines")) == [(1,), (2,)]


@pytest.mark.parametrize("repeat", range(3))
def test_add_racing_login_is_never_lost_or_doubled(app: Litestar, shopper: Shopper, repeat: int) -> None:
    register(app, f"race{repeat}@example.com")
    shopper.add("test-1", 1)
    cookie, token = shopper.session_cookie or "", shopper.csrf
    form = {**add_form(app, "test-2", 3), "csrf_token": token}
    login_form = {"email": f"race{repeat}@example.com", "password": PASSWORD, "csrf_token": token}

    def add() -> int:
        return tab(app, cookie).post("/cart/items", data=form, follow_redirects=False).status_code

    def log_in() -> int:
        return tab(app, cookie).post("/login", data=login_form, follow_redirects=False).status_code

    add_status, login_status = parallel([add, log_in])
    assert login_status == 303
    quantities = dict(
        sql(
            app,
            "SELECT p.slug, l.quantity FROM cart_lines l JOIN variants v ON v.id = l.variant_id "
            "JOIN products p ON p.id = v.product_id",
        )
    )
    assert sql(app, "SELECT count(*) FROM carts") == [(1,)]
    if add_status == 303:  # the add ran first, so the login merged it
        assert quantities == {"test-1": 1, "test-2": 3}
    else:  # the add arrived with the rotated-away session: refused, visibly, nothing half-done
        assert add_status == 403 and quantities == {"test-1": 1}


def test_session_fixation_a_planted_id_never_becomes_a_logged_in_session(app: Litestar) -> None:
    register(app, "fix@example.com")
    with TestClient(app, base_url=BASE_URL) as victim_client:
        victim_client.cookies.set("session", "planted-by-attacker" + "x" * 24, domain="shop.test")
        victim = Shopper(victim_client)
        victim.visit("/login")
        issued_before_login = victim.session_cookie
        assert issued_before_login != "planted-by-attacker" + "x" * 24
        login(victim, "fix@example.com")
        assert victim.session_cookie not in (issued_before_login, "planted-by-attacker" + "x" * 24)
    with TestClient(app, base_url=BASE_URL) as attacker:
        attacker.cookies.set("session", "planted-by-attacker" + "x" * 24)
        assert attacker.get("/api/auth/me").json() == {"user": None}


def test_a_failing_merge_never_blocks_login(app: Litestar, shopper: Shopper, monkeypatch: pytest.MonkeyPatch) -> None:
    register(app, "fails@example.com")
    shopper.add("test-1", 2)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("merge exploded")

    monkeypatch.setattr(cart_store, "merge", broken)
    assert login(shopper, "fails@example.com").status_code == 303
    page = shopper.visit("/")
    assert "could not move your guest cart" in page.text
    assert shopper.client.get("/api/auth/me").json()["user"]["email"] == "fails@example.com"
    assert sql(app, "SELECT count(*) FROM cart_lines") == [(1,)]  # the guest cart is kept
    monkeypatch.undo()
    shopper.csrf = ""
    shopper.post("/logout")
    assert lines(shopper) == [("test-1", 2)]  # after logout the kept guest cart is the guest's again
    shopper.csrf = ""
    login(shopper, "fails@example.com")
    assert lines(shopper) == [("test-1", 2)]  # merged at the next login
    assert sql(app, "SELECT count(*) FROM carts") == [(1,)]


def test_login_statements_do_not_grow_with_the_guest_cart(app: Litestar, shopper: Shopper) -> None:
    register(app, "count@example.com")
    counts = []
    for size in (1, 5):
        with TestClient(app, base_url=BASE_URL) as client:
            guest = Shopper(client)
            for slug in ["test-1", "test-2", "tea-tin", "wall-clock", "desk-tray"][:size]:
                guest.add(slug, 1)
            guest.visit("/login")
            db = app.state.shop.db
            before = db.statements
            assert login(guest, "count@example.com").status_code == 303
            counts.append(db.statements - before)
    assert counts[0] == counts[1]
    assert counts[1] <= 18  # two units: the attempt is counted and committed before the password check
