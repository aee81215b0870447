"""The per-problem sample summaries and answer histograms pages read instead of samples: written in the same
transaction as the samples by every write path (importers, the eval runner, a resumed run, incremental
inserts), gone with their result, filled by the migration for samples stored before it; and the curves read
from them equal the curves computed from the raw samples."""

from __future__ import annotations

import random

import pytest
from alembic import command
from conftest import FIXTURES
from sample_summaries_check import assert_summaries_match
from sqlalchemy import func, select, text

from vibedash.cli.main import main
from vibedash.decisions.kcurves import curves_for
from vibedash.eval import reports
from vibedash.importers.base import ParsedResult, SampleOutcome
from vibedash.registry import eval_runs, records
from vibedash.registry.db import alembic_config, open_registry, unit_of_work
from vibedash.registry.models import (
    BenchmarkResult,
    SampleAnswerCount,
    SampleSummary,
)
from vibedash.registry.samples import (
    answer_histograms,
    insert_samples,
    sample_answers,
    sample_totals,
)
from vibedash.solve.answers import vote_key

SAMPLES = FIXTURES / "samples"
FILES = {"lm_eval": SAMPLES / "samples_aime25_2026-11-20T10-31-07.123456.jsonl",
         "lighteval": SAMPLES / "details_lighteval|aime25|0_2026-11-20T10-31-07.parquet",
         "inspect": SAMPLES / "2026-11-20T10-31-07+00-00_aime25_Yx9kq2mTz4.eval"}


def sample(problem: str, index: int, answer: str | None, correct: bool | None, tokens: int | None = 10,
           finish: str = "stop") -> SampleOutcome:
    return SampleOutcome(problem_id=problem, sample_index=index, correct=correct, answer=answer,
                         output_tokens=tokens, thinking_tokens=None if tokens is None else tokens // 2,
                         latency_s=0.25 * index, finish_reason=finish)


def summary_count(engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(func.count()).select_from(SampleSummary))


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_importer_writes_summaries_with_its_samples(engine, capsys, name) -> None:
    assert main(["--db", str(engine.url), "import", "--commit", "abcdef1", "--create", str(FILES[name])]) == 0
    assert assert_summaries_match(engine) == 3  # three problems
    # importing again replaces the result: the old summaries go with it
    assert main(["--db", str(engine.url), "import", "--commit", "abcdef1", str(FILES[name])]) == 0
    assert assert_summaries_match(engine) == 3
    capsys.readouterr()


def test_incremental_inserts_merge_into_the_summaries(engine) -> None:
    with unit_of_work(engine) as session:
        version = records.record_version(session, "abcdef2")
        [row] = records.import_results(session, version, [ParsedResult(benchmark="toy", score=50.0)])
        insert_samples(session, [sample("p1", 0, "4", True), sample("p1", 1, " 4", True, tokens=None)],
                       result_id=row.id)
        result_id = row.id
    assert_summaries_match(engine)
    with unit_of_work(engine) as session:
        insert_samples(session, [sample("p1", 2, "5", False, finish="length"), sample("p2", 0, None, None),
                                 sample("p2", 1, "", False)], result_id=result_id)
    assert assert_summaries_match(engine) == 2
    with unit_of_work(engine) as session:
        totals = sample_totals(session, [result_id])[result_id]
        histograms = answer_histograms(session, result_id)
    assert (totals.samples, totals.graded, totals.correct, totals.cut_by_cap) == (5, 4, 2, 1)
    assert (totals.output_tokens, totals.token_samples) == (40, 4)
    assert histograms["p1"].samples == 3 and histograms["p1"].answers == ((" 4", 1, 1), ("4", 1, 1), ("5", 1, 0))
    assert histograms["p2"].answers == (("", 1, 0),)


def test_runner_path_resumed_then_finished(engine) -> None:
    """Samples recorded as they finish (run only), an interruption, a resume, then the result: the summaries
    appear with the result, in the same transaction."""
    with unit_of_work(engine) as session:
        version_id = records.record_version(session, "abcdef3").id
    start = dict(version_id=version_id, benchmark="toy", metric="pass@1", protocol_key="k" * 64,
                 protocol={"k": 3}, problems_file="toy.jsonl", problems=2, samples_total=6, actor="test")
    run_id, done, _ = eval_runs.start_or_resume(engine, **start)
    eval_runs.record_samples(engine, run_id, [sample("p1", 0, "7", True), sample("p1", 1, "8", False)], elapsed_s=1.0)
    eval_runs.end_run(engine, run_id, eval_runs.CANCELLED)
    assert summary_count(engine) == 0  # no result yet
    again, done, _ = eval_runs.start_or_resume(engine, **start)
    assert again == run_id and done == {("p1", 0), ("p1", 1)}
    eval_runs.record_samples(engine, run_id, [sample("p1", 2, "7", True), sample("p2", 0, "1", False),
                                              sample("p2", 1, "2", False), sample("p2", 2, "1", False)], elapsed_s=2.0)
    view = eval_runs.finalize(engine, run_id, settings={}, temperature=0.6, top_p=0.95, max_tokens=64, k=3,
                              source_file="toy.jsonl")
    assert assert_summaries_match(engine) == 2
    with unit_of_work(engine) as session:
        result = session.get(BenchmarkResult, view.result_id)
        report = reports.result_report(session, result.id, n_boot=200)
    assert report["samples"] == 6 and report["cost"]["correct"] == 2
    # maj@k of p1 (7, 8, 7; 7 right): k=1 2/3, k=2 (1 + 0.5 + 0.5)/3, k=3 1; p2 never right
    assert [p["estimate"] for p in report["k_curves"]["maj@k"]["points"]] == pytest.approx(
        [100 / 3, 100 / 3, 50.0], abs=1e-6)


