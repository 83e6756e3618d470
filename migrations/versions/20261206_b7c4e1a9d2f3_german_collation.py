"""German name order: the ICU collation `german` on PostgreSQL

Names are ordered with `COLLATE german` (tracker/services/collation.py). PostgreSQL gets it
from ICU's `de` locale, DIN 5007-1 order (Ä like A, ß like ss); SQLite registers a collation
of the same name on every connection, so there is nothing to create there.

Revision ID: b7c4e1a9d2f3
Revises: 925735dbfd8f
Create Date: 2026-12-06 12:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7c4e1a9d2f3'
down_revision = '925735dbfd8f'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE COLLATION IF NOT EXISTS german (provider = icu, locale = 'de')")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP COLLATION IF EXISTS german")
