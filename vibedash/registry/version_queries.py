"""One version's page: its deploys, every result, its audit trail and its solve runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS
from vibedash.registry import records as registry
from vibedash.registry.models import BenchmarkResult, Deploy, Event, SolveRun


@dataclass(frozen=True)
class ResultDetail:
    benchmark: str
    metric: str
    score: float
    headline: bool  # the primary result of its benchmark: what tables, the gate and retention read
    problems: int | None
    samples_per_problem: int | None
    temperature: float | None
    top_p: float | None
    k: int | None
    max_tokens: int | None
    source_format: str
    source_file: str | None
    imported_at: datetime
    per_problem: dict[str, tuple[int, int]] = field(default_factory=dict)
    stderr: float | None = None  # the score's standard error as the evaluation tool reported it (points)


@dataclass(frozen=True)
class VersionDetail:
    sha: str
    branch: str | None
    message: str | None
    model_ref: str | None
    synthetic: bool
    created_at: datetime
    deploys: list[dict[str, Any]]
    results: list[ResultDetail]
    events: list[dict[str, Any]]
    solve_runs: list[dict[str, Any]]


def version_detail(session: Session, sha_or_prefix: str, *, event_limit: int = 100,
                   solve_limit: int = 50) -> VersionDetail:
    """Everything the registry knows about one version.

    :raises registry.RegistryError: if the text is not a sha, or a prefix matches several versions.
    :raises registry.NotFound: if no version matches.
    """
    version = registry.find_version(session, sha_or_prefix)
    deploys = session.scalars(select(Deploy).where(Deploy.version_id == version.id)
                              .order_by(Deploy.created_at.desc())).all()
    results = session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version.id)
                              .options(selectinload(BenchmarkResult.problem_results))).all()
    order = {b: i for i, b in enumerate(HEADLINE_BENCHMARKS)}
    results = sorted(results, key=lambda r: (order.get(r.benchmark, len(order)), r.benchmark, not r.is_primary,
                                             r.metric))
    deploy_ids = [d.netlify_id for d in deploys]
    event_rows = audit_trail(session, version.sha, deploy_ids, limit=event_limit)
    return VersionDetail(
        sha=version.sha, branch=version.branch, message=version.message, model_ref=version.model_ref,
        synthetic=version.synthetic, created_at=version.created_at,
        deploys=[{"deploy_id": d.netlify_id, "state": d.state, "context": d.context, "branch": d.branch,
                  "permalink": d.permalink, "created_at": d.created_at, "published_at": d.published_at,
                  "live": d.is_live, "locked": d.locked, "pinned": d.pinned, "pin_reason": d.pin_reason,
                  "expired": d.expired_at is not None, "error": d.error_message} for d in deploys],
        results=[ResultDetail(
            benchmark=r.benchmark, metric=r.metric, score=r.score, headline=r.is_primary, problems=r.problems,
            samples_per_problem=r.samples_per_problem, temperature=r.temperature, top_p=r.top_p, k=r.k,
            max_tokens=r.max_tokens, source_format=r.source_format, source_file=r.source_file,
            imported_at=r.imported_at, per_problem={p.problem_id: (p.correct, p.samples) for p in r.problem_results},
            stderr=r.stderr)
            for r in results],
        events=[registry.event_dict(e) for e in event_rows],
        solve_runs=solve_runs_for_version(session, version.id, limit=solve_limit))


def audit_trail(session: Session, sha: str, deploy_ids: Sequence[str], *, limit: int = 100) -> list[Event]:
    """The newest ``limit`` events about a version or any of its deploys, newest first.

    One indexed read per way an event can name the version (by sha, as target, or a deploy as target), each
    already newest first and cut at ``limit``; the union is cut again. Never a scan of the log, however long.
    """
    def newest(condition: Any) -> Select:
        return (select(Event.id).where(condition).order_by(Event.started_at.desc(), Event.id.desc())
                .limit(limit))

    parts = [newest(Event.version_sha == sha), newest(Event.target == sha)]
    for start in range(0, len(deploy_ids), 500):
        parts.append(newest(Event.target.in_(list(deploy_ids[start:start + 500]))))
    ids = set()
    for part in parts:
        ids.update(session.scalars(part))
    if not ids:
        return []
    return list(session.scalars(select(Event).where(Event.id.in_(sorted(ids)))
                                .order_by(Event.started_at.desc(), Event.id.desc()).limit(limit)))


def solve_runs_for_version(session: Session, version_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest solve runs of a version (from the solve log), newest first."""
    runs = session.scalars(select(SolveRun).where(SolveRun.version_id == version_id)
                           .order_by(SolveRun.created_at.desc(), SolveRun.id.desc()).limit(limit)).all()
    return [{"created_at": r.created_at, "problem": r.problem_id or _first_line(r.prompt), "mode": r.mode,
             "backend": r.backend, "device": r.device, "answer": r.answer, "correct": r.correct,
             "time_to_first_token_s": r.time_to_first_token_s, "tokens": r.tokens,
             "tokens_per_second": r.tokens_per_second, "stopped": r.stopped} for r in runs]


def _first_line(text: str, width: int = 80) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
