"""The databases the shop is measured on: SQLite in the run's temp directory, or PostgreSQL + Redis.

Each engine's data lives only as long as the run: a SQLite file in the temp directory, or a
PostgreSQL database of the run's own (`storefront_bench_<pid>`, plus one for the in-process counts)
and one Redis database (REDIS_DB) that is flushed. `open_engine()` registers their removal on the
run's exit stack, so they go also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import create_engine, text

from bench.errors import BenchError
from bench.servers import POSTGRES_DATABASE
from web.db import sqlalchemy_url

ENGINES = ("sqlite", "postgres")
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


@dataclass
class Engine:
    """One engine's shop database (and Redis), and the environment the shop is served with on it."""

    name: str  # "sqlite" or "postgres"
    url: str  # the shop's DATABASE_URL
    count_url: str  # the database the in-process counts run on (bench/sql_counts.py)
    redis_url: str = ""  # sessions and pub/sub, on PostgreSQL
    env: dict[str, str] = field(default_factory=dict)

    @cached_property
    def sql(self) -> SqlEngine:
        """The benchmark's own connection to the shop's database, for its checks."""
        return create_engine(sqlalchemy_url(self.url))

    def close(self) -> None:
        if "sql" in self.__dict__:
            self.sql.dispose()


def open_engine(name: str, tmp: Path, exit_stack: contextlib.ExitStack) -> Engine:
    """The engine's databases, empty, with their removal registered on `exit_stack`."""
    if name == "sqlite":
        engine = Engine(name, f"sqlite:///{tmp / 'shop.db'}", f"sqlite:///{tmp / 'sql-count.db'}")
        engine.env = {"DATABASE_URL": engine.url}
        exit_stack.callback(engine.close)
        return engine
    stem = f"storefront_bench_{os.getpid()}"
    admin = create_engine(sqlalchemy_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for db in (stem, f"{stem}_counts"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{db}"'))
    except Exception as error:
        admin.dispose()
        raise BenchError(f"PostgreSQL at {POSTGRES_URL} is not usable: {error}") from error
    exit_stack.callback(drop_databases, admin, (stem, f"{stem}_counts"))
    POSTGRES_DATABASE[:] = [stem]  # the CPU accounting counts its backends only
    flush_redis()  # also fails early when Redis is not there
    exit_stack.callback(flush_redis)
    engine = Engine(name, database_url(stem), database_url(f"{stem}_counts"), REDIS_URL)
    # Sessions in Redis, and the live events through it (EVENTS_URL follows SESSION_STORE_URL).
    engine.env = {"DATABASE_URL": engine.url, "SESSION_STORE_URL": REDIS_URL}
    exit_stack.callback(engine.close)  # before the databases are dropped (callbacks run last first)
    return engine


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))


def drop_databases(admin: SqlEngine, names: tuple[str, ...]) -> None:
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def flush_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).flushdb()
    except redis.RedisError as error:
        raise BenchError(f"Redis at {REDIS_URL} is not usable: {error}") from error


def server_versions() -> dict[str, Any]:
    """PostgreSQL's and Redis's versions, when they answer."""
    import redis

    found: dict[str, Any] = {"postgres_server": None, "redis_server": None}
    with contextlib.suppress(Exception):
        admin = create_engine(sqlalchemy_url(POSTGRES_URL))
        with admin.connect() as conn:
            found["postgres_server"] = conn.execute(text("SHOW server_version")).scalar_one()
        admin.dispose()
    with contextlib.suppress(Exception):
        found["redis_server"] = redis.Redis.from_url(REDIS_URL, socket_timeout=2).info("server")["redis_version"]
    return found
