"""Server-side sessions behind one opaque cookie.

The cookie carries 256 random bits and nothing else. The store keys sessions by the SHA-256 of
that value, so neither the database nor the logs ever hold a usable session ID. An ID the store
does not know (planted, forged, expired or purged) is never adopted: the visitor gets a fresh one.
The session is loaded and saved inside the request's unit of work (web/visit.py), on the same
connection as the cart, so a request makes no separate trip for it. The Redis store writes it once
the unit's database transaction has committed, so a commit that fails leaves it as it was.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, bindparam, case, delete, insert, select, update

from web.db import Prepared, after_commit, dialect_insert, hold_past_commit
from web.models import sessions, throttles
from web.settings import Settings, SettingsError, signing_key

REMOVED = object()
# What the record of a minted ID whose session ended holds (see SessionStore.save()).
ENDED = "ended"
# Flash messages a session keeps for the next page shown (see Session.flash()).
FLASHES_KEPT = 5


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def mac(key: bytes, text: str, size: int = 16) -> str:
    """HMAC-SHA-256 of `text` under `key`, its first `size` bytes in URL-safe base64 (16: 22 characters)."""
    return base64.urlsafe_b64encode(hmac.digest(key, text.encode(), "sha256")[:size]).decode().rstrip("=")


# A visitor's first ID: 192 random bits, the minute it was minted (masked, so the cookie stays
# opaque) and our MAC of both. It is not stored until the session holds something, so a visitor
# with nothing to keep costs no write.
MINTED = re.compile(r"(([A-Za-z0-9_-]{32})\.([0-9a-f]{8}))\.([A-Za-z0-9_-]{22})")


def session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def short_hash(session_id: str | None) -> str:
    """What logs and the debug endpoint may show of a session ID."""
    return session_key(session_id)[:12] if session_id else "-"


@dataclass
class Session:
    id: str
    data: dict[str, Any]
    created_at: int
    expires_at: int
    is_new: bool = False
    previous_id: str | None = None
    issued: bool = False
    rotated: bool = False
    changes: dict[str, Any] = field(default_factory=dict)
    # The key its CSRF token is derived with, while it has none of its own (SessionStore.key).
    token_key: bytes = b""
    # Its ID was minted by this request: the browser does not have it yet, so an answer that shows
    # its CSRF token (token_shown) sets it, as does one that stores it.
    minted: bool = False
    token_shown: bool = False
    # First stored by this request (for the sessions-created metric).
    created: bool = False
    # Why its store could not write it once the unit's database work had committed (Redis gone
    # then): the stored session is as it was before this request (see not_stored()).
    save_error: Exception | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.previous_id is not None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if self.data.get(key) != value:
            self.data[key] = value
            self.changes[key] = value

    def pop(self, key: str, default: Any = None) -> Any:
        if key in self.data:
            self.changes[key] = REMOVED
            return self.data.pop(key)
        return default

    def flash(self, message: str, level: str = "info") -> None:
        """A message for the next page shown: the same message once, and only the last FLASHES_KEPT
        (a client that posts and never reads a page must not grow its session without end)."""
        kept = [shown for shown in self.data.get("flash", []) if shown["message"] != message]
        self.set("flash", [*kept, {"message": message, "level": level}][-FLASHES_KEPT:])

    def take_flashes(self) -> list[dict[str, str]]:
        return list(self.pop("flash", []))

    @property
    def csrf_token(self) -> str:
        """Its synchronizer token: our MAC of its ID, so a page can carry a token without its session
        being stored, and a new ID (login, logout, a password change: rotate()) is a new token, which
        refuses the forms rendered before it."""
        self.token_shown = True
        return self._token()

    def _token(self) -> str:
        assert self.token_key, "sessions come from SessionStore.load(), which gives them their key"
        return mac(self.token_key, f"csrf:{self.id}", 32)

    def csrf_matches(self, sent: str | None) -> bool:
        """Whether `sent` is its token (checking shows no token, so it sets no cookie)."""
        if not isinstance(sent, str) or not sent:
            return False
        return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), self._token().encode())

    @property
    def cookie_due(self) -> bool:
        """Whether the answer must set the cookie: the browser lacks an ID it now needs."""
        return self.issued or (self.minted and self.token_shown)

    def reset(self) -> None:
        """Forget everything this session held (logout); call rotate() too so the old ID dies."""
        self.data = {}
        self.changes.clear()

    def not_stored(self, error: Exception) -> None:
        """Its store failed to write it after the database had committed (RedisSessionStore.save()):
        the stored session, and the ID that names it, are as they were before this request. So
        nothing was rotated, and the browser keeps the cookie it has: a new cookie would name no
        stored session, and the session behind the old one (a guest cart, a login) would be lost
        to it. Only an ID we minted may still be set, since it stands for an empty session until
        stored, as before."""
        self.save_error = error
        self.rotated = self.created = False
        if not MINTED.fullmatch(self.id):
            self.issued = self.minted = False

    def rotate(self) -> None:
        """Issue a new ID for this session's data; the old entry is deleted when the session is saved."""
        if self.previous_id is None and not self.is_new:
            self.previous_id = self.id
            self.rotated = True
        self.id = new_session_id()
        self.minted = True  # new to the browser too


