"""version deploy summary: per-version deploy figures, representative and gate verdict, kept by triggers

The retention plan needs one row per version (how many deploys, expired, failed, restorable; the first and
newest; the newest restorable deploy; the latest gate verdict) and each version's newest restorable deploy per
branch. Computing them groups every deploy and ranks every gate verdict in the audit log: seconds at a million
of each, after every write. ``version_deploy_summary`` and ``version_branch_head`` hold them instead, kept by
triggers in the same transaction as every INSERT, UPDATE and DELETE on ``deploy``, ``version`` and ``event``,
whoever makes it (the app, a sync, another tool, a raw bulk load). Each trigger recomputes the rows of the one
version it touched from that version's deploys (an index seek on deploy.version_id) or audit lines (an index
seek on event.version_sha), so a write costs O(that version's rows) and the summary always equals a
recomputation (tests/retention_summary_check.py compares them after every kind of write).

``changed_generation`` is the registry generation of a row's last change (of the row, or of its version's
headline scores in ``benchmark_result``, which a trigger there marks): a retention plan made at generation G
patches itself from the rows changed since instead of reading all of them again.

The upgrade fills both from the rows already stored. A later migration that rebuilds ``deploy``, ``version``
or ``event`` with batch_alter_table on SQLite drops their triggers with the old table: it must create them
again (``create_triggers``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 18:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# vibedash.decisions.retention.terms at this revision (a migration must not change when the code does)
RESTORABLE = "('current', 'old', 'ready')"
FAILED = "('canceled', 'cancelled', 'error', 'failed', 'rejected')"
GENERATION = "COALESCE((SELECT generation FROM registry_state WHERE id = 1), 0)"
BRANCH = "CASE WHEN d.branch IS NULL OR d.branch = '' THEN v.branch ELSE d.branch END"
COUNTS = f"""count(*) AS n,
           COALESCE(sum(CASE WHEN expired_at IS NOT NULL AND is_live IS FALSE THEN 1 ELSE 0 END), 0) AS expired,
           COALESCE(sum(CASE WHEN expired_at IS NULL AND state IN {FAILED} THEN 1 ELSE 0 END), 0) AS failed_open,
           COALESCE(sum(CASE WHEN expired_at IS NULL AND state IN {RESTORABLE} THEN 1 ELSE 0 END), 0)
             AS restorable_open,
           min(created_at) AS first_at, max(created_at) AS newest_at"""

# A gate verdict counts when it is a JSON object with a top-level "passed"; its truth is Python's bool() of it.
VERDICT = {
    "sqlite": dict(
        has_passed="CASE WHEN json_valid(verdict) THEN json_type(verdict, '$.passed') END IS NOT NULL",
        passed="""CASE json_type(verdict, '$.passed') WHEN 'true' THEN 1 WHEN 'false' THEN 0 WHEN 'null' THEN 0
             WHEN 'integer' THEN json_extract(verdict, '$.passed') <> 0
             WHEN 'real' THEN json_extract(verdict, '$.passed') <> 0
             WHEN 'text' THEN json_extract(verdict, '$.passed') <> ''
             WHEN 'array' THEN json_array_length(verdict, '$.passed') > 0
             ELSE json_extract(verdict, '$.passed') <> '{}' END"""),
    "postgresql": dict(
        has_passed="CASE WHEN json_typeof(verdict) = 'object' THEN verdict -> 'passed' END IS NOT NULL",
        passed="""CASE json_typeof(verdict -> 'passed')
             WHEN 'boolean' THEN CASE WHEN (verdict ->> 'passed')::boolean THEN 1 ELSE 0 END
             WHEN 'null' THEN 0
             WHEN 'number' THEN CASE WHEN (verdict ->> 'passed')::numeric <> 0 THEN 1 ELSE 0 END
             WHEN 'string' THEN CASE WHEN verdict ->> 'passed' <> '' THEN 1 ELSE 0 END
             WHEN 'array' THEN CASE WHEN json_array_length(verdict -> 'passed') > 0 THEN 1 ELSE 0 END
             ELSE CASE WHEN EXISTS (SELECT 1 FROM json_object_keys(verdict -> 'passed')) THEN 1 ELSE 0 END END"""),
}


def _heads(where: str) -> str:
    """The newest restorable deploy of each (version, branch) among the deploys ``where`` selects."""
    return f"""INSERT INTO version_branch_head (version_id, branch, deploy_id, netlify_id, created_at)
