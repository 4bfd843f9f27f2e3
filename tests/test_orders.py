"""Orders after checkout: who may see which, cancelling, the states an order moves through,
finding an order by number and email, and a guest's account that takes its order along."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, Shopper, confirm, login, register, sql
from web.orders import service as orders
from web.problems import NotFound
from web.settings import Settings
from web.unit import Visit

ORDER_ROUTES = [
    ("GET", "/orders/{number}"),
    ("POST", "/orders/{number}/cancel"),
    ("POST", "/orders/{number}/account"),
    ("GET", "/api/orders/{number}"),
    ("POST", "/api/orders/{number}/cancel"),
]


def stock(app: Litestar, sku: str) -> int:
    return int(sql(app, "SELECT stock FROM variants WHERE sku = :sku", sku=sku)[0][0])


@pytest.fixture
def placed(shopper: Shopper) -> tuple[Shopper, str]:
    shopper.add("tea-tin", 3)
    return shopper, shopper.checkout()


def call(shopper: Shopper, method: str, path: str) -> object:
    if path.startswith("/api/"):
        return shopper.client.request(method, path, json={} if method == "POST" else None)
    if method == "POST":
        return shopper.post(path, {"password": "a long enough passphrase"})
    return shopper.client.get(path)


@pytest.mark.parametrize(("method", "path"), ORDER_ROUTES)
def test_another_shoppers_order_is_not_found_on_every_route(
    placed: tuple[Shopper, str], other_shopper: Shopper, app: Litestar, method: str, path: str
) -> None:
    _owner, number = placed
    other_shopper.visit("/")
    for target in (number, "ZZZZZZZZ"):  # someone else's, and one that does not exist: the same answer
        response = call(other_shopper, method, path.format(number=target))
        assert response.status_code == 404, (target, response.text)  # type: ignore[attr-defined]
    assert sql(app, "SELECT status, user_id FROM orders")[0] == ("placed", None)


def test_the_order_page_shows_the_order_and_its_history(placed: tuple[Shopper, str]) -> None:
    shopper, number = placed
    page = shopper.visit(f"/orders/{number.lower()}").text
    assert f"Order {number}" in page and "Status: <span" in page and "Placed" in page
    assert "Refresh" in page and "Pay on delivery" in page and "Unter den Linden 1" in page


def test_a_shopper_cancels_a_placed_order_and_the_stock_comes_back(placed: tuple[Shopper, str], app: Litestar) -> None:
    shopper, number = placed
    before = stock(app, "tea-tin")
    response = shopper.post(f"/orders/{number}/cancel", {})
    assert response.status_code == 303
    assert "is cancelled" in shopper.visit(f"/orders/{number}").text
    assert stock(app, "tea-tin") == before + 3
    assert sql(app, "SELECT status, payment_status FROM orders")[0] == ("cancelled", "void")
    assert sql(app, "SELECT from_status, to_status, actor FROM order_events ORDER BY id") == [
        (None, "placed", "shopper"),
        ("placed", "cancelled", "shopper"),
    ]
    again = shopper.post(f"/orders/{number}/cancel", {})
    assert again.status_code == 409
    assert stock(app, "tea-tin") == before + 3  # not restored twice


def test_the_api_cancels_and_refuses_an_illegal_cancel(placed: tuple[Shopper, str]) -> None:
    shopper, number = placed
    assert shopper.client.post(f"/api/orders/{number}/cancel", json={}).json()["order"]["status"] == "cancelled"
    refused = shopper.client.post(f"/api/orders/{number}/cancel", json={})
    assert refused.status_code == 409 and refused.json()["error"] == "ILLEGAL_TRANSITION"
    assert refused.json()["allowed"] == []


def unit(app: Litestar, shopper: Shopper, work: object) -> object:
    """Run a service function as this shopper's unit of work, outside any route."""
    shop = app.state.shop
    cookie = shopper.session_cookie

    def run(conn: object) -> object:
        with shop.db.write(conn):
            session = shop.sessions.load(conn, cookie)
            visit = Visit(conn, session, shop.settings, shop.db, 2_000_000_000, shop.metrics, in_write=True)  # type: ignore[arg-type]
            return work(visit)  # type: ignore[operator]

    return shop.db.run_sync(run)


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["packed", "shipped", "delivered"], ["cancelled", "placed", "packed"]),
        (["packed", "cancelled"], ["shipped", "delivered", "placed"]),
        (["cancelled"], ["packed", "shipped", "delivered"]),
    ],
)
def test_every_transition_follows_the_table_and_an_illegal_one_changes_nothing(
    placed: tuple[Shopper, str], app: Litestar, path: list[str], refused: list[str]
) -> None:
    shopper, number = placed
    for to in path:
        moved = unit(app, shopper, lambda v, to=to: orders.change_status(v, orders.visible(v, number), to, "staff"))
        assert moved.status == to  # type: ignore[attr-defined]
    events = sql(app, "SELECT count(*) FROM order_events")[0][0]
    for to in refused:
        with pytest.raises(orders.IllegalTransition) as raised:
            unit(app, shopper, lambda v, to=to: orders.change_status(v, orders.visible(v, number), to, "staff"))
        assert list(raised.value.allowed) == list(orders.TRANSITIONS[path[-1]])
    assert sql(app, "SELECT status FROM orders")[0][0] == path[-1]
    assert sql(app, "SELECT count(*) FROM order_events")[0][0] == events


