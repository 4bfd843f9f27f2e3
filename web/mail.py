"""Mail that is never lost and never sent twice at once: the outbox and its senders.

A message is written to the outbox table in the transaction that makes it true (placing an order
writes its confirmation), so it exists exactly when that commits. deliver_pending() sends what is
due after commit: over SMTP when SMTP_URL is set, otherwise as .eml files under var/outbox/ for a
developer to read. A sender claims a row before sending it, so two senders (workers, or the
`send-mail` command beside a server) never send one message at the same moment; a failure is
retried with back-off and never touches the order. A crash between sending and marking the row
sent delivers that one message again on the next run: mail cannot be exactly-once, and every
message carries a fixed Message-ID so that mail software can recognise the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Connection, func, select, update

from web.db import Database, dialect_insert
from web.metrics import Metrics
from web.models import outbox
from web.money import money
from web.settings import Settings

log = logging.getLogger("storefront")
MAX_ATTEMPTS = 8
CLAIM_SECONDS = 120
BATCH = 50


def backoff(attempts: int) -> int:
    """Seconds before the next try after `attempts` failures: 30 s, 1, 2, 4 ... minutes, at most an hour."""
    return int(min(30 * 2 ** (attempts - 1), 3600))


@cache
def mail_templates(folder: Path, currency: str) -> Environment:
    """One environment per template folder: compiled once, checked for changed files on each use."""
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda cents: money(cents, currency)
    return env


def enqueue(
    conn: Connection, now: int, *, kind: str, key: str, to: str, subject: str, body: str, html: str = ""
) -> None:
    """Write a message to the outbox, once per `key`: a second message with the same key is dropped."""
    conn.execute(
        dialect_insert(conn.dialect.name)(outbox)
        .values(
            kind=kind,
            dedupe_key=key,
            recipient=to,
            subject=subject,
            body=body,
            body_html=html,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            last_error="",
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


def enqueue_confirmation(conn: Connection, order: Any, now: int, settings: Settings) -> None:
    """The order's confirmation, rendered now from templates/mail/ and kept with the message."""
    env = mail_templates(settings.templates_dir / "mail", settings.currency)
    values = {"order": order, "order_url": f"{settings.public_url}/orders/{order.number}"}
    text = env.get_template("order_confirmation.txt").render(values)
    html = env.get_template("order_confirmation.html").render(values)
    enqueue(
        conn,
        now,
        kind="order_confirmation",
        key=f"order-confirmation:{order.number}",
        to=order.email,
        subject=f"Your order {order.number}",
        body=text,
        html=html,
    )


def message(row: Any, sender: str) -> EmailMessage:
    """The stored message as mail: plain text, with an HTML alternative when one was stored."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = row.recipient
    mail["Subject"] = row.subject
    mail["Date"] = formatdate(row.created_at, usegmt=True)
    mail["Message-ID"] = f"<{row.dedupe_key.replace(':', '.')}@storefront>"
    mail.set_content(row.body)
    if row.body_html:
        mail.add_alternative(row.body_html, subtype="html")
    return mail


class Sender(Protocol):
    def send(self, mail: EmailMessage) -> None: ...


@dataclass
class SmtpSender:
    """smtp://[user:password@]host[:port][?starttls=1], or smtps:// for TLS from the start."""

    url: str
    timeout: float = 10.0

    def send(self, mail: EmailMessage) -> None:
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        query = parse_qs(parts.query)
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=self.timeout)
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=self.timeout)
        with client:
            if query.get("starttls", ["0"])[0] in ("1", "true", "yes"):
                client.starttls(context=ssl.create_default_context())
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(mail)


