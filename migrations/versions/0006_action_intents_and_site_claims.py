"""action intents and site claims: retries resume the same intent; one live-changing action per site at a time

Existing events get no intent and hold no claim.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:40:00.000000
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (copying its rows) to add the unique constraint.
    with op.batch_alter_table("event") as batch_op:
        batch_op.add_column(sa.Column("intent", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("claim", sa.String(length=128), nullable=True))
        batch_op.create_index("ix_event_intent", ["intent"], unique=False)
        batch_op.create_unique_constraint("uq_event_claim", ["claim"])


def downgrade() -> None:
    with op.batch_alter_table("event") as batch_op:
        batch_op.drop_constraint("uq_event_claim", type_="unique")
        batch_op.drop_index("ix_event_intent")
        batch_op.drop_column("claim")
        batch_op.drop_column("intent")
