"""Latency per version: percentiles of the time to the first answer token and of the total time, and mean
thinking tokens, over a version's solve runs; shown by `show` and on the Version page."""

from __future__ import annotations

import json

import pytest
from pagetest import page_test, run_clean
from sqlalchemy import select

from vibedash.cli.main import main
from vibedash.registry.audit import record_event
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.models import SolveRun, Version
from vibedash.solve.latency import percentile, summarise, version_latency
from vibedash.ui import frame

SHA = "4d" * 20


def test_percentile_interpolates_between_ranks():
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert percentile([5, 1, 3], 0) == 1 and percentile([5, 1, 3], 100) == 5


def test_summarise_counts_per_sample_and_skips_missing_figures():
    latency = summarise([(1.0, 2.0, 100, 10, 1, None), (None, 4.0, 300, 0, 1, 50.0), (3.0, 6.0, 400, 40, 2, None)])
    assert latency.runs == 3 and latency.answered_runs == 2
    assert latency.first_answer_s[50] == 2.0 and latency.total_s[50] == 4.0 and latency.total_s[99] == \
        pytest.approx(5.96)
    assert latency.mean_thinking_tokens == pytest.approx(800 / 4)  # 4 samples in all
    assert latency.mean_answer_tokens == pytest.approx(50 / 4) and latency.mean_energy_j == 50.0
    assert summarise([]).empty


