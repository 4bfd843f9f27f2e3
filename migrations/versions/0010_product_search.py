"""product search (SQLite FTS5 or a PostgreSQL full-text index) and categories left out of the listings

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 22:30:00

web/catalog/service.py's search_products() reads what this builds. On SQLite the FTS5 table mirrors
products' name and description (an external-content table kept current by three triggers); an SQLite
built without FTS5 gets no table and the search falls back to LIKE. On PostgreSQL a GIN index on the
same to_tsvector() expression the search uses. web/models.py does not describe these objects:
their names start with SEARCH_PREFIX, which tests/test_migrations.py leaves out of its comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = (
    "CREATE VIRTUAL TABLE product_search USING fts5("
    "name, description, content='products', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "INSERT INTO product_search(rowid, name, description) SELECT id, name, description FROM products",
    "CREATE TRIGGER product_search_insert AFTER INSERT ON products BEGIN "
    "INSERT INTO product_search(rowid, name, description) VALUES (new.id, new.name, new.description); END",
    "CREATE TRIGGER product_search_delete AFTER DELETE ON products BEGIN "
    "INSERT INTO product_search(product_search, rowid, name, description) "
    "VALUES ('delete', old.id, old.name, old.description); END",
    "CREATE TRIGGER product_search_update AFTER UPDATE OF name, description ON products BEGIN "
    "INSERT INTO product_search(product_search, rowid, name, description) "
    "VALUES ('delete', old.id, old.name, old.description); "
    "INSERT INTO product_search(rowid, name, description) VALUES (new.id, new.name, new.description); END",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS product_search_update",
    "DROP TRIGGER IF EXISTS product_search_delete",
    "DROP TRIGGER IF EXISTS product_search_insert",
    "DROP TABLE IF EXISTS product_search",
)
# The expression must be the one web/catalog/service.py's search_products() matches, or the index goes unused.
POSTGRES_UP = (
    "CREATE INDEX product_search_ix ON products "
    "USING gin ((setweight(to_tsvector('simple', name), 'A') || setweight(to_tsvector('simple', description), 'B')))",
)
POSTGRES_DOWN = ("DROP INDEX IF EXISTS product_search_ix",)


def has_fts5() -> bool:
    options = op.get_bind().execute(sa.text("PRAGMA compile_options")).scalars()
    return "ENABLE_FTS5" in set(options)


def upgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("listed", sa.Boolean(), server_default=sa.true(), nullable=False))
    dialect = op.get_bind().dialect.name
    statements = POSTGRES_UP if dialect == "postgresql" else SQLITE_UP if has_fts5() else ()
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRES_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("listed")
