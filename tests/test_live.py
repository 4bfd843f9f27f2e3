"""Live order streams against a real server: what staff change arrives on the shopper's open stream,
nothing is missed across a reconnect, and a stream is only ever its order's shopper's or staff's."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text

from tests.conftest import BASE_URL, CSRF, PASSWORD, Shopper, change_sessions, login, register, stored_sessions
from tests.factories import make_staff
from tests.livestreams import EventStream, RedisServer, Server, live_server
from web.settings import Settings

STAFF = "staff@example.com"
CURSOR = re.compile(r'sse-connect="/orders/([A-Z0-9]+)/events\?after=(\d+-\d+)"')


@pytest.fixture
def server(settings: Settings, app: Litestar, tmp_path: Path) -> Iterator[Server]:
    # A short heartbeat, so the tests see it; the app fixture has migrated and loaded the database.
    with live_server(settings, tmp_path, STREAM_HEARTBEAT_SECONDS="1", STREAMS_PER_SESSION="2") as running:
        yield running


def cookies_of(shopper: Shopper) -> dict[str, str]:
    return {"session": shopper.client.cookies["session"]}


def placed_order(app: Litestar) -> tuple[str, dict[str, str]]:
    """A guest's order placed in-process; its number and the guest's cookie (the server shares both)."""
    with TestClient(app, base_url=BASE_URL) as client:
        guest = Shopper(client)
        guest.add("linen-shirt", label="M")
        number = guest.checkout()
        return number, cookies_of(guest)


@pytest.fixture
def staff_cookies(app: Litestar) -> Iterator[dict[str, str]]:
    register(app, STAFF, name="Anna")
    make_staff(app, STAFF)
    with TestClient(app, base_url=BASE_URL) as client:
        member = Shopper(client)
        assert login(member, STAFF).status_code == 303
        yield cookies_of(member)


def move(server: Server, staff: dict[str, str], number: str, status: str) -> float:
    """Staff move the order through the live server's JSON API; when the request was sent."""
    sent = time.monotonic()
    answer = httpx.post(f"{server.url}/api/staff/orders/{number}/status", json={"status": status}, cookies=staff)
    assert answer.status_code == 200, answer.text
    return sent


def stream(server: Server, number: str, cookies: dict[str, str], last_id: str = "", side: str = "") -> EventStream:
    """The order's stream as the shopper's order page opens it, or with `side="staff"` the staff's."""
    query = f"?side={side}" if side else ""
    return EventStream(f"{server.url}/orders/{number}/events{query}", cookies, last_id)


def test_a_status_change_by_staff_arrives_on_the_shoppers_open_stream_within_a_second(
    app: Litestar, server: Server, staff_cookies: dict[str, str]
) -> None:
    number, guest = placed_order(app)
    page = httpx.get(f"{server.url}/orders/{number}", cookies=guest)
    found = CURSOR.search(page.text)
    assert found and found[1] == number, "the order page follows its order"
    live = stream(server, number, guest, last_id=found[2])
    try:
        assert live.status == 200
        sent = move(server, staff_cookies, number, "packed")
        event = live.next("status", timeout=5)
        assert time.monotonic() - sent < 1.0
        assert 'id="orders-timeline"' in event.data and "Packed" in event.data
        assert 'id="orders-cancel" hx-swap-oob="true"' in event.data
        assert "Cancel this order" not in event.data, "a packed order can no longer be cancelled by the shopper"
    finally:
        live.close()


def test_a_reconnect_with_last_event_id_is_given_what_it_missed(
    app: Litestar, server: Server, staff_cookies: dict[str, str]
) -> None:
    number, guest = placed_order(app)
    live = stream(server, number, guest)
    first = live.next("status")  # no cursor: the stream starts with where the order stands
    assert "Placed" in first.data
    live.close()
    move(server, staff_cookies, number, "packed")  # while nobody listens
    again = stream(server, number, guest, last_id=first.id)
    try:
        missed = again.next("status")
        assert "Packed" in missed.data and missed.id != first.id
        with pytest.raises(TimeoutError):
            again.next("status", timeout=1.5)  # and nothing twice
    finally:
        again.close()


