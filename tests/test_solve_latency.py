"""Latency per version: percentiles of the time to the first answer token and of the total time, and mean
thinking tokens, over a version's solve runs; shown by `show` and on the Version page."""

from __future__ import annotations

import json

import pytest
from pagetest import page_test

from vibedash.cli.main import main
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.models import SolveRun, Version
from vibedash.solve.latency import percentile, summarise, version_latency
from vibedash.ui import frame

SHA = "4d" * 20


def run_clean(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


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
