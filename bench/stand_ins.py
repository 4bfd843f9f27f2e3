"""The shop's hand-written stand-ins for framework features, each measured in-process against the framework's way.

Places in web/ step around Litestar, Jinja, logging or SQLAlchemy because a measurement said the
framework's way cost more than the work it does. This script measures each again on this machine, so
docs/design.md §8 ("Hand-written stand-ins and what each pays for") can say what each still pays for:

- `forms.read` (web/forms.py) against `await request.form()`;
- `header()` and `cookie()` (web/headers.py) against `request.headers` and `request.cookies`;
- `ShopEnvironment` (web/pages.py) against a plain `jinja2.Environment`, and the direct calls of
  the ShopContext it had until commit 567bc20, measured as if brought back;
- `AccessLog.write` (web/ops.py) against a `logging.Logger` with a JSON formatter;
- `Prepared` (web/db.py) against `conn.execute(statement, params)` through SQLAlchemy;
- `shop_of()` (web/visit.py) against Litestar's dependency injection (§8, "Request context").

The shop runs in production mode on a fresh SQLite database with the demo catalogue, its shoppers
each holding the benchmark's three products. Inputs come from real htmx adds, sent as a browser
sends them (16 headers, four cookies, the form's five fields): the headers an add reads, the drawer
it renders with its context, the Prepared statements it runs with their values.

1. Alone: each piece in a timeit-style loop (garbage collector off, this process's CPU time, the
   framework's way and ours alternated, the best of PIECE_REPEAT repeats). The form is read from
   FORM_BODIES different bodies, as shoppers' bodies differ, so Litestar's cache of parsed bodies
   does not answer for it.
2. In a whole add: adds sent straight to the ASGI app (no server, no socket), as the shop is and
   with one stand-in at a time returned to the framework's way, in interleaved batches; each
   variant's figure is the median of its batches, minus the add as is. "As is" runs twice: the gap
   between its two runs is the noise, their mean the add that the percentages are of. Tight loops
   keep the CPU's caches warm, so a piece costs more inside a whole request than alone; the whole
   add is the figure that decides. (shop_of() has no whole-add variant: it is measured as whole
   requests to a bare route, looked up against injected.)

A stand-in pays when, in a whole add, it saves at least PAYS_SHARE (2%) of the add. Run from the
repository root, on a machine otherwise quiet (the last line says how busy it was), in about 40 s:

    .venv/bin/python bench/stand_ins.py
    .venv/bin/python bench/stand_ins.py --only headers,direct-calls --rounds 450   # a closer look at two

With many variants interleaved, the two runs as is differ by up to 2-3% of an add; `--only` runs
fewer of them, which brings that noise under 1%, to judge a stand-in close to the 2% line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import io
import itertools
import json
import logging
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
HOST = "shop.test"
ORIGIN = f"https://{HOST}"
# The products the benchmark (python -m bench) adds; their stock is raised so that only the per-line limit caps a line.
PRODUCTS = ("test-1", "test-2", "tea-tin")
# Shoppers per whole-add variant: each variant adds to carts of its own, so that partial()'s cache (web/pages.py)
# sees only its own changes, as one server's does.
SHOPPERS = 150
PIECE_REPEAT = 9
# Distinct add bodies the form piece rotates over: more than Litestar's parsed-body cache holds (1,024).
FORM_BODIES = 2048
# Whole adds: rounds of one short batch per variant; a variant's figure is the median of its batches.
ADD_ROUNDS = 300
ADD_BATCH = 10
AS_IS = {"as is", "as is again"}
# A stand-in pays when it saves at least this share of an in-process add, and at least PAYS_MIN_US.
PAYS_SHARE = 0.02
PAYS_MIN_US = 1.0
# Other processes' CPU use above which the figures are marked as taken on a busy machine, as the benchmark does.
BUSY_CPUS = 0.2
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
# Cookies a browser may hold for the host besides ours (set by other software on it, or by hand).
OTHER_COOKIES = "theme=dark; _pk_id.1.a1b2=4f3c2e1d0b9a8877.1764650000.; consent=analytics%3Ano"
ACCESS_FIELDS = ("request_id", "method", "path", "route", "status", "duration_ms", "session", "client")

Scope = dict[str, Any]
Loop = Callable[[int], object]


# --------------------------------------------------------------------------------------------
# Requests as a browser sends them, straight to the ASGI app


def add_headers(cookie: str, csrf: str, slug: str, body_length: int) -> list[tuple[bytes, bytes]]:
    """The headers Chrome sends with an htmx add from a product page (its client hints left out)."""
    pairs = [
        ("host", HOST),
        ("user-agent", USER_AGENT),
        ("accept", "*/*"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", str(body_length)),
        ("origin", ORIGIN),
        ("referer", f"{ORIGIN}/products/{slug}"),
        ("sec-fetch-site", "same-origin"),
        ("hx-request", "true"),
        ("hx-current-url", f"{ORIGIN}/products/{slug}"),
        ("hx-target", "catalog-add-status"),
        ("x-csrf-token", csrf),
        ("x-page", f"catalog.product:{slug}"),
        ("cookie", f"{OTHER_COOKIES}; {cookie}"),
    ]
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


def add_body(csrf: str, slug: str, variant_id: int) -> bytes:
    """The add-to-cart form's fields as htmx sends them."""
    fields = {"csrf_token": csrf, "product": slug, "variant_id": variant_id, "quantity": 1, "next": f"/products/{slug}"}
    return urlencode(fields).encode()


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("203.0.113.7", 50123),
        "server": (HOST, 443),
        "state": {},
    }


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