SELECT version_id, b, id, netlify_id, created_at FROM (
  SELECT d.version_id AS version_id, {BRANCH} AS b, d.id AS id, d.netlify_id AS netlify_id, d.created_at AS created_at,
         ROW_NUMBER() OVER (PARTITION BY d.version_id, {BRANCH} ORDER BY d.created_at DESC, d.netlify_id) AS rn
  FROM deploy d JOIN version v ON v.id = d.version_id
  WHERE {where} AND d.expired_at IS NULL AND d.state IN {RESTORABLE}) ranked
WHERE rn = 1 AND b IS NOT NULL AND b <> ''"""


def refresh_deploys(version_id: str) -> str:
    """Statements that recompute one version's deploy figures and branch heads (``version_id``: an expression)."""
    return f"""UPDATE version_deploy_summary SET
  (deploys, expired, failed_open, restorable_open, first_deploy_at, newest_deploy_at) = (
    SELECT {COUNTS} FROM deploy WHERE version_id = {version_id}),
  (restorable_deploy_id, restorable_netlify_id, restorable_created_at) = (
    SELECT id, netlify_id, created_at FROM deploy
    WHERE version_id = {version_id} AND expired_at IS NULL AND state IN {RESTORABLE}
    ORDER BY created_at DESC, netlify_id LIMIT 1),
  changed_generation = {GENERATION}
WHERE version_id = {version_id};
DELETE FROM version_branch_head WHERE version_id = {version_id};
{_heads(f"d.version_id = {version_id}")};
"""


def refresh_gate(dialect: str, sha: str) -> str:
    """The statement that recomputes the gate verdict of the version with commit ``sha`` (an expression)."""
    v = VERDICT[dialect]
    return f"""UPDATE version_deploy_summary SET
  gate = (SELECT {v['passed']} FROM event
          WHERE version_sha = {sha} AND verdict IS NOT NULL AND {v['has_passed']}
          ORDER BY started_at DESC, id DESC LIMIT 1),
  changed_generation = {GENERATION}
WHERE version_id = (SELECT id FROM version WHERE sha = {sha});
"""


def touch(version_id: str) -> str:
    """The statement that marks one version's row changed (its headline scores changed)."""
    return f"UPDATE version_deploy_summary SET changed_generation = {GENERATION} WHERE version_id = {version_id};\n"


def fill(dialect: str) -> list[str]:
    """Every version's row from the rows stored (one pass over deploys and one over gate verdicts)."""
    v = VERDICT[dialect]
    return [f"""INSERT INTO version_deploy_summary (version_id, deploys, expired, failed_open, restorable_open,
    first_deploy_at, newest_deploy_at, restorable_deploy_id, restorable_netlify_id, restorable_created_at, gate,
    changed_generation)
SELECT v.id, COALESCE(f.n, 0), COALESCE(f.expired, 0), COALESCE(f.failed_open, 0), COALESCE(f.restorable_open, 0),
       f.first_at, f.newest_at, r.id, r.netlify_id, r.created_at, g.gate, {GENERATION}
FROM version v
LEFT JOIN (SELECT version_id, {COUNTS}
           FROM deploy WHERE version_id IS NOT NULL GROUP BY version_id) f ON f.version_id = v.id
LEFT JOIN (SELECT version_id, id, netlify_id, created_at FROM (
             SELECT version_id, id, netlify_id, created_at,
                    ROW_NUMBER() OVER (PARTITION BY version_id ORDER BY created_at DESC, netlify_id) AS rn
             FROM deploy WHERE version_id IS NOT NULL AND expired_at IS NULL AND state IN {RESTORABLE}) ranked
           WHERE rn = 1) r ON r.version_id = v.id
LEFT JOIN (SELECT version_sha, gate FROM (
             SELECT version_sha, {v['passed']} AS gate,
                    ROW_NUMBER() OVER (PARTITION BY version_sha ORDER BY started_at DESC, id DESC) AS rn
             FROM event WHERE version_sha IS NOT NULL AND verdict IS NOT NULL AND {v['has_passed']}) ranked
           WHERE rn = 1) g ON g.version_sha = v.sha""",
            _heads("d.version_id IS NOT NULL")]


