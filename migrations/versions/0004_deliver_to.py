"""deliver to: shipping zones, countries, methods, product zones, users' delivery place

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:07:23.839650
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shipping_zones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('free_over_cents', sa.Integer(), nullable=True),
    sa.CheckConstraint('free_over_cents IS NULL OR free_over_cents >= 0', name=op.f('ck_shipping_zones_free_over_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipping_zones')),
    sa.UniqueConstraint('code', name=op.f('uq_shipping_zones_code'))
    )
    op.create_table('delivery_methods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.Column('days_min', sa.Integer(), nullable=False),
    sa.Column('days_max', sa.Integer(), nullable=False),
    sa.Column('pickup', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint('days_min >= 0 AND days_max >= days_min', name=op.f('ck_delivery_methods_lead_time_range')),
    sa.CheckConstraint('price_cents >= 0', name=op.f('ck_delivery_methods_price_not_negative')),
    sa.ForeignKeyConstraint(['zone_id'], ['shipping_zones.id'], name=op.f('fk_delivery_methods_zone_id_shipping_zones'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_methods')),
    sa.UniqueConstraint('zone_id', 'code', name='uq_delivery_methods_zone_code')
    )
    op.create_table('zone_countries',
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.CheckConstraint('country = upper(country) AND length(country) = 2', name=op.f('ck_zone_countries_country_code')),
    sa.ForeignKeyConstraint(['zone_id'], ['shipping_zones.id'], name=op.f('fk_zone_countries_zone_id_shipping_zones'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('country', name=op.f('pk_zone_countries'))
    )
    with op.batch_alter_table('zone_countries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zone_countries_zone_id'), ['zone_id'], unique=False)

    op.create_table('product_zones',
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_zones_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['zone_id'], ['shipping_zones.id'], name=op.f('fk_product_zones_zone_id_shipping_zones'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'zone_id', name=op.f('pk_product_zones'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('delivery_postcode', sa.String(length=10), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('delivery_postcode')
        batch_op.drop_column('delivery_country')

    op.drop_table('product_zones')
    with op.batch_alter_table('zone_countries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zone_countries_zone_id'))

    op.drop_table('zone_countries')
    op.drop_table('delivery_methods')
    op.drop_table('shipping_zones')
