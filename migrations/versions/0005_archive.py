"""archive flags, and the legacy-import id map

`active` on employees, products and customers (true for every existing row): an archived row
leaves the lists and can't be used in new orders or production, but stays in history.
`legacy_ids` maps a row of the Flask system's database to the row it became here, so
`server.py import-legacy` skips what an earlier run already took.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 12:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ARCHIVABLE = ('employees', 'products', 'customers')


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it too): a batch rebuild would recreate the tables without the
    # AUTOINCREMENT that 0003 gave them, and ids could be handed out again.
    for table in ARCHIVABLE:
        op.add_column(table, sa.Column('active', sa.Boolean(), server_default=sa.text('1'), nullable=False))
    op.create_table(
        'legacy_ids',
        sa.Column('source_table', sa.String(length=32), nullable=False),
        sa.Column('legacy_id', sa.BigInteger(), nullable=False),
        sa.Column('new_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('source_table', 'legacy_id', name=op.f('pk_legacy_ids')),
    )


def downgrade() -> None:
    op.drop_table('legacy_ids')
    for table in reversed(ARCHIVABLE):
        with op.batch_alter_table(table, schema=None,
                                  table_kwargs={'sqlite_autoincrement': True}) as batch_op:
            batch_op.drop_column('active')
