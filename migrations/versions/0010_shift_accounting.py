"""shift accounting: breaks at their times, shift versions, line calendars, produced_at

Shifts get `breaks` ("HH:MM/minutes,…"; NULL keeps `break_minutes` spread evenly) and a history of
their definitions (`shift_versions`, one per shift from the beginning of time for the shifts that
exist); lines get a calendar (`shifts`, NULL: every shift); production records get `produced_at`.
An existing record is placed in the middle of its shift instance (the plant's zone from
FACTORY_TIMEZONE), or at noon of its plant day when it names no shift it can be placed in.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 01:10:00
"""
import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql')
BEGINNING = date(1970, 1, 1)

shifts = sa.table('shifts', sa.column('id', sa.Integer), sa.column('name', sa.String),
                  sa.column('starts_at', sa.String), sa.column('ends_at', sa.String),
                  sa.column('break_minutes', sa.Integer), sa.column('days', sa.String))
versions = sa.table('shift_versions', sa.column('shift_id', sa.Integer), sa.column('effective_from', sa.Date),
                    sa.column('starts_at', sa.String), sa.column('ends_at', sa.String),
                    sa.column('break_minutes', sa.Integer), sa.column('days', sa.String),
                    sa.column('breaks', sa.String), sa.column('created_at', TIMESTAMP),
                    sa.column('updated_at', TIMESTAMP))
records = sa.table('production_records', sa.column('date_produced', sa.Date), sa.column('shift', sa.String),
                   sa.column('produced_at', TIMESTAMP))


def minutes(clock):
    hours, mins = clock.split(':')
    return int(hours) * 60 + int(mins)


def middle(day, starts_at, ends_at, zone):
    """The middle of the shift's instance on `day`, naive UTC."""
    length = (minutes(ends_at) - minutes(starts_at)) % 1440 or 1440
    start = datetime.combine(day, time.fromisoformat(starts_at), tzinfo=zone).astimezone(UTC)
    return (start + timedelta(minutes=length / 2)).replace(tzinfo=None)


def upgrade() -> None:
    op.add_column('shifts', sa.Column('breaks', sa.String(length=255), nullable=True))
    op.add_column('lines', sa.Column('shifts', sa.String(length=255), nullable=True))
    op.add_column('production_records', sa.Column('produced_at', TIMESTAMP, nullable=True))
    op.create_table('shift_versions',
    sa.Column('shift_id', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('starts_at', sa.String(length=5), nullable=False),
    sa.Column('ends_at', sa.String(length=5), nullable=False),
    sa.Column('break_minutes', sa.Integer(), nullable=False),
    sa.Column('days', sa.String(length=27), nullable=False),
    sa.Column('breaks', sa.String(length=255), nullable=True),
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=False),
    sa.CheckConstraint('break_minutes >= 0', name=op.f('ck_shift_versions_break_not_negative')),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_shift_versions_shift_id_shifts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shift_versions')),
    sa.UniqueConstraint('shift_id', 'effective_from', name=op.f('uq_shift_versions_shift_id_effective_from')),
    sqlite_autoincrement=True
    )
    bind = op.get_bind()
    stamp = datetime.now(UTC).replace(tzinfo=None)
    known = bind.execute(sa.select(shifts)).all()
    if known:
        op.bulk_insert(versions, [
            {'shift_id': row.id, 'effective_from': BEGINNING, 'starts_at': row.starts_at,
             'ends_at': row.ends_at, 'break_minutes': row.break_minutes, 'days': row.days, 'breaks': None,
             'created_at': stamp, 'updated_at': stamp} for row in known])
    zone = ZoneInfo(os.environ.get('FACTORY_TIMEZONE') or 'UTC')
    windows = {row.name: (row.starts_at, row.ends_at) for row in known}
    groups = bind.execute(sa.select(records.c.date_produced, records.c.shift).distinct()).all()
    for day, shift in groups:
        if shift in windows:
            moment = middle(day, *windows[shift], zone)
            where = records.c.shift == shift
        else:
            moment = datetime.combine(day, time(12), tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
            where = records.c.shift.is_(None) if shift is None else records.c.shift == shift
        bind.execute(sa.update(records).where(records.c.date_produced == day, where)
                     .values(produced_at=moment))


def downgrade() -> None:
    op.drop_table('shift_versions')
    with op.batch_alter_table('production_records', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('produced_at')
    with op.batch_alter_table('lines', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('shifts')
    with op.batch_alter_table('shifts', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('breaks')
