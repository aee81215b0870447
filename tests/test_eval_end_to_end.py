"""The eval runner end to end: a tiny local model and a loopback OpenAI-compatible server evaluated on small
problem sets at k = 4, interrupted and resumed, then gated and compared; k-curves and the cost of a correct
answer checked against values computed by hand from the scripted samples."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from openai_loopback import ScriptedOpenAIServer
from sample_summaries_check import assert_summaries_match
from sqlalchemy import func, select
from tiny_model import save_tiny_model

from vibedash.cli.main import main
from vibedash.eval.problem_sets import load_problem_set
from vibedash.eval.runner import EvalRunner, EvalSpec, sample_seed
from vibedash.registry import queries
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import BenchmarkResult, EvalRun, SampleResult, Version
from vibedash.solve.grading import Grader
from vibedash.solve.local import LocalBackend
from vibedash.solve.prompts import SamplingSettings
from vibedash.solve.versions import resolve_version

# Scripted samples (a token is a space-separated word). Hand counts: tokens / thinking tokens (before </think>).
SCRIPT = {
    "p1": ["<think> a b c </think> \\boxed{4}",        # 6 / 4, correct
           "<think> a b c </think> \\boxed{4}",        # 6 / 4, correct
           "<think> a </think> \\boxed{5}",            # 4 / 2, wrong
           "<think> a b c d e </think> \\boxed{4}"],   # 8 / 6, correct
    "p2": ["\\boxed{7}",                               # 1 / 0, correct
           "so \\boxed{8}",                            # 2 / 0
           "so \\boxed{8}",                            # 2 / 0
           "I give up"],                               # 3 / 0, no answer
    "p3": ["\\boxed{1}", "\\boxed{2}", "\\boxed{1}", "\\boxed{3}"],  # 1 each, all wrong
}
ANSWERS = {"p1": "4", "p2": "7", "p3": "9"}
SHA_A, SHA_B, SHA_LOCAL = "aaaa111", "bbbb222", "cccc333"


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps({"id": pid, "problem": f"Question {pid}?", "answer": ANSWERS[pid]}) + "\n"
                            for pid in SCRIPT), encoding="utf-8")
    return path


def scripted(body: dict, choice: int) -> str:
    """The sample a request's seed stands for (the runner seeds each sample from its problem and index)."""
    by_seed = {sample_seed(0, pid, i): text for pid, texts in SCRIPT.items() for i, text in enumerate(texts)}
    text = by_seed[body["seed"]]
    return ("well " + text) if body["model"] == "vibe-long" else text


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def record(url: str, capsys, sha: str, model: str) -> None:
    assert run_cli(capsys, "--db", url, "record", "--commit", sha, "--model", model)[0] == 0


