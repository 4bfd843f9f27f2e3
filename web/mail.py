"""Mail that is never lost and never sent twice at once: the outbox and its senders.

A message is written to the outbox table in the transaction that makes it true (placing an order
writes its confirmation), so it exists exactly when that commits. deliver_pending() sends what is
due after commit: over SMTP when SMTP_URL is set, otherwise as .eml files under var/outbox/ for a
developer to read. A sender claims a batch of rows before sending them, so two senders (workers,
or the `send-mail` command beside a server) never send one message at the same moment; a failure
is retried with back-off and never touches the order. A crash between sending and marking the
batch sent delivers its messages again on the next run: mail cannot be exactly-once, and every
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
from dataclasses import dataclass, field
from email.charset import QP, Charset
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Connection, bindparam, func, select, update

from web.db import Database, Prepared, dialect_insert
from web.metrics import Metrics
from web.models import outbox
from web.money import money
from web.settings import Settings

log = logging.getLogger("storefront")
MAX_ATTEMPTS = 8
CLAIM_SECONDS = 120
BATCH = 20  # claimed at once, and marked sent together: a crash while sending repeats at most these
GATHER_SECONDS = 0.2  # after a commit rings, so that a burst of orders is sent as one batch
MAX_LINE = 998  # characters in a line of mail (RFC 5322)
UTF8_8BIT = Charset("utf-8")
UTF8_8BIT.body_encoding = None  # type: ignore[assignment]  # None is 8bit (typeshed has only the encodings)
UTF8_QUOTED = Charset("utf-8")
UTF8_QUOTED.body_encoding = QP


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


OUTBOX_COLUMNS = ("kind", "dedupe_key", "recipient", "subject", "body", "body_html", "next_attempt_at", "created_at")


@cache
def outbox_insert(dialect: str) -> Prepared:
    """A pending message, unless one with its dedupe key is already in the outbox."""
    return Prepared(
        dialect_insert(dialect)(outbox)
        .values(
            {name: bindparam(name) for name in OUTBOX_COLUMNS} | {"status": "pending", "attempts": 0, "last_error": ""}
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )


def enqueue(
    conn: Connection, now: int, *, kind: str, key: str, to: str, subject: str, body: str, html: str = ""
) -> None:
    """Write a message to the outbox, once per `key`: a second message with the same key is dropped."""
    outbox_insert(conn.dialect.name).run(
        conn,
        kind=kind,
        dedupe_key=key,
        recipient=to,
        subject=subject,
        body=body,
        body_html=html,
        next_attempt_at=now,
        created_at=now,
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


def message(row: Any, sender: str) -> Message:
    """The stored message as mail: plain text, with an HTML alternative when one was stored.

    Built with the email package's compat32 classes, about a third of the CPU of EmailMessage's
    default policy (0.7 ms against 2.3 for an order confirmation, docs/design.md §8): the headers
    are ASCII then. A sender, recipient or subject that is not goes through EmailMessage, which
    encodes it.
    """
    if not (sender.isascii() and row.recipient.isascii() and row.subject.isascii()):
        return international_message(row, sender)
    parts = [text_part(row.body, "plain")]
    if row.body_html:
        parts.append(text_part(row.body_html, "html"))
    mail: Message = parts[0] if len(parts) == 1 else MIMEMultipart("alternative", _subparts=parts)
    for name, value in headers(row, sender).items():
        mail[name] = value
    return mail


def headers(row: Any, sender: str) -> dict[str, str]:
    return {
        "From": sender,
        "To": row.recipient,
        "Subject": row.subject,
        "Date": formatdate(row.created_at, usegmt=True),
        "Message-ID": f"<{row.dedupe_key.replace(':', '.')}@storefront>",
    }


def text_part(body: str, subtype: str) -> MIMEText:
    """7bit when ASCII, else 8bit UTF-8; quoted-printable when a line is longer than mail allows (998)."""
    if max(map(len, body.splitlines()), default=0) > MAX_LINE:
        charset = UTF8_QUOTED
    elif body.isascii():
        return MIMEText(body, subtype, "us-ascii")
    else:
        charset = UTF8_8BIT
    return MIMEText(body, subtype, charset)  # type: ignore[arg-type]  # a Charset is taken too (typeshed: str)


def international_message(row: Any, sender: str) -> EmailMessage:
    """The message with headers the default policy encodes (a name or address that is not ASCII)."""
    mail = EmailMessage()
    for name, value in headers(row, sender).items():
        mail[name] = value
    mail.set_content(row.body)
    if row.body_html:
        mail.add_alternative(row.body_html, subtype="html")
    return mail


class Sender(Protocol):
    def send(self, mail: Message) -> None: ...


@dataclass
class SmtpSender:
    """smtp://[user:password@]host[:port][?starttls=1], or smtps:// for TLS from the start."""

    url: str
    timeout: float = 10.0

    def send(self, mail: Message) -> None:
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

    def send(self, mail: Message) -> None:
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


def claiming(db: Database, now: int) -> Callable[[Connection], list[Any]]:
    """The unit that claims due messages for CLAIM_SECONDS, oldest first, in one statement: a row is
    taken only if no one else holds it (a second sender's UPDATE finds it claimed, and skips it)."""
    unclaimed = (outbox.c.claimed_until.is_(None)) | (outbox.c.claimed_until < now)
    due = (
        select(outbox.c.id)
        .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now, unclaimed)
        .order_by(outbox.c.id)
        .limit(BATCH)
    )

    def work(conn: Connection) -> list[Any]:
        with db.write(conn):
            rows = conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(due.scalar_subquery()), outbox.c.status == "pending", unclaimed)
                .values(claimed_until=now + CLAIM_SECONDS)
                .returning(*outbox.c)
            ).all()
        return sorted(rows, key=lambda row: row.id)

    return work


