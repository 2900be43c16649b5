"""webhooks: why the server disabled an endpoint

A receiver that answers 410 Gone asks to receive nothing more: the endpoint is switched off
(`active` false) and `disabled_reason` says so; the same column says why an endpoint was given up
after its retry window. Re-enabling clears it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 01:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('webhooks', sa.Column('disabled_reason', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhooks', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('disabled_reason')