@dataclass(frozen=True)
class Stored:
    data: dict[str, Any]
    created_at: int
    expires_at: int


@dataclass
class SessionStore(ABC):
    """What every session backend does; subclasses store records and counters their own way.

    Methods take the unit of work's connection: the SQL store works on it, so sessions live in the
    request's transaction; the Redis store holds a save's writes back until that transaction has
    committed. Callers serialise one session's writes with Database.serialise() (and SQLite's single
    writer), which holds past the commit, so a read-modify-write here never races.
    """

    settings: Settings
    now: Any = field(default=time.time)

    def __post_init__(self) -> None:
        self.key = signing_key(self.settings)

    def _mask(self, nonce: str) -> int:
        return int.from_bytes(hmac.digest(self.key, f"minted:{nonce}".encode(), "sha256")[:4], "big")

    def mint(self, now: int) -> str:
        """A new visitor's session ID, signed, with the minute it was minted."""
        nonce = secrets.token_urlsafe(24)
        body = f"{nonce}.{(now // 60) ^ self._mask(nonce):08x}"
        return f"{body}.{mac(self.key, body)}"

    def minted_by_us(self, session_id: str, now: int) -> bool:
        """Whether `session_id` is one we minted within the idle timeout, so it may start being
        stored: never a forged one, nor one whose stored session has expired (any stored session
        expires at least that long after its ID was minted, so an expired ID never comes back)."""
        found = MINTED.fullmatch(session_id)
        if found is None or not hmac.compare_digest(found.group(4), mac(self.key, found.group(1))):
            return False
        minted = (int(found.group(3), 16) ^ self._mask(found.group(2))) * 60
        return 0 <= now - minted < self.settings.session_idle_seconds

    @abstractmethod
    def _read(self, conn: Connection, key: str) -> Stored | None: ...

    @abstractmethod
    def _write(self, conn: Connection, key: str, record: Stored, user_id: int | None, *, new: bool) -> None: ...

    @abstractmethod
    def _touch(self, conn: Connection, key: str, expires_at: int) -> None: ...

    @abstractmethod
    def _delete(self, conn: Connection, key: str) -> None: ...

    def load(self, conn: Connection, session_id: str | None) -> Session:
        """The session for this cookie value, or a new one: an unknown or expired ID is never adopted.

        A new session is stored only once it holds something (see save()). Until then its ID is one
        we minted and signed, which its next request may bring back: still new, with the same ID,
        so the CSRF token derived from it on the page it was served with stays good."""
        now = int(self.now())
        if session_id and len(session_id) <= 128:
            stored = self._read(conn, session_key(session_id))
            if stored is not None and stored.expires_at > now and ENDED not in stored.data:
                return Session(session_id, stored.data, stored.created_at, stored.expires_at, token_key=self.key)
            if stored is None and self.minted_by_us(session_id, now):
                return Session(session_id, {}, now, 0, is_new=True, token_key=self.key)
        return Session(self.mint(now), {}, now, 0, is_new=True, token_key=self.key, minted=True)

    def _expiry(self, session: Session, now: int) -> int:
        idle = now + self.settings.session_idle_seconds
        return min(idle, session.created_at + self.settings.session_absolute_seconds)

    def save(self, conn: Connection, session: Session, *, merge: bool = False) -> None:
        """Write the session if its data changed, or refresh its expiry at most every few minutes.

        `merge` is for a session loaded before this write began: its changes are applied key by key
        to the stored data, so a concurrent request's changes to other keys are not lost.
        """
        if session.is_new and not session.changed:
            return
        now = int(self.now())
        expires_at = self._expiry(session, now)
        refresh_due = expires_at - session.expires_at >= self.settings.session_refresh_seconds
        if not (session.changed or refresh_due):
            return
        key = session_key(session.id)
        if session.previous_id is not None:
            if MINTED.fullmatch(session.previous_id):
                # A minted ID whose session is gone would be taken back (load()), with the token
                # its pages carried: its record says it ended instead, for as long as it could be.
                ended = Stored({ENDED: True}, now, now + self.settings.session_idle_seconds)
                self._write(conn, session_key(session.previous_id), ended, None, new=False)
            else:
                self._delete(conn, session_key(session.previous_id))
        if merge and session.is_new and not session.minted and (stored := self._read(conn, key)) is not None:
            # A minted ID its browser brought back, stored by another request meanwhile: join it.
            session.is_new = False
            session.created_at = stored.created_at
            merge = True
        if session.is_new or session.previous_id is not None:
            record = Stored(session.data, session.created_at, expires_at)
            self._write(conn, key, record, session.get("user_id"), new=True)
            session.issued = session.minted  # else the browser brought this ID: it has the cookie
            session.created = session.previous_id is None
            session.is_new = False
            session.previous_id = None
        elif session.changed:
            if merge:
                stored = self._read(conn, key)
                if stored is None:
                    return  # ended meanwhile (logout in another tab): never bring it back
                for name, value in session.changes.items():
                    if value is REMOVED:
                        stored.data.pop(name, None)
                    else:
                        stored.data[name] = value
                session.data = stored.data
            record = Stored(session.data, session.created_at, expires_at)
            self._write(conn, key, record, session.get("user_id"), new=False)
        else:
            self._touch(conn, key, expires_at)
        session.expires_at = expires_at
        session.changes.clear()

    @abstractmethod
    def ping(self) -> None:
        """Raise if the store cannot be reached (readiness probe)."""

    @abstractmethod
    def purge_expired(self, conn: Connection) -> int: ...

    @abstractmethod
    def end_user_sessions(self, conn: Connection, user_id: int, keep: Session | None = None) -> int: ...

    def throttle_take(self, conn: Connection, limits: dict[str, int], window: int) -> int:
        """Count one event against each key of `limits` (a key's window starts at its first event)
        and return the seconds until the longest window this event went past ends: 0 when it stayed
        within every limit. One atomic increment per key that returns its new count, so concurrent
        events each see their own count and no more than the limit get through."""
        return max(self.throttle_count(conn, limits, window).values(), default=0)

    @abstractmethod
    def throttle_count(self, conn: Connection, limits: dict[str, int], window: int) -> dict[str, int]:
        """throttle_take() key by key: the keys this event went past, each with the seconds left
        in its window. Keys are counted in sorted order (as throttle_release() takes them), so two
        transactions never wait for each other's counters in opposite orders."""
        ...

    @abstractmethod
    def throttle_release(self, conn: Connection, keys: list[str], clear: tuple[str, ...] = ()) -> None:
        """Take one event back from each of `keys` (an attempt that turned out to be no failure) and
        start the `clear` ones over, in one round trip."""
        ...