@pytest.fixture
def registry(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = open_registry(url)
    with unit_of_work(engine) as session:
        version = Version(sha=SHA, model_ref="some/model")
        session.add(version)
        session.flush()
        for index in range(20):  # 1.0 .. 20.0 s to the first answer, 2 s more in all
            session.add(SolveRun(cache_key=f"{index:064d}", version_id=version.id, prompt="p", backend="transformers",
                                 settings={"samples": 1}, time_to_first_answer_s=index + 1.0, total_s=index + 3.0,
                                 thinking_tokens=1000 + index, answer_tokens=50, tokens=1050 + index))
        session.add(SolveRun(cache_key="s" * 64, version_id=version.id, prompt="p", backend="transformers",
                             stopped=True, total_s=999.0, thinking_tokens=9999))  # stopped: left out
        session.add(SolveRun(cache_key="o" * 64, version_id=version.id, prompt="p", backend="transformers",
                             tokens=10))  # logged before the figures existed: left out
    yield engine, url
    engine.dispose()


def test_version_latency_over_the_solve_log(registry):
    engine, _ = registry
    with unit_of_work(engine) as session:
        version_id = session.query(Version.id).filter_by(sha=SHA).scalar()
    latency = version_latency(engine, version_id)
    assert latency.runs == 20 and latency.answered_runs == 20
    assert latency.first_answer_s == {50: pytest.approx(10.5), 95: pytest.approx(19.05), 99: pytest.approx(19.81)}
    assert latency.total_s[50] == pytest.approx(12.5)
    assert latency.mean_thinking_tokens == pytest.approx(1009.5)


def test_version_latency_is_kept_until_the_next_write(registry):
    engine, _ = registry
    with unit_of_work(engine) as session:
        version_id = session.query(Version.id).filter_by(sha=SHA).scalar()
    first = version_latency(engine, version_id)
    assert version_latency(engine, version_id) is first   # read once per generation
    record_event(engine, kind="import", actor="tester")   # the audit log is not among its sources
    assert version_latency(engine, version_id) is first
    with unit_of_work(engine) as session:
        session.add(SolveRun(cache_key="n" * 64, version_id=version_id, prompt="p", backend="transformers",
                             settings={"samples": 1}, time_to_first_answer_s=100.0, total_s=101.0,
                             thinking_tokens=5000, answer_tokens=50, tokens=5050))
    latency = version_latency(engine, version_id)
    assert latency.runs == 21 and latency.first_answer_s[99] == pytest.approx(84.0)  # 20 + 0.8 * (100 - 20)


def test_show_prints_the_latency(registry, capsys):
    _, url = registry
    assert main(["--db", url, "show", SHA[:8]]) == 0
    out = capsys.readouterr().out
    assert "solve latency" in out
    assert "first answer token  P50 10.50 s · P95 19.05 s · P99 19.81 s  (20 of 20 runs answered)" in out
    assert "mean tokens         thinking 1,010 · answer 50 per sample" in out
    assert main(["--db", url, "show", SHA[:8], "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["solve_latency"]["first_answer_s"]["p50"] == pytest.approx(10.5)


def test_show_without_solve_runs_says_so(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = open_registry(url)
    with unit_of_work(engine) as session:
        session.add(Version(sha=SHA))
    engine.dispose()
    assert main(["--db", url, "show", SHA[:8]]) == 0
    assert "no solve runs with latency figures yet" in capsys.readouterr().out


def test_version_page_shows_latency_percentiles_and_thinking(registry, monkeypatch, tmp_path):
    _, url = registry
    at = run_clean(page_test(frame.VERSION, url, monkeypatch, tmp_path, query_params={"commit": SHA[:10]}))
    frames = [d.value for d in at.dataframe]
    latency = next(d for d in frames if "latency" in d.columns)
    assert list(latency["latency"]) == ["first answer token", "total time"]
    assert latency["P50 s"][0] == pytest.approx(10.5) and latency["P99 s"][1] == pytest.approx(21.81)
    assert any("**1,010** thinking tokens" in m.value for m in at.markdown)
    runs = next(d for d in frames if "thinking" in d.columns)
    assert len(runs) == 22 and set(runs["grade"]) == {"not graded"}


# -- eval samples and imported samples ------------------------------------------------------------------------

@pytest.fixture
def registry_with_samples(registry):
    """The solve runs above, plus 10 samples of a vibedash eval run and 7 imported samples (4 timed)."""
    from vibedash.registry.models import BenchmarkResult, EvalRun, SampleResult

    engine, url = registry
    with unit_of_work(engine) as session:
        version_id = session.query(Version.id).filter_by(sha=SHA).scalar()
        other = Version(sha="5e" * 20)  # another version's samples stay out
        session.add(other)
        session.flush()
        run = EvalRun(version_id=version_id, benchmark="aime24", protocol_key="k" * 64)
        imported = BenchmarkResult(version_id=version_id, benchmark="math500", score=50.0, source_format="evalscope")
        foreign = EvalRun(version_id=other.id, benchmark="aime24", protocol_key="f" * 64)
        session.add_all([run, imported, foreign])
        session.flush()
        for i in range(10):  # totals 1..10 s; first answers 0.5, 1.5, .. 4.5 on the even samples only
            session.add(SampleResult(run_id=run.id, problem_id="p", sample_index=i, latency_s=i + 1.0,
                                     first_token_s=0.1, first_answer_s=(i + 1) / 2 if i % 2 == 0 else None,
                                     thinking_tokens=100 * (i + 1), output_tokens=100 * (i + 1) + 10))
        for i, latency in enumerate([2.0, 4.0, 6.0, 8.0, None, None, None]):
            session.add(SampleResult(result_id=imported.id, problem_id="q", sample_index=i, latency_s=latency))
        session.add(SampleResult(run_id=foreign.id, problem_id="p", sample_index=0, latency_s=1000.0,
                                 first_answer_s=999.0, thinking_tokens=10**6))
    return engine, url, version_id


def test_eval_and_imported_samples_have_their_own_percentiles_from_sql(registry_with_samples):
    engine, _, version_id = registry_with_samples
    latency = version_latency(engine, version_id)
    assert latency.runs == 20 and latency.total_s[50] == pytest.approx(12.5)  # solve runs unchanged
    eval_samples, imported = latency.samples
    assert (eval_samples.source, eval_samples.samples, eval_samples.timed, eval_samples.answered) == \
        ("eval samples", 10, 10, 5)
    # totals 1..10: ranks 4.5, 8.55, 8.91
    assert eval_samples.total_s == {50: pytest.approx(5.5), 95: pytest.approx(9.55), 99: pytest.approx(9.91)}
    # first answers 0.5 .. 4.5 (5 values): ranks 2, 3.8, 3.96
    assert eval_samples.first_answer_s == {50: pytest.approx(2.5), 95: pytest.approx(4.3), 99: pytest.approx(4.46)}
    assert eval_samples.mean_thinking_tokens == pytest.approx(550.0) and eval_samples.thinking_samples == 10
    # imported: 2, 4, 6, 8 timed (ranks 1.5, 2.85, 2.97), 3 without a time ignored and counted
    assert (imported.samples, imported.timed, imported.untimed, imported.answered) == (7, 4, 3, 0)
    assert imported.total_s == {50: pytest.approx(5.0), 95: pytest.approx(7.7), 99: pytest.approx(7.94)}
    assert imported.first_answer_s == {50: None, 95: None, 99: None} and imported.mean_thinking_tokens is None
    # thinking means the same everywhere: 20 solve samples (mean 1,009.5) and 10 eval samples (mean 550)
    mean, count = latency.mean_thinking_all
    assert count == 30 and mean == pytest.approx((20 * 1009.5 + 10 * 550) / 30)
    assert latency.source_counts == ["20 solve runs", "10 eval samples", "4 imported samples"]


def test_sql_percentiles_agree_with_the_pure_ones(registry_with_samples):
    from vibedash.registry.models import SampleResult
    from vibedash.solve.latency import sql_percentiles

    engine, _, _ = registry_with_samples
    with unit_of_work(engine) as session:
        values = list(session.scalars(select(SampleResult.latency_s).where(SampleResult.latency_s.is_not(None))))
        count, sql = sql_percentiles(session, SampleResult.latency_s, SampleResult.id.is_not(None))
    assert count == len(values) == 15
    assert sql == {q: pytest.approx(percentile(values, q)) for q in (50, 95, 99)}


def test_show_gives_each_source_apart(registry_with_samples, capsys):
    _, url, _ = registry_with_samples
    assert main(["--db", url, "show", SHA[:8]]) == 0
    out = capsys.readouterr().out
    assert "solve latency (over 20 solve runs and 10 eval samples and 4 imported samples)" in out
    assert "eval samples (from the request, model load left out" in out
    assert "first answer token  P50 2.50 s · P95 4.30 s · P99 4.46 s  (5 of 10 samples)" in out
    assert "total time          P50 5.00 s · P95 7.70 s · P99 7.94 s  (4 samples; 3 without a time ignored)" in out
    assert "mean thinking tokens over every source: 856 per sample (30 samples)" in out
    assert main(["--db", url, "show", SHA[:8], "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["solve_latency"]
    assert data["eval_samples"]["total_s"]["p50"] == pytest.approx(5.5)
    assert data["imported_samples"]["untimed"] == 3 and data["thinking_samples_all_sources"] == 30


def test_version_page_shows_each_source_in_its_own_rows(registry_with_samples, monkeypatch, tmp_path):
    _, url, _ = registry_with_samples
    at = run_clean(page_test(frame.VERSION, url, monkeypatch, tmp_path, query_params={"commit": SHA[:10]}))
    latency = next(d.value for d in at.dataframe if "latency" in d.value.columns)
    assert list(zip(latency["source"], latency["latency"])) == [
        ("solve runs", "first answer token"), ("solve runs", "total time"), ("eval samples", "first answer token"),
        ("eval samples", "total time"), ("imported samples", "total time")]
    assert latency["P50 s"][3] == pytest.approx(5.5) and list(latency["over"])[-1] == "4 samples"
    assert any("3 without a time ignored" in m.value for m in at.markdown)


def test_only_eval_samples_still_show(tmp_path, capsys, monkeypatch):
    from vibedash.registry.models import EvalRun, SampleResult

    url = f"sqlite:///{tmp_path / 'eval-only.db'}"
    engine = open_registry(url)
    with unit_of_work(engine) as session:
        version = Version(sha=SHA)
        session.add(version)
        session.flush()
        run = EvalRun(version_id=version.id, benchmark="aime24", protocol_key="k" * 64)
        session.add(run)
        session.flush()
        session.add_all([SampleResult(run_id=run.id, problem_id="p", sample_index=i, latency_s=float(i + 1))
                         for i in range(3)])
    engine.dispose()
    assert main(["--db", url, "show", SHA[:8]]) == 0
    out = capsys.readouterr().out
    assert "no solve runs with latency figures yet" in out
    assert "total time          P50 2.00 s · P95 2.90 s · P99 2.98 s  (3 samples)" in out
    at = run_clean(page_test(frame.VERSION, url, monkeypatch, tmp_path, query_params={"commit": SHA[:10]}))
    latency = next(d.value for d in at.dataframe if "latency" in d.value.columns)
    assert list(latency["source"]) == ["eval samples"] and latency["P99 s"][0] == pytest.approx(2.98)
    assert "thinking" not in {c for d in at.dataframe for c in d.value.columns}  # no solve runs table