async def call(app: Any, scope: Scope, body: bytes = b"") -> Answer:
    """One request to the ASGI app: `scope` (copied, with fresh state) and `body` in one message."""
    messages = iter([{"type": "http.request", "body": body, "more_body": False}])
    answer = Answer(0, [], b"")

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app({**scope, "state": {}}, receive, send)
    return answer


# --------------------------------------------------------------------------------------------
# The shop and its shoppers


@dataclass(frozen=True)
class Add:
    """One shopper's htmx add of one product."""

    scope: Scope
    body: bytes


@dataclass
class Shop:
    app: Any
    settings: Any
    loop: asyncio.AbstractEventLoop
    null: TextIO
    variant_of: dict[str, int]

    def request(self, scope: Scope, body: bytes = b"") -> Answer:
        return self.loop.run_until_complete(call(self.app, scope, body))

    def add(self, add: Add) -> Answer:
        answer = self.request(add.scope, add.body)
        if answer.status != 200:
            raise SystemExit(f"an htmx add answered {answer.status}: {answer.body[:300]!r}")
        return answer

    def shoppers(self, count: int = SHOPPERS) -> list[Add]:
        """`count` new shoppers' adds of every product, in the order bench/bench.py's wrk script sends
        them (consecutive adds go to different carts), each made once already: every add measured is the
        steady-state add of a product already in the cart."""
        shoppers = [self.new_shopper() for _ in range(count)]
        adds = [
            Add(http_scope("POST", "/cart/items", add_headers(cookie, csrf, slug, len(body))), body)
            for slug in PRODUCTS
            for cookie, csrf in shoppers
            for body in [add_body(csrf, slug, self.variant_of[slug])]
        ]
        for add in adds:
            self.add(add)
        return adds

    def new_shopper(self) -> tuple[str, str]:
        """A visitor who opened a product page: the cookie ("name=value") and the session's CSRF token."""
        from sqlalchemy import text

        answer = self.request(http_scope("GET", f"/products/{PRODUCTS[0]}", [(b"host", HOST.encode())]))
        cookies = [value.decode() for name, value in answer.headers if name == b"set-cookie"]
        if answer.status != 200 or len(cookies) != 1:
            raise SystemExit(f"a product page answered {answer.status} with {len(cookies)} cookies")
        cookie = cookies[0].split(";", 1)[0]
        key = hashlib.sha256(cookie.partition("=")[2].encode()).hexdigest()
        with self.app.state.shop.db.engine.connect() as conn:
            data = conn.execute(text("SELECT data FROM sessions WHERE key = :key"), {"key": key}).scalar_one()
        return cookie, str(json.loads(data)["csrf"])


