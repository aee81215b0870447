"""sample result times: first token and first answer token (after </think>) of each sample

Samples recorded before, and samples imported from harnesses that do not keep these times, have NULL.

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30 15:30:00.000000
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = ("first_token_s", "first_answer_s")


def upgrade() -> None:
    # A plain ADD COLUMN (nullable, no default), not batch mode: SQLite adds it in place, without copying a
    # table that may hold millions of samples.
    for name in COLUMNS:
        op.add_column("sample_result", sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sample_result") as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
