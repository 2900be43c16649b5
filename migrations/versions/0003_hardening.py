"""hardening: ids never reused, session keys, who revoked a display token

On SQLite every table is rebuilt with AUTOINCREMENT, so a deleted row's id is never handed out
again (MariaDB's InnoDB keeps its counter across restarts and never reuses one). Sessions get the
digest of a random key that their tokens carry, and who revoked them. Usernames are stored in one
form (NFKC, case-folded, trimmed), as the code now compares them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 12:00:00
"""
import unicodedata
from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('revoked_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_auth_sessions_revoked_by_id_users', 'users', ['revoked_by_id'],
                                    ['id'], ondelete='SET NULL')
    normalize_usernames()
    if op.get_bind().dialect.name == 'sqlite':
        rebuild_with_autoincrement()


def normalize_usernames() -> None:
    """Store each username as NFKC + casefold + trim; two that fold alike are left for an admin."""
    bind = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('username', sa.String))
    rows = bind.execute(sa.select(users.c.id, users.c.username)).all()
    folded = {ident: unicodedata.normalize('NFKC', name).casefold().strip() for ident, name in rows}
    counts = Counter(folded.values())
    for ident, name in rows:
        if folded[ident] != name and counts[folded[ident]] == 1:
            bind.execute(users.update().where(users.c.id == ident).values(username=folded[ident]))


def rebuild_with_autoincrement() -> None:
    """Recreate (copy, drop, rename) every table whose ids SQLite would reuse."""
    bind = op.get_bind()
    if bind.exec_driver_sql('PRAGMA foreign_keys').scalar():
        # Dropping a parent table with foreign keys on would cascade into its children's rows.
        raise RuntimeError('run this migration on a connection with PRAGMA foreign_keys=OFF')
    rows = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'alembic_version'").all()
    for name, sql in rows:
        if 'AUTOINCREMENT' in sql.upper():
            continue
        with op.batch_alter_table(name, recreate='always',
                                  table_kwargs={'sqlite_autoincrement': True}):
            pass


def downgrade() -> None:
    # The SQLite tables keep AUTOINCREMENT: no schema before this one depends on ids being reused.
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_auth_sessions_revoked_by_id_users', type_='foreignkey')
        batch_op.drop_column('revoked_by_id')
        batch_op.drop_column('key_digest')
