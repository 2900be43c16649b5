"""index stock movements by reason and time, for the shipments of a day

The wall display counts the orders shipped in the plant's day from the shipment movements;
this index makes that a range scan on any size of ledger.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:00:00
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.create_index('ix_stock_movements_reason_created_at_order_id',
                              ['reason', 'created_at', 'order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_movements_reason_created_at_order_id')
