"""History page reads beyond :mod:`vibedash.registry.version_history`: filter choices, score counts and the
succeeded promotions and rollbacks drawn on the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vibedash.registry.generation import cached
from vibedash.registry.models import BenchmarkResult, Event, Version
from vibedash.registry.skip_scan import distinct_values
from vibedash.registry.versions import short

LIVE_CHANGE_KINDS = ("promote", "rollback")


def deploy_contexts(session: Session) -> list[str]:
    return list(cached(session, "deploy_contexts", None,
                       lambda: distinct_values(session, "deploy", "context")))


def deploy_states(session: Session) -> list[str]:
    return list(cached(session, "deploy_states", None, lambda: distinct_values(session, "deploy", "state")))


def headline_result_counts(session: Session) -> dict[str, int]:
    """How many versions have a headline score on each benchmark (one pass over the covering index, once per
    registry generation)."""
    def count() -> dict[str, int]:
        rows = session.execute(select(BenchmarkResult.benchmark, func.count())
                               .where(BenchmarkResult.is_primary.is_(True)).group_by(BenchmarkResult.benchmark))
        return {benchmark: n for benchmark, n in rows}

    return dict(cached(session, "headline_result_counts", None, count))


def recent_headline_counts(session: Session, versions: int) -> dict[str, int]:
    """How many of the newest ``versions`` versions have a headline score on each benchmark: what the timeline
    of those versions would draw a line for. Bounded by ``versions``, whatever the registry holds."""
    newest = select(Version.id).order_by(Version.created_at.desc()).limit(versions).scalar_subquery()
    rows = session.execute(select(BenchmarkResult.benchmark, func.count())
                           .where(BenchmarkResult.version_id.in_(newest), BenchmarkResult.is_primary.is_(True))
                           .group_by(BenchmarkResult.benchmark))
    return {benchmark: n for benchmark, n in rows}


def live_changes(session: Session, *, since: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Succeeded promotions and rollbacks (newest ``limit``), oldest first: when, what, who, override."""
    rows = []
    for kind in LIVE_CHANGE_KINDS:  # one ordered seek each on (kind, status, started_at), merged below
        query = (select(Event.kind, Event.target, Event.version_sha, Event.actor, Event.override, Event.reason,
                        Event.started_at, Event.finished_at)
                 .where(Event.kind == kind, Event.status == "succeeded")
                 .order_by(Event.started_at.desc()).limit(limit))
        if since is not None:
            query = query.where(Event.started_at >= since)
        rows += session.execute(query).all()
    rows = sorted(rows, key=lambda row: row[6], reverse=True)[:limit]
    return [{"kind": kind, "deploy_id": target, "sha": sha, "short": short(sha), "actor": actor,
             "override": bool(override), "reason": reason, "at": finished or started}
            for kind, target, sha, actor, override, reason, started, finished in reversed(rows)]
