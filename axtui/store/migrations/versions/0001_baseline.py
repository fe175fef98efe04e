"""Baseline: the store's schema as axtui wrote it before migrations (issue 13).

Generated once from the SQLModel tables, then frozen: later schema changes are new
revisions, never edits here. A store made before migrations existed has these tables and
no version row; axtui/store/schema.py checks such a store against this revision and stamps it.

Revision ID: 0001_baseline
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ('agent', 'agent_checkpoint', 'alert_state', 'control', 'cost_rollups', 'counter', 'event', 'process_status', 'request', 'rollup_errors', 'rollup_hist', 'rollups')


def upgrade() -> None:
    op.create_table('agent',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('run', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('host', sa.String(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('heartbeat_at', sa.Float(), nullable=False),
    sa.Column('heartbeat_s', sa.Float(), nullable=False),
    sa.Column('budget_nano', sa.BigInteger(), nullable=True),
    sa.Column('runtime_limit_s', sa.Float(), nullable=True),
    sa.Column('step_limit', sa.Integer(), nullable=True),
    sa.Column('checkpoint_every_s', sa.Float(), nullable=False),
    sa.Column('steps', sa.Integer(), nullable=False),
    sa.Column('failed_steps', sa.Integer(), nullable=False),
    sa.Column('cost_nano', sa.BigInteger(), nullable=False),
    sa.Column('runtime_s', sa.Float(), nullable=False),
    sa.Column('deployment', sa.String(), nullable=True),
    sa.Column('checkpoint_at', sa.Float(), nullable=True),
    sa.Column('checkpoints', sa.Integer(), nullable=False),
    sa.Column('stop_reason', sa.String(), nullable=True),
    sa.Column('stop_detail', sa.String(), nullable=True),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('stop_requested', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('agent_checkpoint',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agent_id', sa.String(), nullable=False),
    sa.Column('run', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('wall_at', sa.Float(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Text(), nullable=False),
    sa.Column('failed_steps', sa.Integer(), nullable=False),
    sa.Column('cost_nano', sa.BigInteger(), nullable=False),
    sa.Column('runtime_s', sa.Float(), nullable=False),
    sa.Column('progress', sa.Float(), nullable=True),
    sa.Column('deployment', sa.String(), nullable=True),
    sa.Column('by_deployment', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sqlite_autoincrement=True
    )
    op.create_index('ix_agent_checkpoint_agent', 'agent_checkpoint', ['agent_id', 'seq'], unique=False)
    op.create_table('alert_state',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('since', sa.Float(), nullable=False),
    sa.Column('active_since', sa.Float(), nullable=True),
    sa.Column('evaluated_at', sa.Float(), nullable=False),
    sa.Column('last_notified_at', sa.Float(), nullable=True),
    sa.Column('notifications_sent', sa.BigInteger(), nullable=False),
    sa.Column('notifications_failed', sa.BigInteger(), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('control',
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('updated_by', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('cost_rollups',
    sa.Column('dim', sa.String(), nullable=False),
    sa.Column('res', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('period', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('route', sa.String(), nullable=False),
    sa.Column('value', sa.String(), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('cost_nano', sa.BigInteger(), nullable=False),
    sa.Column('optimal_cost_nano', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('dim', 'res', 'period', 'route', 'value'),
    sqlite_with_rowid=False
    )
    op.create_index('cost_rollups_by_value', 'cost_rollups', ['dim', 'value', 'period'], unique=False)
    op.create_table('counter',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_event_kind'), 'event', ['kind'], unique=False)
    op.create_index(op.f('ix_event_ts'), 'event', ['ts'], unique=False)
    op.create_table('process_status',
    sa.Column('process_id', sa.String(), nullable=False),
    sa.Column('face', sa.String(), nullable=False),
    sa.Column('host', sa.String(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('process_id')
    )
    op.create_index(op.f('ix_process_status_updated_at'), 'process_status', ['updated_at'], unique=False)
    op.create_table('request',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('ended_at', sa.Float(), nullable=False),
    sa.Column('route', sa.String(), nullable=False),
    sa.Column('requested_route', sa.String(), nullable=False),
    sa.Column('user', sa.String(), nullable=True),
    sa.Column('key_id', sa.String(), nullable=True),
    sa.Column('deployment', sa.String(), nullable=True),
    sa.Column('outcome', sa.String(), nullable=False),
    sa.Column('error_kind', sa.String(), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('stream', sa.Boolean(), nullable=False),
    sa.Column('est_prompt_tokens', sa.Integer(), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=True),
    sa.Column('completion_tokens', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('ttft_ms', sa.Float(), nullable=True),
    sa.Column('cost_nano', sa.BigInteger(), nullable=False),
    sa.Column('optimal_cost_nano', sa.BigInteger(), nullable=True),
    sa.Column('attempts_n', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(), nullable=False),
    sa.Column('record', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id'),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_request_started_at'), 'request', ['started_at'], unique=False)
    op.create_table('rollup_errors',
    sa.Column('res', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('series', sa.String(), autoincrement=False, nullable=False),
    sa.Column('period', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('route', sa.String(), autoincrement=False, nullable=False),
    sa.Column('deployment', sa.String(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(), autoincrement=False, nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('res', 'series', 'period', 'route', 'deployment', 'kind'),
    sqlite_with_rowid=False
    )
    op.create_table('rollup_hist',
    sa.Column('res', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('series', sa.String(), autoincrement=False, nullable=False),
    sa.Column('period', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('route', sa.String(), autoincrement=False, nullable=False),
    sa.Column('deployment', sa.String(), autoincrement=False, nullable=False),
    sa.Column('octave', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('b0', sa.BigInteger(), nullable=False),
    sa.Column('b1', sa.BigInteger(), nullable=False),
    sa.Column('b2', sa.BigInteger(), nullable=False),
    sa.Column('b3', sa.BigInteger(), nullable=False),
    sa.Column('b4', sa.BigInteger(), nullable=False),
    sa.Column('b5', sa.BigInteger(), nullable=False),
    sa.Column('b6', sa.BigInteger(), nullable=False),
    sa.Column('b7', sa.BigInteger(), nullable=False),
    sa.Column('b8', sa.BigInteger(), nullable=False),
    sa.Column('b9', sa.BigInteger(), nullable=False),
    sa.Column('b10', sa.BigInteger(), nullable=False),
    sa.Column('b11', sa.BigInteger(), nullable=False),
    sa.Column('b12', sa.BigInteger(), nullable=False),
    sa.Column('b13', sa.BigInteger(), nullable=False),
    sa.Column('b14', sa.BigInteger(), nullable=False),
    sa.Column('b15', sa.BigInteger(), nullable=False),
    sa.Column('b16', sa.BigInteger(), nullable=False),
    sa.Column('b17', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('res', 'series', 'period', 'route', 'deployment', 'octave'),
    sqlite_with_rowid=False
    )
    op.create_table('rollups',
    sa.Column('res', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('period', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('route', sa.String(), autoincrement=False, nullable=False),
    sa.Column('deployment', sa.String(), autoincrement=False, nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('ok', sa.BigInteger(), nullable=False),
    sa.Column('errors', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('failovers', sa.BigInteger(), nullable=False),
    sa.Column('latency_n', sa.BigInteger(), nullable=False),
    sa.Column('latency_ms_sum', sa.Float(), nullable=False),
    sa.Column('ttft_n', sa.BigInteger(), nullable=False),
    sa.Column('ttft_ms_sum', sa.Float(), nullable=False),
    sa.Column('prompt_tokens', sa.BigInteger(), nullable=False),
    sa.Column('completion_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost_nano', sa.BigInteger(), nullable=False),
    sa.Column('optimal_cost_nano', sa.BigInteger(), nullable=False),
    sa.Column('attempts', sa.BigInteger(), nullable=False),
    sa.Column('attempts_ok', sa.BigInteger(), nullable=False),
    sa.Column('attempt_errors', sa.BigInteger(), nullable=False),
    sa.Column('attempt_failovers', sa.BigInteger(), nullable=False),
    sa.Column('attempt_latency_ms_sum', sa.Float(), nullable=False),
    sa.Column('attempt_ttft_n', sa.BigInteger(), nullable=False),
    sa.Column('attempt_ttft_ms_sum', sa.Float(), nullable=False),
    sa.Column('attempt_prompt_tokens', sa.BigInteger(), nullable=False),
    sa.Column('attempt_completion_tokens', sa.BigInteger(), nullable=False),
    sa.Column('attempt_cost_nano', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('res', 'period', 'route', 'deployment'),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