def test_served_versions_evaluated_gated_and_compared(engine, registry_url, problems_file, capsys) -> None:
    with ScriptedOpenAIServer(scripted, models=("vibe", "vibe-long")) as server:
        record(registry_url, capsys, SHA_A, server.ref("vibe"))
        record(registry_url, capsys, SHA_B, server.ref("vibe-long"))
        for sha in (SHA_A, SHA_B):
            code, out, err = run_cli(capsys, "--db", registry_url, "eval", "--commit", sha, "--problems",
                                     str(problems_file), "--k", "4", "--max-new-tokens", "64", "--concurrency", "4")
            assert code == 0, err
            assert "12/12 samples (100%)" in err
            assert f"{sha}  toy" in out and "33.3" in out
        # one request per sample, each with its own seed, all at the token cap asked for
        assert len(server.requests) == 24
        assert {r["max_tokens"] for r in server.requests} == {64} and {r["n"] for r in server.requests} == {1}

        # Running it again repeats nothing.
        code, _, err = run_cli(capsys, "--db", registry_url, "eval", "--commit", SHA_A, "--problems",
                               str(problems_file), "--k", "4", "--max-new-tokens", "64")
        assert code == 0 and "already evaluated" in err and len(server.requests) == 24
        # --fresh evaluates again; the new result replaces the old, samples included.
        code, _, err = run_cli(capsys, "--db", registry_url, "eval", "--commit", SHA_A, "--problems",
                               str(problems_file), "--k", "4", "--max-new-tokens", "64", "--fresh", "-q")
        assert code == 0 and len(server.requests) == 36
        with unit_of_work(engine) as session:
            samples_of_a = session.scalar(select(func.count()).select_from(SampleResult).join(
                BenchmarkResult, BenchmarkResult.id == SampleResult.result_id).join(Version).where(
                Version.sha == SHA_A))
        assert samples_of_a == 12
        assert assert_summaries_match(engine) == 6  # two versions x three problems, the replaced run's gone

    code, out, _ = run_cli(capsys, "--db", registry_url, "show", SHA_A, "--json")
    report = next(r for r in json.loads(out)["evaluations"] if r["benchmark"] == "toy")
    assert report["score"] == pytest.approx(100 / 3)
    assert (report["problems"], report["samples_per_problem"], report["samples"]) == (3, 4, 12)
    assert report["protocol"]["k"] == 4 and report["protocol"]["backend"] == "openai"

    curves = report["k_curves"]
    def estimates(metric):
        return [p["estimate"] for p in curves[metric]["points"]]
    # pass@k = mean over problems of 1 - C(n-c,k)/C(n,k), counts (c of 4): p1 3, p2 1, p3 0
    assert estimates("pass@k") == pytest.approx([100 / 3, 50.0, 175 / 3, 200 / 3], abs=1e-4)
    # pass^k = C(c,k)/C(n,k): p1 gives 3/4, 1/2, 1/4, 0
    assert estimates("pass^k") == pytest.approx([100 / 3, 50 / 3, 25 / 3, 0.0], abs=1e-4)
    # maj@k over all k-subsets, ties split: k=2 p1 (3 + 3 x 0.5)/6, p2 (2 x 0.5 + 1)/6; k=3 p1 1, p2 1/4
    assert estimates("maj@k") == pytest.approx([100 / 3, 100 * (0.75 + 1 / 3) / 3, 100 * 1.25 / 3, 100 / 3],
                                               abs=1e-4)
    for metric in ("pass@k", "maj@k", "pass^k"):
        for point in curves[metric]["points"]:
            assert point["low"] <= point["estimate"] <= point["high"]

    # Cost: 36 tokens over 12 samples, 16 of them thinking, 4 correct answers.
    cost = report["cost"]
    assert (cost["samples"], cost["correct"]) == (12, 4)
    assert cost["mean_output_tokens"] == pytest.approx(3.0)
    assert cost["mean_thinking_tokens"] == pytest.approx(16 / 12)
    assert cost["tokens_per_correct"] == pytest.approx(9.0)
    with unit_of_work(engine) as session:
        run = session.scalar(select(EvalRun).join(Version).where(Version.sha == SHA_A, EvalRun.result_id.is_not(None)))
        assert cost["seconds_per_correct"] == pytest.approx(run.elapsed_s / 4, rel=1e-3)
        finishes = set(session.scalars(select(SampleResult.finish_reason)))
        times = session.execute(select(SampleResult.first_token_s, SampleResult.first_answer_s,
                                       SampleResult.latency_s).join(EvalRun).where(EvalRun.id == run.id)).all()
    assert finishes == {"stop"}
    # Each streamed sample's own times: first token <= first answer token (after </think>) <= last token.
    assert len(times) == 12 and all(0 <= first <= answer <= total for first, answer, total in times)
    code, out, _ = run_cli(capsys, "--db", registry_url, "show", SHA_A, "--json")
    latency = json.loads(out)["solve_latency"]
    assert latency["runs"] == 0 and latency["eval_samples"]["samples"] == 12
    assert latency["eval_samples"]["answered"] == 12 and latency["eval_samples"]["timed"] == 12

    # B says "well" before every answer: one more token per sample (48 in all, +33%), same answers.
    code, out, _ = run_cli(capsys, "--db", registry_url, "gate", "--commit", SHA_B, "--against", SHA_A, "--json",
                           "--rule", "toy tokens grow <= 10%", "--rule", "toy cost_per_correct grows <= 40%",
                           "--rule", "no regression > 0")
    verdict = json.loads(out)
    assert code == 1 and not verdict["passed"]
    tokens_check, cost_check, regression = verdict["checks"]
    assert not tokens_check["passed"] and tokens_check["measured"] == pytest.approx(100 / 3, abs=1e-4)
    assert "4.0 vs aaaa111 3.0 mean output tokens per sample: +33.3%" in tokens_check["detail"]
    assert cost_check["passed"] and cost_check["measured"] == pytest.approx(100 / 3, abs=1e-4)
    assert regression["passed"]
    code, out, _ = run_cli(capsys, "--db", registry_url, "gate", "--commit", SHA_A, "--against", SHA_B, "--json",
                           "--rule", "toy tokens grow <= 10%")
    assert code == 0 and json.loads(out)["checks"][0]["measured"] == pytest.approx(-25.0)

    with unit_of_work(engine) as session:
        comparison = queries.compare_versions(queries.facts_of(session, [SHA_A, SHA_B]))
        from vibedash.eval.reports import compare_costs, compare_curves

        costs = compare_costs(session, [SHA_A, SHA_B])
        compared_curves = compare_curves(session, [SHA_A, SHA_B], "toy")
    diff = next(d for d in comparison.diffs if d.benchmark == "toy")
    assert diff.delta == pytest.approx(0.0)
    by_sha = {row["sha"]: row for row in costs if row["benchmark"] == "toy"}
    assert by_sha[SHA_A]["mean_output_tokens"] == pytest.approx(3.0)
    assert by_sha[SHA_B]["mean_output_tokens"] == pytest.approx(4.0)
    assert by_sha[SHA_A]["on_frontier"] and not by_sha[SHA_B]["on_frontier"]
    assert {(row["sha"], row["metric"]) for row in compared_curves} >= {(SHA_A, "pass@k"), (SHA_B, "maj@k")}