def test_a_change_between_the_page_and_its_stream_is_not_lost(
    app: Litestar, server: Server, staff_cookies: dict[str, str]
) -> None:
    number, guest = placed_order(app)
    found = CURSOR.search(httpx.get(f"{server.url}/orders/{number}", cookies=guest).text)
    assert found
    move(server, staff_cookies, number, "packed")
    live = EventStream(f"{server.url}/orders/{number}/events?after={found[2]}", guest)
    try:
        assert "Packed" in live.next("status").data
    finally:
        live.close()


def test_another_shoppers_stream_and_a_cookieless_one_are_404(app: Litestar, server: Server) -> None:
    number, _guest = placed_order(app)
    _other_number, other = placed_order(app)
    assert stream(server, number, other).status == 404
    assert stream(server, number, {}).status == 404
    assert stream(server, "NOSUCHNO", other).status == 404
    assert httpx.get(f"{server.url}/orders/{number}/events?after=nonsense", cookies=other).status_code == 400


def test_staff_follow_any_order_and_see_its_moves(app: Litestar, server: Server, staff_cookies: dict[str, str]) -> None:
    number, _guest = placed_order(app)
    assert stream(server, number, staff_cookies).status == 404, "the shopper's page of someone else's order"
    _own, guest = placed_order(app)
    assert stream(server, number, guest, side="staff").status == 404, "only staff follow the staff's page"
    live = stream(server, number, staff_cookies, side="staff")
    try:
        live.next("status")
        move(server, staff_cookies, number, "packed")
        event = live.next("status")
        assert "Packed" in event.data and 'hx-swap-oob="true"' in event.data.split('id="staff-order-actions"')[1]
        assert "Mark shipped" in event.data
    finally:
        live.close()


def test_logout_ends_the_stream(app: Litestar, server: Server) -> None:
    register(app, "ada@example.com")
    with TestClient(app, base_url=BASE_URL) as client:
        ada = Shopper(client)
        login(ada, "ada@example.com")
        ada.visit("/")
        ada.add("linen-shirt", label="M")
        number = ada.checkout()
        cookies = cookies_of(ada)
    live = stream(server, number, cookies)
    try:
        live.next("status")
        token = CSRF.search(httpx.get(server.url, cookies=cookies).text)
        assert token
        out = httpx.post(f"{server.url}/logout", data={"csrf_token": token[1]}, cookies=cookies)
        assert out.status_code == 303
        assert live.next("closed").data == "session"
        assert live.wait_end()
        assert stream(server, number, cookies).status == 404, "the old session follows nothing"
    finally:
        live.close()


def test_a_delivered_order_sends_its_last_event_and_closes(
    app: Litestar, server: Server, staff_cookies: dict[str, str]
) -> None:
    number, guest = placed_order(app)
    for status in ("packed", "shipped"):
        move(server, staff_cookies, number, status)
    live = stream(server, number, guest)
    try:
        assert "Shipped" in live.next("status").data
        move(server, staff_cookies, number, "delivered")
        assert "Delivered" in live.next("status").data
        assert live.next("closed").data == "delivered"
        assert live.wait_end()
    finally:
        live.close()
    page = httpx.get(f"{server.url}/orders/{number}", cookies=guest).text
    assert "sse-connect" not in page, "a final order's page does not follow it"


def test_a_session_holds_a_few_streams_at_most_and_each_beats(app: Litestar, server: Server) -> None:
    number, guest = placed_order(app)
    streams = [stream(server, number, guest) for _ in range(2)]
    try:
        third = stream(server, number, guest)
        assert third.status == 429
        deadline = time.monotonic() + 5
        while "heartbeat" not in streams[0].comments and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "heartbeat" in streams[0].comments
        assert open_streams(server) == 2
    finally:
        for each in streams:
            each.close()
    assert wait_for(lambda: open_streams(server) == 0), "closed streams give their places back"
    again = stream(server, number, guest)
    assert again.status == 200
    again.close()


