"""Feedback: callers' ratings of requests (issue 14, POST /v1/feedback).

Revision ID: 0002_feedback
Revises: 0001_baseline
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_feedback"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback',
    sa.Column('request_id', sa.String(), nullable=False),
    sa.Column('key_id', sa.String(), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('label', sa.String(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('rated_at', sa.Float(), nullable=False),
    sa.Column('request_started_at', sa.Float(), nullable=False),
    sa.Column('route', sa.String(), nullable=False),
    sa.Column('deployment', sa.String(), nullable=True),
    sa.Column('flags', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_request_started_at'),
                              ['request_started_at'], unique=False)


def downgrade() -> None:
    op.drop_table('feedback')
