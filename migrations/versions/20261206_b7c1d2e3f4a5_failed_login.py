"""failed logins, counted by every worker alike

Revision ID: b7c1d2e3f4a5
Revises: b7c4e1a9d2f3
Create Date: 2026-12-06 13:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b7c1d2e3f4a5'
down_revision = 'b7c4e1a9d2f3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('failed_login',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login', sa.String(length=254), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('attempted_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_failed_login'))
    )
    op.create_index('ix_failed_login_address', 'failed_login', ['address', 'attempted_at'], unique=False)
    op.create_index('ix_failed_login_attempted_at', 'failed_login', ['attempted_at'], unique=False)
    op.create_index('ix_failed_login_login_address', 'failed_login', ['login', 'address', 'attempted_at'], unique=False)


def downgrade():
    op.drop_index('ix_failed_login_login_address', table_name='failed_login')
    op.drop_index('ix_failed_login_attempted_at', table_name='failed_login')
    op.drop_index('ix_failed_login_address', table_name='failed_login')
    op.drop_table('failed_login')