# Every request runs the first, many run the others.
SESSION_READ = Prepared(
    select(sessions.c.data, sessions.c.created_at, sessions.c.expires_at).where(
        sessions.c.key == bindparam("session_key")
    )
)
SESSION_INSERT = Prepared(
    insert(sessions).values(
        key=bindparam("session_key"),
        data=bindparam("new_data"),
        created_at=bindparam("created"),
        expires_at=bindparam("new_expiry"),
        user_id=bindparam("new_user"),
    )
)
SESSION_UPDATE = Prepared(
    update(sessions)
    .where(sessions.c.key == bindparam("session_key"))
    .values(data=bindparam("new_data"), expires_at=bindparam("new_expiry"), user_id=bindparam("new_user"))
)
SESSION_TOUCH = Prepared(
    update(sessions).where(sessions.c.key == bindparam("session_key")).values(expires_at=bindparam("new_expiry"))
)
SESSION_DELETE = Prepared(delete(sessions).where(sessions.c.key == bindparam("session_key")))


@cache
def throttle_take_statement(dialect: str, keys: int) -> Prepared:
    """Count one event on each of `keys` counters, in one statement, answering each one's new count
    and end: a counter whose window ended starts again at 1."""
    live = throttles.c.expires_at > bindparam("now")
    rows = [{"key": bindparam(f"key_{i}"), "count": 1, "expires_at": bindparam("ends")} for i in range(keys)]
    statement = dialect_insert(dialect)(throttles).values(rows)
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=[throttles.c.key],
            set_={
                "count": case((live, throttles.c.count + 1), else_=1),
                "expires_at": case((live, throttles.c.expires_at), else_=statement.excluded.expires_at),
            },
        ).returning(throttles.c.key, throttles.c.count, throttles.c.expires_at)
    )


