"""An order's message thread: who may read and write it (its shopper and the staff, nobody else),
posting with and without htmx and over /api, what a message may hold, the pace per session, and
the unread marks on the staff's order list and on "My orders"."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL, Shopper, login, register, sql
from tests.factories import make_staff
from web.orders import messages

CUSTOMER = "customer@example.com"
STAFF = "mira@example.com"
FORM = re.compile(r'<form id="orders-message-form".*?</form>', re.S)


def signed_in(app: Litestar, email: str, *, name: str = "", staff: bool = False) -> Iterator[Shopper]:
    register(app, email, name=name)
    if staff:
        make_staff(app, email)
    with TestClient(app, base_url=BASE_URL) as client:
        person = Shopper(client)
        assert login(person, email).status_code == 303
        person.visit("/")  # the token issued at login
        yield person


def guest(app: Litestar) -> Iterator[Shopper]:
    with TestClient(app, base_url=BASE_URL) as client:
        yield Shopper(client)


@pytest.fixture
def customer(app: Litestar) -> Iterator[Shopper]:
    yield from signed_in(app, CUSTOMER)


@pytest.fixture
def number(customer: Shopper) -> str:
    customer.add("tea-tin", 1)
    return customer.checkout()


@pytest.fixture
def member(app: Litestar) -> Iterator[Shopper]:
    yield from signed_in(app, STAFF, name="Mira", staff=True)


def write(person: Shopper, path: str, text: str, *, htmx: bool = False) -> Any:
    """The box under the thread, sent as a plain form or by htmx (into #order-messages)."""
    return person.post(path, {"text": text}, htmx=htmx, page=path.removesuffix("/messages"), target="order-messages")


def stored(app: Litestar) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sql(app, "SELECT author, author_user_id, author_name, body FROM order_messages")]


def user_id(app: Litestar, email: str) -> int:
    return int(sql(app, "SELECT id FROM users WHERE email = :email", email=email)[0][0])


def box(html: str) -> str:
    found = FORM.search(html)
    assert found, html
    return found.group(0)


# Posting, as each kind of shopper and as staff


def test_without_javascript_a_post_comes_back_to_the_thread_with_a_flash(
    customer: Shopper, number: str, app: Litestar
) -> None:
    sent = write(customer, f"/orders/{number}/messages", "Could you gift-wrap it?")
    assert sent.status_code == 303 and sent.headers["location"] == f"/orders/{number}#messages"
    page = customer.visit(f"/orders/{number}").text
    assert "Message sent." in page
    assert '<p class="message-text">Could you gift-wrap it?</p>' in page
    assert '<span class="message-author">You</span>' in page and "No messages yet." not in page
    assert stored(app) == [("shopper", user_id(app, CUSTOMER), "", "Could you gift-wrap it?")]


def test_with_htmx_the_message_is_appended_and_the_box_comes_back_empty(
    customer: Shopper, number: str, app: Litestar
) -> None:
    first = customer.visit(f"/orders/{number}").text
    assert (
        "No messages yet." in first
        and '<ol id="order-messages" class="messages" sse-swap="message" hx-swap="beforeend">' in first
    )
    answer = write(customer, f"/orders/{number}/messages", "Hello there", htmx=True)
    assert answer.status_code == 200
    message_id = sql(app, "SELECT id FROM order_messages")[0][0]
    assert answer.text.startswith(f'<li id="message-{message_id}" class="message message-shopper message-own">')
    emptied = box(answer.text)
    assert 'hx-swap-oob="true"' in emptied and "Hello there" not in emptied and "autofocus" in emptied
    assert 'hx-post="/orders/' in emptied and 'hx-target="#order-messages"' in emptied
    assert 'id="toast"' in answer.text and "Message sent." in answer.text
    assert "Message sent." not in customer.visit(f"/orders/{number}").text  # no flash left behind for htmx


