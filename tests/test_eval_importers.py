"""Per-sample importers on fixtures made the way lm-evaluation-harness, lighteval and Inspect write them;
per-sample rows in the registry (bulk path, SQL aggregates); problem sets; the Every Eval Ever export."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import FIXTURES
from sqlalchemy import func, select

from vibedash.cli.main import main
from vibedash.eval.problem_sets import load_problem_set
from vibedash.importers import ResultFileError, detect_format, load_results
from vibedash.registry import records
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import SampleResult
from vibedash.registry.samples import per_problem_counts, sample_table, sample_totals
from vibedash.solve.problems import ProblemFileError

SAMPLES = FIXTURES / "samples"
LM_EVAL = SAMPLES / "samples_aime25_2026-11-20T10-31-07.123456.jsonl"
LIGHTEVAL = SAMPLES / "details_lighteval|aime25|0_2026-11-20T10-31-07.parquet"
INSPECT = SAMPLES / "2026-11-20T10-31-07+00-00_aime25_Yx9kq2mTz4.eval"


def test_lm_eval_samples_file() -> None:
    assert detect_format(LM_EVAL) == "lm_eval_samples"
    [result] = load_results(LM_EVAL)
    assert (result.benchmark, result.metric, result.problems, result.samples_per_problem) == ("aime25", "exact_match",
                                                                                            3, 1)
    assert result.score == pytest.approx(200 / 3)  # exact_match 1, 0, 1
    assert (result.temperature, result.max_tokens) == (0.0, 32768)
    assert [(s.problem_id, s.correct, s.answer) for s in result.samples] == [("0", True, "443"), ("1", False, "96"),
                                                                             ("2", True, "448")]
    assert [(o.problem_id, o.correct, o.samples) for o in result.problem_outcomes] == [("0", 1, 1), ("1", 0, 1),
                                                                                      ("2", 1, 1)]


def test_lighteval_details_parquet() -> None:
    assert detect_format(LIGHTEVAL) == "lighteval_details"
    [result] = load_results(LIGHTEVAL)
    assert (result.benchmark, result.metric, result.samples_per_problem) == ("aime25", "pass@k:k=1&n=4", 4)
    assert result.score == pytest.approx(100 * (0.75 + 0.25 + 0) / 3)
    assert [(o.problem_id, o.correct) for o in result.problem_outcomes] == [("0", 3), ("1", 1), ("2", 0)]
    assert len(result.samples) == 12 and [s.output_tokens for s in result.samples[:4]] == [10, 11, 12, 13]
    assert result.samples[0].output.startswith("<think>try 0</think>")


def test_inspect_eval_log() -> None:
    assert detect_format(INSPECT) == "inspect_eval"
    [result] = load_results(INSPECT)
    assert (result.benchmark, result.metric, result.problems, result.samples_per_problem) == ("aime25", "pass@1", 3, 2)
    assert result.score == pytest.approx(50.0)  # C C, C I, I I
    assert (result.temperature, result.top_p, result.max_tokens) == (0.6, 0.95, 40960)
    first = result.samples[0]
    assert (first.problem_id, first.sample_index, first.correct, first.answer) == ("1", 0, True, "443")
    assert (first.output_tokens, first.thinking_tokens, first.latency_s, first.finish_reason) == (101, 50, 1.5, "stop")
    assert first.output == "<think>Let me compute carefully.</think>The answer is \\boxed{443}."
    assert result.samples[1].finish_reason == "length"  # stop_reason max_tokens


def test_broken_binary_files_are_refused_clearly(tmp_path: Path) -> None:
    unscored = tmp_path / "run.eval"
    with zipfile.ZipFile(INSPECT) as source, zipfile.ZipFile(unscored, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            data = json.loads(source.read(name))
            if name.startswith("samples/"):
                data["scores"] = {}
            target.writestr(name, json.dumps(data))
    with pytest.raises(ResultFileError, match="has no scores; score the log"):
        load_results(unscored)
    empty = tmp_path / "empty.eval"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("header.json", json.dumps({"version": 2, "eval": {"task": "aime25"}}))
    with pytest.raises(ResultFileError, match="holds no samples"):
        load_results(empty)
    not_zip = tmp_path / "details_x.parquet"
    not_zip.write_bytes(b"PAR1garbage")
    with pytest.raises(ResultFileError, match="not a readable parquet file"):
        load_results(not_zip)


def test_import_stores_samples_and_reads_aggregate_in_sql(engine, capsys) -> None:
    assert main(["--db", str(engine.url), "import", "--commit", "abcdef1", "--create", str(INSPECT)]) == 0
    with unit_of_work(engine) as session:
        version = records.find_version(session, "abcdef1")
        [result] = version.results
        totals = sample_totals(session, [result.id])[result.id]
        assert (totals.samples, totals.correct, totals.output_tokens, totals.cut_by_cap) == (6, 3, 1209, 3)
        assert totals.thinking_tokens == 600 and totals.latency_s == pytest.approx(13.5)
        assert per_problem_counts(session, result.id) == {"1": (2, 2), "2": (1, 2), "3": (0, 2)}
        assert session.scalar(select(func.count()).where(SampleResult.output_z.is_not(None))) == 0  # opt-in
        facts = records.version_facts(session, version)
        assert facts.scores["aime25"].cost["tokens_per_correct"] == pytest.approx(1209 / 3)
    # importing again replaces the result and its samples
    assert main(["--db", str(engine.url), "import", "--commit", "abcdef1", str(INSPECT)]) == 0
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(SampleResult)) == 6


def test_outputs_are_kept_compressed_when_asked(engine) -> None:
    [result] = load_results(INSPECT)
    with unit_of_work(engine) as session:
        version = records.record_version(session, "abcdef2")
        [row] = records.import_results(session, version, [result], keep_outputs=True)
        stored = session.scalars(select(SampleResult.output_z).where(SampleResult.result_id == row.id)).all()
        table = sample_table(session, row.id, with_output=True, limit=2)
    assert all(isinstance(b, bytes) for b in stored)
    assert table[0]["output"] == result.samples[0].output and table[0]["answer"] == "443"


def test_problem_sets_in_common_layouts(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # VibeThinker's own eval parquet: chat prompt, reward_model.ground_truth (an int for AIME25), extra_info.index
    rows = [{"data_source": "", "prompt": [{"role": "user", "content": "Find x. Let's think step by step."}],
             "ability": "math", "reward_model": {"ground_truth": 70, "style": "rule"},
             "extra_info": {"index": 0, "split": "test"}},
            {"data_source": "", "prompt": [{"role": "user", "content": "Find y."}], "ability": "math",
             "reward_model": {"ground_truth": 588, "style": "rule"}, "extra_info": {"index": 1, "split": "test"}}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "aime25.parquet")
    problems = load_problem_set(tmp_path / "aime25.parquet")
    assert problems.layout == "dataset parquet" and problems.name == "aime25"
    assert [(p.id, p.answer, p.prompt) for p in problems.problems] == [("0", "70", "Find x. Let's think step by step."),
                                                                      ("1", "588", "Find y.")]
    # MATH-style JSONL: the answer is the last \boxed{} of the worked solution
    math_file = tmp_path / "math500.jsonl"
    math_file.write_text(json.dumps({"unique_id": "test/algebra/1.json", "problem": "Simplify.",
                                     "solution": "So it is $\\boxed{\\frac{1}{2}}$."}) + "\n", encoding="utf-8")
    [problem] = load_problem_set(math_file).problems
    assert (problem.id, problem.answer) == ("test/algebra/1.json", "\\frac{1}{2}")
    # the solve panel's own format, code problems included
    solve_file = tmp_path / "mine.jsonl"
    solve_file.write_text('{"id": "c1", "kind": "code", "prompt": "Add.", "tests": [{"input": "1 2", "output": "3"}]}\n',
                          encoding="utf-8")
    loaded = load_problem_set(solve_file)
    assert loaded.layout == "solve jsonl" and loaded.problems[0].tests[0].output == "3"
    assert load_problem_set(solve_file).digest == loaded.digest
    duplicate = tmp_path / "dup.jsonl"
    duplicate.write_text('{"id": 1, "question": "a", "answer": 1}\n{"id": 1, "question": "b", "answer": 2}\n')
    with pytest.raises(ProblemFileError, match="line 2: id '1' is used twice"):
        load_problem_set(duplicate)


def test_every_eval_ever_export(engine, tmp_path: Path, capsys) -> None:
    url = str(engine.url)
    assert main(["--db", url, "record", "--commit", "abcdef3", "--model", "WeiboAI/VibeThinker-1.5B"]) == 0
    assert main(["--db", url, "import", "--commit", "abcdef3", str(INSPECT)]) == 0
    capsys.readouterr()
    out = tmp_path / "eee.json"
    assert main(["--db", url, "export", "--format", "every-eval-ever", "--commit", "abcdef3", "-o", str(out)]) == 0
    document = json.loads(out.read_text())
    for key in ("schema_version", "evaluation_id", "retrieved_timestamp", "source_metadata", "model_info",
                "eval_library", "evaluation_results"):
        assert key in document
    assert document["model_info"]["id"] == "WeiboAI/VibeThinker-1.5B"
    [entry] = document["evaluation_results"]
    assert entry["score_details"]["score"] == pytest.approx(0.5)
    interval = entry["score_details"]["uncertainty"]["confidence_interval"]
    assert interval["lower"] <= 0.5 <= interval["upper"] and interval["confidence_level"] == 0.95
    assert entry["metric_config"]["metric_parameters"] == {"k": 1, "n": 2}
    assert entry["generation_config"]["generation_args"]["temperature"] == 0.6
    detail = document["detailed_evaluation_results"]
    lines = (tmp_path / detail["file_path"]).read_text().splitlines()
    assert detail["total_rows"] == len(lines) == 6
    record = json.loads(lines[0])
    assert record["evaluation_id"] == document["evaluation_id"] and record["interaction_type"] == "single_turn"
    assert record["evaluation"] == {"score": 1.0, "is_correct": True}
    assert record["answer_attribution"][0]["extracted_value"] == "443"
    assert record["performance"]["additional_details"]["output_tokens"] == "101"
    assert main(["--db", url, "export", "--format", "every-eval-ever"]) == 2
    assert "add --commit SHA" in capsys.readouterr().err
