"""state generation and an index of the audit lines of actions

A second change counter that writes to the audit log leave alone, and a partial index of the audit lines that
carry an intent (the actions that change what is live, and builds): "the latest action" is then a seek among a
few rows instead of a scan of a million audit lines.

``registry_state.state_generation`` goes up with every write to the registry except those to the audit log
(``event``). Derived facts that never read the audit log (the best candidate, Promote's candidates, the
benchmarks present) are keyed by it, so the audit line every action and import writes does not make them be
computed again (vibedash.registry.generation).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 16:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("registry_state") as batch:
        batch.add_column(sa.Column("state_generation", sa.BigInteger(), server_default="0", nullable=False))
    # every value cached so far is keyed by the old counter; a fresh start for the new one
    op.execute("UPDATE registry_state SET state_generation = generation")
    op.create_index("ix_event_intent_id", "event", ["id"], unique=False, sqlite_where=sa.text("intent IS NOT NULL"),
                    postgresql_where=sa.text("intent IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_event_intent_id", table_name="event")
    with op.batch_alter_table("registry_state") as batch:
        batch.drop_column("state_generation")