def open_shop(tmp: Path, loop: asyncio.AbstractEventLoop, null: TextIO) -> Shop:
    """The shop in production mode on a fresh database with the demo catalogue."""
    # Import web/ from this checkout. Run as a script, bench/ itself is first on the path: it makes way,
    # so that its modules (shop.py, load.py, ...) cannot stand in for anything else imported.
    if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(ROOT)
    elif str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from sqlalchemy import bindparam, text

    from web import demo
    from web.__main__ import migrate
    from web.app import create_app
    from web.settings import Settings

    settings = Settings(
        app_env="production",
        cookie_secure=True,
        database_url=f"sqlite:///{tmp / 'shop.db'}",
        secret_key=secrets.token_urlsafe(32),
    )
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        migrate(settings)
    app = create_app(settings)
    app.state.access_log.stream = null
    engine = app.state.shop.db.engine
    with engine.begin() as conn:
        demo.load(conn)
        ours = "product_id IN (SELECT id FROM products WHERE slug IN :slugs)"
        slugs = bindparam("slugs", list(PRODUCTS), expanding=True)
        conn.execute(text(f"UPDATE variants SET stock = 100000 WHERE {ours}").bindparams(slugs))
        first = "SELECT (SELECT slug FROM products WHERE id = product_id), min(id) FROM variants"
        rows = conn.execute(text(f"{first} WHERE {ours} GROUP BY product_id").bindparams(slugs)).all()
    variant_of = {str(slug): int(variant_id) for slug, variant_id in rows}
    return Shop(app, settings, loop, null, variant_of)


# --------------------------------------------------------------------------------------------
# Timing