def test_budget_sweep_records_one_result_per_budget(engine, registry_url, problems_file, capsys) -> None:
    with ScriptedOpenAIServer(scripted) as server:
        record(registry_url, capsys, SHA_A, server.ref("vibe"))
        code, out, err = run_cli(capsys, "--db", registry_url, "eval", "--commit", SHA_A, "--problems",
                                 str(problems_file), "--k", "4", "--thinking-budget", "1024,3")
        budgets = sorted({r.get("thinking_token_budget") for r in server.requests})
        paths = {r["_path"] for r in server.requests}
    assert code == 0, err
    assert budgets == [3, 1024]  # the budget reaches the server (vLLM's per-request field), which honours it
    assert paths == {"/v1/chat/completions"}
    assert "[1/2]" in err and "[2/2]" in err
    code, out, _ = run_cli(capsys, "--db", registry_url, "show", SHA_A, "--json")
    data = json.loads(out)
    results = {r["metric"]: r for r in data["results"]}
    assert set(results) == {"pass@1:budget=3", "pass@1:budget=1024"}
    assert results["pass@1:budget=1024"]["primary"] and not results["pass@1:budget=3"]["primary"]
    reports = {r["metric"]: r for r in data["evaluations"]}
    # Budget 3 closes p1's thinking after three tokens: "<think> a b </think> \\boxed{4}" (5 tokens, 3 thinking)
    # for samples 0, 1 and 3; sample 2 thought for 2 only (4 tokens). p1 19 tokens (11 thinking), p2 8, p3 4;
    # the answers, and so the score, do not change.
    tight, loose = reports["pass@1:budget=3"], reports["pass@1:budget=1024"]
    assert tight["thinking_budget"] == 3 and tight["score"] == pytest.approx(100 / 3)
    assert tight["cost"]["mean_output_tokens"] == pytest.approx(31 / 12)
    assert tight["cost"]["mean_thinking_tokens"] == pytest.approx(11 / 12)
    assert tight["cost"]["tokens_per_correct"] == pytest.approx(31 / 4)
    assert loose["cost"]["mean_output_tokens"] == pytest.approx(3.0)
    with unit_of_work(engine) as session:
        from vibedash.eval.reports import budget_sweep

        sweep = budget_sweep(session, session.scalar(select(Version.id).where(Version.sha == SHA_A)))
    assert [(row["budget"], round(row["mean_output_tokens"], 4)) for row in sweep] == [(3, round(31 / 12, 4)),
                                                                                      (1024, 3.0)]


