"""The engine, and one unit of work per request.

A request's database work is one synchronous function on one connection. On SQLite it runs
inline on the event loop (one statement costs microseconds; a thread hop costs more than the
whole unit), with writes serialised by a process-wide lock plus `BEGIN IMMEDIATE`, so SQLite's
sleep-and-retry never runs between our own connections. Other engines run the same function in a
worker thread. docs/design.md §8 has the measurements behind this.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from weakref import WeakKeyDictionary, WeakSet

import anyio.to_thread
import psycopg
from sqlalchemy import Connection, create_engine, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.sql.selectable import CompoundSelect, Select

from web.settings import ROOT, Settings

T = TypeVar("T")
SQLITE_BUSY_TIMEOUT_MS = 2000
# What a unit waits to do once it has committed (after_commit()), and the units that hold advisory
# locks on PostgreSQL (Database.serialise()), by connection. Kept here rather than in the DBAPI
# connection's info, which outlives the unit in the pool and cannot be read once the connection is lost.
WAITING: WeakKeyDictionary[Connection, list[Callable[[], None]]] = WeakKeyDictionary()
HOLDING_LOCKS: WeakSet[Connection] = WeakSet()
# The advisory lock number each PostgreSQL unit serialised on (Database.serialise()), and the units
# that sent their own BEGIN with it.
SERIALISED: WeakKeyDictionary[Connection, int] = WeakKeyDictionary()
OWN_BEGIN: WeakSet[Connection] = WeakSet()
# psycopg's pq.TransactionStatus.IDLE: no transaction open on the server.
IDLE = 0
# How each engine's Database counts a statement run on the driver itself (Prepared, on PostgreSQL),
# which SQLAlchemy's events do not see.
DRIVER_STATEMENTS: WeakKeyDictionary[Engine, Callable[[str], None]] = WeakKeyDictionary()


class least(GenericFunction[Any]):
    """Smallest of its arguments: LEAST() on PostgreSQL, the scalar MIN() on SQLite."""

    inherit_cache = True


@compiles(least, "sqlite")
def _least_sqlite(element: least, compiler: Any, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(least)
def _least_default(element: least, compiler: Any, **kw: Any) -> str:
    return f"least({compiler.process(element.clauses, **kw)})"


def dialect_insert(dialect: str) -> Any:
    """The dialect's INSERT construct, which has ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    return sqlite.insert if dialect == "sqlite" else postgresql.insert


# A constraint refused a write: from a statement run through SQLAlchemy, or a Prepared one run on the driver.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (exc.IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)

# SQLite statements are compiled with named parameters (:name), which sqlite3 takes as a dict.
SQLITE_NAMED = sqlite.dialect(paramstyle="named")


