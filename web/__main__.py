"""Command line: python -m web {migrate,load-demo,serve,purge-sessions}."""

from __future__ import annotations

import argparse
import sys

from web.settings import Settings, SettingsError


def migrate(settings: Settings) -> None:
    from alembic import command

    from web.db import alembic_config

    command.upgrade(alembic_config(settings.database_url), "head")
    print("database migrated to head")


def load_demo(settings: Settings) -> None:
    from web import demo
    from web.db import Database, check_migrated

    db = Database(settings)
    check_migrated(db)
    with db.engine.begin() as conn:
        added = demo.load(conn)
    print(f"demo catalogue: {added} products added ({len(demo.PRODUCTS)} in the catalogue)")


def purge_sessions(settings: Settings) -> None:
    from web.db import Database
    from web.sessions import session_store

    db = Database(settings)
    with db.engine.begin() as conn:
        purged = session_store(settings).purge_expired(conn)
    print(f"expired sessions purged: {purged}")


def serve(settings: Settings, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        proxy_headers=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web", description="Storefront commands")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply Alembic migrations up to head")
    commands.add_parser("load-demo", help="load the demo catalogue (idempotent)")
    commands.add_parser("purge-sessions", help="delete expired sessions")
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
        else:
            serve(settings, args.workers)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the database layer's own messages say what to run
        from web.db import DatabaseUnavailable

        if isinstance(error, DatabaseUnavailable):
            print(f"error: {error}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