SQLITE_TRIGGERS = {
    # deploys: the version a deploy belongs to (and belonged to, when it moves)
    "trg_summary_deploy_insert": f"AFTER INSERT ON deploy WHEN NEW.version_id IS NOT NULL BEGIN\n"
                                 f"{refresh_deploys('NEW.version_id')}END",
    "trg_summary_deploy_delete": f"AFTER DELETE ON deploy WHEN OLD.version_id IS NOT NULL BEGIN\n"
                                 f"{refresh_deploys('OLD.version_id')}END",
    "trg_summary_deploy_update": "AFTER UPDATE OF version_id, state, expired_at, is_live, created_at, netlify_id, "
                                 "branch ON deploy WHEN NEW.version_id IS NOT NULL BEGIN\n"
                                 f"{refresh_deploys('NEW.version_id')}END",
    "trg_summary_deploy_moved": "AFTER UPDATE OF version_id ON deploy WHEN OLD.version_id IS NOT NULL "
                                "AND OLD.version_id IS NOT NEW.version_id BEGIN\n"
                                f"{refresh_deploys('OLD.version_id')}END",
    # versions: a new one has its row (and any verdicts recorded before it); its commit or branch changes
    "trg_summary_version_insert": "AFTER INSERT ON version BEGIN\n"
                                  "INSERT INTO version_deploy_summary (version_id, deploys, expired, failed_open, "
                                  f"restorable_open, changed_generation) VALUES (NEW.id, 0, 0, 0, 0, {GENERATION});\n"
                                  f"{refresh_deploys('NEW.id')}{refresh_gate('sqlite', 'NEW.sha')}END",
    "trg_summary_version_update": "AFTER UPDATE OF sha, branch ON version BEGIN\n"
                                  f"{refresh_deploys('NEW.id')}{refresh_gate('sqlite', 'NEW.sha')}END",
    # the audit log's gate verdicts
    "trg_summary_event_insert": "AFTER INSERT ON event WHEN NEW.version_sha IS NOT NULL AND NEW.verdict IS NOT NULL "
                                f"BEGIN\n{refresh_gate('sqlite', 'NEW.version_sha')}END",
    "trg_summary_event_update": "AFTER UPDATE OF version_sha, verdict, started_at ON event "
                                "WHEN NEW.version_sha IS NOT NULL "
                                f"BEGIN\n{refresh_gate('sqlite', 'NEW.version_sha')}END",
    "trg_summary_event_moved": "AFTER UPDATE OF version_sha, verdict, started_at ON event WHEN OLD.version_sha "
                               "IS NOT NULL AND OLD.version_sha IS NOT NEW.version_sha "
                               f"BEGIN\n{refresh_gate('sqlite', 'OLD.version_sha')}END",
    "trg_summary_event_delete": "AFTER DELETE ON event WHEN OLD.version_sha IS NOT NULL AND OLD.verdict IS NOT NULL "
                                f"BEGIN\n{refresh_gate('sqlite', 'OLD.version_sha')}END",
    # headline scores are read from benchmark_result itself; a change only marks its version's row changed
    "trg_summary_result_insert": f"AFTER INSERT ON benchmark_result BEGIN\n{touch('NEW.version_id')}END",
    "trg_summary_result_update": "AFTER UPDATE OF version_id, benchmark, score, is_primary ON benchmark_result "
                                 f"BEGIN\n{touch('NEW.version_id')}{touch('OLD.version_id')}END",
    "trg_summary_result_delete": f"AFTER DELETE ON benchmark_result BEGIN\n{touch('OLD.version_id')}END",
}

