"""stored jobs for exports and import previews

Revision ID: 4cbd52f33b84
Revises: c3d5e7f9a1b2
Create Date: 2026-12-07 06:59:29.421397

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4cbd52f33b84'
down_revision = 'c3d5e7f9a1b2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stored_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('request_json', sa.Text(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('progress >= 0 AND progress <= 100', name=op.f('ck_stored_job_progress_percent')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_stored_job_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stored_job')),
    sa.UniqueConstraint('token', name=op.f('uq_stored_job_token'))
    )
    with op.batch_alter_table('stored_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stored_job_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stored_job_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('stored_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stored_job_user_id'))
        batch_op.drop_index(batch_op.f('ix_stored_job_expires_at'))

    op.drop_table('stored_job')
