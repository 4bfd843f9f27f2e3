"""The links an account's mailbox receives: confirm a new account, choose a new password, and the
warning that someone registered with an address that has an account already. No HTTP here.

Registering and "forgot password" answer the same whatever the address, so they tell nobody who
has an account: what differs is only the mail, which goes to the address's owner. A link is a
random token; only its SHA-256 is stored, with its purpose and expiry, and it works once (used_at
is set by the one UPDATE that can consume it).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, insert, select, update

from web import mail
from web.accounts import service as accounts
from web.models import account_tokens, users
from web.sessions import SessionStore
from web.settings import Settings

Purpose = Literal["confirm", "reset"]
LIFETIME: dict[Purpose, int] = {"confirm": 48 * 3600, "reset": 3600}
PATH: dict[Purpose, str] = {"confirm": "/account/confirm", "reset": "/account/reset"}
# Account mails one address may be sent within the throttle's window (LOGIN_FAILURE_WINDOW_SECONDS).
MAILS_PER_ADDRESS = 3


@dataclass(frozen=True)
class Registered:
    """What registering did, for the caller's tests and logs; the shopper is told the same in all cases."""

    user_id: int
    outcome: Literal["new", "pending", "exists"]


def take_mail_quota(conn: Connection, counters: SessionStore, settings: Settings, email: str, address: str) -> int:
    """Count one account mail asked for (registering, a new password) against the address asking
    and the address mailed; the seconds to wait past either limit, else 0. Counted for every email,
    known or not, so a refusal tells nothing about who has an account."""
    mailed = hashlib.sha256(email.encode()).hexdigest()[:40]
    limits = {
        f"mail:address:{accounts.address_key(address)}": settings.login_max_failures_per_address,
        f"mail:email:{mailed}": MAILS_PER_ADDRESS,
    }
    return counters.throttle_take(conn, limits, settings.login_failure_window_seconds)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(conn: Connection, user_id: int, purpose: Purpose, now: int, password_hash: str | None = None) -> str:
    """A new link's token for `user_id`. An earlier unused new-password link stops working; earlier
    confirmation links keep working (each confirms with its own registration's password), so a
    stranger registering the address again cannot end the owner's link."""
    if purpose == "reset":
        end_links(conn, user_id, purpose, now)
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(account_tokens).values(
            user_id=user_id,
            purpose=purpose,
            token_hash=digest(token),
            created_at=now,
            expires_at=now + LIFETIME[purpose],
            password_hash=password_hash,
        )
    )
    return token


@dataclass(frozen=True)
class Link:
    """A usable link: whose account it is, and (for a confirmation) the password it confirms."""

    account: accounts.Account
    password_hash: str


def holder(conn: Connection, token: str, purpose: Purpose, now: int) -> Link | None:
    """A still-usable link (without using it), or None."""
    row = conn.execute(
        select(account_tokens.c.user_id, account_tokens.c.password_hash).where(
            account_tokens.c.token_hash == digest(token),
            account_tokens.c.purpose == purpose,
            account_tokens.c.used_at.is_(None),
            account_tokens.c.expires_at > now,
        )
    ).first()
    account = accounts.by_id(conn, int(row.user_id)) if row is not None else None
    return Link(account, row.password_hash or account.password_hash) if row is not None and account else None


def use(conn: Connection, token: str, purpose: Purpose, now: int) -> int | None:
    """Use a link: the account's id, or None when it is unknown, expired or used already. One
    conditional UPDATE, so two clicks at once cannot both use it."""
    user_id = conn.execute(
        update(account_tokens)
        .where(
            account_tokens.c.token_hash == digest(token),
            account_tokens.c.purpose == purpose,
            account_tokens.c.used_at.is_(None),
            account_tokens.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(account_tokens.c.user_id)
    ).scalar()
    return int(user_id) if user_id is not None else None


def end_links(conn: Connection, user_id: int, purpose: Purpose, now: int) -> None:
    """Every unused link of `purpose` for `user_id` stops working. The account's row is locked first
    (PostgreSQL; SQLite's writers take turns already), so two requests issuing or ending its links
    at once take turns too: the second one's UPDATE sees the link the first one issued, and a link
    issued while a password changes cannot outlive the change."""
    conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
    conn.execute(
        update(account_tokens)
        .where(
            account_tokens.c.user_id == user_id,
            account_tokens.c.purpose == purpose,
            account_tokens.c.used_at.is_(None),
            account_tokens.c.expires_at > now,
        )
        .values(expires_at=now)
    )


def confirm(conn: Connection, user_id: int, now: int) -> None:
    conn.execute(update(users).where(users.c.id == user_id, users.c.confirmed_at.is_(None)).values(confirmed_at=now))


def send(conn: Connection, settings: Settings, template: str, subject: str, to: str, now: int, **values: str) -> None:
    """One account mail, rendered from templates/mail/ into the outbox (sent after commit)."""
    env = mail.mail_templates(settings.templates_dir / "mail", settings.currency)
    body = env.get_template(template).render(shop_url=settings.public_url, email=to, **values)
    mail.enqueue(
        conn,
        now,
        kind=template.removesuffix(".txt"),
        key=f"account:{secrets.token_hex(12)}",
        to=to,
        subject=subject,
        body=body,
    )


def mail_link(
    conn: Connection,
    settings: Settings,
    account: accounts.Account,
    purpose: Purpose,
    now: int,
    password_hash: str | None = None,
) -> None:
    """Mail `account` a new link for `purpose` (a confirmation for the password `password_hash`)."""
    token = issue(conn, account.id, purpose, now, password_hash if purpose == "confirm" else None)
    link = f"{settings.public_url}{PATH[purpose]}?token={token}"
    if purpose == "confirm":
        send(conn, settings, "account_confirm.txt", "Confirm your email address", account.email, now, link=link)
    else:
        send(conn, settings, "password_reset.txt", "Choose a new password", account.email, now, link=link)


def register(
    conn: Connection, settings: Settings, email: str, password_hash: str, display_name: str, now: int
) -> Registered:
    """Register `email`: a new account waits for its owner to confirm the address by the mailed
    link, whose page asks for the password again. An address with an unconfirmed account gets a
    new link for the new password and changes nothing else: whichever link its mailbox's owner uses
    (and proves with its password) decides the password, so registering someone else's address
    gains nothing. One with a confirmed account gets a warning mail instead, and nothing changes."""
    user_id = accounts.create(conn, email, password_hash, display_name, now)
    if user_id is not None:
        account = accounts.by_id(conn, user_id)
        assert account is not None
        mail_link(conn, settings, account, "confirm", now, password_hash)
        return Registered(user_id, "new")
    account = accounts.find(conn, email)
    assert account is not None
    if not account.confirmed:
        mail_link(conn, settings, account, "confirm", now, password_hash)
        return Registered(account.id, "pending")
    send(
        conn,
        settings,
        "account_exists.txt",
        "Someone tried to register with your address",
        account.email,
        now,
        login_link=f"{settings.public_url}/login",
        reset_link=f"{settings.public_url}/account/forgot",
    )
    return Registered(account.id, "exists")


def confirm_with(conn: Connection, link: Link, now: int) -> None:
    """A used confirmation link's password becomes the account's, the address is confirmed, and
    the account's other confirmation links stop working."""
    accounts.set_password(conn, link.account.id, link.password_hash)
    confirm(conn, link.account.id, now)
    end_links(conn, link.account.id, "confirm", now)