@dataclass
class FileSender:
    """Each message as an .eml file, for development: open it in any mail program or text editor."""

    folder: Path

    def send(self, mail: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = str(mail["Message-ID"]).strip("<>").replace("@", "-at-")
        path = self.folder / f"{name}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(bytes(mail))
        temporary.replace(path)


def sender_for(settings: Settings) -> Sender:
    return SmtpSender(settings.smtp_url) if settings.smtp_url else FileSender(settings.outbox_dir)


@dataclass
class Delivery:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def claim(db: Database, now: int) -> list[Any]:
    """Due messages this sender now holds for CLAIM_SECONDS: each row is taken only if no one else holds it."""

    def work(conn: Connection) -> list[Any]:
        claimed = []
        with db.write(conn):
            due = conn.execute(
                select(outbox.c.id)
                .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
                .where((outbox.c.claimed_until.is_(None)) | (outbox.c.claimed_until < now))
                .order_by(outbox.c.id)
                .limit(BATCH)
            ).scalars()
            for message_id in list(due):
                taken = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == message_id, outbox.c.status == "pending")
                    .where((outbox.c.claimed_until.is_(None)) | (outbox.c.claimed_until < now))
                    .values(claimed_until=now + CLAIM_SECONDS)
                ).rowcount
                if taken:
                    claimed.append(conn.execute(select(outbox).where(outbox.c.id == message_id)).one())
        return claimed

    return db.run_sync(work)


def record(db: Database, row: Any, now: int, error: str | None) -> str:
    """Mark a claimed message sent, or count the failure and set when to try again; returns its new status."""
    if error is None:
        values: dict[str, Any] = {"status": "sent", "sent_at": now, "claimed_until": None, "last_error": ""}
    else:
        attempts = row.attempts + 1
        values = {
            "attempts": attempts,
            "claimed_until": None,
            "last_error": error[:2000],
            "status": "failed" if attempts >= MAX_ATTEMPTS else "pending",
            "next_attempt_at": now + backoff(attempts),
        }

    def work(conn: Connection) -> None:
        with db.write(conn):
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(**values))

    db.run_sync(work)
    return str(values["status"])


def deliver_pending(
    db: Database,
    settings: Settings,
    metrics: Metrics,
    sender: Sender | None = None,
    now: Callable[[], float] = time.time,
) -> Delivery:
    """Send every message that is due, once each; synchronous (the server runs it in a worker thread)."""
    sender = sender or sender_for(settings)
    done = Delivery()
    while True:
        batch = claim(db, int(now()))
        if not batch:
            return done
        for row in batch:
            try:
                sender.send(message(row, settings.mail_from))
                error = None
            except (OSError, smtplib.SMTPException) as failure:
                error = f"{type(failure).__name__}: {failure}"
            status = record(db, row, int(now()), error)
            if error is None:
                metrics.mail_sent.inc()
                done.sent += 1
            else:
                metrics.mail_failures.inc()
                log.warning("mail %s to %s not sent (%s): %s", row.kind, row.recipient, status, error)
                done.failed += status == "failed"
                done.retried += status == "pending"


def outbox_stats(conn: Connection, now: int) -> tuple[dict[str, int], int]:
    """How many messages there are by status, and the age in seconds of the oldest pending one."""
    counts = {"pending": 0, "sent": 0, "failed": 0}
    counts.update(dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()))
    oldest = conn.execute(select(func.min(outbox.c.created_at)).where(outbox.c.status == "pending")).scalar()
    return counts, max(0, now - oldest) if oldest is not None else 0


class Postman:
    """The server's background sender: sends what is due every few seconds, and at once when woken
    (after a commit that wrote mail). A failing mail server only delays mail, never a request."""

    def __init__(self, db: Database, settings: Settings, metrics: Metrics) -> None:
        self.db, self.settings, self.metrics = db, settings, metrics
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # Always the same thread, so sending holds one database connection (SQLite keeps one a thread).
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postman")

    def ring(self) -> None:
        self.wake.set()

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.thread.shutdown(wait=False)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(self.thread, deliver_pending, self.db, self.settings, self.metrics)
            except Exception:  # a broken database or mail server: try again at the next round
                log.exception("sending mail failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.mail_poll_seconds)
            self.wake.clear()
