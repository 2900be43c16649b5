"""customer value: one index in the report's order (value descending, then customer id)

The customer-lifetime-value report over all history lists customers by value, highest first, ties
by customer id. The index on value alone runs ties by customer id descending, so MariaDB sorted
every customer at or above the threshold to cut a page; an index on (value_cents DESC, customer_id)
gives the page as one index range, and replaces it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 15:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_rollup_customer_value_value_cents_desc_customer_id', 'rollup_customer_value',
                    [sa.text('value_cents DESC'), 'customer_id'], unique=False)
    op.drop_index('ix_rollup_customer_value_value_cents', table_name='rollup_customer_value')


def downgrade() -> None:
    op.create_index('ix_rollup_customer_value_value_cents', 'rollup_customer_value', ['value_cents'],
                    unique=False)
    op.drop_index('ix_rollup_customer_value_value_cents_desc_customer_id',
                  table_name='rollup_customer_value')