# Redis: one event less on each "release" key (unless gone or at zero: a counter whose window ended
# stays gone), and the "clear" ones deleted.
RELEASE_SCRIPT = """
for i, key in ipairs(KEYS) do
  if ARGV[i] == 'clear' then
    redis.call('DEL', key)
  elseif tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
"""


@dataclass
class SqlSessionStore(SessionStore):
    """Sessions and counters in the application's own database, one row each."""

    def ping(self) -> None:
        """The SQL store is the database itself, which the readiness probe checks on its own."""

    def _read(self, conn: Connection, key: str) -> Stored | None:
        row = SESSION_READ.first(conn, session_key=key)
        return Stored(json.loads(row.data), row.created_at, row.expires_at) if row else None

    def _write(self, conn: Connection, key: str, record: Stored, user_id: int | None, *, new: bool) -> None:
        data = json.dumps(record.data, separators=(",", ":"))
        if new:
            SESSION_INSERT.run(
                conn,
                session_key=key,
                new_data=data,
                created=record.created_at,
                new_expiry=record.expires_at,
                new_user=user_id,
            )
        else:
            SESSION_UPDATE.run(conn, session_key=key, new_data=data, new_expiry=record.expires_at, new_user=user_id)

    def _touch(self, conn: Connection, key: str, expires_at: int) -> None:
        SESSION_TOUCH.run(conn, session_key=key, new_expiry=expires_at)

    def _delete(self, conn: Connection, key: str) -> None:
        SESSION_DELETE.run(conn, session_key=key)

    def purge_expired(self, conn: Connection) -> int:
        now = int(self.now())
        conn.execute(delete(throttles).where(throttles.c.expires_at <= now))
        return int(conn.execute(delete(sessions).where(sessions.c.expires_at <= now)).rowcount or 0)

    def end_user_sessions(self, conn: Connection, user_id: int, keep: Session | None = None) -> int:
        query = delete(sessions).where(sessions.c.user_id == user_id)
        if keep is not None:
            query = query.where(sessions.c.key != session_key(keep.id))
        return int(conn.execute(query).rowcount or 0)

    def throttle_count(self, conn: Connection, limits: dict[str, int], window: int) -> dict[str, int]:
        now = int(self.now())
        keys = {f"key_{i}": key for i, key in enumerate(sorted(limits))}
        counted = throttle_take_statement(conn.dialect.name, len(keys)).all(conn, now=now, ends=now + window, **keys)
        return {row.key: row.expires_at - now for row in counted if row.count > limits[row.key]}

    def throttle_release(self, conn: Connection, keys: list[str], clear: tuple[str, ...] = ()) -> None:
        count = case((throttles.c.key.in_(clear), 0), else_=throttles.c.count - 1) if clear else throttles.c.count - 1
        conn.execute(
            update(throttles)
            .where(throttles.c.key.in_(sorted([*keys, *clear])), throttles.c.count > 0)
            .values(count=count)
        )


