"""The evaluation sections of the pages (AppTest through the real router): the Version page's Evaluate action
starting a real background evaluation against a loopback OpenAI-compatible server, its progress and result;
k-curves and costs on Version and Compare; running evaluations on the Overview."""

from __future__ import annotations

import json
import time

import pytest
from conftest import FIXTURES
from openai_loopback import ScriptedOpenAIServer
from pagetest import page_test, run_clean, texts
from sqlalchemy import select

from vibedash.cli.main import main
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import EvalRun, Version, utcnow
from vibedash.ui import frame


def test_version_and_compare_show_curves_and_costs(engine, registry_url, monkeypatch, scratch, capsys) -> None:
    inspect_log = FIXTURES / "samples" / "2026-11-20T10-31-07+00-00_aime25_Yx9kq2mTz4.eval"
    for sha in ("abc1111", "abc2222"):
        assert main(["--db", registry_url, "import", "--commit", sha, "--create", str(inspect_log)]) == 0
    at = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch, query_params={"commit": "abc1111"}))
    shown = texts(at)
    assert "Evaluations" in shown and "k-curves" in shown and "Cost of a correct answer" in shown
    assert "Record a model reference" in shown  # no model: no Evaluate form
    costs = next(df.value for df in at.dataframe if "tokens / correct" in df.value.columns)
    assert costs["tokens / correct"].iloc[0] == pytest.approx(1209 / 3)

    at = run_clean(page_test(frame.COMPARE, registry_url, monkeypatch, scratch,
                             query_params={"commits": "abc1111,abc2222"}))
    assert "k-curves and the cost of a correct answer" in texts(at)
    table = next(df.value for df in at.dataframe if "frontier" in df.value.columns)
    assert list(table["version"]) == ["abc1111", "abc2222"]


def test_overview_lists_running_evaluations(engine, registry_url, monkeypatch, scratch) -> None:
    assert main(["--db", registry_url, "record", "--commit", "abc3333"]) == 0
    with unit_of_work(engine) as session:
        version = session.scalar(select(Version).where(Version.sha == "abc3333"))
        session.add(EvalRun(version_id=version.id, benchmark="aime25", metric="pass@1", protocol_key="k" * 64,
                            protocol={"k": 8, "backend": "openai"}, problems=30, samples_total=240, samples_done=60,
                            samples_correct=30, elapsed_s=30.0, status="running", started_at=utcnow(),
                            updated_at=utcnow()))
    at = run_clean(page_test(frame.OVERVIEW, registry_url, monkeypatch, scratch))
    assert "Running evaluations" in texts(at)
    [bar] = at.get("progress")
    assert "60/240 samples, about 1 min 30 s left" in bar.proto.text


def test_evaluate_action_runs_in_the_background(engine, registry_url, monkeypatch, scratch, tmp_path) -> None:
    problems = tmp_path / "toy.jsonl"
    problems.write_text('{"id": "p1", "problem": "2+2?", "answer": "4"}\n{"id": "p2", "problem": "3+3?", '
                        '"answer": "6"}\n', encoding="utf-8")
    answers = {0: "\\boxed{4}", 1: "\\boxed{5}"}
    with ScriptedOpenAIServer(lambda body, i: answers[body["seed"] % 2]) as server:
        assert main(["--db", registry_url, "record", "--commit", "abc4444", "--model", server.ref()]) == 0
        monkeypatch.setenv("VIBEDASH_EVAL_DIR", str(tmp_path / "evals"))
        at = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch,
                                 query_params={"commit": "abc4444"}))
        at.text_input(key="eval_problem_path").input(str(tmp_path / "missing.jsonl"))
        at.number_input(key="eval_k").set_value(2)
        at.button(key="eval_submit").click()
        at = run_clean(at)
        assert any("no such problem file" in e.value for e in at.error)
        at.text_input(key="eval_problem_path").input(str(problems))
        at.button(key="eval_submit").click()
        at = run_clean(at)
        assert "Evaluation started in the background: 2 problems × k=2" in texts(at)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with unit_of_work(engine) as session:
                run = session.scalar(select(EvalRun))
                if run is not None and run.status in ("finished", "failed"):
                    break
            time.sleep(0.5)
    log = next((tmp_path / "evals").glob("eval-*.log")).read_text()
    assert run.status == "finished", log
    assert run.samples_done == 4 and "postgresql" not in log and registry_url not in log
    at = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch, query_params={"commit": "abc4444"}))
    assert "4/4 samples" in texts(at)
    assert json.loads(json.dumps(run.protocol))["k"] == 2
