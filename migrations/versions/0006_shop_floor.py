"""shop floor: lines, shifts, stop reasons, stops, work orders; records may name a work order

Data: the seven standard stop reasons, and a line for every distinct `line` already recorded so old
records stay valid. A recorded value that is not a valid code (1-32 of A-Za-z0-9_-, e.g. "Assembly 1")
becomes the line's name, its code the value with every other character turned into "-", and the
records are rewritten to that code.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 11:50:44.035894
"""
import re
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

REASONS = (
    ("breakdown", "Breakdown", False),
    ("changeover", "Changeover", False),
    ("no_material", "No material", False),
    ("quality", "Quality problem", False),
    ("no_operator", "No operator", False),
    ("planned_maintenance", "Planned maintenance", True),
    ("break", "Break", True),
)

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lines',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lines')),
    sa.UniqueConstraint('code', name=op.f('uq_lines_code')),
    sqlite_autoincrement=True
    )
    op.create_table('shifts',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('starts_at', sa.String(length=5), nullable=False),
    sa.Column('ends_at', sa.String(length=5), nullable=False),
    sa.Column('break_minutes', sa.Integer(), nullable=False),
    sa.Column('days', sa.String(length=27), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.CheckConstraint('break_minutes >= 0', name=op.f('ck_shifts_break_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shifts')),
    sa.UniqueConstraint('name', name=op.f('uq_shifts_name')),
    sqlite_autoincrement=True
    )
    op.create_table('stop_reasons',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('planned', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stop_reasons')),
    sa.UniqueConstraint('code', name=op.f('uq_stop_reasons_code')),
    sqlite_autoincrement=True
    )
    op.create_table('stops',
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('started_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('ended_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('open_line', sa.String(length=32), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('reported_by', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['line'], ['lines.code'], name=op.f('fk_stops_line_lines'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reason'], ['stop_reasons.code'], name=op.f('fk_stops_reason_stop_reasons'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stops')),
    sa.UniqueConstraint('open_line', name=op.f('uq_stops_open_line')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('stops', schema=None) as batch_op:
        batch_op.create_index('ix_stops_line_started_at', ['line', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stops_reason'), ['reason'], unique=False)
        batch_op.create_index('ix_stops_started_at', ['started_at'], unique=False)

    op.create_table('work_orders',
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('shift', sa.String(length=32), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('planned_quantity', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.CheckConstraint("status IN ('planned', 'released', 'in_progress', 'completed', 'cancelled')", name=op.f('ck_work_orders_status')),
    sa.CheckConstraint('planned_quantity >= 1', name=op.f('ck_work_orders_planned_positive')),
    sa.ForeignKeyConstraint(['line'], ['lines.code'], name=op.f('fk_work_orders_line_lines'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_work_orders_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_work_orders_product_id_products'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shift'], ['shifts.name'], name=op.f('fk_work_orders_shift_shifts'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.create_index('ix_work_orders_date_shift_line', ['date', 'shift', 'line'], unique=False)
        batch_op.create_index('ix_work_orders_line_date', ['line', 'date'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_product_id'), ['product_id'], unique=False)

    with op.batch_alter_table('production_records', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('work_order_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_production_records_date_produced_shift_line', ['date_produced', 'shift', 'line'], unique=False)
        batch_op.create_index(batch_op.f('ix_production_records_work_order_id'), ['work_order_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_production_records_work_order_id_work_orders'), 'work_orders', ['work_order_id'], ['id'], ondelete='RESTRICT')

    register_data()


def line_code(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", value.strip())[:32] or "line"


def register_data() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    reasons = sa.table("stop_reasons", sa.column("code"), sa.column("label"), sa.column("planned"),
                       sa.column("active"), sa.column("created_at"), sa.column("updated_at"))
    op.bulk_insert(reasons, [{"code": code, "label": label, "planned": planned, "active": True,
                              "created_at": now, "updated_at": now} for code, label, planned in REASONS])
    records = sa.table("production_records", sa.column("line"))
    values = [row[0] for row in bind.execute(
        sa.select(records.c.line).where(records.c.line.is_not(None)).distinct())]
    # Keyed without case: MariaDB's collation treats "L1" and "l1" as one code.
    found: dict[str, tuple[str, str]] = {}
    for value in values:
        code, name = found.setdefault(line_code(value).lower(), (line_code(value), value.strip()))
        if code != value:
            bind.execute(records.update().where(records.c.line == value).values(line=code))
    names = {code: name or code for code, name in found.values()}
    lines = sa.table("lines", sa.column("code"), sa.column("name"), sa.column("active"),
                     sa.column("created_at"), sa.column("updated_at"))
    if names:
        op.bulk_insert(lines, [{"code": code, "name": name[:120], "active": True, "created_at": now,
                                "updated_at": now} for code, name in sorted(names.items())])


def downgrade() -> None:
    with op.batch_alter_table('production_records', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_production_records_work_order_id_work_orders'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_production_records_work_order_id'))
        batch_op.drop_index('ix_production_records_date_produced_shift_line')
        batch_op.drop_column('work_order_id')
    # Dropping a table drops its indexes; dropping them first trips MariaDB's foreign-key indexes.
    op.drop_table('work_orders')
    op.drop_table('stops')
    op.drop_table('stop_reasons')
    op.drop_table('shifts')
    op.drop_table('lines')
