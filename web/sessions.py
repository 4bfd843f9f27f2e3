"""Server-side sessions behind one opaque cookie.

The cookie carries 256 random bits and nothing else. The store keys sessions by the SHA-256 of
that value, so neither the database nor the logs ever hold a usable session ID. An ID the store
does not know (planted, forged, expired or purged) is never adopted: the visitor gets a fresh one.
The session is loaded and saved inside the request's unit of work (web/visit.py), on the same
connection as the cart, so a request makes no separate trip for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from web.models import sessions, throttles
from web.settings import Settings

REMOVED = object()


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


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
    changes: dict[str, Any] = field(default_factory=dict)

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
        self.set("flash", [*self.data.get("flash", []), {"message": message, "level": level}])

    def take_flashes(self) -> list[dict[str, str]]:
        return list(self.pop("flash", []))

    def new_csrf_token(self) -> None:
        """A fresh synchronizer token: forms rendered before an identity change are refused after it."""
        self.set("csrf", secrets.token_urlsafe(32))

    @property
    def csrf_token(self) -> str:
        token = self.data.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            self.set("csrf", token)
        return str(token)

    def csrf_matches(self, sent: str | None) -> bool:
        expected = self.data.get("csrf")
        return bool(sent and expected) and hmac.compare_digest(str(sent), str(expected))

    def reset(self) -> None:
        """Forget everything this session held (logout); call rotate() too so the old ID dies."""
        self.data = {}
        self.changes.clear()

    def rotate(self) -> None:
        """Issue a new ID for this session's data; the old entry is deleted when the session is saved."""
        if self.previous_id is None and not self.is_new:
            self.previous_id = self.id
        self.id = new_session_id()


@dataclass
class SqlSessionStore:
    """Sessions in the application's own database, one row each."""

    settings: Settings
    now: Any = field(default=time.time)

    def _row(self, conn: Connection, session_id: str, lock: bool) -> Any:
        query = select(sessions.c.data, sessions.c.created_at, sessions.c.expires_at).where(
            sessions.c.key == session_key(session_id)
        )
        return conn.execute(query.with_for_update() if lock else query).first()

    def load(self, conn: Connection, session_id: str | None, *, lock: bool = False) -> Session:
        """The session for this cookie value, or a new one. `lock` holds its row until the transaction ends."""
        now = int(self.now())
        if session_id and len(session_id) <= 128:
            row = self._row(conn, session_id, lock)
            if row is not None and row.expires_at > now:
                return Session(session_id, json.loads(row.data), row.created_at, row.expires_at)
        return Session(new_session_id(), {}, now, 0, is_new=True)

    def _expiry(self, session: Session, now: int) -> int:
        idle = now + self.settings.session_idle_seconds
        return min(idle, session.created_at + self.settings.session_absolute_seconds)

    def save(self, conn: Connection, session: Session, *, merge: bool = False) -> None:
        """Write the session if its data changed, or refresh its expiry at most every few minutes.

        `merge` is for a session loaded outside this write transaction: its changes are applied key
        by key to the stored data, so a concurrent request's changes to other keys are not lost.
        Call inside a write transaction when the session changed.
        """
        if session.is_new and not session.changed:
            return
        now = int(self.now())
        expires_at = self._expiry(session, now)
        refresh_due = expires_at - session.expires_at >= self.settings.session_refresh_seconds
        if not (session.changed or refresh_due):
            return
        if session.previous_id is not None:
            conn.execute(delete(sessions).where(sessions.c.key == session_key(session.previous_id)))
        data = json.dumps(session.data, separators=(",", ":"))
        if session.is_new or session.previous_id is not None:
            conn.execute(
                insert(sessions).values(
                    key=session_key(session.id),
                    data=data,
                    created_at=session.created_at,
                    expires_at=expires_at,
                    user_id=session.get("user_id"),
                )
            )
            session.issued = True
            session.is_new = False
            session.previous_id = None
        elif session.changed:
            if merge:
                row = self._row(conn, session.id, lock=True)
                if row is None:
                    return  # ended meanwhile (logout in another tab): never bring it back
                stored = json.loads(row.data)
                for key, value in session.changes.items():
                    if value is REMOVED:
                        stored.pop(key, None)
                    else:
                        stored[key] = value
                session.data = stored
                data = json.dumps(stored, separators=(",", ":"))
            conn.execute(
                update(sessions)
                .where(sessions.c.key == session_key(session.id))
                .values(data=data, expires_at=expires_at, user_id=session.get("user_id"))
            )
        else:
            conn.execute(
                update(sessions).where(sessions.c.key == session_key(session.id)).values(expires_at=expires_at)
            )
        session.expires_at = expires_at
        session.changes.clear()

    def destroy(self, conn: Connection, session: Session) -> None:
        conn.execute(delete(sessions).where(sessions.c.key == session_key(session.id)))

    def purge_expired(self, conn: Connection) -> int:
        result = conn.execute(delete(sessions).where(sessions.c.expires_at <= int(self.now())))
        return int(result.rowcount or 0)

    def end_user_sessions(self, conn: Connection, user_id: int, keep: Session | None = None) -> int:
        """End every session of this user but the one kept (password change)."""
        query = delete(sessions).where(sessions.c.user_id == user_id)
        if keep is not None:
            query = query.where(sessions.c.key != session_key(keep.id))
        return int(conn.execute(query).rowcount or 0)

    def throttle_wait(self, conn: Connection, limits: dict[str, int]) -> int:
        """Seconds until the longest exceeded counter resets; 0 when none is exceeded."""
        now = int(self.now())
        rows = conn.execute(
            select(throttles.c.key, throttles.c.count.label("hits"), throttles.c.expires_at).where(
                throttles.c.key.in_(list(limits)), throttles.c.expires_at > now
            )
        ).all()
        return max((row.expires_at - now for row in rows if row.hits >= limits[row.key]), default=0)

    def throttle_hit(self, conn: Connection, keys: list[str], window: int) -> None:
        """Count one event against each key; a key's window starts at its first event."""
        now = int(self.now())
        for key in keys:
            counted = conn.execute(
                update(throttles)
                .where(throttles.c.key == key, throttles.c.expires_at > now)
                .values(count=throttles.c.count + 1)
            ).rowcount
            if not counted:
                conn.execute(delete(throttles).where(throttles.c.key == key))
                conn.execute(insert(throttles).values(key=key, count=1, expires_at=now + window))

    def throttle_clear(self, conn: Connection, key: str) -> None:
        conn.execute(delete(throttles).where(throttles.c.key == key))