def test_staff_answer_as_the_shop_with_their_name_and_the_shopper_sees_it(
    customer: Shopper, number: str, member: Shopper, app: Litestar
) -> None:
    write(customer, f"/orders/{number}/messages", "When will it ship?")
    staff_page = member.visit(f"/staff/orders/{number}").text
    assert '<span class="message-author">Customer</span>' in staff_page and "When will it ship?" in staff_page
    assert f'action="/staff/orders/{number}/messages"' in box(staff_page)
    sent = write(member, f"/staff/orders/{number}/messages", "Tomorrow morning.")
    assert sent.status_code == 303 and sent.headers["location"] == f"/staff/orders/{number}#messages"
    htmx = write(member, f"/staff/orders/{number}/messages", "Tracking follows.", htmx=True)
    assert htmx.status_code == 200 and 'class="message message-staff message-own"' in htmx.text
    assert "Storefront staff · Mira" in htmx.text
    page = customer.visit(f"/orders/{number}").text
    assert page.count("Storefront staff · Mira") == 2 and "Tomorrow morning." in page
    assert stored(app)[1:] == [
        ("staff", user_id(app, STAFF), "Mira", "Tomorrow morning."),
        ("staff", user_id(app, STAFF), "Mira", "Tracking follows."),
    ]


def test_a_staff_member_without_a_display_name_signs_as_the_shop(number: str, customer: Shopper, app: Litestar) -> None:
    for member in signed_in(app, "anon-staff@example.com", staff=True):
        write(member, f"/staff/orders/{number}/messages", "On its way.")
    page = customer.visit(f"/orders/{number}").text
    assert '<span class="message-author">Storefront staff</span>' in page and "Storefront staff ·" not in page


def test_a_guest_writes_from_the_page_of_the_order_they_placed(shopper: Shopper, app: Litestar) -> None:
    shopper.add("tea-tin", 1)
    number = shopper.checkout()
    assert write(shopper, f"/orders/{number}/messages", "Guest here").status_code == 303
    assert "Guest here" in shopper.visit(f"/orders/{number}").text
    assert stored(app) == [("shopper", None, "", "Guest here")]


def test_a_guest_who_found_the_order_by_number_and_email_writes_too(shopper: Shopper, app: Litestar) -> None:
    shopper.add("tea-tin", 1)
    number = shopper.checkout()
    with TestClient(app, base_url=BASE_URL) as client:
        other_device = Shopper(client)
        other_device.visit("/orders/lookup")
        assert write(other_device, f"/orders/{number}/messages", "From my phone").status_code == 404
        found = other_device.post("/orders/lookup", {"number": number, "email": "ada@example.com"})
        assert found.status_code == 303
        assert write(other_device, f"/orders/{number}/messages", "From my phone").status_code == 303
        assert client.post(f"/api/orders/{number}/messages", json={"text": "And by curl"}).status_code == 201
    assert "From my phone" in shopper.visit(f"/orders/{number}").text
    assert [row[3] for row in stored(app)] == ["From my phone", "And by curl"]


# Nobody else


MESSAGE_ROUTES = [
    ("GET", "/orders/{number}"),
    ("POST", "/orders/{number}/messages"),
    ("GET", "/api/orders/{number}/messages"),
    ("POST", "/api/orders/{number}/messages"),
]


@pytest.mark.parametrize(("method", "path"), MESSAGE_ROUTES)
@pytest.mark.parametrize("who", ["another user", "another guest"])
def test_anyone_but_the_shopper_and_staff_gets_404_on_every_route(
    customer: Shopper, number: str, app: Litestar, method: str, path: str, who: str
) -> None:
    write(customer, f"/orders/{number}/messages", "Private words")
    for other in signed_in(app, "eve@example.com") if who == "another user" else guest(app):
        other.visit("/")
        for target in (number, "ZZZZZZZZ"):  # someone else's, and one that does not exist: the same answer
            url = path.format(number=target)
            if method == "GET":
                answer = other.client.get(url)
            elif url.startswith("/api/"):
                answer = other.client.post(url, json={"text": "Let me in"})
            else:
                answer = write(other, url, "Let me in")
            assert answer.status_code == 404, (target, answer.text)
            assert "Private words" not in answer.text and "Let me in" not in answer.text
    assert [row[3] for row in stored(app)] == ["Private words"]


def test_an_anonymous_visitor_on_the_staff_route_is_sent_to_log_in(
    client: TestClient[Litestar], number: str, app: Litestar
) -> None:
    anonymous = Shopper(client)
    anonymous.visit("/")
    answer = write(anonymous, f"/staff/orders/{number}/messages", "Hi")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert stored(app) == []


