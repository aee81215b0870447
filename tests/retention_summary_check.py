"""The per-version deploy summary and branch heads (migration 0011), recomputed in Python from the deploys,
versions and audit log: what a test compares the stored ones with after a write (real SQLite or PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from vibedash.decisions.retention.terms import FAILED_STATES, RESTORABLE_STATES
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import (
    Deploy,
    Event,
    Version,
    VersionBranchHead,
    VersionDeploySummary,
)


def _newest_first(row: tuple) -> tuple:
    """Sort key: created_at descending, then Netlify id ascending (the plan's order)."""
    created_at, netlify_id = row
    return (-created_at.timestamp(), netlify_id)


def recomputed(session) -> tuple[dict[int, tuple], set[tuple]]:
    versions = {vid: (sha, branch) for vid, sha, branch in session.execute(select(Version.id, Version.sha,
                                                                                    Version.branch))}
    rows: dict[int, dict] = {vid: dict(deploys=0, expired=0, failed_open=0, restorable_open=0, first=None,
                                       newest=None, rep=None, gate=None) for vid in versions}
    heads: dict[tuple[int, str], tuple] = {}
    for pk, vid, netlify_id, state, expired_at, is_live, created_at, branch in session.execute(
            select(Deploy.id, Deploy.version_id, Deploy.netlify_id, Deploy.state, Deploy.expired_at, Deploy.is_live,
                   Deploy.created_at, Deploy.branch).where(Deploy.version_id.is_not(None))):
        row = rows[vid]
        row["deploys"] += 1
        row["expired"] += expired_at is not None and not is_live
        row["failed_open"] += expired_at is None and state in FAILED_STATES
        opened = expired_at is None and state in RESTORABLE_STATES
        row["restorable_open"] += opened
        row["first"] = created_at if row["first"] is None else min(row["first"], created_at)
        row["newest"] = created_at if row["newest"] is None else max(row["newest"], created_at)
        if opened:
            mine = (created_at, netlify_id, pk)
            if row["rep"] is None or _newest_first(mine[:2]) < _newest_first(row["rep"][:2]):
                row["rep"] = mine
            effective = branch or versions[vid][1]
            if effective:
                held = heads.get((vid, effective))
                if held is None or _newest_first(mine[:2]) < _newest_first(held[:2]):
                    heads[(vid, effective)] = mine
    by_sha = {sha: vid for vid, (sha, _) in versions.items()}
    newest_verdict: dict[int, tuple] = {}
    for sha, verdict, started_at, eid in session.execute(
            select(Event.version_sha, Event.verdict, Event.started_at, Event.id).where(Event.version_sha.in_(by_sha))):
        # (the JSON column gives the stored value decoded: a dict, a list, a string, ...)
        if not isinstance(verdict, dict) or "passed" not in verdict:
            continue
        vid = by_sha[sha]
        held = newest_verdict.get(vid)
        if held is None or (started_at, eid) > held[:2]:
            newest_verdict[vid] = (started_at, eid, int(bool(verdict["passed"])))
    for vid, (_, _, passed) in newest_verdict.items():
        rows[vid]["gate"] = passed
    summary = {vid: (r["deploys"], r["expired"], r["failed_open"], r["restorable_open"], r["first"], r["newest"],
                     *(r["rep"][::-1] if r["rep"] else (None, None, None)), r["gate"]) for vid, r in rows.items()}
    return summary, {(vid, branch, pk, netlify_id, created_at)
                     for (vid, branch), (created_at, netlify_id, pk) in heads.items()}


def stored(session) -> tuple[dict[int, tuple], set[tuple]]:
    s = VersionDeploySummary
    summary = {row[0]: tuple(row[1:]) for row in session.execute(select(
        s.version_id, s.deploys, s.expired, s.failed_open, s.restorable_open, s.first_deploy_at, s.newest_deploy_at,
        s.restorable_deploy_id, s.restorable_netlify_id, s.restorable_created_at, s.gate))}
    h = VersionBranchHead
    heads = {tuple(row) for row in session.execute(select(h.version_id, h.branch, h.deploy_id, h.netlify_id,
                                                          h.created_at))}
    return summary, heads


def assert_retention_summary_matches(engine: Engine) -> int:
    """The stored summary equals the recomputation; returns how many versions have a deploy (so a test can see
    its writes reached it)."""
    with unit_of_work(engine) as session:
        want_summary, want_heads = recomputed(session)
        got_summary, got_heads = stored(session)
    assert set(got_summary) == set(want_summary), "a version without its summary row, or a row without a version"
    wrong = {vid: (got_summary[vid], want) for vid, want in want_summary.items() if got_summary[vid] != want}
    assert not wrong, f"summary rows differ from the deploys (stored, recomputed): {dict(list(wrong.items())[:3])}"
    assert got_heads == want_heads, f"branch heads differ: stored only {sorted(got_heads - want_heads)[:3]}, " \
                                    f"recomputed only {sorted(want_heads - got_heads)[:3]}"
    return sum(1 for row in want_summary.values() if row[0])

