"""Benchmark results: import parsed results for a version, and read its headline scores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.importers.base import ParsedResult
from vibedash.registry.generation import cached
from vibedash.registry.models import BenchmarkResult, ProblemResult, Version
from vibedash.registry.skip_scan import distinct_values
from vibedash.registry.versions import RegistryError, new_versions_in_transaction

PRIMARY_METRIC_PREFERENCE = ("pass@1", "avg@n", "exact_match", "acc", "em")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _primary_choice(results: Sequence[ParsedResult]) -> dict[str, ParsedResult]:
    chosen: dict[str, ParsedResult] = {}
    for result in results:
        current = chosen.get(result.benchmark)
        # The importer knows which metric of a file is the headline; the metric order only breaks ties.
        if current is None or (result.is_primary, -_metric_rank(result.metric)) > (
                current.is_primary, -_metric_rank(current.metric)):
            chosen[result.benchmark] = result
    return chosen


def _metric_rank(metric: str) -> int:
    base = metric.split(":")[0].split(",")[0]
    return PRIMARY_METRIC_PREFERENCE.index(base) if base in PRIMARY_METRIC_PREFERENCE else len(
        PRIMARY_METRIC_PREFERENCE)


def import_results(session: Session, version: Version, results: Sequence[ParsedResult], *,
                   source_file: str | None = None, source_sha256: str | None = None,
                   keep_outputs: bool = False) -> list[BenchmarkResult]:
    """Store parsed results for a version, replacing earlier results of the same benchmark and metric.

    The newest import becomes the headline (primary) score of each benchmark it touches. Per-sample results
    go in through the bulk path; their full outputs only with ``keep_outputs``.
    """
    for result in results:
        if not 0.0 <= result.score <= 100.0:
            raise RegistryError(f"{result.benchmark} {result.metric} score {result.score} is outside 0-100")
    primaries = _primary_choice(results)
    touched = set(primaries)
    # One read of the version's results on the benchmarks touched: the headlines to demote and the results of
    # the same benchmark and metric to replace (a result's benchmark is always among ``touched``).
    earlier: dict[tuple[str, str], BenchmarkResult] = {}
    # A version recorded in this transaction with nothing imported yet has no results to read; once this
    # import is in, the next one reads them.
    new = new_versions_in_transaction(session)
    if touched and version.sha in new:
        new.discard(version.sha)
    elif touched:
        for old in session.scalars(select(BenchmarkResult).where(
                BenchmarkResult.version_id == version.id, BenchmarkResult.benchmark.in_(touched))):
            old.is_primary = False
            earlier[(old.benchmark, old.metric)] = old
    stored: list[BenchmarkResult] = []
    for result in results:
        existing = earlier.pop((result.benchmark, result.metric), None)
        if existing is not None:
            session.delete(existing)
            session.flush()
        row = BenchmarkResult(
            version_id=version.id, benchmark=result.benchmark, metric=result.metric, score=result.score,
            stderr=result.stderr, problems=result.problems or (len(result.problem_outcomes) or None),
            samples_per_problem=result.samples_per_problem, temperature=result.temperature, top_p=result.top_p,
            k=result.k, max_tokens=result.max_tokens, settings=dict(result.settings) or None,
            is_primary=primaries[result.benchmark] is result, source_format=result.source_format,
            source_file=source_file, source_sha256=source_sha256)
        row.problem_results = [ProblemResult(problem_id=o.problem_id, correct=o.correct, samples=o.samples)
                               for o in result.problem_outcomes]
        session.add(row)
        stored.append(row)
        if result.samples:
            from vibedash.registry.samples import insert_samples

            session.flush()
            insert_samples(session, result.samples, result_id=row.id, keep_outputs=keep_outputs)
    session.flush()
    return stored


def benchmarks_in_registry(session: Session) -> list[str]:
    """Benchmarks with at least one headline score, headline benchmarks first."""
    from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS

    present = set(cached(session, "benchmarks_in_registry", None, lambda: distinct_values(
        session, "benchmark_result", "benchmark", headline_only=True), reads_audit_log=False))
    ordered = [b for b in HEADLINE_BENCHMARKS if b in present]
    return ordered + sorted(present - set(ordered))


def version_facts(session: Session, version: Version, *, with_problems: bool = True) -> VersionFacts:
    query = select(BenchmarkResult).where(BenchmarkResult.version_id == version.id,
                                          BenchmarkResult.is_primary.is_(True))
    if with_problems:
        query = query.options(selectinload(BenchmarkResult.problem_results))
    from vibedash.registry.samples import result_costs

    rows = list(session.scalars(query))
    costs = result_costs(session, rows)
    scores = {}
    for r in rows:
        per_problem = ({p.problem_id: (p.correct, p.samples) for p in r.problem_results} if with_problems else {})
        scores[r.benchmark] = ScoreFact(benchmark=r.benchmark, score=r.score, metric=r.metric,
                                        problems=r.problems, samples_per_problem=r.samples_per_problem,
                                        temperature=r.temperature, per_problem=per_problem, stderr=r.stderr,
                                        cost=costs.get(r.id, {}))
    return VersionFacts(sha=version.sha, scores=scores, branch=version.branch, created_at=version.created_at)


def primary_scores(session: Session, version_ids: Iterable[int]) -> dict[int, dict[str, float]]:
    ids = list(version_ids)
    out: dict[int, dict[str, float]] = {i: {} for i in ids}
    if len(ids) > 5000:
        # Most of the registry: one pass over the headline scores beats thousands of IN lists.
        rows = session.execute(select(BenchmarkResult.version_id, BenchmarkResult.benchmark, BenchmarkResult.score)
                               .where(BenchmarkResult.is_primary.is_(True)))
        for version_id, benchmark, score in rows:
            if version_id in out:
                out[version_id][benchmark] = score
        return out
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start:chunk_start + 500]
        rows = session.execute(select(BenchmarkResult.version_id, BenchmarkResult.benchmark, BenchmarkResult.score)
                               .where(BenchmarkResult.version_id.in_(chunk), BenchmarkResult.is_primary.is_(True)))
        for version_id, benchmark, score in rows:
            out[version_id][benchmark] = score
    return out
