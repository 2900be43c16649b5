"""idempotency keys compare byte for byte on MariaDB

The (user, Idempotency-Key) unique key used the database's default collation, which is case- and
trailing-space-insensitive: "Key-1" and "key-1" were one key, so the second request got the first
one's answer (or a 422). utf8mb4_bin makes them two, as the header's definition says. SQLite
compares bytes already: nothing to do there.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 01:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _key_column(collation: str | None) -> sa.types.TypeEngine:
    return mysql.VARCHAR(255, charset='utf8mb4', collation=collation)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'mysql':
        return
    op.alter_column('idempotency_keys', 'idempotency_key', existing_type=sa.String(255),
                    type_=_key_column('utf8mb4_bin'), existing_nullable=False, nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'mysql':
        return
    op.execute("ALTER TABLE idempotency_keys MODIFY idempotency_key VARCHAR(255) NOT NULL")