@dataclass
class Outcome:
    """What became of a claimed batch: the ids sent, and each failure with its error."""

    sent: list[int] = field(default_factory=list)
    failed: list[tuple[Any, str]] = field(default_factory=list)

    def so_far(self) -> Outcome:
        """A copy to record: a send stopped by cancellation may still be noting in this one."""
        return Outcome(list(self.sent), list(self.failed))


def built(batch: list[Any], mail_from: str) -> list[tuple[Any, Message]]:
    """Each claimed row with its mail, ready to send."""
    return [(row, message(row, mail_from)) for row in batch]


def send_batch(sender: Sender, batch: list[tuple[Any, Message]], outcome: Outcome) -> None:
    """Send each built message, noting in `outcome` as it goes what went out and what failed. No
    database and no building here: the server runs this in its sending thread, where it waits for
    the mail server (or the disk) without holding the interpreter."""
    for row, mail in batch:
        try:
            sender.send(mail)
        except (OSError, smtplib.SMTPException) as failure:
            outcome.failed.append((row, f"{type(failure).__name__}: {failure}"))
        else:
            outcome.sent.append(row.id)


def recording(db: Database, outcome: Outcome, now: int) -> Callable[[Connection], list[str]]:
    """The unit that writes a batch's outcome in one transaction: the sent marked sent in one
    statement, each failure counted with when to try again; returns each failure's new status."""

    def work(conn: Connection) -> list[str]:
        statuses = []
        with db.write(conn):
            if outcome.sent:
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(outcome.sent))
                    .values(status="sent", sent_at=now, claimed_until=None, last_error="")
                )
            for row, error in outcome.failed:
                attempts = row.attempts + 1
                status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id)
                    .values(
                        attempts=attempts,
                        claimed_until=None,
                        last_error=error[:2000],
                        status=status,
                        next_attempt_at=now + backoff(attempts),
                    )
                )
                statuses.append(status)
        return statuses

    return work


def tally(done: Delivery, outcome: Outcome, statuses: list[str], metrics: Metrics) -> None:
    """Count a recorded batch in `done` and the metrics; log each failure."""
    metrics.mail_sent.inc(len(outcome.sent))
    done.sent += len(outcome.sent)
    for (row, error), status in zip(outcome.failed, statuses, strict=True):
        metrics.mail_failures.inc()
        log.warning("mail %s to %s not sent (%s): %s", row.kind, row.recipient, status, error)
        done.failed += status == "failed"
        done.retried += status == "pending"


def deliver_pending(
    db: Database,
    settings: Settings,
    metrics: Metrics,
    sender: Sender | None = None,
    now: Callable[[], float] = time.time,
) -> Delivery:
    """Send every message that is due, once each, batch by batch (the `send-mail` command)."""
    sender = sender or sender_for(settings)
    done = Delivery()
    while True:
        batch = db.run_sync(claiming(db, int(now())))
        if not batch:
            return done
        outcome = Outcome()
        try:
            send_batch(sender, built(batch, settings.mail_from), outcome)
        finally:  # what went out is marked sent even when the batch stopped early
            settled = outcome.so_far()
            tally(done, settled, db.run_sync(recording(db, settled, int(now()))), metrics)


def outbox_stats(conn: Connection, now: int) -> tuple[dict[str, int], int]:
    """How many messages there are by status, and the age in seconds of the oldest pending one."""
    counts = {"pending": 0, "sent": 0, "failed": 0}
    counts.update(dict(conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()))
    oldest = conn.execute(select(func.min(outbox.c.created_at)).where(outbox.c.status == "pending")).scalar()
    return counts, max(0, now - oldest) if oldest is not None else 0


class Postman:
    """The server's background sender: sends what is due every few seconds, and GATHER_SECONDS after
    it is woken (by a commit that wrote mail), so that a burst of orders is one batch, one claim and
    one write of what was sent. A failing mail server only delays mail, never a request."""

    def __init__(self, db: Database, settings: Settings, metrics: Metrics) -> None:
        self.db, self.settings, self.metrics = db, settings, metrics
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # Sending (a mail server's answers, or files) waits in this thread; the database work does not.
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
        while True:
            try:
                await self.deliver()
            except Exception:  # a broken database or mail server: try again at the next round
                log.exception("sending mail failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.mail_poll_seconds)
            self.wake.clear()
            await asyncio.sleep(GATHER_SECONDS)

    async def deliver(self) -> Delivery:
        """deliver_pending() as the server runs it: the database work as the requests' own units
        (on SQLite inline, on the requests' connection, whose page cache another connection's
        commits would empty), the sending in the sending thread."""
        loop = asyncio.get_running_loop()
        sender = sender_for(self.settings)
        done = Delivery()
        while True:
            batch = await self.db.run(claiming(self.db, int(time.time())))
            if not batch:
                return done
            outcome = Outcome()
            try:
                mails = built(batch, self.settings.mail_from)  # CPU: here, not in a second thread
                await loop.run_in_executor(self.thread, send_batch, sender, mails, outcome)
            finally:  # cancelled (the server stopping), the sending thread may go on noting in `outcome`
                settled = outcome.so_far()
                tally(done, settled, await self.db.run(recording(self.db, settled, int(time.time()))), self.metrics)
