"""The outbox: written with the order, delivered after commit to a real SMTP server or to files,
once; a failing server delays mail and never touches the order."""

from __future__ import annotations

import email
import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
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
