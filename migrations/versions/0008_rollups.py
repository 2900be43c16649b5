"""orders.placed_at, keyset indexes, summary tables (rollups) and row counts

`placed_at` is when an order was placed (reports and date filters key on it); existing orders get
their created_at. One (sort column, id) index per list sort makes cursor pages cost the same at any
depth. The summary tables are filled from the raw rows here, so reports read the same numbers right
after the upgrade; `server.py rebuild-rollups` does the same at any time.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 11:51:45.533400
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql')

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None



# The summary tables' first fill, as the tables stood at this revision. Frozen here (not imported
# from the live rebuild) so that later changes to the code never change what this migration did;
# the same text runs on SQLite and MariaDB (both accept backquoted identifiers).
_SALES = ("FROM orders JOIN order_items ON order_items.order_id = orders.id "
          "WHERE orders.status != 'cancelled'")
_PRODUCTION_SUMS = ("count(*), sum(quantity_produced), sum(quantity_defective), "
                    "sum(coalesce(planned_minutes, 0)), "
                    "sum(CASE WHEN planned_minutes IS NOT NULL AND downtime_minutes IS NOT NULL "
                    "THEN planned_minutes - downtime_minutes ELSE 0 END), "
                    "sum(CASE WHEN planned_minutes IS NOT NULL AND downtime_minutes IS NOT NULL "
                    "THEN 0 ELSE 1 END)")
_PRODUCTION_COLUMNS = "records, produced, defective, planned, running, no_time"
FILL_SUMMARY_TABLES = [
    *(f"DELETE FROM {table}" for table in (
        "rollup_sales_day", "rollup_sales_product", "rollup_customer_value", "rollup_production_day",
        "rollup_production_total", "rollup_production_employee", "rollup_counts")),
    "INSERT INTO rollup_sales_day (day, product_id, units, revenue_cents) "
    "SELECT date(orders.placed_at), order_items.product_id, sum(order_items.quantity), "
    f"sum(round(order_items.line_total * 100)) {_SALES} "
    "GROUP BY date(orders.placed_at), order_items.product_id",
    "INSERT INTO rollup_sales_product (product_id, units, revenue_cents) "
    "SELECT order_items.product_id, sum(order_items.quantity), sum(round(order_items.line_total * 100)) "
    f"{_SALES} GROUP BY order_items.product_id",
    "INSERT INTO rollup_customer_value (customer_id, orders, value_cents, first_order_at, last_order_at) "
    "SELECT customer_id, count(*), sum(round(total_price * 100)), min(placed_at), max(placed_at) "
    "FROM orders WHERE status != 'cancelled' GROUP BY customer_id",
    f"INSERT INTO rollup_production_day (day, product_id, line, {_PRODUCTION_COLUMNS}) "
    f"SELECT date_produced, product_id, coalesce(line, ''), {_PRODUCTION_SUMS} FROM production_records "
    "GROUP BY date_produced, product_id, coalesce(line, '')",
    f"INSERT INTO rollup_production_total (product_id, line, {_PRODUCTION_COLUMNS}) "
    f"SELECT product_id, coalesce(line, ''), {_PRODUCTION_SUMS} FROM production_records "
    "GROUP BY product_id, coalesce(line, '')",
    f"INSERT INTO rollup_production_employee (employee_id, product_id, {_PRODUCTION_COLUMNS}) "
    f"SELECT employee_id, product_id, {_PRODUCTION_SUMS} FROM production_records "
    "GROUP BY employee_id, product_id",
    "INSERT INTO rollup_counts (name, `key`, n) SELECT 'orders', status, count(*) FROM orders GROUP BY status",
    "INSERT INTO rollup_counts (name, `key`, n) SELECT 'production_records', '', count(*) FROM production_records",
]

def upgrade() -> None:
    op.create_table('rollup_counts',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'key', name=op.f('pk_rollup_counts'))
    )
    op.create_table('rollup_customer_value',
    sa.Column('customer_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('orders', sa.BigInteger(), nullable=False),
    sa.Column('value_cents', sa.BigInteger(), nullable=False),
    sa.Column('first_order_at', TIMESTAMP, nullable=True),
    sa.Column('last_order_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_rollup_customer_value'))
    )
    with op.batch_alter_table('rollup_customer_value', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollup_customer_value_value_cents'), ['value_cents'], unique=False)

    op.create_table('rollup_production_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('produced', sa.BigInteger(), nullable=False),
    sa.Column('defective', sa.BigInteger(), nullable=False),
    sa.Column('planned', sa.BigInteger(), nullable=False),
    sa.Column('running', sa.BigInteger(), nullable=False),
    sa.Column('no_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'product_id', 'line', name=op.f('pk_rollup_production_day'))
    )
    op.create_table('rollup_production_employee',
    sa.Column('employee_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('produced', sa.BigInteger(), nullable=False),
    sa.Column('defective', sa.BigInteger(), nullable=False),
    sa.Column('planned', sa.BigInteger(), nullable=False),
    sa.Column('running', sa.BigInteger(), nullable=False),
    sa.Column('no_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('employee_id', 'product_id', name=op.f('pk_rollup_production_employee'))
    )
    op.create_table('rollup_production_total',
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.Column('produced', sa.BigInteger(), nullable=False),
    sa.Column('defective', sa.BigInteger(), nullable=False),
    sa.Column('planned', sa.BigInteger(), nullable=False),
    sa.Column('running', sa.BigInteger(), nullable=False),
    sa.Column('no_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('product_id', 'line', name=op.f('pk_rollup_production_total'))
    )
    op.create_table('rollup_sales_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('revenue_cents', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'product_id', name=op.f('pk_rollup_sales_day'))
    )
    op.create_table('rollup_sales_product',
    sa.Column('product_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('revenue_cents', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_rollup_sales_product'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_customers_updated_at_id', ['updated_at', 'id'], unique=False)

    # On SQLite these rebuild the table: keep its AUTOINCREMENT (ids are never reused).
    keep = {'sqlite_autoincrement': True} if op.get_bind().dialect.name == 'sqlite' else {}
    with op.batch_alter_table('orders', schema=None, table_kwargs=keep) as batch_op:
        batch_op.add_column(sa.Column('placed_at', TIMESTAMP, nullable=True))
    op.execute("UPDATE orders SET placed_at = created_at")
    with op.batch_alter_table('orders', schema=None, table_kwargs=keep) as batch_op:
        batch_op.alter_column('placed_at', existing_type=TIMESTAMP, nullable=False)
        # The new customer index first: MariaDB keeps one under the foreign key at all times.
        batch_op.create_index('ix_orders_customer_id_placed_at', ['customer_id', 'placed_at'], unique=False)
        batch_op.drop_index(batch_op.f('ix_orders_created_at_status_customer_id_total_price'))
        batch_op.drop_index(batch_op.f('ix_orders_customer_id_created_at'))
        batch_op.create_index('ix_orders_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_orders_placed_at_id', ['placed_at', 'id'], unique=False)
        batch_op.create_index('ix_orders_placed_at_status_customer_id_total_price', ['placed_at', 'status', 'customer_id', 'total_price'], unique=False)
        batch_op.create_index('ix_orders_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_orders_total_price_id', ['total_price', 'id'], unique=False)
        batch_op.create_index('ix_orders_updated_at_id', ['updated_at', 'id'], unique=False)

    with op.batch_alter_table('production_records', schema=None) as batch_op:
        batch_op.create_index('ix_production_records_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_production_records_date_produced_id', ['date_produced', 'id'], unique=False)
        batch_op.create_index('ix_production_records_quantity_defective_id', ['quantity_defective', 'id'], unique=False)
        batch_op.create_index('ix_production_records_quantity_produced_id', ['quantity_produced', 'id'], unique=False)
        batch_op.create_index('ix_production_records_updated_at_id', ['updated_at', 'id'], unique=False)

    for statement in FILL_SUMMARY_TABLES:
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table('production_records', schema=None) as batch_op:
        batch_op.drop_index('ix_production_records_updated_at_id')
        batch_op.drop_index('ix_production_records_quantity_produced_id')
        batch_op.drop_index('ix_production_records_quantity_defective_id')
        batch_op.drop_index('ix_production_records_date_produced_id')
        batch_op.drop_index('ix_production_records_created_at_id')

    keep = {'sqlite_autoincrement': True} if op.get_bind().dialect.name == 'sqlite' else {}
    with op.batch_alter_table('orders', schema=None, table_kwargs=keep) as batch_op:
        batch_op.drop_index('ix_orders_updated_at_id')
        batch_op.drop_index('ix_orders_total_price_id')
        batch_op.drop_index('ix_orders_status_id')
        batch_op.drop_index('ix_orders_placed_at_status_customer_id_total_price')
        batch_op.drop_index('ix_orders_placed_at_id')
        batch_op.drop_index('ix_orders_created_at_id')
        batch_op.create_index(batch_op.f('ix_orders_customer_id_created_at'), ['customer_id', 'created_at'], unique=False)
        batch_op.drop_index('ix_orders_customer_id_placed_at')
        batch_op.create_index(batch_op.f('ix_orders_created_at_status_customer_id_total_price'), ['created_at', 'status', 'customer_id', 'total_price'], unique=False)
        batch_op.drop_column('placed_at')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_updated_at_id')
        batch_op.drop_index('ix_customers_created_at_id')

    op.drop_table('rollup_sales_product')
    op.drop_table('rollup_sales_day')
    op.drop_table('rollup_production_total')
    op.drop_table('rollup_production_employee')
    op.drop_table('rollup_production_day')
    with op.batch_alter_table('rollup_customer_value', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollup_customer_value_value_cents'))

    op.drop_table('rollup_customer_value')
    op.drop_table('rollup_counts')
