"""Benchmark results: import parsed results for a version, and read its headline scores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.importers.base import ParsedResult
from vibedash.registry.generation import cached
from vibedash.registry.models import BenchmarkResult, ProblemResult, Version, utcnow
from vibedash.registry.skip_scan import distinct_values
from vibedash.registry.versions import (
    RegistryError,
    attach_persistent,
    new_versions_in_transaction,
)

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


# The write path of an import, built once (a statement object keeps its cache key). An import writes with
# Core on the session's connection: one read of the results it replaces, a DELETE and an UPDATE only when
# there are any, one multi-row INSERT ... RETURNING for the results and one executemany for all their problems.
# The ORM's unit of work (objects tracked, flush ordering, a delete cascade loading children) costs more than
# the database work on ingestion's path.
_RESULT = BenchmarkResult.__table__
_PROBLEM = ProblemResult.__table__
_EARLIER_RESULTS = select(_RESULT.c.id, _RESULT.c.benchmark, _RESULT.c.metric, _RESULT.c.is_primary).where(
    _RESULT.c.version_id == bindparam("version_id"), _RESULT.c.benchmark.in_(bindparam("benchmarks", expanding=True)))
_DEMOTE = update(_RESULT).where(_RESULT.c.id.in_(bindparam("ids", expanding=True))).values(is_primary=False)
# A replaced result's problem results, samples and summaries go with it by ON DELETE CASCADE (every registry
# connection enforces foreign keys), and eval runs' links to it by ON DELETE SET NULL.
_DELETE_RESULTS = delete(_RESULT).where(_RESULT.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_RESULTS = insert(_RESULT).returning(_RESULT.c.id, _RESULT.c.benchmark, _RESULT.c.metric)
_INSERT_RESULT = insert(_RESULT)
_INSERT_PROBLEMS = insert(_PROBLEM)


def import_results(session: Session, version: Version, results: Sequence[ParsedResult], *,
                   source_file: str | None = None, source_sha256: str | None = None,
                   keep_outputs: bool = False) -> list[BenchmarkResult]:
    """Store parsed results for a version, replacing earlier results of the same benchmark and metric.

    The newest import becomes the headline (primary) score of each benchmark it touches. Per-sample results
    go in through the bulk path; their full outputs only with ``keep_outputs``. Returns the stored results as
    persistent objects of ``session`` (ids known), in the order given.
    """
    keys: set[tuple[str, str]] = set()
    for result in results:
        if not 0.0 <= result.score <= 100.0:
            raise RegistryError(f"{result.benchmark} {result.metric} score {result.score} is outside 0-100")
        if (result.benchmark, result.metric) in keys:
            raise RegistryError(f"{result.benchmark} {result.metric} appears twice in one import: keep one "
                                "score per benchmark and metric")
        keys.add((result.benchmark, result.metric))
    if not results:
        return []
    primaries = _primary_choice(results)
    session.flush()  # anything pending in the session is written before the Core statements below read
    conn = session.connection()
    # A version recorded in this transaction with nothing imported yet has no results to read; once this
    # import is in, the next one reads them.
    new = new_versions_in_transaction(session)
    if version.sha in new:
        new.discard(version.sha)
    else:
        _replace_earlier(session, conn, version.id, primaries, keys)
    imported_at = utcnow()
    rows = [{"version_id": version.id, "benchmark": r.benchmark, "metric": r.metric, "score": r.score,
             "stderr": r.stderr, "problems": r.problems or (len(r.problem_outcomes) or None),
             "samples_per_problem": r.samples_per_problem, "temperature": r.temperature, "top_p": r.top_p,
             "k": r.k, "max_tokens": r.max_tokens, "settings": dict(r.settings) or None,
             "is_primary": primaries[r.benchmark] is r, "source_format": r.source_format,
             "source_file": source_file, "source_sha256": source_sha256, "imported_at": imported_at}
            for r in results]
    ids = _insert_results(conn, rows)
    problems = [{"result_id": result_id, "problem_id": o.problem_id, "correct": o.correct, "samples": o.samples}
                for result_id, r in zip(ids, results) for o in r.problem_outcomes]
    if problems:
        conn.execute(_INSERT_PROBLEMS, problems)
    if "results" in version.__dict__:
        session.expire(version, ["results"])  # a loaded collection would miss the rows written with Core
    stored = [attach_persistent(session, BenchmarkResult, {"id": result_id, **row})
              for result_id, row in zip(ids, rows)]
    for row, result in zip(stored, results):
        if result.samples:
            from vibedash.registry.samples import insert_samples

            insert_samples(session, result.samples, result_id=row.id, keep_outputs=keep_outputs)
    return stored


def _replace_earlier(session: Session, conn: Connection, version_id: int, primaries: dict[str, ParsedResult],
                     keys: set[tuple[str, str]]) -> None:
    """Demote the version's headlines on the benchmarks touched and delete the results being replaced (same
    benchmark and metric); objects of those rows the session holds are brought in line."""
    demote, replace = [], []
    for result_id, benchmark, metric, is_primary in conn.execute(
            _EARLIER_RESULTS, {"version_id": version_id, "benchmarks": sorted(primaries)}):
        if (benchmark, metric) in keys:
            replace.append(result_id)
        elif is_primary:
            demote.append(result_id)
    if demote:
        conn.execute(_DEMOTE, {"ids": demote})
    if replace:
        conn.execute(_DELETE_RESULTS, {"ids": replace})
    if (demote or replace) and session.identity_map:
        _forget(session, set(demote), set(replace))


def _forget(session: Session, demoted: set[int], deleted: set[int]) -> None:
    """Held objects of the rows just demoted or deleted read as such (a deleted one as demoted, then gone).
    Ids come from identity keys and loaded state, so no object is refreshed from the database here."""
    for (model, ident, _token), instance in list(session.identity_map.items()):
        if model is BenchmarkResult and (ident[0] in demoted or ident[0] in deleted):
            set_committed_value(instance, "is_primary", False)
            if ident[0] in deleted and instance in session:
                session.expunge(instance)  # its loaded problem results go with it (the expunge cascade)
        elif model is ProblemResult and instance.__dict__.get("result_id") in deleted and instance in session:
            session.expunge(instance)


def _insert_results(conn: Connection, rows: list[dict]) -> list[int]:
    """Ids of the inserted rows, in ``rows`` order. RETURNING rows are matched by (benchmark, metric), unique
    within a version, so the database may return them in any order and still batch them in one statement."""
    if len(rows) > 1 and conn.dialect.insert_executemany_returning:
        by_key = {(benchmark, metric): result_id
                  for result_id, benchmark, metric in conn.execute(_INSERT_RESULTS, rows)}
        return [by_key[(row["benchmark"], row["metric"])] for row in rows]
    return [conn.execute(_INSERT_RESULT, row).inserted_primary_key[0] for row in rows]


def benchmarks_in_registry(session: Session) -> list[str]:
    """Benchmarks with at least one headline score, headline benchmarks first."""
    from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS

    present = set(cached(session, "benchmarks_in_registry", None, lambda: distinct_values(
        session, "benchmark_result", "benchmark", headline_only=True), reads_audit_log=False))
    ordered = [b for b in HEADLINE_BENCHMARKS if b in present]
    return ordered + sorted(present - set(ordered))


def version_facts(session: Session, version: Version, *, with_problems: bool = True) -> VersionFacts:
    return versions_facts(session, [version], with_problems=with_problems)[0]


def versions_facts(session: Session, versions: Sequence[Version], *,
                   with_problems: bool = True) -> list[VersionFacts]:
    """Each version's headline results as the gate reads them, in ``versions`` order: one read of the results,
    one of their problems and one of their sample totals for all of them (not a few per version)."""
    by_version: dict[int, list[BenchmarkResult]] = {v.id: [] for v in versions}
    ids = list(by_version)
    rows: list[BenchmarkResult] = []
    for start in range(0, len(ids), 500):
        query = select(BenchmarkResult).where(BenchmarkResult.version_id.in_(ids[start:start + 500]),
                                              BenchmarkResult.is_primary.is_(True)).order_by(BenchmarkResult.id)
        if with_problems:
            query = query.options(selectinload(BenchmarkResult.problem_results))
        rows += session.scalars(query)
    from vibedash.registry.samples import result_costs

    costs = result_costs(session, rows)
    for r in rows:
        by_version[r.version_id].append(r)
    out = []
    for version in versions:
        scores = {}
        for r in by_version[version.id]:
            per_problem = ({p.problem_id: (p.correct, p.samples) for p in r.problem_results} if with_problems
                           else {})
            scores[r.benchmark] = ScoreFact(benchmark=r.benchmark, score=r.score, metric=r.metric,
                                            problems=r.problems, samples_per_problem=r.samples_per_problem,
                                            temperature=r.temperature, per_problem=per_problem, stderr=r.stderr,
                                            cost=costs.get(r.id, {}))
        out.append(VersionFacts(sha=version.sha, scores=scores, branch=version.branch, created_at=version.created_at))
    return out


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
