"""solve run thinking figures: load time, first answer token, thinking vs answer tokens, own decode rate,
samples cut by a cap or forced by the thinking budget, and GPU energy, utilisation, memory and power

Runs logged before have none of these (NULL): they were not measured.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 12:30:00.000000
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = (
    ("load_s", sa.Float), ("time_to_first_answer_s", sa.Float), ("total_s", sa.Float),
    ("thinking_tokens", sa.Integer), ("answer_tokens", sa.Integer), ("decode_tokens_per_second", sa.Float),
    ("samples_cut", sa.Integer), ("samples_forced", sa.Integer), ("energy_j", sa.Float),
    ("gpu_utilisation_pct", sa.Float), ("gpu_memory_mb", sa.Float), ("gpu_power_w", sa.Float),
)


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (copying its rows) to alter it.
    with op.batch_alter_table("solve_run") as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("solve_run") as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
