"""Accounts: registration, authentication, password change and login throttling. No HTTP here.

Password hashing is slow on purpose, so it never runs inside a database unit of work: callers
hash or verify between units, off the event loop (see accounts/routes.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from web.models import users
from web.problems import InvalidInput

EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_EMAIL = 254
MAX_NAME = 100


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    display_name: str
    password_hash: str
    # Where the user last chose to deliver to ("" when never), taken up at login on a new device.
    delivery_country: str = ""
    delivery_postcode: str = ""


ACCOUNT_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.display_name,
    users.c.password_hash,
    users.c.delivery_country,
    users.c.delivery_postcode,
)


def _account(row: Any) -> Account:
    return Account(
        row.id, row.email, row.display_name, row.password_hash, row.delivery_country or "", row.delivery_postcode or ""
    )


@cache
def common_passwords() -> frozenset[str]:
    text = (Path(__file__).parent / "common_passwords.txt").read_text()
    return frozenset(line.strip().casefold() for line in text.splitlines() if line and not line.startswith("#"))


@cache
def hasher(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHasher:
    """One hasher per parameter set, so the dummy hash below is made once per set."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


@cache
def dummy_hash(ph: PasswordHasher) -> str:
    """A hash to verify against for unknown emails, so they take as long as known ones."""
    return ph.hash("not a real password, for timing parity")


def normalise_email(raw: str | None) -> str:
    email = (raw or "").strip().casefold()
    if not email:
        raise InvalidInput("Please enter your email address.", field="email")
    if len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
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
    name = (raw or "").strip()
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


def set_password(conn: Connection, user_id: int, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def throttle_keys(email: str, address: str) -> dict[str, str]:
    """The login-failure counters an attempt counts against: its account and its client address."""
    digest = hashlib.sha256(email.encode()).hexdigest()[:40]
    return {"account": f"login:account:{digest}", "address": f"login:address:{address}"}
