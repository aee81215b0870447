"""solve run cache hits: how often a logged run answered an identical request, and when last

Existing runs start at 0 hits, never served (the log did not count before).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:29:01.645954
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import vibedash.registry.models

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (copying its rows) to alter it.
    with op.batch_alter_table("solve_run") as batch_op:
        batch_op.add_column(sa.Column("cache_hits", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_served_at", vibedash.registry.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("solve_run") as batch_op:
        batch_op.drop_column("last_served_at")
        batch_op.drop_column("cache_hits")
