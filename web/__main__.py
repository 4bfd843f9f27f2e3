"""Command line: python -m web {migrate,load-demo,serve,purge-sessions,housekeeping,send-mail,create-staff}."""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from sqlalchemy import Connection

from web import demo, mail, media
from web.accounts import service as accounts
from web.cart.store import DAY, purge_carts
from web.db import Database, DatabaseUnavailable, alembic_config, check_migrated
from web.metrics import Metrics
from web.problems import InvalidInput
from web.sessions import session_store
from web.settings import ROOT, Settings, SettingsError
from web.staff import catalog
from web.staff.service import make_staff

T = TypeVar("T")


def migrate(settings: Settings) -> None:
    from alembic import command

    command.upgrade(alembic_config(settings.database_url), "head")
    print("database migrated to head")


def load_demo(settings: Settings) -> None:
    with database(settings) as db:
        check_migrated(db)
        with db.engine.begin() as conn:
            added = demo.load(conn)
    print(f"demo catalogue: {added} products added ({len(demo.PRODUCTS)} in the catalogue)")


def write_unit(db: Database, work: Callable[[Connection], T]) -> T:
    """Run `work` in one write transaction, serialised with the shop's own writers."""

    def unit(conn: Connection) -> T:
        with db.write(conn):
            return work(conn)

    return db.run_sync(unit)


@contextmanager
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings)
    try:
        yield db
    finally:
        db.dispose()


def purge_sessions(settings: Settings) -> None:
    with database(settings) as db:
        print(f"expired sessions purged: {write_unit(db, session_store(settings).purge_expired)}")


def housekeeping(settings: Settings) -> None:
    """Expired sessions and counters, stale guest carts, old empty carts and photo files no product
    has shown for a day; safe while the shop serves."""
    store = session_store(settings)
    with database(settings) as db:
        sessions = write_unit(db, store.purge_expired)
        guests, empty = write_unit(db, lambda conn: purge_carts(conn, int(time.time()), settings.guest_cart_days))
        a_day_ago = int(time.time()) - DAY
        in_use = db.run_sync(lambda conn: catalog.photos_in_use(conn, a_day_ago))
    photos = media.remove_unused(settings.media_dir, in_use, a_day_ago)
    print(f"expired sessions purged: {sessions}")
    print(f"guest carts untouched for {settings.guest_cart_days} days purged: {guests}")
    print(f"empty carts older than a day purged: {empty}")
    print(f"photo files unused for a day removed: {photos}")


def send_mail(settings: Settings) -> None:
    """Deliver every message that is due now (the server also does this in the background)."""
    with database(settings) as db:
        check_migrated(db)
        done = mail.deliver_pending(db, settings, Metrics())
    where = settings.smtp_url.split("@")[-1] if settings.smtp_url else str(settings.outbox_dir)
    print(f"mail sent: {done.sent}, to retry later: {done.retried}, given up: {done.failed} ({where})")


def create_staff(settings: Settings, raw_email: str, password_stdin: bool) -> int:
    """Make or promote a staff member; the password from a prompt, or one line on standard input."""
    try:
        email = accounts.normalise_email(raw_email)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass(f"Password for {email}: ")
            if getpass.getpass("Again: ") != password:
                print("error: the two passwords differ", file=sys.stderr)
                return 2
        checked = accounts.check_new_password(password, email)
    except InvalidInput as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    password_hash = accounts.hasher(
        settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
    ).hash(checked)
    with database(settings) as db:
        check_migrated(db)
        _user_id, new = write_unit(db, lambda conn: make_staff(conn, email, password_hash, int(time.time())))
    print(f"{email} is {'a new' if new else 'now a'} staff member: log in at /login, the back office is /staff")
    return 0


def serve(settings: Settings, workers: int) -> None:
    """Serve with uvicorn after checking the database, so a missing migration is one clear line."""
    import uvicorn

    from web.serving import LimitedHttpToolsProtocol

    with database(settings) as db:
        check_migrated(db)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics here and /metrics sums them (prometheus_client's multiprocess mode).
        metrics_dir = ROOT / "var" / f"prometheus-{settings.port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        access_log=False,  # web/ops.py writes one JSON line per request instead
        proxy_headers=False,  # TRUSTED_PROXIES decides, in web/ops.py
        # Live streams end on SIGTERM (web/streams.py); anything still open after this is cut.
        timeout_graceful_shutdown=10,
        # uvicorn makes each connection's protocol by calling `http` (a class, or this partial, which
        # pickles to the worker processes); it adds the header size and time limits (web/serving.py).
        http=partial(  # type: ignore[arg-type]
            LimitedHttpToolsProtocol,
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout_seconds,
        ),
        timeout_keep_alive=settings.keep_alive_seconds,
        limit_concurrency=settings.max_concurrency,  # past it, a clean 503 (open live streams count)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web", description="Storefront commands")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply Alembic migrations up to head")
    commands.add_parser("load-demo", help="load the demo catalogue (idempotent)")
    commands.add_parser("purge-sessions", help="delete expired sessions")
    commands.add_parser(
        "housekeeping", help="purge expired sessions, stale guest carts, old empty carts and unused photo files"
    )
    commands.add_parser("send-mail", help="deliver the outbox's pending mail now, then exit")
    staff_parser = commands.add_parser("create-staff", help="make or promote a staff member (password prompted)")
    staff_parser.add_argument("email")
    staff_parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    serve_parser = commands.add_parser("serve", help="serve the shop on HOST:PORT")
    serve_parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "migrate":
            migrate(settings)
        elif args.command == "load-demo":
            load_demo(settings)
        elif args.command == "purge-sessions":
            purge_sessions(settings)
        elif args.command == "housekeeping":
            housekeeping(settings)
        elif args.command == "send-mail":
            send_mail(settings)
        elif args.command == "create-staff":
            return create_staff(settings, args.email, args.password_stdin)
        else:
            serve(settings, args.workers)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as error:  # its message says what to run
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
