"""staff edits of variants (version), product photos, order messages and their read marks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:42:53.726677
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('order_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=10), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=True),
    sa.Column('author_name', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('at', sa.Integer(), nullable=False),
    sa.CheckConstraint("author IN ('shopper', 'staff')", name=op.f('ck_order_messages_author_known')),
    sa.ForeignKeyConstraint(['author_user_id'], ['users.id'], name=op.f('fk_order_messages_author_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_messages_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_messages'))
    )
    with op.batch_alter_table('order_messages', schema=None) as batch_op:
        batch_op.create_index('ix_order_messages_order_id_id', ['order_id', 'id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_read_message_id', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('shopper_read_message_id', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('photo', sa.String(length=64), nullable=True))

    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_column('version')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_column('photo')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('shopper_read_message_id')
        batch_op.drop_column('staff_read_message_id')

    with op.batch_alter_table('order_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_order_messages_order_id_id')

    op.drop_table('order_messages')
