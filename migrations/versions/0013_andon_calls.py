"""andon calls, and station tokens (a session kind that names the lines it may write for)

`calls`: one row per andon call of a line (maintenance, quality, material, supervisor) with when it
was opened, acknowledged, resolved and escalated, and by whom. `auth_sessions` gains the kind
`station` and `lines`, the comma-separated line codes a station token may record for.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 01:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table('calls',
    sa.Column('line', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('opened_at', TIMESTAMP, nullable=False),
    sa.Column('opened_by', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_at', TIMESTAMP, nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', TIMESTAMP, nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('escalated_at', TIMESTAMP, nullable=True),
    sa.Column('response_seconds', sa.Integer(), nullable=True),
    sa.Column('resolution_seconds', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint("kind IN ('maintenance', 'quality', 'material', 'supervisor')",
                       name=op.f('ck_calls_kind')),
    sa.ForeignKeyConstraint(['line'], ['lines.code'], name=op.f('fk_calls_line_lines'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sqlite_autoincrement=True
    )
    op.create_index('ix_calls_line_opened_at', 'calls', ['line', 'opened_at'], unique=False)
    op.create_index('ix_calls_opened_at', 'calls', ['opened_at'], unique=False)
    op.create_index('ix_calls_resolved_at', 'calls', ['resolved_at'], unique=False)
    with op.batch_alter_table('auth_sessions', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('lines', sa.String(length=400), nullable=True))
        batch_op.drop_constraint(op.f('ck_auth_sessions_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_auth_sessions_kind'), "kind IN ('login', 'display', 'station')")


def downgrade() -> None:
    sessions = sa.table('auth_sessions', sa.column('kind', sa.String))
    op.execute(sessions.delete().where(sessions.c.kind == 'station'))
    with op.batch_alter_table('auth_sessions', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(op.f('ck_auth_sessions_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_auth_sessions_kind'), "kind IN ('login', 'display')")
        batch_op.drop_column('lines')
    op.drop_table('calls')  # its indexes go with it (MariaDB keeps the line's for the foreign key)
