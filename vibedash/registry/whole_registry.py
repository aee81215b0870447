"""Reads over the whole registry: how many of everything, the audit events, and the full export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from vibedash.registry.generation import cached
from vibedash.registry.models import BenchmarkResult, Deploy, Event, ProblemResult, Site, SolveRun, Version


@dataclass(frozen=True)
class RegistryCounts:
    versions: int
    deploys: int
    results: int
    events: int
    solve_runs: int
    last_synced_at: datetime | None


def counts(session: Session) -> RegistryCounts:
    """How many of everything: counted once per registry generation (a count reads a whole index)."""
    def n(model: type) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return cached(session, "counts", None, lambda: RegistryCounts(
        versions=n(Version), deploys=n(Deploy), results=n(BenchmarkResult), events=n(Event),
        solve_runs=n(SolveRun), last_synced_at=session.scalar(select(func.max(Site.last_synced_at)))))


def events(session: Session, *, kind: str | None = None, actor: str | None = None, status: str | None = None,
           target: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Audit events newest first, filtered; ``offset`` skips that many of the newest (a page further down)."""
    query = _event_filters(select(Event), kind, actor, status)
    query = query.order_by(Event.started_at.desc(), Event.id.desc()).limit(limit).offset(max(0, offset))
    if target:
        query = query.where(or_(Event.target == target, Event.version_sha == target))
    return [event_dict(e) for e in session.scalars(query)]


def count_events(session: Session, *, kind: str | None = None, actor: str | None = None,
                 status: str | None = None) -> int:
    """How many audit events match the filters (the same filters as :func:`events`, without ``target``)."""
    return session.scalar(_event_filters(select(func.count()).select_from(Event), kind, actor, status)) or 0


def _event_filters(query: Select, kind: str | None, actor: str | None, status: str | None) -> Select:
    """``query`` narrowed to the audit events of ``kind``, ``actor`` and ``status`` (each only when given)."""
    for column, value in ((Event.kind, kind), (Event.actor, actor), (Event.status, status)):
        if value:
            query = query.where(column == value)
    return query


def event_dict(e: Event) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "target": e.target, "version": e.version_sha, "previous_live":
            e.previous_live, "actor": e.actor, "reason": e.reason, "override": e.override, "status": e.status,
            "error": e.error, "verdict": e.verdict, "detail": e.detail, "started_at": e.started_at,
            "finished_at": e.finished_at}


def export_registry(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Everything, as plain rows (datetimes as ISO strings), for `export`."""
    def rows(model: type, order: Any) -> list[dict[str, Any]]:
        out = []
        for obj in session.scalars(select(model).order_by(order)):
            item = {}
            for column in model.__table__.columns:
                value = getattr(obj, column.key)
                item[column.key] = value.isoformat() if isinstance(value, datetime) else value
            out.append(item)
        return out

    return {"versions": rows(Version, Version.id), "deploys": rows(Deploy, Deploy.id),
            "results": rows(BenchmarkResult, BenchmarkResult.id), "problem_results": rows(ProblemResult,
                                                                                           ProblemResult.id),
            "events": rows(Event, Event.id), "solve_runs": rows(SolveRun, SolveRun.id), "sites": rows(Site, Site.id)}
