"""Refilling the retention summary (``version_deploy_summary``, ``version_branch_head``) in one pass.

The database keeps both with every write through its triggers (migration 0011). A bulk loader that writes a
million rows through the DBAPI drops those triggers first (a trigger per row would cost a million small
recomputations) and calls :func:`vibedash.registry.generation.rebuild_after_bulk_load`, which refills the summary
here with two INSERT ... SELECT statements: a GROUP BY over the deploys, a window over the restorable ones and
one over the gate verdicts. The statements are the migration's fill (kept apart: a migration must not change
when the application code does); tests/retention_summary_check.py compares the result with a recomputation.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from vibedash.decisions.retention.terms import FAILED_STATES, RESTORABLE_STATES

TABLES = ("version_deploy_summary", "version_branch_head")


def _in(states: frozenset[str]) -> str:
    return "(" + ", ".join(f"'{state}'" for state in sorted(states)) + ")"


_GENERATION = "COALESCE((SELECT generation FROM registry_state WHERE id = 1), 0)"
_BRANCH = "CASE WHEN d.branch IS NULL OR d.branch = '' THEN v.branch ELSE d.branch END"
# a gate verdict counts when it is a JSON object with a top-level "passed"; its truth is Python's bool() of it
_VERDICT = {
    "sqlite": ("CASE WHEN json_valid(verdict) THEN json_type(verdict, '$.passed') END IS NOT NULL",
               """CASE json_type(verdict, '$.passed') WHEN 'true' THEN 1 WHEN 'false' THEN 0 WHEN 'null' THEN 0
             WHEN 'integer' THEN json_extract(verdict, '$.passed') <> 0
             WHEN 'real' THEN json_extract(verdict, '$.passed') <> 0
             WHEN 'text' THEN json_extract(verdict, '$.passed') <> ''
             WHEN 'array' THEN json_array_length(verdict, '$.passed') > 0
             ELSE json_extract(verdict, '$.passed') <> '{}' END"""),
    "postgresql": ("CASE WHEN json_typeof(verdict) = 'object' THEN verdict -> 'passed' END IS NOT NULL",
                   """CASE json_typeof(verdict -> 'passed')
             WHEN 'boolean' THEN CASE WHEN (verdict ->> 'passed')::boolean THEN 1 ELSE 0 END
             WHEN 'null' THEN 0
             WHEN 'number' THEN CASE WHEN (verdict ->> 'passed')::numeric <> 0 THEN 1 ELSE 0 END
             WHEN 'string' THEN CASE WHEN verdict ->> 'passed' <> '' THEN 1 ELSE 0 END
             WHEN 'array' THEN CASE WHEN json_array_length(verdict -> 'passed') > 0 THEN 1 ELSE 0 END
             ELSE CASE WHEN EXISTS (SELECT 1 FROM json_object_keys(verdict -> 'passed')) THEN 1 ELSE 0 END END"""),
}


def fill_statements(dialect: str) -> list[str]:
    """Every version's summary row and branch heads from the rows stored (the tables empty beforehand)."""
    restorable, failed = _in(RESTORABLE_STATES), _in(FAILED_STATES)
    has_passed, passed = _VERDICT[dialect]
    summary = f"""
INSERT INTO version_deploy_summary (version_id, deploys, expired, failed_open, restorable_open, first_deploy_at,
    newest_deploy_at, restorable_deploy_id, restorable_netlify_id, restorable_created_at, gate, changed_generation)
SELECT v.id, COALESCE(f.n, 0), COALESCE(f.expired, 0), COALESCE(f.failed_open, 0), COALESCE(f.restorable_open, 0),
       f.first_at, f.newest_at, r.id, r.netlify_id, r.created_at, g.gate, {_GENERATION}
FROM version v
LEFT JOIN (SELECT version_id, count(*) AS n,
                  sum(CASE WHEN expired_at IS NOT NULL AND is_live IS FALSE THEN 1 ELSE 0 END) AS expired,
                  sum(CASE WHEN expired_at IS NULL AND state IN {failed} THEN 1 ELSE 0 END) AS failed_open,
                  sum(CASE WHEN expired_at IS NULL AND state IN {restorable} THEN 1 ELSE 0 END) AS restorable_open,
                  min(created_at) AS first_at, max(created_at) AS newest_at
           FROM deploy WHERE version_id IS NOT NULL GROUP BY version_id) f ON f.version_id = v.id
LEFT JOIN (SELECT version_id, id, netlify_id, created_at FROM (
             SELECT version_id, id, netlify_id, created_at,
                    ROW_NUMBER() OVER (PARTITION BY version_id ORDER BY created_at DESC, netlify_id) AS rn
             FROM deploy WHERE version_id IS NOT NULL AND expired_at IS NULL AND state IN {restorable}) ranked
           WHERE rn = 1) r ON r.version_id = v.id
LEFT JOIN (SELECT version_sha, gate FROM (
             SELECT version_sha, {passed} AS gate,
                    ROW_NUMBER() OVER (PARTITION BY version_sha ORDER BY started_at DESC, id DESC) AS rn
             FROM event WHERE version_sha IS NOT NULL AND verdict IS NOT NULL AND {has_passed}) ranked
           WHERE rn = 1) g ON g.version_sha = v.sha"""
    heads = f"""
INSERT INTO version_branch_head (version_id, branch, deploy_id, netlify_id, created_at)
SELECT version_id, b, id, netlify_id, created_at FROM (
  SELECT d.version_id AS version_id, {_BRANCH} AS b, d.id AS id, d.netlify_id AS netlify_id, d.created_at AS created_at,
         ROW_NUMBER() OVER (PARTITION BY d.version_id, {_BRANCH} ORDER BY d.created_at DESC, d.netlify_id) AS rn
  FROM deploy d JOIN version v ON v.id = d.version_id
  WHERE d.version_id IS NOT NULL AND d.expired_at IS NULL AND d.state IN {restorable}) ranked
WHERE rn = 1 AND b IS NOT NULL AND b <> ''"""
    return [summary, heads]


def refill(engine: Engine) -> bool:
    """Recompute both tables from the deploys, versions and audit log in one transaction. False where the
    registry predates them (nothing to refill)."""
    if not set(TABLES) <= set(inspect(engine).get_table_names()):
        return False
    with engine.begin() as conn:
        for table in TABLES:
            conn.exec_driver_sql(f"DELETE FROM {table}")
        for statement in fill_statements(engine.dialect.name):
            conn.exec_driver_sql(statement)
        if "summary_removals" in {c["name"] for c in inspect(conn).get_columns("registry_state")}:
            # versions may have gone with the triggers off: a plan patched from before reads everything again
            conn.exec_driver_sql("UPDATE registry_state SET summary_removals = summary_removals + 1 WHERE id = 1")
    return True
