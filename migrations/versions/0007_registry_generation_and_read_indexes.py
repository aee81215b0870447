"""registry generation and read indexes: a change counter every write bumps, and the indexes pages read by

The live deploy, the best candidate, an audit trail by version or deploy, and the audit log's filters each
become an index seek instead of a scan. ``registry_state`` holds one row: the generation that keys every
cached derived value (vibedash.registry.generation).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:40:00
"""
import uuid
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = (
    ("ix_deploy_state_created_at", "deploy", ["state", "created_at"]),
    ("ix_deploy_context", "deploy", ["context"]),
    ("ix_benchmark_result_ranking", "benchmark_result", ["benchmark", "is_primary", "score"]),
    ("ix_event_target_started_at", "event", ["target", "started_at"]),
    ("ix_event_version_sha_started_at", "event", ["version_sha", "started_at"]),
    ("ix_event_actor_started_at", "event", ["actor", "started_at"]),
    ("ix_event_status_started_at", "event", ["status", "started_at"]),
    ("ix_event_kind_status_started_at", "event", ["kind", "status", "started_at"]),
)
# Partial: the few live or published deploys among many (see models.Deploy).
PARTIAL_INDEXES = (
    ("ix_deploy_live", "deploy", ["published_at"], "is_live = 1", "is_live"),
    ("ix_deploy_published_at", "deploy", ["published_at"], "published_at IS NOT NULL", "published_at IS NOT NULL"),
    ("ix_deploy_pinned", "deploy", ["pinned_at"], "pinned = 1", "pinned"),
)


def upgrade() -> None:
    state = op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_state")),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 1, "instance": uuid.uuid4().hex}])
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    for name, table, columns, sqlite_where, postgresql_where in PARTIAL_INDEXES:
        op.create_index(name, table, columns, unique=False, sqlite_where=sa.text(sqlite_where),
                        postgresql_where=sa.text(postgresql_where))


def downgrade() -> None:
    for name, table, *_ in reversed(PARTIAL_INDEXES):
        op.drop_index(name, table_name=table)
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("registry_state")
