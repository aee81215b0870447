"""Candidates (ready, not expired, not live deploys) newest first or ranked by a headline score.

Raw queries; the product's *best candidate* also asks the gate (:mod:`vibedash.registry.overview_queries`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from vibedash.registry.deploys import live_deploy
from vibedash.registry.models import BenchmarkResult, Deploy, Version
from vibedash.registry.results import benchmarks_in_registry


def candidates(session: Session, *, limit: int = 20) -> list[tuple[Version, Deploy]]:
    """Versions with a ready, not expired deploy that is not live: newest first (one deploy each)."""
    rows = session.execute(
        select(Version, Deploy).join(Deploy, Deploy.version_id == Version.id)
        .where(Deploy.state == "ready", Deploy.expired_at.is_(None), Deploy.is_live.is_(False))
        .order_by(Deploy.created_at.desc()).limit(limit * 4)).all()
    seen: set[int] = set()
    out = []
    live = live_deploy(session)
    for version, deploy in rows:
        if version.id in seen or (live is not None and live.version_id == version.id):
            continue
        seen.add(version.id)
        out.append((version, deploy))
        if len(out) >= limit:
            break
    return out


def best_candidate(session: Session, benchmark: str | None = None) -> tuple[Version, Deploy] | None:
    """The candidate (ready, not expired, not live) with the highest headline score on ``benchmark``
    (default: the first headline benchmark the registry has); the newest candidate when none has that score.
    Among versions tied on the top score, the one with the newest candidate deploy.

    A raw query (a deploy to act on in scripts and tests). The product's *best candidate*, the one Overview,
    Promote and ``gate --commit best`` show, also asks the gate: :func:`vibedash.registry.queries.best_candidate`.

    Output-sensitive: the top of :func:`ranked_candidates` (headline scores walked from the top), so the work
    does not grow with the registry, whatever plan the statistics would suggest.
    """
    benchmark = benchmark or next(iter(benchmarks_in_registry(session)), None)
    if benchmark is not None:
        found = _best_scored_candidate(session, benchmark, _candidate_conditions(session))
        if found is not None:
            return found
    newest = candidates(session, limit=1)
    return newest[0] if newest else None


BEST_CANDIDATE_FIRST_BATCH = 16


def _candidate_conditions(session: Session) -> list:
    live = live_deploy(session)
    conditions = [Deploy.state == "ready", Deploy.expired_at.is_(None), Deploy.is_live.is_(False)]
    if live is not None and live.version_id is not None:
        conditions.append(Deploy.version_id != live.version_id)
    return conditions


def _walk_ranked(session: Session, benchmark: str, conditions: list, limit: int) -> list[tuple[int, int]]:
    """(version id, deploy id) of the ``limit`` best candidates on ``benchmark``: highest headline score
    first, newest candidate deploy first on a tie; each version once, with its newest candidate deploy.

    Walks the benchmark's headline scores from the top (ix_benchmark_result_ranking) in growing batches and
    stops once ``limit`` versions are found and nothing further down can tie with the last of them: the work
    follows the number of scores above the answer, not the size of the registry.
    """
    ranked = (select(BenchmarkResult.id, BenchmarkResult.version_id, BenchmarkResult.score)
              .where(BenchmarkResult.benchmark == benchmark, BenchmarkResult.is_primary.is_(True))
              .order_by(BenchmarkResult.score.desc(), BenchmarkResult.id.desc()))
    found: dict[int, tuple[float, datetime, int]] = {}  # version id -> (score, newest deploy time, deploy id)
    after: tuple[float, int] | None = None
    size = max(BEST_CANDIDATE_FIRST_BATCH, limit)
    while True:
        query = ranked if after is None else ranked.where(
            or_(BenchmarkResult.score < after[0], and_(BenchmarkResult.score == after[0],
                                                       BenchmarkResult.id < after[1])))
        batch = session.execute(query.limit(size)).all()
        if not batch:
            break
        if len(found) >= limit:
            cut = sorted(found.values(), key=lambda f: (f[0], f[1]), reverse=True)[limit - 1][0]
            if batch[0][2] < cut:
                break  # every version that could rank among the first ``limit`` has been seen
        score_of = {version_id: score for _, version_id, score in batch}
        for deploy_id, version_id, created_at in session.execute(
                select(Deploy.id, Deploy.version_id, Deploy.created_at)
                .where(Deploy.version_id.in_(list(score_of)), *conditions)):
            entry = (score_of[version_id], created_at, deploy_id)
            if version_id not in found or entry[1] > found[version_id][1]:
                found[version_id] = entry
        if len(batch) < size:
            break
        after = (batch[-1][2], batch[-1][0])
        size = min(size * 4, 1024)  # few candidates near the top: look further, faster
    best = sorted(found.items(), key=lambda item: (item[1][0], item[1][1]), reverse=True)[:limit]
    return [(version_id, deploy_id) for version_id, (_, _, deploy_id) in best]


def _best_scored_candidate(session: Session, benchmark: str, conditions: list) -> tuple[Version, Deploy] | None:
    top = _walk_ranked(session, benchmark, conditions, 1)
    if not top:
        return None
    version_id, deploy_id = top[0]
    return session.get(Version, version_id), session.get(Deploy, deploy_id)


def ranked_candidates(session: Session, benchmark: str | None, *, limit: int = 20) -> list[tuple[Version, Deploy]]:
    """Candidates (ready, not expired, not live; one deploy each) with a headline result on ``benchmark``,
    highest score first (newest first on a tie); then, when fewer than ``limit``, candidates with results on
    other benchmarks, newest first. Never a version without results. Index walks with a LIMIT (see
    :func:`_walk_ranked`), whatever the size of the registry."""
    conditions = _candidate_conditions(session)
    out: list[tuple[Version, Deploy]] = []
    seen: set[int] = set()
    if benchmark is not None:
        for version_id, deploy_id in _walk_ranked(session, benchmark, conditions, limit):
            seen.add(version_id)
            out.append((session.get(Version, version_id), session.get(Deploy, deploy_id)))
    if len(out) < limit:
        has_results = exists().where(BenchmarkResult.version_id == Version.id, BenchmarkResult.is_primary.is_(True))
        rows = session.execute(
            select(Version, Deploy).join(Deploy, Deploy.version_id == Version.id).where(*conditions, has_results)
            .order_by(Deploy.created_at.desc()).limit(limit * 4)).all()
        for version, deploy in rows:
            if version.id not in seen and len(out) < limit:
                seen.add(version.id)
                out.append((version, deploy))
    return out[:limit]