def test_a_shopper_may_cancel_only_while_the_order_is_placed(placed: tuple[Shopper, str], app: Litestar) -> None:
    shopper, number = placed
    unit(app, shopper, lambda v: orders.change_status(v, orders.visible(v, number), "packed", "staff"))
    assert "Cancel this order" not in shopper.visit(f"/orders/{number}").text
    assert shopper.post(f"/orders/{number}/cancel", {}).status_code == 409
    assert sql(app, "SELECT status FROM orders")[0][0] == "packed"


def test_a_guest_finds_an_order_by_number_and_email_on_another_device(
    placed: tuple[Shopper, str], app: Litestar
) -> None:
    _shopper, number = placed
    with TestClient(app, base_url=BASE_URL) as client:
        other_device = Shopper(client)
        other_device.visit("/orders/lookup")
        assert client.get(f"/orders/{number}").status_code == 404
        wrong_email = other_device.post("/orders/lookup", {"number": number, "email": "eve@example.com"})
        wrong_number = other_device.post("/orders/lookup", {"number": "ABCDEFGH", "email": "ada@example.com"})
        assert wrong_email.status_code == wrong_number.status_code == 404
        assert (
            wrong_email.text.count("We could not find an order")
            == wrong_number.text.count("We could not find an order")
            == 1
        )
        found = other_device.post("/orders/lookup", {"number": f" {number.lower()} ", "email": "ADA@example.com"})
        assert found.status_code == 303 and found.headers["location"] == f"/orders/{number}"
        assert client.get(f"/orders/{number}").status_code == 200


def test_the_lookup_is_throttled_like_logging_in(
    settings: Settings, placed: tuple[Shopper, str], app: Litestar
) -> None:
    _shopper, number = placed
    with TestClient(app, base_url=BASE_URL) as client:
        guesser = Shopper(client)
        guesser.visit("/orders/lookup")
        answers = [
            guesser.post("/orders/lookup", {"number": f"GUESS{i:03d}", "email": "ada@example.com"}).status_code
            for i in range(settings.login_max_failures_per_address + 1)
        ]
        assert answers[:-1] == [404] * settings.login_max_failures_per_address and answers[-1] == 429
        assert guesser.post("/orders/lookup", {"number": number, "email": "ada@example.com"}).status_code == 429


def test_a_guests_account_takes_this_order_along_and_no_other(app: Litestar) -> None:
    numbers = []
    for _ in range(2):
        with TestClient(app, base_url=BASE_URL) as client:
            guest = Shopper(client)
            guest.add("tea-tin", 1)
            numbers.append(guest.checkout(email="same@example.com"))
            if len(numbers) == 2:
                assert "Keep track of this order" in guest.visit(f"/orders/{numbers[1]}").text
                made = guest.post(
                    f"/orders/{numbers[1]}/account", {"display_name": "Sam", "password": "a long enough passphrase"}
                )
                assert made.status_code == 303 and made.headers["location"] == "/account/check-email"
                assert login(guest, "same@example.com").status_code == 401  # not before confirming the address
    with TestClient(app, base_url=BASE_URL) as client:
        user = Shopper(client)
        assert confirm(user, "same@example.com").status_code == 303
        assert login(user, "same@example.com").status_code == 303
        listing = user.visit("/orders").text
        assert numbers[1] in listing and numbers[0] not in listing
        assert user.client.get(f"/orders/{numbers[0]}").status_code == 404


def test_an_account_registered_later_with_the_same_email_sees_no_guest_orders(
    placed: tuple[Shopper, str], app: Litestar
) -> None:
    _shopper, number = placed
    register(app, "ada@example.com")
    with TestClient(app, base_url=BASE_URL) as client:
        user = Shopper(client)
        user.visit("/login")
        login(user, "ada@example.com")
        assert number not in user.visit("/orders").text
        assert client.get(f"/orders/{number}").status_code == 404
        assert client.get("/api/orders").json()["orders"] == []


def test_my_orders_needs_a_login_and_pages_newest_first(app: Litestar) -> None:
    register(app, "many@example.com")
    with TestClient(app, base_url=BASE_URL) as client:
        assert client.get("/orders", follow_redirects=False).headers["location"] == "/login?next=/orders"
        assert client.get("/api/orders").status_code == 401
        user = Shopper(client)
        user.visit("/login")
        login(user, "many@example.com")
        user.visit("/")
        placed = []
        for i in range(orders.PAGE_SIZE + 1):
            sql(app, "UPDATE variants SET stock = 100 WHERE sku = 'tea-tin'")
            user.add("tea-tin", 1)
            placed.append(user.checkout(email="many@example.com"))
            sql(app, "UPDATE orders SET placed_at = :at WHERE number = :n", at=1_700_000_000 + i, n=placed[-1])
        first = user.visit("/orders").text
        assert placed[-1] in first and placed[0] not in first and "Page 1 of 2" in first
        second = user.visit("/orders?page=2").text
        assert placed[0] in second and placed[-1] not in second
        api = client.get("/api/orders?page=2").json()
        assert [order["number"] for order in api["orders"]] == [placed[0]] and api["pages"] == 2
        assert client.get("/orders?page=abc").status_code == 400


def test_visible_refuses_unknown_numbers_alike(placed: tuple[Shopper, str], app: Litestar) -> None:
    shopper, _number = placed
    with pytest.raises(NotFound, match=r"There is no order with that number\."):
        unit(app, shopper, lambda v: orders.visible(v, "<script>"))