def timed(run: Loop, number: int) -> float:
    """CPU µs per iteration of `run(number)`, with the garbage collector off as timeit does."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        run(number)
        return (time.process_time() - started) / number * 1e6
    finally:
        gc.enable()


def best_of(loops: dict[str, Loop], number: int, repeat: int = PIECE_REPEAT) -> dict[str, float]:
    """Each loop's best µs per iteration over `repeat` rounds, the loops alternated in every round."""
    for run in loops.values():
        run(max(1, number // 10))
    best = dict.fromkeys(loops, math.inf)
    for _ in range(repeat):
        for name, run in loops.items():
            best[name] = min(best[name], timed(run, number))
    return best


@dataclass
class Piece:
    name: str
    framework: float
    ours: float
    # The whole-add variant that returns this piece to the framework's way ("" when there is none).
    key: str = ""
    # A stand-in the shop does not have: its variant is the shop with it, "as is" the framework's way.
    proposed: bool = False

    @property
    def saving(self) -> float:
        return self.framework - self.ours


# --------------------------------------------------------------------------------------------
# 1. Each piece alone


def fresh_request(shop: Shop, add: Add, bodies: list[bytes] | None = None) -> Callable[[], Any]:
    """A maker of new Litestar Requests for one add, each on a scope of its own, routed as the app
    routes it; with `bodies`, each request sends the next of them (all as long as the add's own)."""
    from litestar import Request

    handler = shop.app.get_handler_index_by_name("cart.add")["handler"]
    scope = {**add.scope, "app": shop.app, "litestar_app": shop.app, "route_handler": handler}
    messages = itertools.cycle(
        [{"type": "http.request", "body": body, "more_body": False} for body in bodies or [add.body]]
    )

    def make() -> Any:
        message = next(messages)

        async def receive() -> dict[str, Any]:
            return message

        return Request({**scope, "state": {}}, receive)

    return make


def measure_forms(shop: Shop, add: Add) -> list[Piece]:
    from litestar.datastructures import FormMultiDict
    from litestar.utils.scope.state import ScopeState

    from web import forms

    # Litestar keeps the last 1,024 bodies it parsed; shoppers' bodies differ (each has its CSRF token).
    slug = PRODUCTS[0]
    bodies = [add_body(secrets.token_urlsafe(32), slug, shop.variant_of[slug]) for _ in range(FORM_BODIES)]
    make = fresh_request(shop, add, bodies)

    def runner(read: Callable[[Any], Any]) -> Loop:
        async def many(number: int) -> None:
            for _ in range(number):
                await read(make())

        return lambda number: shop.loop.run_until_complete(many(number))

    async def request_only(request: Any) -> None:
        return None

    async def framework(request: Any) -> Any:
        form = await request.form()
        # What Litestar's route does after every request whose form it parsed: close its uploads.
        await FormMultiDict.from_form_data(ScopeState.from_scope(request.scope).form).close()
        return form

    same = fresh_request(shop, add)
    form, fields = shop.loop.run_until_complete(framework(same())), shop.loop.run_until_complete(forms.read(same()))
    for name in ("csrf_token", "product", "variant_id", "quantity", "next"):
        assert form.getall(name, []) == fields.getall(name, []), name
    best = best_of({"base": runner(request_only), "framework": runner(framework), "ours": runner(forms.read)}, 2048)
    return [Piece("forms.read", best["framework"] - best["base"], best["ours"] - best["base"], "forms")]


def header_reads(shop: Shop, add: Add) -> list[str]:
    """The header names one htmx add looks up through web.headers.header(), in order."""
    import web.headers

    names: list[str] = []
    real = web.headers.raw_header

    def counting(headers: Any, name: str) -> str | None:
        names.append(name)
        return real(headers, name)

    web.headers.raw_header = counting
    try:
        shop.add(add)
    finally:
        web.headers.raw_header = real
    return names


def measure_headers(shop: Shop, add: Add) -> list[Piece]:
    from web.headers import cookie, header

    names = header_reads(shop, add)
    cookie_name = shop.settings.cookie_name
    make = fresh_request(shop, add)
    sample = make()
    assert [header(sample, name) for name in names] == [sample.headers.get(name) for name in names]
    assert cookie(sample, cookie_name) == sample.cookies.get(cookie_name)

    def base(number: int) -> None:
        for _ in range(number):
            make()

    def framework(number: int) -> None:
        for _ in range(number):
            request = make()
            for name in names:
                request.headers.get(name)
            request.cookies.get(cookie_name)

    def ours(number: int) -> None:
        for _ in range(number):
            request = make()
            for name in names:
                header(request, name)
            cookie(request, cookie_name)

    best = best_of({"base": base, "framework": framework, "ours": ours}, 4000)
    label = f"header() and cookie(): {len(names)} reads + the cookie"
    return [Piece(label, best["framework"] - best["base"], best["ours"] - best["base"], "headers")]


def renderer_on(shop: Shop, environment: type) -> Any:
    """A Renderer like the shop's whose Jinja environment is of class `environment`, configured alike."""
    from web.pages import Renderer

    out = Renderer(shop.settings, shop.app)
    made = out.env
    env = environment(
        loader=made.loader,
        autoescape=made.autoescape,
        undefined=made.undefined,
        auto_reload=made.auto_reload,
        trim_blocks=made.trim_blocks,
        lstrip_blocks=made.lstrip_blocks,
    )
    env.filters = made.filters
    env.globals = made.globals  # url, static and partial, this Renderer's, which renders with `env`
    env.direct_calls = frozenset(id(env.globals[name]) for name in ("url", "static", "partial") if name in env.globals)
    out.env = env
    return out


def jinja_variants() -> dict[str, type]:
    """Jinja's own environment, the shop's (ShopEnvironment: globals as a plain dict), and the shop's
    with direct calls ("direct-calls"): the ShopContext the shop had until commit 567bc20, which
    called the shop's own template functions without Jinja's pass-context probes. It lives on here
    only to measure what bringing it back would save."""
    from jinja2 import Environment
    from jinja2.runtime import Context

    from web.pages import ShopEnvironment

    class DirectCallsContext(Context):
        def call(self, obj: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            if id(obj) not in self.environment.direct_calls:  # type: ignore[attr-defined]
                return super().call(obj, *args, **kwargs)
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
            return obj(*args, **kwargs)

    class DirectCalls(ShopEnvironment):
        context_class = DirectCallsContext

    return {"jinja": Environment, "ours": ShopEnvironment, "direct-calls": DirectCalls}


def recorded_render(shop: Shop, add: Add) -> tuple[str, dict[str, Any]]:
    """The whole-template render an htmx add makes (the drawer), with its context, recorded from a real add."""
    out = shop.app.state.renderer
    renders: list[tuple[str, dict[str, Any]]] = []
    real = out.render

    def recording(name: str, context: Any) -> str:
        renders.append((name, dict(context)))
        return str(real(name, context))

    out.render = recording
    try:
        shop.add(add)
    finally:
        del out.render
    if not renders:
        raise SystemExit("an htmx add rendered no whole template; see recorded_render()")
    return max(renders, key=lambda render: len(real(*render)))


def measure_jinja(shop: Shop, add: Add) -> list[Piece]:
    name, context = recorded_render(shop, add)
    renderers = {key: renderer_on(shop, environment) for key, environment in jinja_variants().items()}
    expected = renderers["ours"].render(name, context)
    for out in renderers.values():
        assert out.render(name, context) == expected

    def runner(out: Any) -> Loop:
        def run(number: int) -> None:
            for _ in range(number):
                out.render(name, context)

        return run

    best = best_of({key: runner(out) for key, out in renderers.items()}, 2000)
    lines = len(context["cart"].lines) if "cart" in context else "?"
    shown = f"{name.rsplit('/', 1)[-1]}, {lines} lines"
    return [
        Piece(f"ShopEnvironment: {shown}", best["jinja"], best["ours"], "jinja"),
        # Not the shop's: what the shop would save with it; "framework" is the shop as it is.
        Piece("direct calls (ShopContext), if brought back", best["ours"], best["direct-calls"], "direct-calls", True),
    ]


class JsonLines(logging.Formatter):
    """The access line as a JSON formatter writes it, from the values passed in `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({name: getattr(record, name) for name in ACCESS_FIELDS}, separators=(",", ":"))


def access_logger(stream: TextIO) -> logging.Logger:
    """A logger (of its own, outside logging's registry) writing JSON lines to `stream`."""
    logger = logging.Logger("access", logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    logger.addHandler(handler)
    return logger


def log_through(logger: logging.Logger) -> Callable[..., None]:
    """AccessLog.write's job done through `logger`: one INFO record with the line's values."""

    def write(
        request_id: str, method: str, path: str, route: str, status: int, seconds: float, session: str, client: str
    ) -> None:
        values = dict(zip(ACCESS_FIELDS, (request_id, method, path, route, status, 0, session, client), strict=True))
        values["duration_ms"] = round(seconds * 1000, 2)
        logger.info("request", extra=values)

    return write


def measure_access_line(shop: Shop) -> list[Piece]:
    from web.ops import AccessLog

    ours = AccessLog(shop.null).write
    framework = log_through(access_logger(shop.null))
    values = ("5f3a9c1e0000002a", "POST", "/cart/items", "cart.add", 200, 0.000213, "9b1f0c7a2e4d", "203.0.113.7")
    lines = io.StringIO(), io.StringIO()
    AccessLog(lines[0]).write(*values)
    log_through(access_logger(lines[1]))(*values)
    assert json.loads(lines[0].getvalue()) == json.loads(lines[1].getvalue())

    def runner(write: Callable[..., None]) -> Loop:
        def run(number: int) -> None:
            for _ in range(number):
                write(*values)

        return run

    best = best_of({"framework": runner(framework), "ours": runner(ours)}, 5000)
    return [Piece("AccessLog.write", best["framework"], best["ours"], "log")]


def recorded_statements(shop: Shop, add: Add) -> list[tuple[Any, str, dict[str, Any]]]:
    """The Prepared statements one htmx add runs: (statement, method, values), recorded from a real add."""
    from web.db import Prepared

    runs: list[tuple[Any, str, dict[str, Any]]] = []
    methods = ("first", "all", "run")
    real = {method: getattr(Prepared, method) for method in methods}

    def recording(method: str) -> Callable[..., Any]:
        def run(self: Any, conn: Any, **params: Any) -> Any:
            runs.append((self, method, params))
            return real[method](self, conn, **params)

        return run

    for method in methods:
        setattr(Prepared, method, recording(method))
    try:
        shop.add(add)
    finally:
        for method in methods:
            setattr(Prepared, method, real[method])
    return runs


def described(prepared: Any) -> str:
    """ "a read of sessions", "a write to cart_lines": what a Prepared statement does, to what."""
    statement = prepared.statement
    if statement.is_select:
        return "a read of " + ", ".join(str(getattr(table, "name", "?")) for table in statement.get_final_froms())
    return f"a write to {getattr(statement.table, 'name', '?')}"


def through_sqlalchemy(conn: Any, statement: Any, method: str, params: dict[str, Any]) -> Any:
    result = conn.execute(statement.statement, params)
    return result.first() if method == "first" else result.all() if method == "all" else result.rowcount


def measure_prepared(shop: Shop, add: Add) -> list[Piece]:
    runs = recorded_statements(shop, add)
    if not runs:
        return []
    conn = shop.app.state.shop.db.engine.connect()
    driver = conn.connection.driver_connection
    driver.execute("BEGIN IMMEDIATE")  # the add's upsert writes: run it in a transaction rolled back after
    try:
        for statement, method, params in runs:
            ours = getattr(statement, method)(conn, **params)
            theirs = through_sqlalchemy(conn, statement, method, params)
            if statement.statement.is_select:  # a write's answer moves on with each run
                assert [tuple(row) for row in (ours if method == "all" else [ours])] == [
                    tuple(row) for row in (theirs if method == "all" else [theirs])
                ]

        def framework(number: int) -> None:
            for _ in range(number):
                for statement, method, params in runs:
                    through_sqlalchemy(conn, statement, method, params)

        def ours_(number: int) -> None:
            for _ in range(number):
                for statement, method, params in runs:
                    getattr(statement, method)(conn, **params)

        first_statement, first_method, first_params = runs[0]

        def framework_one(number: int) -> None:
            for _ in range(number):
                through_sqlalchemy(conn, first_statement, first_method, first_params)

        def ours_one(number: int) -> None:
            run = getattr(first_statement, first_method)
            for _ in range(number):
                run(conn, **first_params)

        best = best_of(
            {"framework": framework, "ours": ours_, "framework_one": framework_one, "ours_one": ours_one}, 500
        )
    finally:
        driver.rollback()
        conn.close()
    return [
        Piece(f"Prepared: the add's {len(runs)} statements", best["framework"], best["ours"], "sql"),
        Piece(f"  of which the first, {described(first_statement)}", best["framework_one"], best["ours_one"]),
    ]


def measure_request_context(shop: Shop) -> list[Piece]:
    """shop_of(request) (web/visit.py) against Litestar's dependency injection of the same object, the
    cheapest way (a provider without arguments), each on a route of its own in a bare app."""
    from litestar import Litestar, Request, get
    from litestar.di import Provide

    try:
        from web.visit import shop_of
    except ImportError:
        return []
    the_shop = shop.app.state.shop

    def provide_shop() -> Any:
        return the_shop

    @get("/injected", media_type="text/plain")
    async def injected(shop: Any) -> str:
        return "ok"

    @get("/looked-up", media_type="text/plain")
    async def looked_up(request: Request) -> str:
        shop_of(request)
        return "ok"

    app = Litestar(
        [injected, looked_up],
        dependencies={"shop": Provide(provide_shop, sync_to_thread=False)},
        signature_namespace={"Any": Any, "Request": Request},
        openapi_config=None,
    )
    app.state.shop = the_shop
    headers = [(b"host", HOST.encode())]

    def runner(path: str) -> Loop:
        scope = http_scope("GET", path, headers)

        async def many(number: int) -> None:
            for _ in range(number):
                if (await call(app, scope)).status != 200:
                    raise SystemExit(f"the request context app answered an error on {path}")

        return lambda number: shop.loop.run_until_complete(many(number))

    best = best_of({"framework": runner("/injected"), "ours": runner("/looked-up")}, 2000, repeat=15)
    return [Piece("shop_of() vs injection: a whole bare request", best["framework"], best["ours"])]


# --------------------------------------------------------------------------------------------
# 2. Whole adds, with one stand-in at a time returned to the framework's way


@dataclass
class Variant:
    key: str
    renderer: Any
    switch: Callable[[], contextlib.AbstractContextManager[None]]
    reached: Callable[[], bool]
    adds: list[Add] = field(default_factory=list)


def variants(shop: Shop) -> list[Variant]:
    """The shop as is (twice), and with one stand-in at a time returned to the framework's way."""
    import web.forms
    import web.headers
    from web.db import Prepared
    from web.pages import Renderer

    calls = {"forms": 0, "log": 0, "sql": 0}
    jinja = {key: renderer_on(shop, environment) for key, environment in jinja_variants().items() if key != "ours"}
    log_write = log_through(access_logger(shop.null))

    @contextlib.contextmanager
    def as_is() -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def litestar_form() -> Iterator[None]:
        ours = web.forms.read

        async def read(request: Any) -> Any:
            calls["forms"] += 1
            return await request.form()

        web.forms.read = read
        try:
            yield
        finally:
            web.forms.read = ours

    def header(request: Any, name: str) -> str | None:
        return request.headers.get(name)  # type: ignore[no-any-return]

    def cookie(request: Any, name: str) -> str | None:
        return request.cookies.get(name)  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def litestar_headers() -> Iterator[None]:
        # header() and cookie() are imported by name all over web/: their code is swapped in place.
        ours = web.headers.header.__code__, web.headers.cookie.__code__
        web.headers.header.__code__, web.headers.cookie.__code__ = header.__code__, cookie.__code__
        try:
            yield
        finally:
            web.headers.header.__code__, web.headers.cookie.__code__ = ours

    @contextlib.contextmanager
    def logging_line() -> Iterator[None]:
        def write(*values: Any) -> None:
            calls["log"] += 1
            log_write(*values)

        shop.app.state.access_log.write = write
        try:
            yield
        finally:
            del shop.app.state.access_log.write

    @contextlib.contextmanager
    def sqlalchemy_statements() -> Iterator[None]:
        ours = Prepared._sqlite

        def not_on_the_driver(self: Any, conn: Any, params: dict[str, Any]) -> None:
            calls["sql"] += 1

        Prepared._sqlite = not_on_the_driver
        try:
            yield
        finally:
            Prepared._sqlite = ours

    def shops() -> Any:
        return Renderer(shop.settings, shop.app)

    return [
        Variant("as is", shops(), as_is, lambda: True),
        Variant("as is again", shops(), as_is, lambda: True),
        Variant("forms", shops(), litestar_form, lambda: calls["forms"] > 0),
        Variant("headers", shops(), litestar_headers, lambda: True),
        *(Variant(key, out, as_is, lambda out=out: len(out.env.cache or ()) > 0) for key, out in jinja.items()),
        Variant("log", shops(), logging_line, lambda: calls["log"] > 0),
        Variant("sql", shops(), sqlalchemy_statements, lambda: calls["sql"] > 0),
    ]


def measure_adds(shop: Shop, rounds: int, only: set[str]) -> dict[str, float]:
    """Each variant's CPU µs per add: the median over `rounds` rounds, each of which runs a batch of
    ADD_BATCH adds of every variant in turn (after one round to warm up); with `only`, just those
    variants beside the two runs as is.

    Each variant adds to its own shoppers' carts with its own Renderer, so partial()'s cache holds the
    lines its own adds changed, as one server's does."""
    every = [variant for variant in variants(shop) if not only or variant.key in only | AS_IS]
    for variant in every:
        with swapped_renderer(shop, variant.renderer):
            variant.adds = shop.shoppers()
    batches: dict[str, list[float]] = {variant.key: [] for variant in every}
    for round_ in range(rounds + 1):
        # Each round starts one variant further on, so that none always follows the same other.
        start = round_ % len(every)
        for variant in every[start:] + every[:start]:
            with swapped_renderer(shop, variant.renderer), variant.switch():
                started = time.process_time()
                for index in range(round_ * ADD_BATCH, (round_ + 1) * ADD_BATCH):
                    shop.add(variant.adds[index % len(variant.adds)])
                spent = time.process_time() - started
            if round_:
                batches[variant.key].append(spent / ADD_BATCH * 1e6)
    return {
        variant.key: statistics.median(batches[variant.key]) if variant.reached() else math.nan for variant in every
    }


@contextlib.contextmanager
def swapped_renderer(shop: Shop, renderer: Any) -> Iterator[None]:
    ours, shop.app.state.renderer = shop.app.state.renderer, renderer
    try:
        yield
    finally:
        shop.app.state.renderer = ours


# --------------------------------------------------------------------------------------------
# The report


def report(pieces: list[Piece], adds: dict[str, float], rounds: int) -> None:
    add = (adds["as is"] + adds["as is again"]) / 2
    noise = abs(adds["as is"] - adds["as is again"])
    threshold = max(PAYS_MIN_US, PAYS_SHARE * add)
    print("In-process CPU µs per htmx add, on a request as a browser sends it, straight to the ASGI app.")
    print(
        f"  alone: the piece by itself in a tight loop (gc off), best of {PIECE_REPEAT}, alternated with the", end=" "
    )
    print("framework's way")
    print("  in a whole add: whole adds with the piece done the framework's way, minus whole adds as is (medians of")
    print(f"  {rounds} interleaved batches of {ADD_BATCH}); pays: saves at least {threshold:.1f} µs there", end=" ")
    print(f"({100 * PAYS_SHARE:.0f}% of an add)\n")
    print(f"{'':<52} {'----- alone -----':>26}   {'-- in a whole add --':>20}")
    print(f"{'stand-in':<52} {'framework':>9} {'ours':>7} {'saving':>8}   {'saving':>9} {'of add':>8}  pays")
    for piece in pieces:
        whole = adds.get(piece.key, math.nan) - add if piece.key else math.nan
        whole = -whole if piece.proposed else whole
        shown = "" if not piece.key else "not run" if math.isnan(whole) else f"{whole:9.1f} {100 * whole / add:7.1f}%"
        if piece.key:
            pays = "" if math.isnan(whole) else "yes" if whole >= threshold else "NO"
        else:  # a part of the piece above it, or a piece no whole add can take back: judged alone
            pays = "" if piece.name.startswith(" ") else "yes (alone)" if piece.saving >= threshold else "NO (alone)"
        print(f"{piece.name:<52} {piece.framework:>9.1f} {piece.ours:>7.1f} {piece.saving:>8.1f}   {shown:<18}  {pays}")
    print(f"\nThe whole add as is: {add:.1f} µs; its two runs differ by {noise:.1f} µs", end=" ")
    print(f"({100 * noise / add:.1f}%), the noise.")


def cpu_seconds() -> tuple[float, float] | None:
    """CPU seconds used so far by every process on the machine, and by this one (None without /proc)."""
    try:
        machine = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq = map(int, machine)
    return (user + nice + system + irq + softirq) / tick, (int(own[11]) + int(own[12])) / tick


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=ADD_ROUNDS, help=f"whole-add rounds (default {ADD_ROUNDS})")
    parser.add_argument(
        "--only",
        default="",
        help="whole adds for these variants only, beside the add as is (comma-separated: "
        "forms, headers, jinja, direct-calls, log, sql): fewer variants, less noise",
    )
    args = parser.parse_args(argv)
    only = {key.strip() for key in args.only.split(",") if key.strip()}
    started = time.perf_counter()
    cpu_before = cpu_seconds()
    loop = asyncio.new_event_loop()
    # Line-buffered like standard error, where the shop writes its access line: one write() per line.
    with tempfile.TemporaryDirectory(prefix="stand-ins-") as tmp, open(os.devnull, "w", buffering=1) as null:
        shop = open_shop(Path(tmp), loop, null)
        try:
            add = shop.shoppers(1)[0]
            pieces = [
                *measure_forms(shop, add),
                *measure_headers(shop, add),
                *measure_jinja(shop, add),
                *measure_access_line(shop),
                *measure_prepared(shop, add),
                *measure_request_context(shop),
            ]
            adds = measure_adds(shop, args.rounds, only)
        finally:
            shop.app.state.shop.db.dispose()
            loop.close()
    report(pieces, adds, args.rounds)
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.0f} s; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs", end="")
    cpu_after = cpu_seconds()
    if cpu_before is not None and cpu_after is not None:
        others = (cpu_after[0] - cpu_before[0] - (cpu_after[1] - cpu_before[1])) / seconds
        print(f"; other processes used {others:.2f} CPUs meanwhile", end="")
        print(" (BUSY: run again when the machine is quiet)" if others > BUSY_CPUS else "", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
