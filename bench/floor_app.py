"""The floor under the shop's add-to-cart: what Litestar and SQLite alone cost for one.

One POST route doing only the part of an htmx add that no shop on this stack can skip: the form
is read as the shop reads it (web/forms.py), the session is found by the SHA-256 of the cookie and its data decoded, and
the add's statements run in one `BEGIN IMMEDIATE` transaction on the shop's own database, exactly
as web/cart/store.py writes them (the cart read with the variant, then the upsert). It answers a
fixed HTML body as long as the shop's answer. Nothing is rendered, no CSRF token is compared, no
log line is written, no header added.

The benchmark (`python -m bench`, bench/scenarios/floor.py) serves it like the other two apps (one
uvicorn worker, the same options) on its database, whose path it passes in STOREFRONT_DB (and the
body length in STOREFRONT_FLOOR_BYTES), and loads it with the add-to-cart script. Its share of the
bare route is the most any add-to-cart on this stack could reach (bench/README.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from typing import Any

from litestar import Litestar, Request, Response, post
from litestar.enums import MediaType

from web import forms
from web.cart.store import ADD_READ, add_upsert
from web.db import SQLITE_BUSY_TIMEOUT_MS
from web.locality.service import SESSION_KEY as DELIVER_TO
from web.sessions import SESSION_READ
from web.settings import Settings

SESSION, CART, UPSERT = (p.sqlite() for p in (SESSION_READ, ADD_READ, add_upsert("sqlite")))
BODY = "x" * int(os.environ.get("STOREFRONT_FLOOR_BYTES", "5700"))
COOKIE = Settings.from_env().cookie_name
MAX_QUANTITY = Settings.from_env().max_line_quantity

db = sqlite3.connect(os.environ.get("STOREFRONT_DB", ""), isolation_level=None, check_same_thread=False)
for pragma in ("journal_mode=WAL", f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}", "foreign_keys=ON", "synchronous=NORMAL"):
    db.execute(f"PRAGMA {pragma}")
write_lock = threading.Lock()


def run(statement: tuple[str, dict[str, Any]], **params: Any) -> list[Any]:
    sql, bound = statement
    return db.execute(sql, {**bound, **params}).fetchall()


@post("/cart/items", media_type=MediaType.HTML, status_code=200)
async def add(request: Request) -> Response[str]:
    form = await forms.read(request)
    variant_id = int(form.getall("variant_id", [])[0])
    key = hashlib.sha256(request.cookies[COOKIE].encode()).hexdigest()
    with write_lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            data = json.loads(run(SESSION, session_key=key)[0][0])
            cart_id, place = data["cart_id"], data.get(DELIVER_TO) or {}
            run(CART, cart_id=cart_id, variant_id=variant_id, zone_id=place.get("zone_id"))
            now = int(time.time())
            run(UPSERT, cart_id=cart_id, variant_id=variant_id, quantity=1, max_quantity=MAX_QUANTITY, now=now)
            db.commit()
        except BaseException:
            db.rollback()
            raise
    return Response(BODY, media_type=MediaType.HTML)


app = Litestar(route_handlers=[add], openapi_config=None)