def test_a_shopper_may_not_use_the_staff_route_even_for_their_own_order(
    customer: Shopper, number: str, app: Litestar
) -> None:
    assert write(customer, f"/staff/orders/{number}/messages", "As staff?").status_code == 403
    assert stored(app) == []


# What a message may hold


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "it is empty"),
        ("  \r\n\t  ", "it is empty"),
        ("x" * 2001, "at most 2,000 characters; this one has 2,001"),
        ("bell\x07", "control characters"),
        ("nul\x00here", "control characters"),
        ("escape\x1b[31m", "control characters"),
        ("next\x85line", "control characters"),
        ("delete\x7fme", "control characters"),
    ],
)
def test_text_that_is_not_a_message_is_refused_and_kept_in_the_box(
    customer: Shopper, number: str, app: Litestar, text: str, reason: str
) -> None:
    refused = write(customer, f"/orders/{number}/messages", text)
    assert refused.status_code == 400
    form = box(refused.text)
    assert reason in form and 'id="text-error"' in form
    assert 'aria-invalid="true" aria-describedby="message-text-hint text-error"' in form
    htmx = write(customer, f"/orders/{number}/messages", text, htmx=True)
    assert htmx.status_code == 400 and htmx.text.startswith('<form id="orders-message-form"')
    assert 'hx-swap-oob="true"' in htmx.text and reason in htmx.text and "<li" not in htmx.text
    api = customer.client.post(f"/api/orders/{number}/messages", json={"text": text})
    assert api.status_code == 400 and api.json()["field"] == "text" and reason in api.json()["message"]
    assert stored(app) == []


def test_a_refused_text_is_given_back_as_typed(customer: Shopper, number: str) -> None:
    refused = write(customer, f"/orders/{number}/messages", "Dear shop,\r\n" + "x" * 2001)
    assert ">\nDear shop,\r\n" + "x" * 2001 + "</textarea>" in box(refused.text)


