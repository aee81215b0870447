"""The import write path (Core statements, no ORM unit of work) stores exactly what the ORM path it replaced did.

``_orm_record_version`` and ``_orm_import_results`` below are the ORM implementations as they were before the
write path went to Core, kept here as the reference. Each scenario (an import that creates its version, a
re-import that overwrites and demotes, a mixed batch of several files in one transaction) runs once through
the real path and once through the reference on twin registries; every row of every table an import touches
(compared by natural keys: ids are surrogates), the audit events and the generation counters must agree.
Both on SQLite and on the real PostgreSQL helper.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session
from test_postgres import postgres_server  # noqa: F401  (the real PostgreSQL fixture)

from vibedash.cli import main
from vibedash.importers.base import ParsedResult, ProblemOutcome, SampleOutcome
from vibedash.registry import records as registry
from vibedash.registry.audit import record_event_in
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.models import BenchmarkResult, ProblemResult, Version, utcnow
from vibedash.registry.results import _primary_choice
from vibedash.registry.versions import (
    RegistryError,
    new_versions_in_transaction,
    normalize_sha,
)

A, B, C = "a1" * 20, "b2" * 20, "c3" * 20

# --- the reference: the ORM write path as it was -------------------------------------------------------------


def _orm_record_version(session: Session, sha: str, *, branch: str | None = None, message: str | None = None,
                        model_ref: str | None = None, created_at=None, synthetic: bool = False) -> Version:
    sha = normalize_sha(sha)
    version = session.scalar(select(Version).where(Version.sha == sha))
    if version is None:
        if len(sha) < 40:
            known = session.scalars(select(Version).where(Version.sha.like(sha + "%")).limit(2)).all()
            if len(known) == 1:
                version = known[0]
    if version is None:
        version = Version(sha=sha, created_at=created_at or utcnow(), synthetic=synthetic)
        session.add(version)
        new_versions_in_transaction(session).add(sha)
    for name, value in (("branch", branch), ("message", message), ("model_ref", model_ref)):
        if value is not None:
            setattr(version, name, value)
    session.flush()
    return version


def _orm_import_results(session: Session, version: Version, results, *, source_file=None, source_sha256=None,
                        keep_outputs: bool = False) -> list[BenchmarkResult]:
    for result in results:
        if not 0.0 <= result.score <= 100.0:
            raise RegistryError(f"{result.benchmark} {result.metric} score {result.score} is outside 0-100")
    primaries = _primary_choice(results)
    touched = set(primaries)
    earlier: dict[tuple[str, str], BenchmarkResult] = {}
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


LEAN = (registry.record_version, registry.import_results)
REFERENCE = (_orm_record_version, _orm_import_results)

# --- the batches ---------------------------------------------------------------------------------------------


def _samples(problems: int, k: int, seed: int) -> tuple[SampleOutcome, ...]:
    return tuple(SampleOutcome(problem_id=f"p{p}", sample_index=i, correct=(p + i + seed) % 3 == 0,
                               answer=str((p * i + seed) % 4) if (i + seed) % 5 else None,
                               output_tokens=100 + i, thinking_tokens=80 + i, latency_s=0.5 + i / 10,
                               finish_reason="length" if i == k - 1 else "stop", output=f"out {p} {i}")
                 for p in range(problems) for i in range(k))


def _outcomes(n: int, seed: int) -> tuple[ProblemOutcome, ...]:
    return tuple(ProblemOutcome(problem_id=f"p{p}", correct=(p + seed) % 5, samples=8) for p in range(n))


MIXED = [  # several benchmarks, several metrics of one, the importer's headline flag, problems, samples
    ParsedResult(benchmark="aime25", metric="pass@1", score=61.25, stderr=1.5, problems=3, samples_per_problem=4,
                 temperature=0.6, top_p=0.95, k=1, max_tokens=32768, settings={"seed": 7, "note": "mixed"},
                 source_format="t", problem_outcomes=_outcomes(3, 1), samples=_samples(3, 4, 1)),
    ParsedResult(benchmark="aime25", metric="pass@64", score=90.0, is_primary=False, source_format="t"),
    ParsedResult(benchmark="aime25", metric="cons@64", score=80.0, is_primary=False, source_format="t"),
    ParsedResult(benchmark="hmmt25", metric="avg@n", score=40.0, source_format="t", problem_outcomes=_outcomes(4, 2)),
    ParsedResult(benchmark="hmmt25", metric="pass@1", score=41.0, source_format="t"),
    ParsedResult(benchmark="lcb_v6", score=50.0, source_format="t"),
    ParsedResult(benchmark="gpqa_diamond", metric="acc", score=45.5, source_format="t"),
]
OVERWRITE = [  # replaces a result with samples, adds a metric, moves a headline, adds a benchmark
    ParsedResult(benchmark="aime25", metric="pass@1", score=65.0, source_format="t2",
                 problem_outcomes=_outcomes(3, 3), samples=_samples(3, 2, 5)),
    ParsedResult(benchmark="aime25", metric="maj@8", score=70.0, is_primary=False, source_format="t2"),
    ParsedResult(benchmark="hmmt25", metric="avg@n", score=43.0, source_format="t2"),
    ParsedResult(benchmark="math500", score=88.0, source_format="t2", problem_outcomes=_outcomes(2, 4)),
]


def _ingest(session: Session, paths, sha: str, files, *, create: bool = True):
    """What ``vibedash import`` does in its one transaction, through the given write path."""
    record, import_ = paths
    version = record(session, sha) if create else registry.find_version(session, sha)
    stored = []
    for i, results in enumerate(files):
        stored += import_(session, version, results, source_file=f"file{i}.json", source_sha256=f"{i:064d}",
                          keep_outputs=True)
    summary = [(r.benchmark, r.metric, r.score, r.is_primary) for r in stored]
    record_event_in(session, kind="import", actor="tester", target=version.sha, version_sha=version.sha,
                    detail={"files": [f"file{i}.json" for i in range(len(files))], "results": len(summary)})
    return summary


# --- what is stored, by natural keys --------------------------------------------------------------------------

TIMES = {"created_at", "imported_at", "started_at", "finished_at", "updated_at"}


def _rows(conn, sql: str) -> list[tuple]:
    result = conn.execute(text(sql))
    keys = list(result.keys())
    return sorted((tuple((k, v is not None) if k in TIMES else (k, v) for k, v in zip(keys, row))
                   for row in result), key=repr)


def snapshot(engine) -> dict[str, object]:
    result_key = ("(SELECT v.sha || '/' || r.benchmark || '/' || r.metric FROM benchmark_result r "
                  "JOIN version v ON v.id = r.version_id WHERE r.id = {t}.result_id) AS result_key")
    with engine.connect() as conn:
        return {
            "version": _rows(conn, "SELECT sha, branch, message, model_ref, synthetic, created_at FROM version"),
            "benchmark_result": _rows(conn, "SELECT v.sha, r.benchmark, r.metric, r.score, r.stderr, r.problems, "
                                            "r.samples_per_problem, r.temperature, r.top_p, r.k, r.max_tokens, "
                                            "r.settings, r.is_primary, r.source_format, r.source_file, "
                                            "r.source_sha256, r.imported_at FROM benchmark_result r "
                                            "JOIN version v ON v.id = r.version_id"),
            "problem_result": _rows(conn, "SELECT problem_id, samples, correct, "
                                          + result_key.format(t="problem_result") + " FROM problem_result"),
            "sample_result": _rows(conn, "SELECT problem_id, sample_index, answer, correct, output_tokens, "
                                         "thinking_tokens, latency_s, finish_reason, output_z, run_id, "
                                         + result_key.format(t="sample_result") + " FROM sample_result"),
            "sample_summary": _rows(conn, "SELECT problem_id, samples, graded, correct, answered, output_tokens, "
                                          "token_samples, thinking_tokens, thinking_samples, latency_s, "
                                          "latency_samples, cut_by_cap, "
                                          + result_key.format(t="sample_summary") + " FROM sample_summary"),
            "sample_answer_count": _rows(conn, "SELECT problem_id, answer, votes, correct_votes, "
                                               + result_key.format(t="sample_answer_count")
                                               + " FROM sample_answer_count"),
            # the audit log in order: ids are comparable, nothing is ever deleted from it
            "event": [tuple(row) for row in conn.execute(text(
                "SELECT id, kind, target, version_sha, actor, reason, status, override, detail, intent, claim, "
                "finished_at IS NOT NULL FROM event ORDER BY id"))],
        }


def _counters(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text("SELECT generation, state_generation FROM registry_state")).one())


def run_scenarios(engine, paths) -> tuple[dict, list]:
    """Each step in its own transaction; returns what is stored and, per step, what it returned and how
    far it moved the generation counters."""
    steps = [
        ("create: import --create of a mixed batch", lambda s: _ingest(s, paths, A, [MIXED])),
        ("re-import with overwrite", lambda s: _ingest(s, paths, A, [OVERWRITE], create=False)),
        ("two files in one transaction into a new version", lambda s: _ingest(s, paths, B, [MIXED, OVERWRITE])),
        ("a third version, headline file only", lambda s: _ingest(s, paths, C, [MIXED[:1]])),
        ("record again with new fields", lambda s: paths[0](s, A, branch="exp/x", message="again").sha),
        ("record again, nothing new", lambda s: paths[0](s, A[:10]).sha),
        ("an empty import", lambda s: paths[1](s, registry.find_version(s, B), [])),
    ]
    log = []
    for name, step in steps:
        before = _counters(engine)
        with unit_of_work(engine) as session:
            returned = step(session)
        after = _counters(engine)
        log.append((name, returned, (after[0] - before[0], after[1] - before[1])))
    return snapshot(engine), log


def assert_same_as_reference(lean_engine, reference_engine) -> None:
    lean, lean_log = run_scenarios(lean_engine, LEAN)
    reference, reference_log = run_scenarios(reference_engine, REFERENCE)
    assert lean_log == reference_log
    for table in reference:
        assert lean[table] == reference[table], table
    # the scenarios did exercise what they claim to: samples replaced with their result (12 -> 6 for A and B,
    # 12 for C), one headline per benchmark of each version, one bump of each counter per writing transaction
    assert len(reference["sample_result"]) == 6 + 6 + 12 and reference["sample_answer_count"]
    assert [step[2] for step in reference_log] == [(1, 1)] * 5 + [(0, 0)] * 2
    rows = [dict(row) for row in reference["benchmark_result"]]
    headlines = [(row["sha"], row["benchmark"]) for row in rows if row["is_primary"]]
    assert len(headlines) == len(set(headlines)) == 5 + 5 + 1


# --- SQLite ---------------------------------------------------------------------------------------------------

def test_lean_write_path_stores_what_the_orm_path_did_on_sqlite(tmp_path: Path) -> None:
    lean, reference = (open_registry(f"sqlite:///{tmp_path / name}") for name in ("lean.db", "reference.db"))
    try:
        assert_same_as_reference(lean, reference)
    finally:
        lean.dispose()
        reference.dispose()


def test_the_cli_import_goes_through_the_same_path(tmp_path: Path, capsys) -> None:
    """`vibedash import --create` on real result files stores what the reference stores for the same files."""
    from vibedash.importers import load_results
    from vibedash.registry.results import file_sha256

    files = [Path(__file__).resolve().parent / "fixtures" / "results" / "vibethinker" / v / "aime25.json"
             for v in ("v1", "v2")]
    cli_url, reference_url = (f"sqlite:///{tmp_path / name}" for name in ("cli.db", "reference.db"))
    open_registry(cli_url).dispose()
    assert main(["--db", cli_url, "import", "--commit", A, "--create", str(files[0])]) == 0
    assert main(["--db", cli_url, "import", "--commit", A, str(files[1])]) == 0  # overwrites
    capsys.readouterr()
    reference = open_registry(reference_url)
    for i, path in enumerate(files):
        with unit_of_work(reference) as session:
            version = (_orm_record_version(session, A) if i == 0 else registry.find_version(session, A))
            stored = _orm_import_results(session, version, load_results(path), source_file=path.name,
                                         source_sha256=file_sha256(path))
            record_event_in(session, kind="import", actor="tester", target=A, version_sha=A,
                            detail={"files": [path.name], "results": len(stored)})
    cli = create_engine(cli_url)
    try:
        assert snapshot(cli) == snapshot(reference)
    finally:
        cli.dispose()
        reference.dispose()


def test_objects_the_session_holds_stay_true_after_an_overwrite(engine) -> None:
    with unit_of_work(engine) as session:
        _ingest(session, LEAN, A, [MIXED])
    with unit_of_work(engine) as session:
        version = registry.find_version(session, A)
        held = {(r.benchmark, r.metric): r for r in version.results}  # loaded: in the identity map
        problems = list(held[("aime25", "pass@1")].problem_results)
        stored = registry.import_results(session, version, OVERWRITE)
        # replaced rows and their problems left the session; the demoted headline reads as demoted
        assert all(p not in session for p in problems) and held[("aime25", "pass@1")] not in session
        assert held[("hmmt25", "pass@1")].is_primary is False and held[("lcb_v6", "pass@1")].is_primary is True
        # the version's collection is read again, and the stored objects are persistent with their ids
        assert {(r.benchmark, r.metric, r.is_primary) for r in version.results} >= {
            ("aime25", "pass@1", True), ("hmmt25", "avg@n", True), ("math500", "pass@1", True)}
        assert all(r in session and r.id and r.version is version for r in stored)
        assert sorted(p.problem_id for p in stored[0].problem_results) == ["p0", "p1", "p2"]
        stored[1].is_primary = True  # an ORM change to a returned object is written like any other
    with unit_of_work(engine) as session:
        assert session.scalar(select(BenchmarkResult.is_primary).where(BenchmarkResult.metric == "maj@8")) is True


def test_one_import_naming_a_benchmark_and_metric_twice_is_refused_whole(engine) -> None:
    with pytest.raises(RegistryError, match="aime25 pass@1 appears twice"), unit_of_work(engine) as session:
        version = registry.record_version(session, A)
        registry.import_results(session, version, [ParsedResult(benchmark="aime25", score=1.0),
                                                   ParsedResult(benchmark="aime25", score=2.0)])
    with unit_of_work(engine) as session:
        assert session.scalar(select(Version.id)) is None  # the transaction wrote nothing


# --- PostgreSQL -------------------------------------------------------------------------------------------------

def _fresh_database(server: str) -> str:
    name = f"ingest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"{server}/{name}"


def test_lean_write_path_stores_what_the_orm_path_did_on_postgres(postgres_server: str) -> None:  # noqa: F811
    lean, reference = (open_registry(_fresh_database(postgres_server)) for _ in range(2))
    try:
        assert_same_as_reference(lean, reference)
    finally:
        lean.dispose()
        reference.dispose()
