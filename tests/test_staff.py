"""The back office: who may enter, orders moved through their states, filters, the audit, create-staff."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image

from tests.conftest import BASE_URL, HTMX_GET, PASSWORD, Shopper, login, register, sql, variant_id
from tests.factories import make_staff
from web.__main__ import main
from web.settings import Settings

STAFF_EMAIL = "staff@example.com"


@pytest.fixture
def number(app: Litestar) -> str:
    with TestClient(app, base_url=BASE_URL) as client:
        buyer = Shopper(client)
        buyer.add("tea-tin", 2)
        return buyer.checkout()


def logged_in(app: Litestar, email: str, *, staff: bool) -> Iterator[Shopper]:
    register(app, email)
    if staff:
        make_staff(app, email)
    with TestClient(app, base_url=BASE_URL) as client:
        visitor = Shopper(client)
        visitor.visit("/login")
        assert login(visitor, email).status_code == 303
        visitor.visit("/")
        yield visitor


@pytest.fixture
def member(app: Litestar) -> Iterator[Shopper]:
    yield from logged_in(app, STAFF_EMAIL, staff=True)


@pytest.fixture
def shopper_only(app: Litestar) -> Iterator[Shopper]:
    yield from logged_in(app, "customer@example.com", staff=False)


ROUTES = [
    ("GET", "/staff"),
    ("GET", "/staff/orders"),
    ("GET", "/staff/orders/{number}"),
    ("GET", "/staff/audit"),
    ("POST", "/staff/orders/{number}/status"),
    ("POST", "/staff/orders/{number}/messages"),
    ("GET", "/api/staff/orders"),
    ("POST", "/api/staff/orders/{number}/status"),
    ("GET", "/staff/products"),
    ("GET", "/staff/products/{slug}"),
    ("POST", "/staff/variants/{variant}"),
    ("POST", "/staff/products/{slug}/photo"),
    ("POST", "/staff/products/{slug}/photo/remove"),
    ("GET", "/api/staff/variants/{variant}"),
    ("PATCH", "/api/staff/variants/{variant}"),
]


def a_photo() -> bytes:
    """A plain 480 × 480 PNG, the smallest photo the shop takes."""
    out = io.BytesIO()
    Image.new("RGB", (480, 480), (180, 140, 90)).save(out, "PNG")
    return out.getvalue()


# What an unsafe route is sent, when it needs more than a status to let staff through (200 or 303).
FORMS = {"/staff/variants/": {"price": "12.50", "stock": "7", "version": "1"}, "/messages": {"text": "On its way."}}
FILES = {"/photo": {"photo": ("photo.png", a_photo(), "image/png")}}
JSON = {"PATCH": {"stock": 7, "version": 1}}


def target_of(app: Litestar, path: str, number: str) -> str:
    return path.format(number=number, slug="tea-tin", variant=variant_id(app, "tea-tin"))


def send(visitor: Shopper, method: str, path: str, *, htmx: bool = False) -> object:
    if path.startswith("/api/"):
        body = JSON.get(method, {"status": "packed"})
        return visitor.client.request(method, path, json=body if method != "GET" else None)
    if method == "POST":
        form = next((fields for part, fields in FORMS.items() if part in path), {"status": "packed"})
        files = next((files for end, files in FILES.items() if path.endswith(end)), None)
        return visitor.post(path, form, htmx=htmx, files=files)
    return visitor.client.get(path, headers=HTMX_GET if htmx else {}, follow_redirects=False)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_staff_route_turns_away_anonymous_visitors_and_shoppers(
    client: TestClient[Litestar], shopper_only: Shopper, number: str, app: Litestar, method: str, path: str
) -> None:
    target = target_of(app, path, number)
    anonymous = Shopper(client)
    anonymous.visit("/")
    answer = send(anonymous, method, target)
    if target.startswith("/api/"):
        assert answer.status_code == 401  # type: ignore[attr-defined]
    else:
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")  # type: ignore[attr-defined]
        with_htmx = send(anonymous, method, target, htmx=True)
        assert with_htmx.headers["hx-redirect"].startswith("/login?next=")  # type: ignore[attr-defined]
    refused = send(shopper_only, method, target)
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert sql(app, "SELECT status FROM orders") == [("placed",)]
    assert sql(app, "SELECT count(*) FROM audit") == [(0,)]
    assert sql(app, "SELECT count(*) FROM order_messages") == [(0,)]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_staff_enter_every_staff_route(member: Shopper, number: str, method: str, path: str) -> None:
    answer = send(member, method, target_of(member.app, path, number))
    assert answer.status_code in (200, 303), answer.text  # type: ignore[attr-defined]


def test_staff_move_an_order_through_its_states_and_each_step_is_audited(
    member: Shopper, number: str, app: Litestar
) -> None:
    page = member.visit(f"/staff/orders/{number}").text
    assert "Mark packed" in page and "Cancel the order" in page
    for to in ("packed", "shipped", "delivered"):
        moved = member.post(f"/staff/orders/{number}/status", {"status": to})
        assert moved.status_code == 303
    final = member.visit(f"/staff/orders/{number}").text
    assert "nothing more to do" in final
    rows = sql(app, "SELECT actor_email, action, subject, before, after FROM audit ORDER BY id")
    assert [(r[0], r[1], r[2], json.loads(r[3])["status"], json.loads(r[4])["status"]) for r in rows] == [
        (STAFF_EMAIL, "order.status", f"order:{number}", "placed", "packed"),
        (STAFF_EMAIL, "order.status", f"order:{number}", "packed", "shipped"),
        (STAFF_EMAIL, "order.status", f"order:{number}", "shipped", "delivered"),
    ]
    assert sql(app, "SELECT to_status, actor FROM order_events ORDER BY id")[-1] == ("delivered", "staff")
    assert f"order:{number}" in member.visit(f"/staff/audit?subject=order:{number}").text


def test_with_htmx_the_buttons_and_the_timeline_are_swapped(member: Shopper, number: str) -> None:
    answer = member.post(
        f"/staff/orders/{number}/status",
        {"status": "packed"},
        htmx=True,
        page=f"/staff/orders/{number}",
        target="staff-order-actions",
    )
    assert answer.text.lstrip().startswith('<section id="staff-order-actions"')
    assert 'id="orders-timeline"' in answer.text and "Mark shipped" in answer.text
    assert "is now packed" in answer.text


def test_an_illegal_transition_is_refused_and_changes_nothing(member: Shopper, number: str, app: Litestar) -> None:
    refused = member.client.post(f"/api/staff/orders/{number}/status", json={"status": "delivered"})
    assert refused.status_code == 409
    assert refused.json()["error"] == "ILLEGAL_TRANSITION" and refused.json()["allowed"] == ["packed", "cancelled"]
    assert member.post(f"/staff/orders/{number}/status", {"status": "shipped"}).status_code == 409
    assert member.client.post(f"/api/staff/orders/{number}/status", json={"status": 3}).status_code == 400
    assert sql(app, "SELECT status FROM orders") == [("placed",)]
    assert sql(app, "SELECT count(*) FROM audit") == [(0,)]
    assert member.client.post("/api/staff/orders/NOSUCH99/status", json={"status": "packed"}).status_code == 404


def test_a_staff_cancel_puts_the_stock_back_and_answers_the_order(member: Shopper, number: str, app: Litestar) -> None:
    before = sql(app, "SELECT stock FROM variants WHERE sku = 'tea-tin'")[0][0]
    answer = member.client.post(f"/api/staff/orders/{number}/status", json={"status": "cancelled"})
    assert answer.status_code == 200 and answer.json()["order"]["status"] == "cancelled"
    assert sql(app, "SELECT stock FROM variants WHERE sku = 'tea-tin'")[0][0] == before + 2


def test_the_order_list_filters_by_status_search_and_date(member: Shopper, number: str, app: Litestar) -> None:
    assert number in member.visit("/staff/orders").text
    assert number in member.visit(f"/staff/orders?q={number.lower()}").text
    assert number in member.visit("/staff/orders?q=ADA@example.com").text
    assert number not in member.visit("/staff/orders?q=eve@example.com").text
    assert number not in member.visit("/staff/orders?status=shipped").text
    assert number in member.visit("/staff/orders?status=placed").text
    assert number not in member.visit("/staff/orders?until=2020-01-01").text
    assert number in member.visit("/staff/orders?since=2020-01-01").text
    assert member.client.get("/staff/orders?since=yesterday").status_code == 400
    assert member.client.get("/staff/orders?status=lost").status_code == 400
    listed = member.client.get("/api/staff/orders?status=placed").json()
    assert [order["number"] for order in listed["orders"]] == [number] and listed["total"] == 1


@pytest.mark.parametrize(
    "dates", ["since=0001-01-01&until=9999-12-31", "until=9999-12-31", "since=0001-01-01", "since=9999-12-31"]
)
def test_dates_at_the_ends_of_the_calendar_filter_and_never_fail(member: Shopper, number: str, dates: str) -> None:
    """Found by the API fuzz: on PostgreSQL a date past 2038 overflowed the orders' integer times (a
    500), and the day after 9999-12-31 overflowed Python's dates everywhere."""
    shown = member.client.get(f"/staff/orders?{dates}")
    listed = member.client.get(f"/api/staff/orders?{dates}")
    assert shown.status_code == listed.status_code == 200
    found = [order["number"] for order in listed.json()["orders"]]
    assert found == ([] if dates == "since=9999-12-31" else [number])
    assert (number in shown.text) == bool(found)


