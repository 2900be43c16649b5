"""stop reasons: a loss category (the six big losses, or planned)

Every stop reason gets `category`, the loss it is analysed as: `breakdown`, `setup`, `small_stop`,
`reduced_speed`, `startup_reject`, `production_reject` or `planned`. The standard reasons are
classified as the six-big-losses literature does: a changeover, a wait for material and a wait for
an operator are setup-and-adjustment losses (availability), a quality problem is a production
reject, planned maintenance and breaks are planned. Reasons a plant added itself are classified
`planned` when planned and `breakdown` otherwise (an admin may change that); only `unassigned` (a
machine stopped and nobody has said why yet) stays without a category.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 01:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# Frozen copy of the standard reasons' categories at this revision.
CATEGORIES = {
    "breakdown": "breakdown", "changeover": "setup", "no_material": "setup", "no_operator": "setup",
    "quality": "production_reject", "planned_maintenance": "planned", "break": "planned",
}


def upgrade() -> None:
    with op.batch_alter_table('stop_reasons', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=32), nullable=True))
    reasons = sa.table("stop_reasons", sa.column("code", sa.String), sa.column("planned", sa.Boolean),
                       sa.column("category", sa.String))
    bind = op.get_bind()
    for code, category in CATEGORIES.items():
        bind.execute(reasons.update().where(reasons.c.code == code).values(category=category))
    unclassified = (reasons.c.category.is_(None), reasons.c.code != "unassigned")
    bind.execute(reasons.update().where(*unclassified, reasons.c.planned.is_(True))
                 .values(category="planned"))
    bind.execute(reasons.update().where(*unclassified, reasons.c.planned.is_(False))
                 .values(category="breakdown"))


def downgrade() -> None:
    with op.batch_alter_table('stop_reasons', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('category')
