"""History reads: versions paged and sorted in SQL, the score timeline, branches and when each deploy was live."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from vibedash.registry.generation import cached
from vibedash.registry.models import BenchmarkResult, Deploy, Event, Version
from vibedash.registry.skip_scan import distinct_values
from vibedash.registry.versions import short


@dataclass(frozen=True)
class HistoryFilter:
    branch: str | None = None
    context: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    minimums: dict[str, float] = field(default_factory=dict)  # benchmark -> minimum score
    text: str | None = None  # sha prefix or words of the message


_HISTORY_SELECTS: dict[tuple, tuple[Select, dict[str, Any]]] = {}
_HISTORY_SELECTS_LOCK = threading.Lock()


def _history_select(benchmarks: Sequence[str], flt: HistoryFilter, *,
                    for_count: bool = False) -> tuple[Select, dict[str, Any]]:
    """The history query; ``for_count`` joins only what the filters need (the joins never add rows).

    Statements are immutable and building one (an alias per benchmark) costs more than running it, so the
    last few are kept by their benchmarks and filter.
    """
    key = (tuple(benchmarks), repr(flt), for_count)
    with _HISTORY_SELECTS_LOCK:  # pages run in several threads
        built = _HISTORY_SELECTS.get(key)
        if built is None:
            if len(_HISTORY_SELECTS) >= 64:
                _HISTORY_SELECTS.pop(next(iter(_HISTORY_SELECTS)))
            built = _HISTORY_SELECTS[key] = _build_history_select(benchmarks, flt, for_count=for_count)
    return built


def _build_history_select(benchmarks: Sequence[str], flt: HistoryFilter, *,
                          for_count: bool = False) -> tuple[Select, dict[str, Any]]:
    deploy = aliased(Deploy, name="d")
    # The latest deploy of each version, looked up per row through ix_deploy_version_id: a page reads 50 of
    # them instead of grouping the whole deploy table (100,000 versions: 5 ms instead of 350 ms a page).
    latest_id = (select(Deploy.id).where(Deploy.version_id == Version.id, Deploy.expired_at.is_(None))
                 .order_by(Deploy.created_at.desc(), Deploy.id.desc()).limit(1)
                 .correlate(Version).scalar_subquery())
    query = (select(Version.id) if for_count else
             select(Version.id, Version.sha, Version.branch, Version.message, Version.created_at, Version.synthetic))
    score_cols = {}
    for bench in benchmarks:
        if for_count:
            minimum = flt.minimums.get(bench)
            if minimum is not None:
                # A correlated EXISTS, not a join: the planner then walks versions newest first and probes
                # each one's score, stopping at the page's LIMIT, instead of sorting every version that passes.
                query = query.where(exists().where(
                    BenchmarkResult.version_id == Version.id, BenchmarkResult.benchmark == bench,
                    BenchmarkResult.is_primary.is_(True), BenchmarkResult.score >= minimum))
            continue
        r = aliased(BenchmarkResult, name=f"r_{re.sub(r'[^a-z0-9_]', '_', bench)}")
        query = query.outerjoin(r, and_(r.version_id == Version.id, r.benchmark == bench, r.is_primary.is_(True)))
        score_cols[bench] = r.score
        if not for_count:
            query = query.add_columns(r.score.label(f"score:{bench}"))
    if not for_count or flt.context or flt.state:
        query = query.outerjoin(deploy, deploy.id == latest_id)
        if not for_count:
            query = query.add_columns(deploy.netlify_id, deploy.state, deploy.context, deploy.permalink,
                                      deploy.is_live, deploy.locked)
    if flt.branch:
        query = query.where(Version.branch == flt.branch)
    if flt.context:
        query = query.where(deploy.context == flt.context)
    if flt.state:
        query = query.where(deploy.state == flt.state)
    if flt.since:
        query = query.where(Version.created_at >= flt.since)
    if flt.until:
        query = query.where(Version.created_at <= flt.until)
    for bench, minimum in flt.minimums.items():
        if bench in score_cols and minimum is not None:
            query = query.where(score_cols[bench] >= minimum)
    if flt.text:
        text = flt.text.strip().lower()
        query = query.where(or_(Version.sha.like(text + "%"), Version.message.ilike(f"%{text}%")))
    return query, score_cols


def history_page(session: Session, benchmarks: Sequence[str], flt: HistoryFilter = HistoryFilter(), *,
                 page: int = 1, page_size: int = 50, sort_by: str | None = None,
                 descending: bool = True) -> tuple[list[dict[str, Any]], int]:
    """One page of versions with headline scores and their latest deploy; plus the total.

    Sorted in SQL, so page 2 continues page 1: by ``sort_by`` (a benchmark of ``benchmarks``; versions without
    its score last) and then newest first, or by creation time when ``sort_by`` is None. The total (a count
    over every matching version) is computed once per registry generation and filter.
    """
    counted, _ = _history_select(benchmarks, flt, for_count=True)
    total = cached(session, "history_total", (tuple(benchmarks), repr(flt)), lambda: session.scalar(
        select(func.count()).select_from(counted.subquery())) or 0)
    page = max(1, page)
    by_time = (Version.created_at.desc(), Version.id.desc()) if descending or sort_by is not None \
        else (Version.created_at.asc(), Version.id.asc())
    query, score_cols = _history_select(benchmarks, flt)
    if sort_by is not None and sort_by in score_cols:
        score = score_cols[sort_by]
        order = (score.is_(None), score.desc() if descending else score.asc(), *by_time)
        rows = session.execute(query.order_by(*order)
                               .limit(page_size).offset((page - 1) * page_size)).mappings().all()
    else:
        # Two steps: the page's version ids through the filters' joins only, then the full rows of just those
        # ids (scores, latest deploy). Joining everything before the LIMIT would do it for every match first.
        page_ids = list(session.scalars(counted.order_by(*by_time)
                                        .limit(page_size).offset((page - 1) * page_size)))
        if not page_ids:
            return [], total
        query, _ = _history_select(benchmarks, HistoryFilter())
        rows = session.execute(query.where(Version.id.in_(page_ids)).order_by(*by_time)).mappings().all()
    out = []
    for row in rows:
        item = {
            "sha": row["sha"], "branch": row["branch"], "message": row["message"],
            "created_at": row["created_at"], "synthetic": row["synthetic"],
            "deploy_id": row["netlify_id"], "state": row["state"], "context": row["context"],
            "permalink": row["permalink"], "live": bool(row["is_live"]), "locked": bool(row["locked"]),
        }
        for bench in benchmarks:
            item[bench] = row[f"score:{bench}"]
        out.append(item)
    return out, total


def branches(session: Session) -> list[str]:
    return list(cached(session, "branches", None, lambda: distinct_values(session, "version", "branch")))


def score_timeline(session: Session, benchmarks: Sequence[str], *, limit: int = 200,
                   branch: str | None = None) -> list[dict[str, Any]]:
    """Headline scores of the newest ``limit`` versions, oldest first: one row per (version, benchmark)."""
    newest = select(Version.id).order_by(Version.created_at.desc()).limit(limit)
    if branch:
        newest = newest.where(Version.branch == branch)
    rows = session.execute(
        select(Version.sha, Version.created_at, Version.branch, BenchmarkResult.benchmark, BenchmarkResult.score)
        .join(BenchmarkResult, BenchmarkResult.version_id == Version.id)
        .where(Version.id.in_(newest.scalar_subquery()), BenchmarkResult.is_primary.is_(True),
               BenchmarkResult.benchmark.in_(list(benchmarks)))
        .order_by(Version.created_at)).all()
    return [{"sha": sha, "short": short(sha), "created_at": created, "branch": branch_, "benchmark": bench,
             "score": score} for sha, created, branch_, bench, score in rows]


def live_periods(session: Session) -> list[dict[str, Any]]:
    """When each deploy was live, oldest first (a deploy rolled back to has a period for each time it went live).

    A deploy goes live when first published (``published_at``) and again at every succeeded promotion or
    rollback to it; a period ends when the next deploy goes live. Each period names the version's branch.
    """
    first = session.execute(select(Deploy.netlify_id, Deploy.published_at)
                            .where(Deploy.published_at.is_not(None))).all()
    again = session.execute(select(Event.target, func.coalesce(Event.finished_at, Event.started_at))
                            .join(Deploy, Deploy.netlify_id == Event.target)
                            .where(Event.kind.in_(("promote", "rollback")), Event.status == "succeeded")).all()
    starts = sorted(((when, deploy_id) for deploy_id, when in [*first, *again] if when is not None),
                    key=lambda item: (_utc(item[0]), item[1]))
    # One period per change of live deploy: a promotion logged seconds after the publish it caused is no new one.
    changes: list[tuple[datetime, str]] = []
    for when, deploy_id in starts:
        if not changes or changes[-1][1] != deploy_id:
            changes.append((when, deploy_id))
    versions = dict(session.execute(select(Deploy.netlify_id, Version.sha)
                                    .join(Version, Version.id == Deploy.version_id)
                                    .where(Deploy.netlify_id.in_({d for _, d in changes}))).all()) if changes else {}
    branches = dict(session.execute(select(Version.sha, Version.branch)
                                    .where(Version.sha.in_(set(versions.values())))).all()) if versions else {}
    periods = []
    for i, (start, deploy_id) in enumerate(changes):
        sha = versions.get(deploy_id)
        end = changes[i + 1][0] if i + 1 < len(changes) else None
        periods.append({"deploy_id": deploy_id, "sha": sha, "short": short(sha), "branch": branches.get(sha),
                        "start": start, "end": end})
    return periods


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