def open_streams(server: Server) -> float:
    found = re.search(r"^storefront_live_streams(?:\{[^}]*\})? (\S+)$", httpx.get(f"{server.url}/metrics").text, re.M)
    assert found, "the metric is listed"
    return float(found[1])


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_browsers_that_leave_before_the_stream_starts_take_no_places(app: Litestar, server: Server) -> None:
    number, guest = placed_order(app)
    port = int(server.url.rsplit(":", 1)[1])
    request = (
        f"GET /orders/{number}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: session={guest['session']}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    for _ in range(6):  # more than the session's places, each gone at once
        with socket.create_connection(("127.0.0.1", port)) as gone:
            gone.sendall(request)
    assert wait_for(lambda: open_streams(server) == 0)
    streams = [stream(server, number, guest) for _ in range(2)]
    try:
        assert [each.status for each in streams] == [200, 200]
        assert all("Placed" in each.next("status").data for each in streams)
    finally:
        for each in streams:
            each.close()


def test_an_open_stream_does_not_keep_its_session_alive(app: Litestar, server: Server) -> None:
    number, guest = placed_order(app)
    soon = int(time.time()) + 120
    change_sessions(app, expires_at=lambda _old: soon)  # idle, about to expire
    live = stream(server, number, guest)
    try:
        live.next("status")
        assert wait_for(lambda: live.comments.count("heartbeat") >= 2), "two heartbeats, two looks at the order"
    finally:
        live.close()
    assert {record.expires_at for record in stored_sessions(app).values()} == {soon}


@pytest.mark.scaleout
def test_a_change_served_by_one_worker_reaches_a_stream_on_another(
    app: Litestar, settings: Settings, tmp_path: Path, staff_cookies: dict[str, str]
) -> None:
    number, guest = placed_order(app)
    with live_server(settings, tmp_path) as worker_a, live_server(settings, tmp_path) as worker_b:
        live = stream(worker_b, number, guest)
        try:
            live.next("status")
            sent = move(worker_a, staff_cookies, number, "packed")
            assert "Packed" in live.next("status").data
            assert time.monotonic() - sent < 1.0
        finally:
            live.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of the test's own, which the test may stop and start again."""
    with RedisServer(tmp_path) as server:
        yield server


@pytest.mark.scaleout
def test_redis_restarted_under_an_open_stream_loses_nothing(
    app: Litestar, settings: Settings, tmp_path: Path, staff_cookies: dict[str, str], own_redis: RedisServer
) -> None:
    number, guest = placed_order(app)
    with live_server(settings, tmp_path, EVENTS_URL=own_redis.url) as server:
        live = stream(server, number, guest)
        try:
            live.next("status")
            own_redis.stop()  # Redis goes away: the stream ends, for the browser to reconnect
            assert live.wait_end(10), "a stream whose pub/sub is gone ends"
            move(server, staff_cookies, number, "packed")  # stored; its announcement cannot be published
            own_redis.start()
            deadline = time.monotonic() + 15
            replayed = None
            while replayed is None and time.monotonic() < deadline:
                live.reconnect()  # as a browser's EventSource does, with its Last-Event-ID
                try:
                    replayed = live.next("status", timeout=2)
                except (EOFError, TimeoutError):
                    time.sleep(0.5)  # not subscribed yet: the stream ended at once
            assert replayed is not None, server.output()
            assert "Packed" in replayed.data, "the missed change is replayed from the database"
            move(server, staff_cookies, number, "shipped")
            assert "Shipped" in live.next("status").data, "and live announcements flow again"
        finally:
            live.close()


def test_logging_in_rotates_the_session_and_its_stream_reconnects_with_the_new_cookie(
    app: Litestar, server: Server
) -> None:
    register(app, "lin@example.com")
    with TestClient(app, base_url=BASE_URL) as client:
        ada = Shopper(client)
        ada.add("linen-shirt", label="M")
        number = ada.checkout()
        cookies = cookies_of(ada)
    live = stream(server, number, cookies)
    try:
        live.next("status")
        token = CSRF.search(httpx.get(server.url, cookies=cookies).text)
        assert token
        answer = httpx.post(
            f"{server.url}/login",
            data={"csrf_token": token[1], "email": "lin@example.com", "password": PASSWORD, "next": "/"},
            cookies=cookies,
        )
        assert answer.status_code == 303
        assert live.wait_end(), "the old session ID's stream ends"
        with pytest.raises(EOFError):
            live.next("closed", timeout=1)  # without `closed`: the page's EventSource reconnects
        renewed = {"session": answer.cookies["session"]}
        again = stream(server, number, renewed, last_id=live.last_id)
        assert again.status == 200, "the new session still follows the order it placed as a guest"
        again.close()
    finally:
        live.close()


def test_a_message_arrives_on_the_open_streams_and_counts_as_read_there(
    app: Litestar, server: Server, staff_cookies: dict[str, str]
) -> None:
    number, guest = placed_order(app)
    shopper_live, staff_live = stream(server, number, guest), stream(server, number, staff_cookies, side="staff")
    try:
        shopper_live.next("status")
        staff_live.next("status")
        answer = httpx.post(
            f"{server.url}/api/orders/{number}/messages", json={"text": "Is it <b>gift</b>-wrapped?"}, cookies=guest
        )
        assert answer.status_code == 201
        seen_by_staff = staff_live.next("message")
        assert "Customer" in seen_by_staff.data and "Is it &lt;b&gt;gift&lt;/b&gt;-wrapped?" in seen_by_staff.data
        assert 'id="message-' in shopper_live.next("message").data  # the shopper's other tabs get it too
        listing = httpx.get(f"{server.url}/staff/orders", cookies=staff_cookies).text
        assert "unread" not in listing.lower(), "staff saw it on their open page: nothing unread"
    finally:
        shopper_live.close()
        staff_live.close()


class Recorder:
    """An announcer that writes down what visit() announces."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str, bool]] = []

    def order_changed(self, number: str) -> None:
        self.said.append(("order", number, False))

    def session_ended(self, session_id: str, *, signed_in: bool) -> None:
        self.said.append(("session", session_id, signed_in))


def test_only_a_stored_session_rotated_or_ended_is_announced(app: Litestar, shopper: Shopper) -> None:
    recorder = Recorder()
    app.state.shop.live = recorder
    register(app, "kim@example.com")
    recorder.said.clear()
    shopper.client.cookies.set("session", "a-cookie-naming-no-session", domain="shop.test")
    shopper.visit("/")
    shopper.add("tea-tin")  # stored now
    assert recorder.said == [], "a cookie naming no stored session has no streams to end"
    before = shopper.client.cookies["session"]
    assert login(shopper, "kim@example.com").status_code == 303
    assert recorder.said == [("session", before, True)], "logging in rotates: the streams reconnect"
    shopper.visit("/")
    signed_in = shopper.client.cookies["session"]
    assert shopper.post("/logout").status_code == 303
    assert recorder.said[-1] == ("session", signed_in, False), "logging out ends them"


@pytest.mark.postgres_only
def test_messages_of_one_thread_commit_in_the_order_of_their_ids(app: Litestar, shopper: Shopper) -> None:
    """A stream sends messages after its cursor, so a message must never commit after a higher id."""
    shopper.add("tea-tin")
    number = shopper.checkout()
    engine = app.state.shop.db.engine
    answers: list[Any] = []
    with engine.connect() as other:
        other.begin()
        order_id = other.execute(text("SELECT id FROM orders WHERE number = :n FOR UPDATE"), {"n": number}).scalar()
        poster = threading.Thread(
            target=lambda: answers.append(
                shopper.client.post(f"/api/orders/{number}/messages", json={"text": "Where is it?"})
            )
        )
        poster.start()
        time.sleep(0.5)  # the post waits for the order's row, holding no id yet
        first = other.execute(
            text(
                "INSERT INTO order_messages (order_id, author, author_name, body, at) "
                "VALUES (:o, 'staff', '', 'Shipped today', 0) RETURNING id"
            ),
            {"o": order_id},
        ).scalar()
        other.commit()
    poster.join(10)
    assert answers and answers[0].status_code == 201
    assert answers[0].json()["message"]["id"] > first