POSTGRESQL_FUNCTIONS = {
    "vibedash_summary_refresh_deploys(changed_version integer)": f"""BEGIN
  IF changed_version IS NULL THEN RETURN; END IF;
{refresh_deploys('changed_version')}END""",
    "vibedash_summary_refresh_gate(changed_sha varchar)": f"""BEGIN
  IF changed_sha IS NULL THEN RETURN; END IF;
{refresh_gate('postgresql', 'changed_sha')}END""",
}
POSTGRESQL_TRIGGER_FUNCTIONS = {
    "vibedash_summary_deploy_changed": """BEGIN
  IF TG_OP <> 'DELETE' THEN PERFORM vibedash_summary_refresh_deploys(NEW.version_id); END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.version_id IS DISTINCT FROM NEW.version_id) THEN
    PERFORM vibedash_summary_refresh_deploys(OLD.version_id);
  END IF;
  RETURN NULL;
END""",
    "vibedash_summary_version_changed": f"""BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO version_deploy_summary (version_id, deploys, expired, failed_open, restorable_open,
                                        changed_generation) VALUES (NEW.id, 0, 0, 0, 0, {GENERATION});
  END IF;
  PERFORM vibedash_summary_refresh_deploys(NEW.id);
  PERFORM vibedash_summary_refresh_gate(NEW.sha);
  RETURN NULL;
END""",
    "vibedash_summary_result_changed": f"""BEGIN
  IF TG_OP <> 'DELETE' THEN {touch('NEW.version_id')}  END IF;
  IF TG_OP <> 'INSERT' THEN {touch('OLD.version_id')}  END IF;
  RETURN NULL;
END""",
    "vibedash_summary_event_changed": """BEGIN
  IF TG_OP = 'INSERT' AND NEW.verdict IS NOT NULL OR TG_OP = 'UPDATE' THEN
    PERFORM vibedash_summary_refresh_gate(NEW.version_sha);
  END IF;
  IF TG_OP = 'DELETE' AND OLD.verdict IS NOT NULL
     OR TG_OP = 'UPDATE' AND OLD.version_sha IS DISTINCT FROM NEW.version_sha THEN
    PERFORM vibedash_summary_refresh_gate(OLD.version_sha);
  END IF;
  RETURN NULL;
END""",
}
POSTGRESQL_TRIGGERS = {
    "trg_summary_deploy": "AFTER INSERT OR DELETE OR UPDATE OF version_id, state, expired_at, is_live, created_at, "
                          "netlify_id, branch ON deploy FOR EACH ROW "
                          "EXECUTE FUNCTION vibedash_summary_deploy_changed()",
    "trg_summary_version": "AFTER INSERT OR UPDATE OF sha, branch ON version FOR EACH ROW "
                           "EXECUTE FUNCTION vibedash_summary_version_changed()",
    "trg_summary_event": "AFTER INSERT OR DELETE OR UPDATE OF version_sha, verdict, started_at ON event FOR EACH ROW "
                         "EXECUTE FUNCTION vibedash_summary_event_changed()",
    "trg_summary_result": "AFTER INSERT OR DELETE OR UPDATE OF version_id, benchmark, score, is_primary "
                          "ON benchmark_result FOR EACH ROW EXECUTE FUNCTION vibedash_summary_result_changed()",
}
TRIGGER_TABLES = {"trg_summary_deploy": "deploy", "trg_summary_version": "version", "trg_summary_event": "event",
                  "trg_summary_result": "benchmark_result"}


def create_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
        return
    for signature, body in POSTGRESQL_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {signature} RETURNS void LANGUAGE plpgsql AS $fn$\n{body}\n$fn$")
    for name, body in POSTGRESQL_TRIGGER_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n{body}\n$fn$")
    for name, body in POSTGRESQL_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def drop_triggers(dialect: str) -> None:
    if dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    for name, table in TRIGGER_TABLES.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for name in POSTGRESQL_TRIGGER_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for signature in POSTGRESQL_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        'version_deploy_summary',
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('deploys', sa.Integer(), nullable=False),
        sa.Column('expired', sa.Integer(), nullable=False),
        sa.Column('failed_open', sa.Integer(), nullable=False),
        sa.Column('restorable_open', sa.Integer(), nullable=False),
        sa.Column('first_deploy_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('newest_deploy_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('restorable_deploy_id', sa.Integer(), nullable=True),
        sa.Column('restorable_netlify_id', sa.String(length=64), nullable=True),
        sa.Column('restorable_created_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('gate', sa.SmallInteger(), nullable=True),
        sa.Column('changed_generation', sa.BigInteger(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['version_id'], ['version.id'],
                                name=op.f('fk_version_deploy_summary_version_id_version'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('version_id', name=op.f('pk_version_deploy_summary')),
    )
    op.create_index('ix_version_deploy_summary_changed_generation', 'version_deploy_summary',
                    ['changed_generation'], unique=False)
    op.create_table(
        'version_branch_head',
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('branch', sa.String(length=255), nullable=False),
        sa.Column('deploy_id', sa.Integer(), nullable=False),
        sa.Column('netlify_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['version_id'], ['version.id'],
                                name=op.f('fk_version_branch_head_version_id_version'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('version_id', 'branch', name=op.f('pk_version_branch_head')),
    )
    op.create_index('ix_version_branch_head_branch_created_at', 'version_branch_head', ['branch', 'created_at'],
                    unique=False)
    for statement in fill(dialect):
        op.execute(statement)
    create_triggers(dialect)


def downgrade() -> None:
    drop_triggers(op.get_bind().dialect.name)
    op.drop_index('ix_version_branch_head_branch_created_at', table_name='version_branch_head')
    op.drop_table('version_branch_head')
    op.drop_index('ix_version_deploy_summary_changed_generation', table_name='version_deploy_summary')
    op.drop_table('version_deploy_summary')
