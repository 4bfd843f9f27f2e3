"""Accounts: registration, authentication, password change and login throttling. No HTTP here.

Password hashing is slow on purpose, so it never runs inside a database unit of work: callers
hash or verify between units, off the event loop (see accounts/routes.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from web import text
from web.models import users
from web.problems import InvalidInput
from web.sessions import SessionStore
from web.settings import Settings

EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_EMAIL = 254
MAX_NAME = 100
T = TypeVar("T")
# Argon2 takes ARGON2_MEMORY_KIB (19 MiB) for each hash, and the thread that ran one keeps that
# memory for the next: every hash runs on these threads alone, so a burst of logins waits its turn
# instead of leaving 19 MiB on each of dozens of worker threads (found by bench/soak.py).
HASHING_THREADS = 2
HASHERS = ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="argon2")


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    display_name: str
    password_hash: str
    # Where the user last chose to deliver to ("" when never), taken up at login on a new device.
    delivery_country: str = ""
    delivery_postcode: str = ""
    # Its owner has followed a link mailed to the address (web/accounts/links.py): it may log in.
    confirmed: bool = True
    # It has logged in before.
    returning: bool = True


ACCOUNT_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.display_name,
    users.c.password_hash,
    users.c.delivery_country,
    users.c.delivery_postcode,
    users.c.confirmed_at,
    users.c.last_login_at,
)


def _account(row: Any) -> Account:
    return Account(
        row.id,
        row.email,
        row.display_name,
        row.password_hash,
        row.delivery_country or "",
        row.delivery_postcode or "",
        confirmed=row.confirmed_at is not None,
        returning=row.last_login_at is not None,
    )


@cache
def common_passwords() -> frozenset[str]:
    listed = (Path(__file__).parent / "common_passwords.txt").read_text()
    return frozenset(line.strip().casefold() for line in listed.splitlines() if line and not line.startswith("#"))


@cache
def hasher(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHasher:
    """One hasher per parameter set, so the dummy hash below is made once per set."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


@cache
def dummy_hash(ph: PasswordHasher) -> str:
    """A hash to verify against for unknown emails, so they take as long as known ones."""
    return ph.hash("not a real password, for timing parity")


def normalise_email(raw: str | None) -> str:
    """The address as stored and looked up: trimmed and case-folded; refused with a field message
    when missing, too long, not shaped like an address, or holding what text.plain() refuses."""
    email = (raw or "").strip().casefold()
    if not email:
        raise InvalidInput("Please enter your email address.", field="email")
    if len(email) > MAX_EMAIL or not EMAIL.fullmatch(email) or not text.plain(raw or ""):
        raise InvalidInput("Please enter a valid email address, like name@example.com.", field="email")
    return email


def check_new_password(password: str | None, email: str) -> str:
    """Length and the common-password list only: no composition rules; any characters, taken as typed."""
    if not password:
        raise InvalidInput("Please choose a password.", field="password")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"Your password needs at least {MIN_PASSWORD} characters.", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"Your password can have at most {MAX_PASSWORD} characters.", field="password")
    if password.casefold() in common_passwords() or password.casefold() == email:
        raise InvalidInput("That password is too easy to guess. Please choose another.", field="password")
    return password


def check_display_name(raw: str | None) -> str:
    name = text.check(raw or "", "display_name", "name").strip()
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Your name can have at most {MAX_NAME} characters.", field="display_name")
    return name


def find(conn: Connection, email: str) -> Account | None:
    row = conn.execute(select(*ACCOUNT_COLUMNS).where(users.c.email == email)).first()
    return _account(row) if row else None


def by_id(conn: Connection, user_id: int) -> Account | None:
    row = conn.execute(select(*ACCOUNT_COLUMNS).where(users.c.id == user_id)).first()
    return _account(row) if row else None


def create(conn: Connection, email: str, password_hash: str, display_name: str, now: int) -> int | None:
    """The new user's id, or None when the email is taken (the caller must not reveal which)."""
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    insert(users)
                    .values(email=email, password_hash=password_hash, display_name=display_name, created_at=now)
                    .returning(users.c.id)
                ).scalar_one()
            )
    except IntegrityError:
        return None


def verify(ph: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return ph.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def logged_in(conn: Connection, user_id: int, password_hash: str, now: int) -> bool:
    """Record a login with the password whose hash is `password_hash`; False (nothing recorded)
    when the account's password is no longer that one (changed while it was being checked)."""
    query = update(users).where(users.c.id == user_id, users.c.password_hash == password_hash)
    return bool(conn.execute(query.values(last_login_at=now)).rowcount)


def set_password(conn: Connection, user_id: int, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


@dataclass(frozen=True)
class Attempt:
    """The counters one login attempt (or current-password check) counts against: the account from
    this address, this address, the account from anywhere, and the account's slow-down pace."""

    pair: str
    address: str
    account: str
    pace: str


def address_key(address: str) -> str:
    """A client address as the throttle counts it: an IPv6 address by its /64, which one household
    or one server gets whole (counting each of its addresses would give an attacker 2^64 of them)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:45]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def attempt_of(email: str, address: str) -> Attempt:
    digest = hashlib.sha256(email.encode()).hexdigest()[:40]
    client = address_key(address)
    return Attempt(
        pair=f"login:pair:{digest}:{client}",
        address=f"login:address:{client}",
        account=f"login:account:{digest}",
        pace=f"login:pace:{digest}",
    )


def take_attempt(conn: Connection, counters: SessionStore, settings: Settings, attempt: Attempt) -> int:
    """Count an attempt before its password is checked, and answer the seconds to wait (0: go on).

    Counted first, atomically, so concurrent attempts cannot all pass a check made before any of
    them failed. The account from one address, and one address, are locked for the window past
    their limits; the account from everywhere only slows down past its ceiling (one attempt per
    LOGIN_SLOW_SECONDS), so nobody can lock its owner out from other addresses: an attempt the
    slow-down turns away never tried a password, so it is given back to its address. The three
    counters are taken in one statement (in key order, as a release takes them)."""
    window = settings.login_failure_window_seconds
    over = counters.throttle_count(
        conn,
        {
            attempt.pair: settings.login_max_failures_per_account_and_address,
            attempt.address: settings.login_max_failures_per_address,
            attempt.account: settings.login_max_failures_per_account,
        },
        window,
    )
    locked = [over[key] for key in (attempt.pair, attempt.address) if key in over]
    if locked:
        counters.throttle_release(conn, [attempt.account])  # the account was not tried
        return max(locked)
    if attempt.account in over:
        wait = counters.throttle_take(conn, {attempt.pace: 1}, settings.login_slow_seconds)
        if wait:
            counters.throttle_release(conn, [attempt.pair, attempt.address])
        return wait
    return 0


def attempt_succeeded(conn: Connection, counters: SessionStore, attempt: Attempt) -> None:
    """The right password: its address and account no longer count it, and its own pair starts over."""
    counters.throttle_release(conn, [attempt.address, attempt.account], clear=(attempt.pair,))


async def off_loop(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)`, a password hashed or checked, on one of the HASHERS threads."""
    return await asyncio.get_running_loop().run_in_executor(HASHERS, work, *args)
