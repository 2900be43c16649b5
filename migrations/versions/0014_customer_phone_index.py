"""customers by phone: an index in the list's order (phone, then id)

Clients of the system this replaces sort customers by phone. The index gives any page of that sort,
by number or by cursor, as one index range instead of a sort of every customer. (Employees' phone
numbers are unique, so they have an index already.)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 01:00:00
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_customers_phone_id', 'customers', ['phone', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_customers_phone_id', table_name='customers')
