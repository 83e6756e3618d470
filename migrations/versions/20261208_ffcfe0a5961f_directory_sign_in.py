"""directory sign-in: the account's provider and identifier there

Revision ID: ffcfe0a5961f
Revises: 067a64e4d529
Create Date: 2026-12-08 01:13:20.205056

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ffcfe0a5961f'
down_revision = '067a64e4d529'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD COLUMN and CREATE INDEX: no batch rebuild of user_account, which
    # every other table references (SQLite would refuse to drop it with foreign keys on).
    op.add_column('user_account', sa.Column('auth_provider', sa.String(length=60), nullable=True))
    op.add_column('user_account', sa.Column('auth_identifier', sa.String(length=254), nullable=True))
    op.create_index('ix_user_account_auth_identity', 'user_account',
                    ['auth_provider', 'auth_identifier'], unique=True)


def downgrade():
    op.drop_index('ix_user_account_auth_identity', table_name='user_account')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('auth_identifier')
        batch_op.drop_column('auth_provider')