def test_a_lone_surrogate_is_refused(customer: Shopper, number: str, app: Litestar) -> None:
    answer = customer.client.post(
        f"/api/orders/{number}/messages",
        content='{"text": "half \\ud800 a pair"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and "cannot be stored" in answer.json()["message"]
    assert stored(app) == []


def test_two_thousand_characters_tabs_and_line_breaks_are_a_message(
    customer: Shopper, number: str, app: Litestar
) -> None:
    assert write(customer, f"/orders/{number}/messages", "  " + "y" * 2000 + "\n ").status_code == 303
    assert write(customer, f"/orders/{number}/messages", "one\r\ntwo\rthree\n\tfour").status_code == 303
    assert [row[3] for row in stored(app)] == ["y" * 2000, "one\ntwo\nthree\n\tfour"]
    page = customer.visit(f"/orders/{number}").text
    assert '<p class="message-text">one\ntwo\nthree\n\tfour</p>' in page


def test_markup_is_shown_as_text(customer: Shopper, number: str, member: Shopper) -> None:
    write(customer, f"/orders/{number}/messages", '<script>alert("x")</script> & <b>bold</b>')
    for page in (customer.visit(f"/orders/{number}").text, member.visit(f"/staff/orders/{number}").text):
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
        assert "<script>alert" not in page and "<b>bold" not in page
    api = customer.client.get(f"/api/orders/{number}/messages")
    assert api.json()["messages"][0]["text"] == '<script>alert("x")</script> & <b>bold</b>'  # JSON: the text as written


# The pace: messages_per_minute (10) per session


def fill_the_minute(person: Shopper, number: str) -> None:
    for count in range(10):
        assert person.client.post(f"/api/orders/{number}/messages", json={"text": f"note {count}"}).status_code == 201


def test_the_eleventh_message_in_a_minute_waits_with_the_text_kept(
    customer: Shopper, number: str, member: Shopper, app: Litestar
) -> None:
    fill_the_minute(customer, number)
    page = write(customer, f"/orders/{number}/messages", "One more thing")
    assert page.status_code == 429 and 0 < int(page.headers["retry-after"]) <= 60
    form = box(page.text)
    assert "You have sent 10 messages within a minute. Please wait" in form and " seconds" in form
    assert "One more thing</textarea>" in form and 'id="text-error"' in form
    htmx = write(customer, f"/orders/{number}/messages", "One more thing", htmx=True)
    assert htmx.status_code == 429 and htmx.headers["retry-after"] and "One more thing</textarea>" in htmx.text
    api = customer.client.post(f"/api/orders/{number}/messages", json={"text": "One more thing"})
    assert api.status_code == 429 and api.json()["error"] == "TOO_MANY_ATTEMPTS" and api.headers["retry-after"]
    assert f"wait {api.headers['retry-after']} second" in api.json()["message"]
    assert len(stored(app)) == 10
    # The pace is the session's: the staff, in their own session, still answer.
    assert write(member, f"/staff/orders/{number}/messages", "Take your time.").status_code == 303


@pytest.mark.sql_sessions_only  # Redis counts the window with its own clock (the key's TTL)
def test_once_the_minute_has_passed_the_shopper_may_write_again(customer: Shopper, number: str, app: Litestar) -> None:
    clock = [time.time()]
    app.state.shop.sessions.now = lambda: clock[0]
    fill_the_minute(customer, number)
    clock[0] += 30
    assert write(customer, f"/orders/{number}/messages", "Too soon").status_code == 429
    clock[0] += 31
    assert write(customer, f"/orders/{number}/messages", "Now then").status_code == 303
    keys = [row[0] for row in sql(app, "SELECT key FROM throttles")]
    assert keys and all(customer.session_cookie not in key for key in keys)  # the session id itself is never a key


# Unread marks


def test_the_staff_list_counts_unread_messages_until_staff_open_the_order(
    customer: Shopper, number: str, member: Shopper
) -> None:
    assert "unread-badge" not in member.visit("/staff/orders").text
    write(customer, f"/orders/{number}/messages", "First")
    write(customer, f"/orders/{number}/messages", "Second")
    listed = member.visit("/staff/orders").text
    assert '<span class="unread-badge">2<span class="visually-hidden"> unread messages</span></span>' in listed
    member.visit(f"/staff/orders/{number}")
    assert "unread-badge" not in member.visit("/staff/orders").text
    write(customer, f"/orders/{number}/messages", "Third")
    assert '<span class="unread-badge">1<span class="visually-hidden"> unread message</span></span>' in (
        member.visit("/staff/orders").text
    )
    write(member, f"/staff/orders/{number}/messages", "Answered")  # writing is not reading: still unread
    assert '<span class="unread-badge">1<' in member.visit("/staff/orders").text
    member.visit(f"/staff/orders/{number}")  # where a reply from the page comes back to
    assert "unread-badge" not in member.visit("/staff/orders").text


def test_my_orders_marks_a_new_reply_from_the_shop_until_the_order_is_seen(
    customer: Shopper, number: str, member: Shopper
) -> None:
    write(customer, f"/orders/{number}/messages", "Question")
    assert "New reply from the shop" not in customer.visit("/orders").text  # their own message is not news
    write(member, f"/staff/orders/{number}/messages", "Answer")
    assert "New reply from the shop" in customer.visit("/orders").text
    customer.visit(f"/orders/{number}")
    assert "New reply from the shop" not in customer.visit("/orders").text


def test_read_marks_are_written_only_when_something_was_unread(
    customer: Shopper, number: str, member: Shopper, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(member, f"/staff/orders/{number}/messages", "Hello")
    marks: list[tuple[str, int]] = []
    mark_read = messages.mark_read
    monkeypatch.setattr(
        messages,
        "mark_read",
        lambda v, order_id, reader, up_to: (marks.append((reader, up_to)), mark_read(v, order_id, reader, up_to)),
    )
    for _ in range(3):
        customer.visit(f"/orders/{number}")
        customer.client.get(f"/api/orders/{number}/messages")
    message_id = sql(app, "SELECT id FROM order_messages")[0][0]
    assert marks == [("shopper", message_id)]
    # Staff wrote it without reading anything (their own message is never unread to them).
    assert sql(app, "SELECT shopper_read_message_id, staff_read_message_id FROM orders") == [(message_id, 0)]


# /api


def test_the_api_lists_and_posts_messages_for_the_shopper_and_for_staff(
    customer: Shopper, number: str, member: Shopper
) -> None:
    posted = customer.client.post(f"/api/orders/{number}/messages", json={"text": "  Hi!\r\nIs it ready?  "})
    assert posted.status_code == 201
    message = posted.json()["message"]
    assert set(message) == {"id", "author", "authorName", "text", "at"}
    assert (message["author"], message["authorName"], message["text"]) == ("shopper", "", "Hi!\nIs it ready?")
    assert isinstance(message["at"], int) and abs(message["at"] - time.time()) < 60
    reply = member.client.post(f"/api/orders/{number}/messages", json={"text": "Yes."})
    assert reply.status_code == 201 and reply.json()["message"]["author"] == "staff"
    assert reply.json()["message"]["authorName"] == "Mira"
    for reader in (customer, member):
        listed = reader.client.get(f"/api/orders/{number}/messages")
        assert listed.status_code == 200
        assert [(m["author"], m["text"]) for m in listed.json()["messages"]] == [
            ("shopper", "Hi!\nIs it ready?"),
            ("staff", "Yes."),
        ]
    assert member.client.get("/api/orders/ZZZZZZZZ/messages").status_code == 404


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ('{"words": "hi"}', {"Content-Type": "application/json"}),
        ('{"text": 5}', {"Content-Type": "application/json"}),
        ("text=hi", {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
)
def test_the_api_refuses_a_body_that_is_not_a_message(
    customer: Shopper, number: str, app: Litestar, body: str, headers: dict[str, str]
) -> None:
    answer = customer.client.post(f"/api/orders/{number}/messages", content=body, headers=headers)
    assert answer.status_code in (400, 415) and answer.json()["error"] in ("INVALID_BODY", "UNSUPPORTED_MEDIA_TYPE")
    assert stored(app) == []


# The live stream is told, after commit


class Announcements:
    def __init__(self) -> None:
        self.orders: list[str] = []

    def order_changed(self, number: str) -> None:
        self.orders.append(number)

    def session_ended(self, session_id: str) -> None:
        pass


def test_a_posted_message_is_announced_to_the_orders_streams_and_a_refused_one_is_not(
    customer: Shopper, number: str, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    told = Announcements()
    monkeypatch.setattr(app.state.shop, "live", told)
    write(customer, f"/orders/{number}/messages", "")
    assert told.orders == []
    write(customer, f"/orders/{number}/messages", "Hello", htmx=True)
    customer.client.post(f"/api/orders/{number}/messages", json={"text": "Again"})
    assert told.orders == [number, number]


@pytest.mark.parametrize("path", ["/orders/{number}/messages", "/staff/orders/{number}/messages"])
@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {}),
        ("forged", {}),
        ("page's", {"Origin": "https://evil.example"}),
        ("page's", {"Sec-Fetch-Site": "cross-site"}),
    ],
    ids=["no token", "wrong token", "foreign origin", "cross-site fetch"],
)
def test_a_forged_message_post_is_403_and_writes_nothing(
    customer: Shopper,
    number: str,
    member: Shopper,
    app: Litestar,
    path: str,
    token: str | None,
    headers: dict[str, str],
) -> None:
    person = member if path.startswith("/staff") else customer
    person.visit(f"/orders/{number}" if person is customer else f"/staff/orders/{number}")
    form: dict[str, str] = {"text": "Forged"}
    if token is not None:
        form["csrf_token"] = person.csrf if token == "page's" else token
    answer = person.client.post(path.format(number=number), data=form, headers=headers, follow_redirects=False)
    assert answer.status_code == 403
    assert stored(app) == []


def test_a_json_message_from_another_site_is_refused_and_writes_nothing(
    customer: Shopper, number: str, app: Litestar
) -> None:
    answer = customer.client.post(
        f"/api/orders/{number}/messages", json={"text": "Forged"}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    refused = customer.client.post(f"/api/orders/{number}/messages", content=b"text=Forged")
    assert refused.status_code == 415, "a form a foreign page could send is not JSON"
    assert stored(app) == []
