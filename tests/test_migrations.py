"""The migrations build exactly the schema web/models.py describes, and step down again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from litestar import Litestar

from web.db import alembic_config, migration_state
from web.models import Base


def not_search_index(name: str | None, type_: str, parent_names: object) -> bool:
    """Migration 0010's full-text index (the FTS5 table and its shadow tables, or PostgreSQL's GIN
    index) is built by SQL the models cannot describe."""
    return not (name or "").startswith("product_search")


def test_the_migrated_database_matches_the_models(app: Litestar) -> None:
    with app.state.shop.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": not_search_index})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_every_migration_steps_down_and_up_again(app: Litestar) -> None:
    """On a copy of the test database: down to the first revision and back to head, without error."""
    config = alembic_config(app.state.shop.db.url)
    app.state.shop.db.dispose()
    command.downgrade(config, "0001")
    command.upgrade(config, "head")
    current, head = migration_state(app.state.shop.db)
    assert current == head