# Set KEYS[1] to ARGV[2] (expiring at ARGV[3]) only while it still holds ARGV[1].
TOUCH_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EXAT', ARGV[3])
end
return nil
"""


@dataclass
class RedisSessionStore(SessionStore):
    """Sessions and counters in Redis (SESSION_STORE_URL=redis://...), shared by every worker and machine.

    Expiry is Redis's own (EXPIREAT), so nothing needs purging; a set per user lists their sessions
    for "log out everywhere else". Counters use their key's TTL as the window.
    """

    url: str = ""
    prefix: str = "storefront:"
    # The pipeline of the save() running on each unit's connection (one at a time per connection).
    staged: WeakKeyDictionary[Connection, Any] = field(default_factory=WeakKeyDictionary)

    def __post_init__(self) -> None:
        import redis

        super().__post_init__()

        self.redis = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def _session(self, key: str) -> str:
        return f"{self.prefix}session:{key}"

    def _user(self, user_id: int) -> str:
        return f"{self.prefix}user-sessions:{user_id}"

    def save(self, conn: Connection, session: Session, *, merge: bool = False) -> None:
        """SessionStore.save(), its writes queued in one MULTI/EXEC pipeline that is sent once the
        unit's database transaction has committed (web/db.py after_commit()), while the session is
        still serialised: a commit that fails leaves the session in Redis as it was, and no other
        request of this session reads it in between. Redis failing after the commit leaves it as it
        was too, which Session.not_stored() answers: the shopper is not told that what the database
        kept failed."""
        pipe = self.staged[conn] = self.redis.pipeline()
        try:
            super().save(conn, session, merge=merge)
        finally:
            del self.staged[conn]
        if len(pipe):
            hold_past_commit(conn)
            after_commit(conn, lambda: self._send(pipe, session))

    @contextmanager
    def _writing(self, conn: Connection) -> Iterator[Any]:
        """Where a write goes: the pipeline of the save() running on `conn`, else straight to Redis."""
        staged = self.staged.get(conn)
        if staged is not None:
            yield staged
            return
        pipe = self.redis.pipeline()
        yield pipe
        self._execute(pipe)

    @staticmethod
    def _execute(pipe: Any) -> None:
        """Send the queued writes: several in one MULTI/EXEC, so they apply together; one alone as it
        is, being atomic by itself (two commands fewer: a guest's session save is one SET)."""
        pipe.transaction = len(pipe) > 1
        pipe.execute()

    @classmethod
    def _send(cls, pipe: Any, session: Session) -> None:
        from redis.exceptions import RedisError

        try:
            cls._execute(pipe)
        except RedisError as error:
            session.not_stored(error)

    def _read(self, conn: Connection, key: str) -> Stored | None:
        raw = self.redis.get(self._session(key))
        if raw is None:
            return None
        record = json.loads(raw)
        return Stored(record["data"], record["created_at"], record["expires_at"])

    def _write(self, conn: Connection, key: str, record: Stored, user_id: int | None, *, new: bool) -> None:
        value = json.dumps(
            {"data": record.data, "created_at": record.created_at, "expires_at": record.expires_at},
            separators=(",", ":"),
        )
        # An update never brings back a session ended meanwhile (another device's "log out
        # everywhere" deletes it without its lock): SET XX. A new one, or an ended ID's mark, is set.
        only_if_there = not new and ENDED not in record.data
        with self._writing(conn) as pipe:
            pipe.set(self._session(key), value, exat=record.expires_at, xx=only_if_there)
            if user_id is not None:
                pipe.sadd(self._user(user_id), key)
                pipe.expireat(self._user(user_id), record.created_at + self.settings.session_absolute_seconds, gt=True)

    def _touch(self, conn: Connection, key: str, expires_at: int) -> None:
        """The expiry moved on, unless the session changed since it was read: a read takes no lock,
        so a write of the same session in between (a first add's cart) must not be undone by it."""
        name = self._session(key)
        raw = self.redis.get(name)
        if raw is None:
            return
        record = json.loads(raw)
        record["expires_at"] = expires_at
        with self._writing(conn) as pipe:
            pipe.eval(TOUCH_SCRIPT, 1, name, raw, json.dumps(record, separators=(",", ":")), expires_at)

    def _delete(self, conn: Connection, key: str) -> None:
        with self._writing(conn) as pipe:
            pipe.delete(self._session(key))

    def ping(self) -> None:
        self.redis.ping()

    def purge_expired(self, conn: Connection) -> int:
        return 0  # Redis expires sessions and counters itself

    def end_user_sessions(self, conn: Connection, user_id: int, keep: Session | None = None) -> int:
        """Ends them now, before the commit: a commit that fails then has logged out other devices,
        which is safe. The kept session's old ID is its own save()'s to end, after the commit, so
        that a commit that fails leaves this session as it was."""
        kept = {session_key(i) for i in (keep.id, keep.previous_id) if i is not None} if keep is not None else set()
        members = [m.decode() for m in self.redis.smembers(self._user(user_id))]  # type: ignore[union-attr]
        ended = [m for m in members if m not in kept]
        if ended:
            pipe = self.redis.pipeline()
            pipe.delete(*[self._session(m) for m in ended])
            pipe.srem(self._user(user_id), *ended)
            pipe.execute()
        return len(ended)

    def _counter(self, key: str) -> str:
        return f"{self.prefix}throttle:{key}"

    def throttle_count(self, conn: Connection, limits: dict[str, int], window: int) -> dict[str, int]:
        keys = sorted(limits)
        pipe = self.redis.pipeline()  # MULTI/EXEC: each INCR answers this event's own count
        for key in keys:
            pipe.incr(self._counter(key))
            pipe.expire(self._counter(key), window, nx=True)
            pipe.ttl(self._counter(key))
        answers = pipe.execute()
        return {key: max(int(answers[3 * i + 2]), 1) for i, key in enumerate(keys) if int(answers[3 * i]) > limits[key]}

    def throttle_release(self, conn: Connection, keys: list[str], clear: tuple[str, ...] = ()) -> None:
        names = [self._counter(key) for key in [*keys, *clear]]
        self.redis.eval(RELEASE_SCRIPT, len(names), *names, *(["release"] * len(keys) + ["clear"] * len(clear)))


def session_store(settings: Settings) -> SessionStore:
    if settings.session_store_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisSessionStore(settings, url=settings.session_store_url)
    if settings.session_store_url not in ("", "sql"):
        raise SettingsError("SESSION_STORE_URL must be empty (sessions in the database) or a redis:// URL")
    return SqlSessionStore(settings)
