"""The outbox: written with the order, delivered after commit to a real SMTP server or to files,
once; a failing server delays mail and never touches the order."""

from __future__ import annotations

import email
import email.policy
import secrets
import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar import Litestar

from tests.conftest import Shopper, sql
from web import mail
from web.__main__ import main
from web.metrics import Metrics
from web.settings import Settings


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def ordered(shopper: Shopper) -> str:
    shopper.add("tea-tin", 2)
    return shopper.checkout(name="Ada <Lovelace>")


def outbox(app: Litestar) -> list[Any]:
    return sql(app, "SELECT status, attempts, recipient, subject, last_error FROM outbox ORDER BY id")


def send(app: Litestar, settings: Settings, sender: Any = None, now: float | None = None) -> mail.Delivery:
    clock = (lambda: now) if now is not None else None
    kwargs = {"now": clock} if clock else {}
    return mail.deliver_pending(app.state.shop.db, settings, Metrics(), sender, **kwargs)


def test_the_confirmation_is_written_with_the_order_and_waits_for_the_sender(app: Litestar, ordered: str) -> None:
    assert outbox(app) == [("pending", 0, "ada@example.com", f"Your order {ordered}", "")]


def test_it_is_delivered_once_over_smtp(
    app: Litestar, settings: Settings, ordered: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    over_smtp = settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{port}")
    assert send(app, over_smtp).sent == 1
    assert send(app, over_smtp).sent == 0  # nothing is sent twice
    (received,) = inbox.messages
    assert received["To"] == "ada@example.com" and received["Subject"] == f"Your order {ordered}"
    assert received["Message-ID"] == f"<order-confirmation.{ordered}@storefront>"
    text = next(part for part in received.walk() if part.get_content_type() == "text/plain").get_payload(decode=True)
    html = next(part for part in received.walk() if part.get_content_type() == "text/html").get_payload(decode=True)
    assert f"Order number: {ordered}" in text.decode() and "Ada <Lovelace>" in text.decode()
    assert "Ada &lt;Lovelace&gt;" in html.decode() and "<Lovelace>" not in html.decode()
    assert "2 x Tea tin" in text.decode() and "pay on delivery" in text.decode()
    assert outbox(app)[0][:2] == ("sent", 0)


def test_a_failing_server_is_retried_with_back_off_and_the_order_stands(
    app: Litestar, settings: Settings, ordered: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    down = settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    start = time.time()
    done = send(app, down, now=start)
    assert (done.sent, done.retried) == (0, 1)
    status, attempts, _to, _subject, error = outbox(app)[0]
    assert (status, attempts) == ("pending", 1) and "ConnectionRefusedError" in error
    assert sql(app, "SELECT status FROM orders")[0][0] == "placed"
    up = settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{port}")
    assert send(app, up, now=start + 10).sent == 0  # not due yet: the back-off holds it
    assert send(app, up, now=start + mail.backoff(1) + 1).sent == 1
    assert len(inbox.messages) == 1 and outbox(app)[0][:2] == ("sent", 1)


def test_a_message_that_keeps_failing_is_given_up_and_counted(app: Litestar, settings: Settings, ordered: str) -> None:
    class Broken:
        def send(self, message: EmailMessage) -> None:
            raise OSError("mail server on fire")

    now = time.time()
    for _attempt in range(mail.MAX_ATTEMPTS):
        send(app, settings, Broken(), now=now)
        now += 3601
    assert outbox(app)[0][:2] == ("failed", mail.MAX_ATTEMPTS)
    assert send(app, settings, Broken(), now=now).failed == 0  # a failed message is left alone


def test_a_claimed_message_is_not_sent_by_a_second_sender(app: Litestar, settings: Settings, ordered: str) -> None:
    sent: list[str] = []

    class Recording:
        def send(self, message: EmailMessage) -> None:
            sent.append(str(message["Message-ID"]))
            # While the first sender holds it, a second one finds nothing to send.
            assert send(app, settings, Recording()).sent == 0

    assert send(app, settings, Recording()).sent == 1
    assert len(sent) == 1


def test_without_smtp_it_is_written_as_an_eml_file(app: Litestar, settings: Settings, ordered: str) -> None:
    assert send(app, settings).sent == 1
    (written,) = list(Path(settings.outbox_dir).glob("*.eml"))
    parsed = email.message_from_bytes(written.read_bytes())
    assert parsed["Subject"] == f"Your order {ordered}"
    assert send(app, settings).sent == 0 and len(list(Path(settings.outbox_dir).glob("*.eml"))) == 1


def test_the_send_mail_command_delivers_what_is_pending(
    app: Litestar, settings: Settings, ordered: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTBOX_DIR", str(settings.outbox_dir))
    if settings.session_store_url:
        monkeypatch.setenv("SESSION_STORE_URL", settings.session_store_url)
    assert main(["send-mail"]) == 0
    assert "mail sent: 1" in capsys.readouterr().out
    assert outbox(app)[0][0] == "sent"


def test_a_failed_placement_writes_no_mail(shopper: Shopper, app: Litestar) -> None:
    shopper.add("tea-tin", 1)
    review = shopper.review()
    sql(app, "UPDATE variants SET stock = 0 WHERE sku = 'tea-tin'")
    refused = shopper.place(review)
    assert refused.status_code == 303 and refused.headers["location"] == "/cart"  # nothing left to review
    assert "Tea tin: 0 left" in shopper.visit("/cart").text
    assert outbox(app) == [] and sql(app, "SELECT count(*) FROM orders") == [(0,)]


def test_a_mail_server_that_is_down_does_not_make_the_shop_unready(settings: Settings) -> None:
    from litestar.testing import TestClient

    from web.app import create_app

    app = create_app(settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{free_port()}", mail_in_background=True))
    try:
        with TestClient(app) as client:
            assert client.get("/readyz").status_code == 200
    finally:
        app.state.shop.db.dispose()


def stored(**fields: Any) -> Any:
    """An outbox row as the sender reads it."""
    row = {
        "recipient": "ada@example.com",
        "subject": "Your order ABCD2345",
        "created_at": 1_700_000_000,
        "dedupe_key": "order-confirmation:ABCD2345",
        "body": "Total €12.00\n",
        "body_html": "<p>Total €12.00</p>",
    }
    return SimpleNamespace(**(row | fields))


def read_back(mail_: Any) -> Any:
    return email.message_from_bytes(bytes(mail_), policy=email.policy.default)


def test_a_message_reads_back_as_it_was_stored_whatever_its_text() -> None:
    """UTF-8 text goes as 8bit, ASCII as 7bit, and a line longer than mail allows as quoted-printable;
    each part reads back exactly as stored, with its headers."""
    long_line = "€" + "x" * 1200
    for body, html, encoding in (
        ("Total €12.00\nThank you\n", "<p>Total €12.00</p>", "8bit"),
        ("Total EUR 12.00\n", "", "7bit"),
        (f"{long_line}\n", f"<p>{long_line}</p>", "quoted-printable"),
    ):
        parsed = read_back(mail.message(stored(body=body, body_html=html), "Storefront <shop@localhost>"))
        assert parsed["From"] == "Storefront <shop@localhost>" and parsed["To"] == "ada@example.com"
        assert parsed["Subject"] == "Your order ABCD2345"
        assert parsed["Message-ID"] == "<order-confirmation.ABCD2345@storefront>"
        assert parsed["Date"].datetime.timestamp() == 1_700_000_000
        plain = parsed.get_body(("plain",))
        assert plain.get_content() == body and plain["Content-Transfer-Encoding"] == encoding
        if html:
            assert parsed.get_body(("html",)).get_content() == html
        else:
            assert not parsed.is_multipart()


def test_a_name_or_address_that_is_not_ascii_is_encoded_in_its_header() -> None:
    row = stored(recipient="jörg@exämple.com", subject="Ihre Bestellung über €5")
    parsed = read_back(mail.message(row, "Läden <shop@example.com>"))
    assert (parsed["To"], parsed["Subject"], parsed["From"]) == (
        "jörg@exämple.com",
        "Ihre Bestellung über €5",
        "Läden <shop@example.com>",
    )
    head = bytes(mail.message(row, "Läden <shop@example.com>")).split(b"\n\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head  # encoded words: a mail server without SMTPUTF8 takes it
    assert parsed.get_body(("plain",)).get_content() == row.body


def pending(app: Litestar, count: int) -> None:
    """`count` more messages in the outbox, due now."""
    db = app.state.shop.db
    now = int(time.time())

    def work(conn: Any) -> None:
        with db.write(conn):
            for n in range(count):
                key = f"test:{secrets.token_hex(8)}:{n}"
                mail.enqueue(conn, now, kind="test", key=key, to="ada@example.com", subject="Hi", body="x")

    db.run_sync(work)


def test_a_batch_is_claimed_and_marked_sent_in_the_same_statements_however_many_it_holds(
    app: Litestar, settings: Settings
) -> None:
    db = app.state.shop.db
    counts = []
    for messages in (1, 12):
        pending(app, messages)
        before = db.statements
        assert send(app, settings).sent == messages
        counts.append(db.statements - before)
    assert counts[0] == counts[1], counts
    assert {row[0] for row in outbox(app)} == {"sent"}


def test_what_went_out_is_marked_sent_when_a_batch_stops_early(app: Litestar, settings: Settings) -> None:
    pending(app, 3)
    sent: list[str] = []

    class BreaksOnTheSecond:
        def send(self, message: Any) -> None:
            if sent:
                raise RuntimeError("a bug in the sender")
            sent.append(str(message["Message-ID"]))

    with pytest.raises(RuntimeError):
        send(app, settings, BreaksOnTheSecond())
    assert [row[0] for row in outbox(app)] == ["sent", "pending", "pending"]


@pytest.mark.sqlite_only
def test_the_servers_sender_works_on_the_requests_connection_and_sends_in_its_own_thread(
    app: Litestar, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite another connection's commit empties the requests' connection's page cache: the
    background sender's claims and records run where the requests' units do, its sending elsewhere."""
    import asyncio
    import threading

    pending(app, 2)
    threads: dict[str, set[int]] = {"database": set(), "sending": set()}
    claiming = mail.claiming

    def watched_claiming(db: Any, now: int) -> Any:
        work = claiming(db, now)

        def watched(conn: Any) -> Any:
            threads["database"].add(threading.get_ident())
            return work(conn)

        return watched

    class Recording:
        def send(self, message: Any) -> None:
            threads["sending"].add(threading.get_ident())

    monkeypatch.setattr(mail, "claiming", watched_claiming)
    monkeypatch.setattr(mail, "sender_for", lambda _settings: Recording())

    async def deliver() -> tuple[int, int]:
        postman = mail.Postman(app.state.shop.db, settings, Metrics())
        try:
            return (await postman.deliver()).sent, threading.get_ident()
        finally:
            await postman.stop()

    sent, loop_thread = asyncio.run(deliver())
    assert sent == 2
    assert threads["database"] == {loop_thread} and loop_thread not in threads["sending"] and threads["sending"]
