"""every time column 64-bit on PostgreSQL, whose INTEGER ends in January 2038 (SQLite's is 64-bit already)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 22:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, nullable): the Unix-seconds columns of web/models.py (its `Seconds` type).
TIMES = (
    ("outbox", "next_attempt_at", False),
    ("outbox", "claimed_until", True),
    ("outbox", "created_at", False),
    ("outbox", "sent_at", True),
    ("throttles", "expires_at", False),
    ("users", "created_at", False),
    ("users", "confirmed_at", True),
    ("users", "last_login_at", True),
    ("account_tokens", "created_at", False),
    ("account_tokens", "expires_at", False),
    ("account_tokens", "used_at", True),
    ("addresses", "created_at", False),
    ("audit", "at", False),
    ("carts", "created_at", False),
    ("orders", "placed_at", False),
    ("orders", "updated_at", False),
    ("sessions", "created_at", False),
    ("sessions", "expires_at", False),
    ("order_events", "at", False),
    ("order_messages", "at", False),
    ("cart_lines", "updated_at", False),
)


def change(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in TIMES:
        op.alter_column(table, column, type_=new, existing_type=old, existing_nullable=nullable)


def upgrade() -> None:
    change(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    change(sa.BigInteger(), sa.Integer())
