"""The floor under the shop's add-to-cart on PostgreSQL + Redis: what Litestar, psycopg and Redis alone cost.

The counterpart of bench/floor_app.py (SQLite) for the shop served with DATABASE_URL=postgresql://...
and SESSION_STORE_URL=redis://...: one POST route doing only the part of an htmx add no shop on
this stack can skip. The form is read as the shop reads it (web/forms.py); the session is read
from Redis by the SHA-256 of the cookie (one GET, as web/sessions.py's RedisSessionStore keys it)
and its data decoded; the add's two statements (the cart read with the variant, then the upsert,
exactly as web/cart/store.py builds them, compiled for PostgreSQL) run in one transaction: BEGIN,
the two, COMMIT, four round trips. It answers a fixed HTML body as long as the shop's answer.

Nothing is rendered, no CSRF token compared, no log line written, no header added, no advisory
lock taken (the shop serialises each session's units; row locks alone would keep the line right),
and the statements run on psycopg's asyncio connections (a few, handed out from a queue) rather
than on a worker thread: the least any add on this stack could do.

The benchmark (bench/scenarios/floor.py) serves it like the other apps, with the shop's DATABASE_URL
and SESSION_STORE_URL, and STOREFRONT_FLOOR_BYTES for the body's length.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import redis.asyncio
from litestar import Litestar, Request, Response, post
from litestar.enums import MediaType
from sqlalchemy.dialects import postgresql

from web import forms
from web.cart.store import ADD_READ, add_upsert
from web.db import Prepared
from web.locality.service import SESSION_KEY as DELIVER_TO
from web.settings import Settings

SETTINGS = Settings.from_env()
BODY = "x" * int(os.environ.get("STOREFRONT_FLOOR_BYTES", "5700"))
SESSION_PREFIX = "storefront:session:"  # RedisSessionStore's key for a session
CONNECTIONS = 4  # more than the requests one worker has waiting on PostgreSQL at once, mostly


def compiled(prepared: Prepared) -> tuple[str, dict[str, Any]]:
    """The statement's PostgreSQL text (psycopg's %(name)s placeholders) and the values bound in it."""
    done = prepared.statement.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return str(done), dict(done.params)


CART, UPSERT = compiled(ADD_READ), compiled(add_upsert("postgresql"))


class Pool:
    """A few autocommit connections, each lent to one request at a time."""

    def __init__(self) -> None:
        self.idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()

    async def open(self, url: str) -> None:
        for _ in range(CONNECTIONS):
            self.idle.put_nowait(await psycopg.AsyncConnection.connect(url, autocommit=True))

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await self.idle.get()
        try:
            yield conn
        finally:
            self.idle.put_nowait(conn)


pool = Pool()
store = redis.asyncio.Redis.from_url(SETTINGS.session_store_url)


async def run(conn: psycopg.AsyncConnection[Any], statement: tuple[str, dict[str, Any]], **params: Any) -> list[Any]:
    sql, bound = statement
    cursor = await conn.execute(sql, {**bound, **params})
    return await cursor.fetchall()


@post("/cart/items", media_type=MediaType.HTML, status_code=200)
async def add(request: Request[Any, Any, Any]) -> Response[str]:
    form = await forms.read(request)
    variant_id = int(form.getall("variant_id", [])[0])
    key = hashlib.sha256(request.cookies[SETTINGS.cookie_name].encode()).hexdigest()
    stored = await store.get(SESSION_PREFIX + key)
    data = json.loads(stored or "{}")["data"]  # every shopper the benchmark sends has a session
    cart_id, place = data["cart_id"], data.get(DELIVER_TO) or {}
    async with pool.connection() as conn, conn.transaction():
        await run(conn, CART, cart_id=cart_id, variant_id=variant_id, zone_id=place.get("zone_id"))
        now = int(time.time())
        max_quantity = SETTINGS.max_line_quantity
        await run(conn, UPSERT, cart_id=cart_id, variant_id=variant_id, quantity=1, max_quantity=max_quantity, now=now)
    return Response(BODY, media_type=MediaType.HTML)


async def connect() -> None:
    await pool.open(SETTINGS.database_url)


async def disconnect() -> None:
    await pool.close()
    await store.aclose()


app = Litestar(route_handlers=[add], openapi_config=None, on_startup=[connect], on_shutdown=[disconnect])
