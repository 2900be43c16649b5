"""machines: MQTT machines and their count history; production records gain `source` and
`machine_id`, and `employee_id` becomes optional (machine records); the stop reason `unassigned`

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 01:20:00
"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table('machines',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('protocol', sa.String(length=16), nullable=False),
    sa.Column('group_id', sa.String(length=64), nullable=True),
    sa.Column('node_id', sa.String(length=64), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('good_metric', sa.String(length=120), nullable=True),
    sa.Column('reject_metric', sa.String(length=120), nullable=True),
    sa.Column('total_metric', sa.String(length=120), nullable=True),
    sa.Column('state_metric', sa.String(length=120), nullable=True),
    sa.Column('fault_metric', sa.String(length=120), nullable=True),
    sa.Column('fault_reasons', sa.JSON(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('no_count_stop_seconds', sa.Integer(), nullable=True),
    sa.Column('micro_stop_seconds', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=True),
    sa.Column('fault_code', sa.String(length=64), nullable=True),
    sa.Column('last_message_at', TIMESTAMP, nullable=True),
    sa.Column('offline_since', TIMESTAMP, nullable=True),
    sa.Column('last_count_at', TIMESTAMP, nullable=True),
    sa.Column('good_count', sa.BigInteger(), nullable=True),
    sa.Column('reject_count', sa.BigInteger(), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.ForeignKeyConstraint(['line'], ['lines.code'], name=op.f('fk_machines_line_lines'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_machines_product_id_products'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_machines')),
    sa.UniqueConstraint('name', name=op.f('uq_machines_name')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('machines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_machines_line'), ['line'], unique=False)
        batch_op.create_index('ix_machines_group_id_node_id_device_id', ['group_id', 'node_id', 'device_id'],
                              unique=False)
    op.create_table('machine_counts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('machine_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('at', TIMESTAMP, nullable=False),
    sa.Column('good', sa.Integer(), nullable=False),
    sa.Column('reject', sa.Integer(), nullable=False),
    sa.Column('micro_stops', sa.Integer(), nullable=False),
    sa.Column('micro_stop_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['machine_id'], ['machines.id'], name=op.f('fk_machine_counts_machine_id_machines'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_machine_counts')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('machine_counts', schema=None) as batch_op:
        batch_op.create_index('ix_machine_counts_line_at', ['line', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_machine_counts_machine_id'), ['machine_id'], unique=False)
    with op.batch_alter_table('production_records', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='api', nullable=False))
        batch_op.add_column(sa.Column('machine_id', sa.Integer(), nullable=True))
        batch_op.alter_column('employee_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index('ix_production_records_machine_id_date_produced', ['machine_id', 'date_produced'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_production_records_machine_id_machines'), 'machines',
                                    ['machine_id'], ['id'], ondelete='RESTRICT')
    now = datetime.now(UTC).replace(tzinfo=None)
    reasons = sa.table("stop_reasons", sa.column("code"), sa.column("label"), sa.column("planned"),
                       sa.column("active"), sa.column("created_at"), sa.column("updated_at"))
    exists = op.get_bind().execute(sa.select(reasons.c.code).where(reasons.c.code == "unassigned")).first()
    if exists is None:
        op.bulk_insert(reasons, [{"code": "unassigned", "label": "Unassigned", "planned": False, "active": True,
                                  "created_at": now, "updated_at": now}])


def downgrade() -> None:
    with op.batch_alter_table('production_records', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_production_records_machine_id_machines'), type_='foreignkey')
        batch_op.drop_index('ix_production_records_machine_id_date_produced')
        batch_op.alter_column('employee_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('machine_id')
        batch_op.drop_column('source')
    op.drop_table('machine_counts')
    op.drop_table('machines')
