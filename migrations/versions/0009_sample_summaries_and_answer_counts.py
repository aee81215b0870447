"""sample summaries and answer counts: per (result, problem) sums and per (result, problem, answer) votes

Pages read a result's counts, k-curves and cost from these O(problems) rows instead of aggregating its
samples on every rerun (a registry may hold ten million samples). The upgrade fills both from the samples
already stored; from then on they are written with the samples (vibedash.registry.samples).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 15:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The same sums as vibedash.registry.samples.refresh_summaries (kept apart: a migration must not change when
# the application code does).
FILL_SUMMARY = """
INSERT INTO sample_summary (result_id, problem_id, samples, graded, correct, answered, output_tokens,
                            token_samples, thinking_tokens, thinking_samples, latency_s, latency_samples, cut_by_cap)
SELECT result_id, problem_id, count(*), count(correct), sum(CASE WHEN correct THEN 1 ELSE 0 END), count(answer),
       sum(output_tokens), count(output_tokens), sum(thinking_tokens), count(thinking_tokens), sum(latency_s),
       count(latency_s), sum(CASE WHEN finish_reason = 'length' THEN 1 ELSE 0 END)
FROM sample_result WHERE result_id IS NOT NULL GROUP BY result_id, problem_id
"""
FILL_ANSWERS = """
INSERT INTO sample_answer_count (result_id, problem_id, answer, votes, correct_votes)
SELECT result_id, problem_id, answer, count(*), sum(CASE WHEN correct THEN 1 ELSE 0 END)
FROM sample_result WHERE result_id IS NOT NULL AND answer IS NOT NULL GROUP BY result_id, problem_id, answer
"""


def upgrade() -> None:
    op.create_table(
        'sample_summary',
        sa.Column('result_id', sa.Integer(), nullable=False),
        sa.Column('problem_id', sa.String(length=255), nullable=False),
        sa.Column('samples', sa.Integer(), nullable=False),
        sa.Column('graded', sa.Integer(), nullable=False),
        sa.Column('correct', sa.Integer(), nullable=False),
        sa.Column('answered', sa.Integer(), nullable=False),
        sa.Column('output_tokens', sa.BigInteger(), nullable=True),
        sa.Column('token_samples', sa.Integer(), nullable=False),
        sa.Column('thinking_tokens', sa.BigInteger(), nullable=True),
        sa.Column('thinking_samples', sa.Integer(), nullable=False),
        sa.Column('latency_s', sa.Float(), nullable=True),
        sa.Column('latency_samples', sa.Integer(), nullable=False),
        sa.Column('cut_by_cap', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['result_id'], ['benchmark_result.id'],
                                name=op.f('fk_sample_summary_result_id_benchmark_result'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('result_id', 'problem_id', name=op.f('pk_sample_summary')),
    )
    op.create_table(
        'sample_answer_count',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('result_id', sa.Integer(), nullable=False),
        sa.Column('problem_id', sa.String(length=255), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('votes', sa.Integer(), nullable=False),
        sa.Column('correct_votes', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['result_id'], ['benchmark_result.id'],
                                name=op.f('fk_sample_answer_count_result_id_benchmark_result'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sample_answer_count')),
    )
    op.create_index('ix_sample_answer_count_result_problem', 'sample_answer_count', ['result_id', 'problem_id'],
                    unique=False)
    op.execute(FILL_SUMMARY)
    op.execute(FILL_ANSWERS)


def downgrade() -> None:
    op.drop_index('ix_sample_answer_count_result_problem', table_name='sample_answer_count')
    op.drop_table('sample_answer_count')
    op.drop_table('sample_summary')
