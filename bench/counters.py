"""What a request sends to the database and to Redis, counted where it leaves the process (or is seen
by the server), for bench/sql_counts.py.

- PostgreSQL: every query message psycopg's libpq wrapper sends (a statement, BEGIN, COMMIT,
  ROLLBACK, the pool's pre-ping, the advisory unlock sent on the driver itself), one round trip
  each. It needs psycopg's pure-Python wrapper (PSYCOPG_IMPL=python), whose methods can be wrapped.
  A statement psycopg prepares (after it has run 5 times on a connection) costs one more round
  trip once per connection: those are kept apart, not counted.
- SQLite: every statement SQLite runs, as its trace hook reports it, COMMIT and ROLLBACK included
  (the app's own count, db.statements, leaves the driver's COMMIT out). In-process, not a round trip.
- Redis: every command the server receives on the benchmark's database, from Redis's MONITOR,
  whichever client sent it (pipelines, the live events' PUBLISH on their own asyncio client).
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from sqlalchemy import event

from bench.errors import BenchError

# psycopg's PGconn methods that send one message to the server and wait for its answer
# (exec_*, prepare, describe_*) or send one the caller waits for (send_*).
SENDING = (
    "exec_",
    "exec_params",
    "exec_prepared",
    "send_query",
    "send_query_params",
    "send_query_prepared",
    "describe_prepared",
    "describe_portal",
    "send_describe_prepared",
    "send_describe_portal",
)
PREPARING = ("prepare", "send_prepare")


class DatabaseCounter:
    """Round trips to the database between start() and stop(), as the text sent (or run)."""

    def __init__(self, db: Any) -> None:
        self.sent: list[str] | None = None
        self.prepared: dict[bytes, str] = {}
        if db.is_sqlite:
            self._trace_sqlite(db)
        else:
            self._wrap_psycopg()

    def start(self) -> None:
        self.sent = []

    def stop(self) -> list[str]:
        sent, self.sent = self.sent or [], None
        return sent

    def _record(self, text: str) -> None:
        if self.sent is not None:
            self.sent.append(" ".join(text.split()))

    def _trace_sqlite(self, db: Any) -> None:
        @event.listens_for(db.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Runs after the app's own listener, whose trace hook it keeps calling.
            app_trace = db._count_sqlite

            def trace(statement: str) -> None:
                self._record(statement)
                app_trace(statement)

            dbapi_connection.set_trace_callback(trace)

        db.dispose()  # connections made before this listener would go uncounted

    def _wrap_psycopg(self) -> None:
        from psycopg import pq

        if pq.__impl__ != "python":
            raise BenchError(f"counting round trips needs PSYCOPG_IMPL=python (psycopg runs {pq.__impl__})")
        from psycopg.pq.pq_ctypes import PGconn

        for name in (*SENDING, *PREPARING):
            setattr(PGconn, name, self._counted(name, getattr(PGconn, name)))

    def _counted(self, name: str, method: Any) -> Any:
        @functools.wraps(method)
        def counted(pgconn: Any, *args: Any, **kwargs: Any) -> Any:
            if name in PREPARING:
                self.prepared[args[0]] = args[1].decode()  # (name, command): kept apart, not counted
            elif name.endswith("_prepared") and not name.startswith(("describe", "send_describe")):
                self._record(self.prepared.get(args[0], f"EXECUTE {args[0]!r}"))
            elif name.startswith(("describe", "send_describe")):
                self._record(f"DESCRIBE {args[0]!r}")
            else:
                self._record(args[0].decode())
            return method(pgconn, *args, **kwargs)

        return counted


class RedisCounter:
    """Commands Redis received on the benchmark's database between start() and stop(), from MONITOR.

    Each stop() sends a marker (ECHO) and waits until MONITOR has shown it, so that every command
    the request sent has been seen."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db", 0))
        self.lock = threading.Lock()
        self.seen: list[str] = []
        self.markers = 0
        self.monitor = self.client.monitor()  # type: ignore[no-untyped-call]
        self.monitor.__enter__()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()
        self._sync()

    def _follow(self) -> None:
        import redis

        try:
            while True:
                command = self.monitor.next_command()
                if int(command.get("db", -1)) == self.db:
                    with self.lock:
                        self.seen.append(str(command["command"]))
        except (redis.RedisError, OSError, ValueError):  # closed
            return

    def _sync(self) -> int:
        """Send a marker and wait until MONITOR shows it; the index of what came before it."""
        self.markers += 1
        marker = f"bench-mark-{self.markers}"
        self.client.echo(marker)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.lock:
                for index in range(len(self.seen) - 1, -1, -1):
                    if self.seen[index].endswith(marker):
                        return index
            time.sleep(0.001)
        raise BenchError("Redis MONITOR did not show the benchmark's marker within 10 s")

    def start(self) -> None:
        self.begin = self._sync() + 1

    def stop(self) -> list[str]:
        end = self._sync()
        with self.lock:
            return self.seen[self.begin : end]

    def close(self) -> None:
        self.monitor.__exit__(None, None, None)
        self.client.close()
