"""outbox relay: events a command wrote, for a running server to publish live

`server.py import` runs in a process of its own with no live feed; it writes its summary event to
the outbox in the import's transaction, and its outbox id here. A running server claims each row
(deletes it) and publishes the event to its WebSocket subscribers (through Redis in cluster mode).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 01:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_relay',
                    sa.Column('outbox_id', sa.Integer(), autoincrement=False, nullable=False),
                    sa.PrimaryKeyConstraint('outbox_id', name=op.f('pk_outbox_relay')))


def downgrade() -> None:
    op.drop_table('outbox_relay')
