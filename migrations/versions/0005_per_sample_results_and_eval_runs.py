"""per-sample results and eval runs: every sample's answer, grade, tokens, latency and finish reason; the eval
runner's resumable runs

Existing results keep their per-problem counts; they simply have no samples.

Revision ID: 0005
Revises: 0004 (0003 on its own branch; chained after the solve branch's 0004 once merged)
Create Date: 2026-11-30 12:45:00.000000
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import vibedash.registry.models

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('eval_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('benchmark', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=64), nullable=False),
    sa.Column('protocol_key', sa.String(length=64), nullable=False),
    sa.Column('protocol', sa.JSON(), nullable=True),
    sa.Column('problems_file', sa.String(length=1024), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('problems', sa.Integer(), nullable=False),
    sa.Column('samples_total', sa.Integer(), nullable=False),
    sa.Column('samples_done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('samples_correct', sa.Integer(), server_default='0', nullable=False),
    sa.Column('elapsed_s', sa.Float(), server_default='0', nullable=False),
    sa.Column('energy_joules', sa.Float(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=255), nullable=True),
    sa.Column('result_id', sa.Integer(), nullable=True),
    sa.Column('started_at', vibedash.registry.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vibedash.registry.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', vibedash.registry.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['result_id'], ['benchmark_result.id'],
                            name=op.f('fk_eval_run_result_id_benchmark_result'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['version_id'], ['version.id'], name=op.f('fk_eval_run_version_id_version'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eval_run'))
    )
    with op.batch_alter_table('eval_run', schema=None) as batch_op:
        batch_op.create_index('ix_eval_run_status', ['status'], unique=False)
        batch_op.create_index('ix_eval_run_version_protocol', ['version_id', 'protocol_key'], unique=False)

    op.create_table('sample_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('problem_id', sa.String(length=255), nullable=False),
    sa.Column('sample_index', sa.Integer(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('correct', sa.Boolean(), nullable=True),
    sa.Column('output_tokens', sa.Integer(), nullable=True),
    sa.Column('thinking_tokens', sa.Integer(), nullable=True),
    sa.Column('latency_s', sa.Float(), nullable=True),
    sa.Column('finish_reason', sa.String(length=16), nullable=True),
    sa.Column('output_z', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['result_id'], ['benchmark_result.id'],
                            name=op.f('fk_sample_result_result_id_benchmark_result'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['eval_run.id'], name=op.f('fk_sample_result_run_id_eval_run'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sample_result')),
    sa.UniqueConstraint('result_id', 'problem_id', 'sample_index', name='uq_sample_result_result_problem_sample'),
    sa.UniqueConstraint('run_id', 'problem_id', 'sample_index', name='uq_sample_result_run_problem_sample')
    )


def downgrade() -> None:
    op.drop_table('sample_result')
    with op.batch_alter_table('eval_run', schema=None) as batch_op:
        batch_op.drop_index('ix_eval_run_version_protocol')
        batch_op.drop_index('ix_eval_run_status')
    op.drop_table('eval_run')