def test_local_model_interrupted_and_resumed(engine, registry_url, tmp_path, capsys) -> None:
    model = save_tiny_model(tmp_path / "tiny", with_eos=False)  # no end token: every sample runs to the cap
    problems = tmp_path / "local.jsonl"
    problems.write_text('{"id": "q1", "kind": "math", "prompt": "What is 2+2?", "answer": "4"}\n'
                        '{"id": "q2", "kind": "math", "prompt": "What is 3+3?", "answer": "6"}\n', encoding="utf-8")
    record(registry_url, capsys, SHA_LOCAL, str(model))
    version = resolve_version(engine, SHA_LOCAL)
    spec = EvalSpec(version=version, problem_set=load_problem_set(problems), benchmark="local", k=4,
                    sampling=SamplingSettings(max_new_tokens=6))
    backend, grader = LocalBackend("cpu"), Grader()
    cancel = threading.Event()
    try:
        runner = EvalRunner(engine, backend, grader, tokenizer_for=lambda ref: backend.models.get(ref).tokenizer)
        outcome = runner.run(spec, cancel=cancel, on_progress=lambda progress: cancel.set())
    finally:
        grader.close()
        backend.close()
    assert outcome.status == "cancelled" and outcome.run.samples_done == 4
    with unit_of_work(engine) as session:
        first_rows = set(session.scalars(select(SampleResult.id)))
    assert len(first_rows) == 4

    code, out, err = run_cli(capsys, "--db", registry_url, "eval", "--commit", SHA_LOCAL, "--problems",
                             str(problems), "--benchmark", "local", "--k", "4", "--max-new-tokens", "6")
    assert code == 0, err
    assert "continued an interrupted run: 4 samples reused, 4 generated" in err
    with unit_of_work(engine) as session:
        rows = session.execute(select(SampleResult.id, SampleResult.problem_id, SampleResult.output_tokens,
                                      SampleResult.finish_reason, SampleResult.result_id)).all()
    assert len(rows) == 8 and first_rows <= {row.id for row in rows}  # the first four were not generated again
    assert {(r.output_tokens, r.finish_reason) for r in rows} == {(6, "length")}
    assert len({r.result_id for r in rows}) == 1
    assert assert_summaries_match(engine) == 2  # the resumed run's summaries cover all eight samples
    code, out, _ = run_cli(capsys, "--db", registry_url, "show", SHA_LOCAL, "--json")
    report = json.loads(out)["evaluations"][0]
    assert report["cost"]["mean_output_tokens"] == pytest.approx(6.0)
    assert report["cut_by_token_cap"] == 8 and report["protocol"]["backend"] == "transformers"

    # With a thinking budget of 3 the backend closes every sample's thinking after exactly 3 tokens (the tiny
    # model never writes </think> itself); recorded as a result of its own.
    code, out, err = run_cli(capsys, "--db", registry_url, "eval", "--commit", SHA_LOCAL, "--problems",
                             str(problems), "--benchmark", "local", "--k", "4", "--max-new-tokens", "12",
                             "--thinking-budget", "3")
    assert code == 0, err
    with unit_of_work(engine) as session:
        budgeted = session.execute(select(SampleResult.thinking_tokens, SampleResult.output_tokens)
                                   .join(EvalRun, EvalRun.id == SampleResult.run_id)
                                   .where(EvalRun.metric == "pass@1:budget=3")).all()
    assert len(budgeted) == 8 and {thinking for thinking, _ in budgeted} == {3}
    with unit_of_work(engine) as session:
        timed = session.execute(select(EvalRun.metric, SampleResult.first_token_s, SampleResult.first_answer_s,
                                       SampleResult.latency_s).join(EvalRun, EvalRun.id == SampleResult.run_id)).all()
    # Without a budget the tiny model never closes its thinking: no first answer token. With one, each sample
    # answers at the step after its forced </think>, between its first and its last token.
    assert {answer for metric, _, answer, _ in timed if metric == "pass@1"} == {None}
    budget_times = [(first, answer, total) for metric, first, answer, total in timed if metric != "pass@1"]
    assert len(budget_times) == 8 and all(0 < first < answer <= total for first, answer, total in budget_times)
    assert all(3 < tokens <= 12 for _, tokens in budgeted)


def test_unreadable_problem_files_are_refused_in_one_line(registry_url, tmp_path, capsys) -> None:
    record(registry_url, capsys, SHA_A, "openai:vibe@http://127.0.0.1:9/v1")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "problem": "x", "answer": "1"}\n{not json\n', encoding="utf-8")
    binary = tmp_path / "data.parquet"
    binary.write_bytes(b"PAR1 not really parquet")
    no_answer = tmp_path / "noanswer.jsonl"
    no_answer.write_text('{"id": "a", "question": "What?"}\n', encoding="utf-8")
    for path, expected in ((tmp_path / "missing.jsonl", "no such problem file"), (broken, "line 2: not valid JSON"),
                           (binary, "not a readable parquet file"), (no_answer, "no answer")):
        code, _, err = run_cli(capsys, "--db", registry_url, "eval", "--commit", SHA_A, "--problems", str(path))
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and expected in err and "Traceback" not in err


def test_concurrent_samples_are_saved_together_and_all_kept(engine, registry_url, problems_file, capsys,
                                                           monkeypatch) -> None:
    from vibedash.registry import eval_runs

    saves: list[int] = []
    record_samples = eval_runs.record_samples

    def counting(*args, **kwargs):
        saves.append(len(args[2]))
        return record_samples(*args, **kwargs)

    monkeypatch.setattr(eval_runs, "record_samples", counting)
    with ScriptedOpenAIServer(scripted, token_delay_s=0.01) as server:
        record(registry_url, capsys, SHA_A, server.ref("vibe"))
        code, _, err = run_cli(capsys, "--db", registry_url, "eval", "--commit", SHA_A, "--problems",
                               str(problems_file), "--k", "4", "--concurrency", "12")
    assert code == 0, err
    # Twelve requests stream at once: what finishes while others still stream goes in together, not in a
    # transaction per request; nothing is lost.
    assert sum(saves) == 12 and len(saves) < 12
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(SampleResult)) == 12
    assert assert_summaries_match(engine) == 3