def test_an_order_placed_after_2038_is_kept_and_found_by_its_dates(app: Litestar, member: Shopper, number: str) -> None:
    """Every time column is 64-bit (PostgreSQL's INTEGER would refuse a second past 2038-01-19)."""
    in_2040 = int(datetime(2040, 6, 1, tzinfo=UTC).timestamp())
    sql(app, "UPDATE orders SET placed_at = :at, updated_at = :at WHERE number = :n", at=in_2040, n=number)
    assert sql(app, "SELECT placed_at FROM orders WHERE number = :n", n=number) == [(in_2040,)]
    listed = member.client.get("/api/staff/orders?since=2040-06-01&until=2040-06-01").json()["orders"]
    assert [order["number"] for order in listed] == [number]
    assert member.client.get("/api/staff/orders?until=2040-05-31").json()["orders"] == []


def test_create_staff_makes_or_promotes_from_a_script(
    settings: Settings, app: Litestar, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert main(["create-staff", "New@Example.com", "--password-stdin"]) == 0
    assert "new@example.com is a new staff member" in capsys.readouterr().out
    register(app, "promote@example.com")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert main(["create-staff", "promote@example.com", "--password-stdin"]) == 0
    assert "now a staff member" in capsys.readouterr().out
    assert sql(app, "SELECT email FROM users WHERE is_staff ORDER BY email") == [
        ("new@example.com",),
        ("promote@example.com",),
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["create-staff", "weak@example.com", "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    with TestClient(app, base_url=BASE_URL) as client:
        staff = Shopper(client)
        staff.visit("/login")
        assert login(staff, "new@example.com").status_code == 303
        assert client.get("/staff/orders").status_code == 200
