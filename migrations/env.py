"""Alembic environment: the URL comes from web.db.alembic_config() or DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from web.db import sqlalchemy_url
from web.models import Base
from web.settings import Settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or sqlalchemy_url(Settings.from_env().database_url)


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
