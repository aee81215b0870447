"""summary marks deploy-rule changes and removed versions

``version_deploy_summary.changed_generation`` (migration 0011) says which versions changed since a retention
plan was made, so the next plan reads only those versions again. The deploy rules (live, pinned, once live,
building, young, newest on a branch) also read a deploy's ``pinned``, ``locked``, ``published_at`` and
``context``, which change none of the summary's figures and so did not mark its version. A trigger marks it
now, and a plan made after a pin re-reads the deploy-rule facts of one version instead of every deploy a rule
could keep. A deploy without a version marks nothing: the plan reads those (few) whole every time.

A removed version leaves no row to mark. ``registry_state.summary_removals`` counts removals (a trigger on
``version``; a refill of the summary counts as one), so a plan that saw another count reads every version again,
without counting the summary's rows after every write.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 21:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

GENERATION = "COALESCE((SELECT generation FROM registry_state WHERE id = 1), 0)"
COLUMNS = "context, locked, pinned, published_at"


def touch(version_id: str) -> str:
    return f"UPDATE version_deploy_summary SET changed_generation = {GENERATION} WHERE version_id = {version_id};"


REMOVED = "UPDATE registry_state SET summary_removals = summary_removals + 1 WHERE id = 1;"

SQLITE_TRIGGERS = {
    "trg_summary_deploy_marked": f"AFTER UPDATE OF {COLUMNS} ON deploy WHEN NEW.version_id IS NOT NULL "
                                 f"BEGIN\n{touch('NEW.version_id')}\nEND",
    "trg_summary_version_removed": f"AFTER DELETE ON version BEGIN\n{REMOVED}\nEND",
}
POSTGRESQL_FUNCTIONS = {
    "vibedash_summary_deploy_marked": f"""BEGIN
  IF NEW.version_id IS NOT NULL THEN {touch('NEW.version_id')} END IF;
  RETURN NULL;
END""",
    "vibedash_summary_version_removed": f"""BEGIN
  {REMOVED}
  RETURN NULL;
END""",
}
POSTGRESQL_TRIGGERS = {
    "trg_summary_deploy_marked": ("deploy", f"AFTER UPDATE OF {COLUMNS} ON deploy FOR EACH ROW "
                                            "EXECUTE FUNCTION vibedash_summary_deploy_marked()"),
    "trg_summary_version_removed": ("version", "AFTER DELETE ON version FOR EACH STATEMENT "
                                               "EXECUTE FUNCTION vibedash_summary_version_removed()"),
}


def upgrade() -> None:
    # a plain ADD COLUMN: rebuilding registry_state (batch mode) would trip SQLite over the triggers that read it
    op.add_column("registry_state", sa.Column("summary_removals", sa.BigInteger(), server_default="0",
                                              nullable=False))
    if op.get_bind().dialect.name == "sqlite":
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        return
    for name, body in POSTGRESQL_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n{body}\n$fn$")
    for name, (_, body) in POSTGRESQL_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for name, (table, _) in POSTGRESQL_TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in POSTGRESQL_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_column("registry_state", "summary_removals")
