"""The migrations build exactly the schema web/models.py describes, and step down again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from litestar import Litestar

from web.db import alembic_config, migration_state
from web.models import Base


def test_the_migrated_database_matches_the_models(app: Litestar) -> None:
    with app.state.shop.db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert differences == []


def test_every_migration_steps_down_and_up_again(app: Litestar) -> None:
    """On a copy of the test database: down to the first revision and back to head, without error."""
    config = alembic_config(app.state.shop.db.url)
    app.state.shop.db.dispose()
    command.downgrade(config, "0001")
    command.upgrade(config, "head")
    current, head = migration_state(app.state.shop.db)
    assert current == head