def test_deleting_a_result_or_a_version_takes_its_summaries(engine, capsys) -> None:
    for sha in ("abcdef4", "abcdef5"):
        assert main(["--db", str(engine.url), "import", "--commit", sha, "--create", str(FILES["inspect"])]) == 0
    assert assert_summaries_match(engine) == 6
    with unit_of_work(engine) as session:
        session.delete(records.find_version(session, "abcdef4"))
    assert assert_summaries_match(engine) == 3
    with unit_of_work(engine) as session:
        for result in session.scalars(select(BenchmarkResult)):
            session.delete(result)
    assert assert_summaries_match(engine) == 0
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(SampleAnswerCount)) == 0
    capsys.readouterr()


def test_the_migration_fills_summaries_for_samples_stored_before_it(registry_url) -> None:
    engine = open_registry(registry_url)
    cfg = alembic_config(engine)
    command.downgrade(cfg, "0008")  # to the revision before the summaries
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO version (id, sha, synthetic, created_at) VALUES "
                          "(1, 'abcdef6' || printf('%033d', 0), 0, '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO benchmark_result (id, version_id, benchmark, metric, score, is_primary, "
                          "source_format, imported_at) VALUES (1, 1, 'aime25', 'pass@1', 50, 1, 'x', "
                          "'2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO sample_result (result_id, problem_id, sample_index, answer, correct, "
                          "output_tokens, thinking_tokens, latency_s, finish_reason) VALUES "
                          "(1, 'p1', 0, '4', 1, 10, 5, 1.5, 'stop'), (1, 'p1', 1, '5', 0, 20, NULL, NULL, 'length'),"
                          "(1, 'p2', 0, NULL, NULL, NULL, NULL, NULL, NULL), (1, 'p2', 1, '4', 0, 7, 7, 0.5, 'stop')"))
    command.upgrade(cfg, "head")
    assert assert_summaries_match(engine) == 2


def test_curves_from_the_summaries_equal_curves_from_the_samples(engine) -> None:
    rng = random.Random(5)
    spellings = {"12": ["12", "012", " 12"], "13": ["13"], "\\frac{1}{2}": ["\\frac{1}{2}", "\\dfrac{1}{2}"]}
    samples = []
    for p in range(12):
        right = rng.choice(list(spellings))
        for i in range(20):
            key = rng.choice(list(spellings) + [None])
            answer = None if key is None else rng.choice(spellings[key])
            samples.append(sample(f"p{p}", i, answer, None if answer is None else key == right,
                                  tokens=rng.randint(5, 50)))
    with unit_of_work(engine) as session:
        version = records.record_version(session, "abcdef7")
        [row] = records.import_results(session, version, [ParsedResult(benchmark="toy", score=50.0,
                                                                       samples=tuple(samples))])
        session.flush()
        from_summaries = reports.result_curves(session, row, n_boot=300)
        raw = sample_answers(session, row.id)
    counts = {p: (sum(bool(ok) for _, ok in rows), sum(ok is not None for _, ok in rows)) for p, rows in raw.items()}
    from_samples = curves_for(counts, raw, key=vote_key, n_boot=300)
    assert set(from_summaries) == set(from_samples) == {"pass@k", "pass^k", "maj@k"}
    for metric, curve in from_samples.items():
        for mine, theirs in zip(from_summaries[metric].points, curve.points):
            assert (mine.k, mine.estimate, mine.low, mine.high) == pytest.approx(
                (theirs.k, theirs.estimate, theirs.low, theirs.high), abs=1e-9)


def test_the_bulk_loader_builds_summaries_the_write_paths_would(tmp_path, monkeypatch) -> None:
    """bench/eval_scale_data.py's bulk path (raw executemany, indexes afterwards) ends with the same summaries a
    recomputation from its samples gives, and a registry the pages can read."""
    import sys

    monkeypatch.setattr(sys, "path", [str(FIXTURES.parents[1] / "bench"), *sys.path])
    from eval_scale_data import SAMPLES_PER_VERSION, build_sample_registry, sha_of

    path = tmp_path / "bulk.db"
    assert build_sample_registry(path, 1)["samples_written"] == SAMPLES_PER_VERSION
    engine = open_registry(f"sqlite:///{path}")
    assert assert_summaries_match(engine) == 1_563
    with unit_of_work(engine) as session:
        version_id = records.find_version(session, sha_of(0)).id
        [report] = [r for r in reports.version_reports(session, version_id, n_boot=100) if r["benchmark"] == "aime25"]
        indexes = {row[0] for row in session.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
    assert report["samples"] == 30 * 64 and set(report["k_curves"]) == {"pass@k", "pass^k", "maj@k"}
    assert "ix_sample_answer_count_result_problem" in indexes  # dropped for the load, built again