def sqlite_driver(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under a SQLAlchemy one, for what runs on the driver itself."""
    return conn.connection.driver_connection  # type: ignore[return-value]


class Prepared:
    """A hot path's statement: built once with bound parameters, compiled once, run on the driver.

    SQLAlchemy's per-execution work costs several times what the database takes to run these
    statements: about 25 µs against SQLite's few, and about 140 µs of CPU against psycopg's 70
    (docs/design.md §8, bench/README.md). So on SQLite it runs on the sqlite3 connection itself, and
    on PostgreSQL on psycopg's, inside the unit's transaction (begun in SQLAlchemy's terms too, so
    the unit commits it). Other drivers run it through SQLAlchemy. Rows have the statement's column
    names as attributes. Parameters go to the driver as they are: ints, strings and None.
    """

    def __init__(self, statement: Select[Any] | CompoundSelect[Any] | UpdateBase) -> None:
        self.statement = statement
        columns = [column.key for column in getattr(statement, "exported_columns", ())]
        self.row: Any = namedtuple("Row", columns, rename=True) if columns else None
        self._compiled: dict[str, tuple[str, dict[str, Any]]] = {}

    def sqlite(self) -> tuple[str, dict[str, Any]]:
        """The statement's SQLite text and the values bound in it, compiled on first use."""
        return self.compiled("sqlite", SQLITE_NAMED)

    def compiled(self, name: str, dialect: Any) -> tuple[str, dict[str, Any]]:
        """The statement's text for `dialect` and the values bound in it (e.g. the 0 of `stock > 0`;
        the caller's are added), compiled on first use."""
        found = self._compiled.get(name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            binds = compiled.binds
            values = {
                name: value
                for name, value in compiled.params.items()
                if value is not None or (name in binds and not binds[name].required)  # a None written as NULL
            }
            # An INSERT's columns left out of it with a scalar default (Column(default=0)): SQLAlchemy
            # fills those in when it runs the statement; here the compiled statement carries them.
            for column in compiled.insert_prefetch:
                default = column.default
                if isinstance(default, ScalarElementColumnDefault):
                    values[column.key] = default.arg
            found = self._compiled[name] = (str(compiled), values)
        return found

    def _driver(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The driver's cursor after running the statement, or None: run it through SQLAlchemy."""
        dialect = conn.dialect
        if dialect.name == "sqlite":
            sql, defaults = self.sqlite()
            return sqlite_driver(conn).execute(sql, {**defaults, **params} if defaults else params)
        if dialect.name != "postgresql" or dialect.driver != "psycopg":
            return None
        sql, defaults = self.compiled("postgresql", dialect)
        if not conn.in_transaction():
            conn.begin()  # psycopg begins on the server with the statement; this unit commits it
        count = DRIVER_STATEMENTS.get(conn.engine)
        if count is not None:
            count(sql)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, {**defaults, **params} if defaults else params)
        return cursor

    def all(self, conn: Connection, **params: Any) -> list[Any]:
        cursor = self._driver(conn, params)
        if cursor is None:
            return list(conn.execute(self.statement, params).all())
        return list(map(self.row._make, cursor.fetchall())) if self.row else []

    def first(self, conn: Connection, **params: Any) -> Any:
        cursor = self._driver(conn, params)
        if cursor is None:
            return conn.execute(self.statement, params).first()
        row = cursor.fetchone()
        return self.row._make(row) if row is not None and self.row else None

    def scalar(self, conn: Connection, **params: Any) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first(conn, **params)
        return row[0] if row is not None else None

    def run(self, conn: Connection, **params: Any) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        cursor = self._driver(conn, params)
        if cursor is None:
            return int(conn.execute(self.statement, params).rowcount or 0)
        return int(cursor.rowcount)


def after_commit(conn: Connection, action: Callable[[], None]) -> None:
    """Run `action` once the unit's transaction on `conn` has committed, before the keys it
    serialised are let go (see Database.serialise()); never if it rolls back. Outside a write
    transaction on SQLite (autocommit), when the unit ends.

    For what lives outside the database (sessions in Redis): a commit that fails leaves it as it was."""
    WAITING.setdefault(conn, []).append(action)


def hold_past_commit(conn: Connection) -> None:
    """Keep the key this unit serialised (Database.serialise()) locked past the commit, until the
    unit ends: for work queued with after_commit() that another request of the same key must not
    overtake (a session written to Redis). One statement more, and one to let go; nothing on
    SQLite, where write() already holds the lock until that work is done."""
    number = SERIALISED.get(conn)
    if number is not None and conn not in HOLDING_LOCKS:
        HOLDING_LOCKS.add(conn)
        conn.execute(text("SELECT pg_advisory_lock(:number)"), {"number": number})


def committed(conn: Connection) -> None:
    """The unit's transaction has committed: run what waited for it, in the order it was asked."""
    for action in WAITING.pop(conn, ()):
        action()


class DatabaseUnavailable(Exception):
    """The database is down, locked for too long or not migrated: the shopper gets a 503."""


class ConnectionLost(Exception):
    """A unit's connection was found closed by the server before the unit committed."""


def sqlalchemy_url(url: str) -> str:
    """Accept the plain URLs hosting platforms hand out and pick our driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _prepare_sqlite(engine: Engine, trace: Callable[[str], None], busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Autocommit at the driver level: we issue BEGIN IMMEDIATE ourselves for writes.
        dbapi_connection.isolation_level = None
        dbapi_connection.set_trace_callback(trace)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


class Database:
    def __init__(self, settings: Settings) -> None:
        self.url = sqlalchemy_url(settings.database_url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = self.url.split(":///", 1)[1] if ":///" in self.url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: it is a round trip before every unit. A pooled connection the server closed
        # (a restart) fails its unit's first statement instead, and run_sync() runs the unit again
        # on a new one (SQLAlchemy has invalidated every connection of the pool made before).
        pool = (
            {}
            if self.is_sqlite
            else {
                "pool_size": settings.db_pool_size,
                "max_overflow": settings.db_max_overflow,
                "pool_timeout": settings.db_pool_timeout_seconds,
            }
        )
        self.engine = create_engine(self.url, **pool)
        inline = settings.run_units_inline
        self.inline = self.is_sqlite if inline is None else inline
        self._write_lock = threading.Lock()
        self._local = threading.local()
        # Statements run, for tests and the benchmark; `seen` keeps their text while it is a list.
        self.statements = 0
        self.seen: list[str] | None = None
        if self.is_sqlite:
            # SQLite reports what it runs, whether it came through SQLAlchemy or a Prepared statement.
            busy = settings.sqlite_busy_timeout_ms
            _prepare_sqlite(self.engine, self._count_sqlite, SQLITE_BUSY_TIMEOUT_MS if busy is None else busy)
        else:

            @event.listens_for(self.engine, "before_cursor_execute")
            def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
                self._count(statement)

            DRIVER_STATEMENTS[self.engine] = self._count

    def _count(self, statement: str) -> None:
        self.statements += 1
        if self.seen is not None:
            self.seen.append(statement)

    def _count_sqlite(self, statement: str) -> None:
        # The driver's commit() and rollback() end a transaction; they are not statements of ours.
        if statement not in ("COMMIT", "ROLLBACK"):
            self._count(statement)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run one unit of work: inline on SQLite, otherwise with one hop to a worker thread."""
        if self.inline:
            return self.run_sync(work)
        return await anyio.to_thread.run_sync(self.run_sync, work)

    def run_sync(self, work: Callable[[Connection], T]) -> T:
        try:
            if self.is_sqlite:
                return self._run_on_thread_connection(work)
            try:
                return self._run_pooled(work)
            except ConnectionLost:
                # The server had closed the pooled connection (a restart, an idle timeout) before the
                # unit committed anything: once more, on a new connection.
                return self._run_pooled(work)
        except ConnectionLost as lost:
            raise DatabaseUnavailable(str(lost.__cause__)) from lost
        except exc.TimeoutError as error:  # every connection of the pool busy for pool_timeout
            raise DatabaseUnavailable(f"no free database connection: {error}") from error
        except exc.OperationalError as error:
            raise DatabaseUnavailable(str(error.orig)) from error
        except sqlite3.OperationalError as error:  # from a Prepared statement, run on the driver
            raise DatabaseUnavailable(str(error)) from error

    def _run_pooled(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            try:
                try:
                    result = work(conn)
                except exc.DBAPIError as error:
                    if error.connection_invalidated:
                        raise ConnectionLost from error  # its transaction died with it: nothing committed
                    raise
                except psycopg.OperationalError as error:  # from a Prepared statement, run on the driver
                    if conn.connection.driver_connection.broken:  # type: ignore[union-attr]
                        conn.invalidate()
                        raise ConnectionLost from error
                    raise DatabaseUnavailable(str(error)) from error
                if conn.in_transaction():
                    conn.commit()
                committed(conn)
                return result
            finally:
                WAITING.pop(conn, None)
                self._release(conn)

    def _run_on_thread_connection(self, work: Callable[[Connection], T]) -> T:
        """SQLite: each thread keeps one open connection (inline units all run on the event loop's
        thread), so a unit pays no pool checkout and reset; a unit that fails is rolled back."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._local.conn = self.engine.connect()
        try:
            result = work(conn)
            if conn.in_transaction():
                conn.commit()
            committed(conn)
            return result
        except BaseException:
            conn.rollback()
            raise
        finally:
            WAITING.pop(conn, None)

    @contextmanager
    def write(self, conn: Connection) -> Iterator[None]:
        """Open the unit's write transaction; it commits when the unit returns, rolls back on error.

        On SQLite it commits here, and runs what waited for the commit (after_commit()) before the
        next writer of this process may begin."""
        if not self.is_sqlite:
            if not conn.in_transaction():
                conn.begin()
            yield
            return
        driver = sqlite_driver(conn)
        with self._write_lock:
            driver.execute("BEGIN IMMEDIATE")
            try:
                yield
                driver.commit()
            except BaseException:
                driver.rollback()
                WAITING.pop(conn, None)
                raise
            committed(conn)

    def unless_locked(self, write: Callable[[], None]) -> None:
        """Run `write`, something a later unit may do as well (a read refreshing its session's
        expiry), unless SQLite is locked by another process past the busy timeout: then skip it,
        so that a read is never a 503 for it. Other engines wait for row locks: it just runs."""
        try:
            write()
        except sqlite3.OperationalError as error:  # autocommit on SQLite: no transaction is left open
            if getattr(error, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                raise

    def serialise(self, conn: Connection, key: str) -> None:
        """Make this unit the only writer for `key` (a session ID) until it ends: past its commit,
        until what waited for the commit (after_commit(): a session kept in Redis) is done.

        SQLite already has one writer at a time, and write() runs that work before it lets the
        next one of this process begin, so there is nothing to do. PostgreSQL takes an advisory lock
        numbered by a hash of the key, which works whichever store holds the sessions, for the
        transaction: it ends with the commit. Only a unit that queues work for after the commit
        holds it longer (hold_past_commit()), and run_sync() lets that go when the unit ends.
        """
        if self.is_sqlite:
            return
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        SERIALISED[conn] = number
        driver = conn.connection.driver_connection
        if driver.info.transaction_status != IDLE:  # type: ignore[union-attr]
            conn.execute(text("SELECT pg_advisory_xact_lock(:number)"), {"number": number})
            return
        # The unit's first statement: BEGIN and the lock in one round trip, one simple query (psycopg
        # would send its own BEGIN first). psycopg leaves the transaction to us while in autocommit
        # and commits or rolls back by the server's transaction status; _release() puts
        # autocommit back when the unit ends. `number` is an int: nothing to quote.
        driver.autocommit = True  # type: ignore[union-attr]
        OWN_BEGIN.add(conn)
        conn.exec_driver_sql(f"BEGIN; SELECT pg_advisory_xact_lock({number})")

    @staticmethod
    def _release(conn: Connection) -> None:
        """Hand the connection back as the pool expects it: the lock hold_past_commit() kept past
        the commit let go (one statement outside any transaction, psycopg in autocommit), and
        psycopg managing transactions again after a unit whose BEGIN serialise() sent. A connection
        that cannot say so is discarded: its server session ends, and its locks with it."""
        SERIALISED.pop(conn, None)
        holding, own_begin = conn in HOLDING_LOCKS, conn in OWN_BEGIN
        HOLDING_LOCKS.discard(conn)
        OWN_BEGIN.discard(conn)
        if not (holding or own_begin) or conn.invalidated:
            return
        try:
            conn.rollback()  # a failed unit's transaction; nothing is sent after a commit
            driver = conn.connection.driver_connection
            if holding:
                driver.autocommit = True  # type: ignore[union-attr]
                driver.execute("SELECT pg_advisory_unlock_all()")  # type: ignore[union-attr]
            driver.autocommit = False  # type: ignore[union-attr]
        except Exception:  # whatever it is, the connection is discarded, and its locks with it
            conn.invalidate()

    def dispose(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self.engine.dispose()


def alembic_config(database_url: str) -> Any:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


@cache
def head_revision() -> str:
    """The code's newest migration: read once per process (the migrations are code, like the rest)."""
    from alembic.script import ScriptDirectory

    # The project's alembic.ini and scripts; the URL a config needs is not opened to read them.
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def migration_state(db: Database) -> tuple[str | None, str]:
    """The database's current revision and the code's head revision."""
    from alembic.runtime.migration import MigrationContext

    head = head_revision()
    try:
        with db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except exc.OperationalError as error:
        raise DatabaseUnavailable(f"cannot reach the database: {error.orig}") from error
    return current, head


def check_migrated(db: Database) -> None:
    current, head = migration_state(db)
    if current != head:
        state = "not migrated" if current is None else f"at revision {current}, code expects {head}"
        raise DatabaseUnavailable(
            f"The database is {state}. Run `make migrate` (or `.venv/bin/python -m web migrate`) first."
        )
