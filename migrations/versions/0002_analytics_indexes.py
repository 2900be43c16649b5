"""covering indexes for the analytics reports

Each report reads its date range from one index alone (no row lookups):
orders by created_at with status, customer and total; order lines by order with product,
quantity and line total; production records by date with every column OEE sums.
Each new index starts with the columns of the one it replaces, so it serves the same lookups
(and the foreign key on order_items.order_id).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

PRODUCTION_COLUMNS = ['date_produced', 'product_id', 'employee_id', 'line', 'quantity_produced',
                      'quantity_defective', 'planned_minutes', 'downtime_minutes']


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_created_at_status_customer_id_total_price',
                              ['created_at', 'status', 'customer_id', 'total_price'], unique=False)
        batch_op.drop_index('ix_orders_created_at_status')

    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.create_index('ix_order_items_order_id_product_id_quantity_line_total',
                              ['order_id', 'product_id', 'quantity', 'line_total'], unique=False)
        batch_op.drop_index('ix_order_items_order_id')

    with op.batch_alter_table('production_records', schema=None) as batch_op:
        batch_op.create_index('ix_production_records_date_produced_covering', PRODUCTION_COLUMNS,
                              unique=False)
        batch_op.drop_index('ix_production_records_date_produced_product_id')


def downgrade() -> None:
    with op.batch_alter_table('production_records', schema=None) as batch_op:
        batch_op.create_index('ix_production_records_date_produced_product_id',
                              ['date_produced', 'product_id'], unique=False)
        batch_op.drop_index('ix_production_records_date_produced_covering')

    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.create_index('ix_order_items_order_id', ['order_id'], unique=False)
        batch_op.drop_index('ix_order_items_order_id_product_id_quantity_line_total')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_created_at_status', ['created_at', 'status'], unique=False)
        batch_op.drop_index('ix_orders_created_at_status_customer_id_total_price')
