"""Result importers: benchmark names, format detection, every format's values, and every bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from vibedash.decisions.benchmarks import (
    HEADLINE_BENCHMARKS,
    canonical_benchmark,
    display_name,
)
from vibedash.importers import (
    FORMATS,
    ParsedResult,
    ResultFileError,
    detect_format,
    load_results,
)

RESULTS = Path(__file__).resolve().parent / "fixtures" / "results"
CSV_HEADER = "model_path,dataset,pass@1,pass@64,cons@64,cutoff_raio,mean_response_tokens,run_hours\n"


def by_metric(results: list[ParsedResult], benchmark: str) -> dict[str, ParsedResult]:
    return {result.metric: result for result in results if result.benchmark == benchmark}


def primary(results: list[ParsedResult], benchmark: str) -> ParsedResult:
    (result,) = [result for result in results if result.benchmark == benchmark and result.is_primary]
    return result


def write(directory: Path, name: str, content: str | dict | list) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def fixture_json(relative: str) -> dict | list:
    return json.loads((RESULTS / relative).read_text(encoding="utf-8"))


def raises(message: str):
    """pytest.raises for a ResultFileError whose text contains `message` literally."""
    return pytest.raises(ResultFileError, match=re.escape(message))


# --- benchmark names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("aime25.parquet", "aime25"),
        ("lighteval|aime25|0", "aime25"),
        ("custom|aime25_avg|0", "aime25"),
        ("aime25", "aime25"),
        ("AIME 2025", "aime25"),
        ("Maxwell-Jia/AIME_2024", "aime24"),
        ("livecodebench_v6", "lcb_v6"),
        ("release_v6", "lcb_v6"),
        ("LCB v5", "lcb_v5"),
        ("lcb:codegeneration_v6", "lcb_v6"),
        ("gpqa:diamond", "gpqa_diamond"),
        ("lighteval|gpqa:diamond|0", "gpqa_diamond"),
        ("gpqa_diamond_cot_zeroshot", "gpqa_diamond"),
        ("GPQA-D", "gpqa_diamond"),
        ("math_500", "math500"),
        ("HuggingFaceH4/MATH-500", "math500"),
        ("hmmt_feb_2025", "hmmt25"),
        ("aime26", "aime26"),
        ("lighteval|lcb:codegeneration|0", "livecodebench"),
        # Unknown names become slugs, so new benchmarks still import.
        ("GSM8K", "gsm8k"),
        ("ifeval|0", "ifeval"),
        ("hmmt_nov_2025", "hmmt_nov_2025"),
        ("aime", "aime"),  # lm-eval's "aime" is every year, not AIME 2024
    ],
)
def test_canonical_benchmark(raw: str, key: str) -> None:
    assert canonical_benchmark(raw) == key


@pytest.mark.parametrize("raw", ["", "  ", "|0", "!!"])
def test_canonical_benchmark_refuses_names_without_letters_or_digits(raw: str) -> None:
    with pytest.raises(ValueError, match="has no letters or digits"):
        canonical_benchmark(raw)


def test_headline_benchmarks_and_display_names() -> None:
    assert HEADLINE_BENCHMARKS == ("aime24", "aime25", "hmmt25", "lcb_v5", "lcb_v6", "gpqa_diamond", "math500")
    assert [display_name(key) for key in HEADLINE_BENCHMARKS] == [
        "AIME24", "AIME25", "HMMT25", "LCB v5", "LCB v6", "GPQA-D", "MATH-500",
    ]
    assert display_name("aime26") == "AIME26"
    assert display_name("lcb_v7") == "LCB v7"
    assert display_name("gsm8k") == "gsm8k"


# --- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "format_name"),
    [
        ("vibethinker/pass_0.49h.csv", "vibethinker"),
        ("vibethinker/v1/aime25.json", "vibethinker"),
        ("livecodebench/release_v6/codegeneration_8_0.6_eval.json", "livecodebench"),
        ("livecodebench/release_v6/codegeneration_8_0.6_eval_all.json", "livecodebench"),
        ("lm_eval/results_2025-11-20T10-31-07.412399.json", "lm_eval"),
        ("lm_eval/arc_easy-v0-res.json", "lm_eval"),
        ("lighteval/results_2025-11-20T11-02-33.918274.json", "lighteval"),
        ("evalscope/v1/gpqa_diamond.json", "evalscope"),
        ("evalscope/v2/aime25.json", "evalscope"),
        ("plain/readme_scores.json", "plain_json"),
        ("plain/fractions_with_protocol.json", "plain_json"),
    ],
)
def test_detect_format(relative: str, format_name: str) -> None:
    path = RESULTS / relative
    assert path.stat().st_size < 50_000
    assert detect_format(path) == format_name
    results = load_results(path)
    assert {result.source_format for result in results} == {format_name}


def test_format_names() -> None:
    assert list(FORMATS) == ["vibethinker", "livecodebench", "lm_eval", "lighteval", "evalscope", "lm_eval_samples",
                             "plain_json"]


# --- VibeThinker ------------------------------------------------------------------------------------


def test_vibethinker_summary_csv() -> None:
    results = load_results(RESULTS / "vibethinker" / "pass_0.49h.csv")
    assert [(r.benchmark, r.metric, r.is_primary) for r in results] == [
        ("aime25", "pass@1", True), ("aime25", "pass@64", False), ("aime25", "cons@64", False),
    ]
    pass_1, pass_64, cons_64 = results
    assert pass_1.score == 74.375
    assert (pass_1.samples_per_problem, pass_1.k) == (64, 1)
    assert (pass_64.score, pass_64.k, pass_64.samples_per_problem) == (90.0, 64, 64)
    assert (cons_64.score, cons_64.k) == (85.0, None)
    assert pass_1.settings == {
        "dataset": "aime25.parquet",
        "model_path": "checkpoints/global_step_290/hf",
        "cutoff_ratio": 0.0,
        "mean_response_tokens": 18686.2234375,
        "run_hours": 0.48988924509949155,
    }


def test_vibethinker_summary_csv_with_several_datasets_and_their_own_names(tmp_path: Path) -> None:
    path = write(tmp_path, "pass_1.20h.csv", "model_path,dataset,pass@1,pass@16,cons@16\r\n"
                 "ckpt,aime.parquet,0.8,0.9,0.85\r\nckpt,gpqa.parquet,0.46,0.9,0.5\r\n")
    results = load_results(path)
    # VibeThinker's "aime" dataset is AIME 2024 and its "gpqa" is GPQA-Diamond.
    assert primary(results, "aime24").score == 80.0
    assert primary(results, "gpqa_diamond").score == 46.0
    assert by_metric(results, "gpqa_diamond")["cons@16"].samples_per_problem == 16


def test_vibethinker_problem_lines() -> None:
    v1 = load_results(RESULTS / "vibethinker" / "v1" / "aime25.json")
    v2 = load_results(RESULTS / "vibethinker" / "v2" / "aime25.json")
    pass_1, pass_8 = v1
    assert (pass_1.benchmark, pass_1.metric, pass_1.is_primary) == ("aime25", "pass@1", True)
    assert pass_1.score == 70.0  # 168 of 240
    assert (pass_1.problems, pass_1.samples_per_problem, pass_1.k) == (30, 8, 1)
    assert (pass_8.metric, pass_8.score, pass_8.k, pass_8.is_primary) == ("pass@8", 90.0, 8, False)
    assert v2[0].score == 75.0 and v2[1].score == pytest.approx(93.33333333)

    outcomes_v1 = {o.problem_id: o for o in v1[0].problem_outcomes}
    outcomes_v2 = {o.problem_id: o for o in v2[0].problem_outcomes}
    assert list(outcomes_v1) == [str(index) for index in range(30)] == list(outcomes_v2)
    assert sum(o.correct for o in outcomes_v1.values()) == 168
    assert {o.samples for o in outcomes_v1.values()} == {8}
    assert (outcomes_v1["0"].correct, outcomes_v1["26"].correct, outcomes_v2["26"].correct) == (8, 1, 0)
    flipped = {pid for pid in outcomes_v1 if (outcomes_v1[pid].correct > 0) != (outcomes_v2[pid].correct > 0)}
    assert flipped == {"21", "26", "28"}


# Was "problem ids fall back to line numbers": drop one line and every later "pair" compares two different
# problems (issue 9). Without extra_info.index, a problem is identified by its text; with no text, not paired.
def test_vibethinker_problems_without_ids_are_paired_by_their_text_never_by_line(tmp_path: Path) -> None:
    def line(problem: str, correctness: list[int]) -> str:
        return json.dumps({"prompt": [{"role": "user", "content": problem}], "correctness": correctness})

    full = "\n".join(line(f"Problem {i}: find x.", [1, 0, 0, i % 2]) for i in range(5)) + "\n"
    shorter = "\n".join(line(f"Problem {i}: find x.", [1, 0, 0, i % 2]) for i in range(5) if i != 1) + "\n"
    (run_a, _), (run_b, _) = load_results(write(tmp_path, "hmmt25.json", full)), \
        load_results(write(tmp_path / "b", "hmmt25.json", shorter))
    ids_a = {o.problem_id: o for o in run_a.problem_outcomes}
    ids_b = {o.problem_id: o for o in run_b.problem_outcomes}
    assert all(pid.startswith("text-") for pid in ids_a)
    assert len(ids_b) == 4 and set(ids_b) < set(ids_a)  # the dropped line leaves the other pairs intact
    assert all(ids_a[pid] == ids_b[pid] for pid in ids_b)
    assert run_a.settings["problem_ids"] == "a hash of the problem text (no extra_info.index)"


def test_vibethinker_lines_with_neither_id_nor_text_are_not_paired_with_other_runs(tmp_path: Path) -> None:
    lines = '{"correctness": [1, 0, 0, 1]}\n\n{"correctness": [true, true, true, false]}\n'
    path = write(tmp_path, "hmmt25.json", lines)
    (result, pass_4) = load_results(path)
    assert result.benchmark == "hmmt25"
    assert result.score == 62.5
    assert [(o.correct, o.samples) for o in result.problem_outcomes] == [(2, 4), (3, 4)]
    ids = [o.problem_id for o in result.problem_outcomes]
    assert all(pid.startswith("unpaired-") for pid in ids) and ids[0].endswith("line1") and ids[1].endswith("line3")
    other = write(tmp_path / "other", "hmmt25.json", lines.replace("[1, 0, 0, 1]", "[0, 0, 0, 1]"))
    assert not set(ids) & {o.problem_id for o in load_results(other)[0].problem_outcomes}
    assert "not paired" in result.settings["problem_ids"]
    assert pass_4.score == 100.0


def test_vibethinker_one_sample_has_no_pass_at_n(tmp_path: Path) -> None:
    path = write(tmp_path, "aime25.json", '{"correctness": [1], "extra_info": {"index": 7}}\n')
    (result,) = load_results(path)
    assert (result.metric, result.score, result.problem_outcomes[0].problem_id) == ("pass@1", 100.0, "7")


# --- lm-evaluation-harness ----------------------------------------------------------------------------


def test_lm_eval_results() -> None:
    results = load_results(RESULTS / "lm_eval" / "results_2025-11-20T10-31-07.412399.json")
    aime24 = primary(results, "aime24")
    assert aime24.metric == "exact_match"
    assert aime24.score == pytest.approx(100 * 23 / 30)
    assert aime24.stderr == pytest.approx(7.8540323245)
    assert (aime24.problems, aime24.samples_per_problem, aime24.temperature, aime24.top_p, aime24.max_tokens) == (
        30, 1, 0.0, None, 32768,
    )
    assert aime24.settings == {"task": "aime24", "filter": "none", "num_fewshot": 0, "task_version": 0.0}
    assert primary(results, "aime25").score == pytest.approx(100 * 20 / 30)
    gsm8k = by_metric(results, "gsm8k")
    assert set(gsm8k) == {"exact_match,strict-match", "exact_match,flexible-extract"}
    assert primary(results, "gsm8k").metric == "exact_match,strict-match"
    assert gsm8k["exact_match,flexible-extract"].score == pytest.approx(100 * 1130 / 1319)
    assert gsm8k["exact_match,strict-match"].settings["num_fewshot"] == 5


def test_lm_eval_v0_file_without_filters() -> None:
    results = load_results(RESULTS / "lm_eval" / "arc_easy-v0-res.json")
    assert [(r.benchmark, r.metric, r.is_primary) for r in results] == [
        ("arc_easy", "acc", True), ("arc_easy", "acc_norm", False),
    ]
    assert results[0].score == pytest.approx(24.78956228956229)
    assert results[0].stderr == pytest.approx(0.8860162004242422)


def test_lm_eval_run_gen_kwargs_override_the_task_ones(tmp_path: Path) -> None:
    document = fixture_json("lm_eval/results_2025-11-20T10-31-07.412399.json")
    document["config"]["gen_kwargs"] = "do_sample=True,temperature=0.6,top_p=0.95,max_gen_toks=40960"
    document["configs"]["aime25"]["repeats"] = 4
    results = load_results(write(tmp_path, "results_x.json", document))
    aime25 = primary(results, "aime25")
    assert (aime25.temperature, aime25.top_p, aime25.max_tokens) == (0.6, 0.95, 40960)
    assert aime25.samples_per_problem == 4


def test_lm_eval_leaves_out_metrics_that_are_not_scores(tmp_path: Path) -> None:
    document = {
        "results": {"wikitext": {"alias": "wikitext", "word_perplexity,none": 21.4, "bits_per_byte,none": 0.63},
                    "toy": {"acc,none": 0.5, "acc_stderr,none": "N/A", "bleu,none": 31.2}},
        "higher_is_better": {"wikitext": {"word_perplexity": False, "bits_per_byte": False}, "toy": {"acc": True}},
        "versions": {"wikitext": 2, "toy": 1},
    }
    (result,) = load_results(write(tmp_path, "results.json", document))
    assert (result.benchmark, result.metric, result.score, result.stderr) == ("toy", "acc", 50.0, None)


def test_lm_eval_fraction_metric_out_of_range(tmp_path: Path) -> None:
    document = {"results": {"aime25": {"exact_match,none": 1.4}}, "versions": {"aime25": 0}}
    path = write(tmp_path, "results.json", document)
    with raises("aime25 exact_match is 1.4, outside 0 to 1"):
        load_results(path)


def test_lm_eval_two_tasks_for_one_benchmark_and_metric(tmp_path: Path) -> None:
    document = {"results": {"gpqa_diamond_zeroshot": {"acc,none": 0.3}, "gpqa_diamond_n_shot": {"acc,none": 0.35}},
                "versions": {}}
    with raises("gpqa_diamond has metric acc twice (from gpqa_diamond_zeroshot and gpqa_diamond_n_shot)"):
        load_results(write(tmp_path, "results.json", document))


def test_lm_eval_file_without_scores(tmp_path: Path) -> None:
    document = {"results": {"wikitext": {"word_perplexity,none": 21.4}}, "versions": {"wikitext": 2}}
    with raises("holds no benchmark scores; check that the evaluation finished"):
        load_results(write(tmp_path, "results.json", document))


# --- lighteval -----------------------------------------------------------------------------------------


def test_lighteval_results() -> None:
    results = load_results(RESULTS / "lighteval" / "results_2025-11-20T11-02-33.918274.json")
    assert "all" not in {result.benchmark for result in results}
    assert [r.benchmark for r in results if r.is_primary] == ["aime24", "aime25", "gpqa_diamond", "math500"]
    aime24 = primary(results, "aime24")
    assert (aime24.metric, aime24.k, aime24.samples_per_problem, aime24.problems) == ("pass@k:k=1&n=1", 1, 1, 30)
    assert aime24.score == pytest.approx(73.33333333)
    assert (aime24.temperature, aime24.top_p, aime24.max_tokens) == (0.6, 0.95, 32768)
    # Two tasks give AIME25; the pass@1 estimate from 64 samples is the headline.
    aime25 = by_metric(results, "aime25")
    assert aime25["avg@n:n=64"].is_primary and not aime25["pass@k:k=1&n=1"].is_primary
    assert (aime25["avg@n:n=64"].score, aime25["avg@n:n=64"].stderr) == (74.21875, 7.12)
    assert aime25["avg@n:n=64"].samples_per_problem == 64
    assert aime25["avg@n:n=64"].settings == {"task": "custom|aime25_avg|0"}
    assert primary(results, "gpqa_diamond").score == pytest.approx(100 * 91 / 198)
    assert primary(results, "math500").problems == 500


def test_lighteval_metric_parameters_and_ranking(tmp_path: Path) -> None:
    document = {
        "config_general": {"model_name": "m"},
        "results": {
            "lighteval|lcb:codegeneration_v6|0": {"codegen_pass@1:16": 0.5, "codegen_pass@1:16_stderr": 0.04},
            "lighteval|gsm8k|0": {"em": 0.8, "maj@8": 0.85},
            "all": {"em": 0.8},
        },
    }
    results = load_results(write(tmp_path, "results_1.json", document))
    lcb = primary(results, "lcb_v6")
    assert (lcb.metric, lcb.k, lcb.samples_per_problem) == ("codegen_pass@1:16", 1, 16)
    assert (lcb.score, lcb.stderr) == (50.0, 4.0)
    gsm8k = by_metric(results, "gsm8k")
    assert gsm8k["em"].is_primary and gsm8k["maj@8"].samples_per_problem == 8


# --- EvalScope ----------------------------------------------------------------------------------------------


def test_evalscope_v1_report() -> None:
    (result,) = load_results(RESULTS / "evalscope" / "v1" / "gpqa_diamond.json")
    assert (result.benchmark, result.metric, result.score) == ("gpqa_diamond", "mean_acc", 46.97)
    assert result.problems == 198


def test_evalscope_v2_report_primary_comes_from_its_identity() -> None:
    results = load_results(RESULTS / "evalscope" / "v2" / "aime25.json")
    assert [(r.metric, r.score, r.is_primary) for r in results] == [
        ("pass_at_k_acc:k=8", 90.0, False),  # no legacy name: built from the identity
        ("mean_acc", 74.17, True),
    ]  # the diagnostic latency metric is not a score
    assert results[0].k == 8
    assert results[1].settings["identity"] == {"name": "acc", "aggregation": "mean", "dimensions": {}}


def test_evalscope_v2_percent_range(tmp_path: Path) -> None:
    document = fixture_json("evalscope/v2/aime25.json")
    document["metrics"][1]["score"] = 74.17
    document["metrics"][1]["semantics"]["value_range"] = {"min": 0, "max": 100}
    assert primary(load_results(write(tmp_path, "aime25.json", document)), "aime25").score == 74.17


def test_evalscope_incomplete_run(tmp_path: Path) -> None:
    document = fixture_json("evalscope/v2/aime25.json")
    document["execution_summary"].update(succeeded=200, errored=40, incomplete=True)
    with raises("the EvalScope run is incomplete (200 of 240 samples succeeded, 40 errored)"):
        load_results(write(tmp_path, "aime25.json", document))


def test_evalscope_unknown_schema(tmp_path: Path) -> None:
    document = fixture_json("evalscope/v2/aime25.json") | {"schema_version": 3}
    with raises("EvalScope report schema_version 3 is not supported"):
        load_results(write(tmp_path, "aime25.json", document))


# --- LiveCodeBench --------------------------------------------------------------------------------------------

LCB = RESULTS / "livecodebench" / "release_v6"
LCB_CORRECT = [8, 5, 8, 1, 0, 6, 3, 2, 7, 0]  # of 8, per problem


def test_livecodebench_eval() -> None:
    pass_1, pass_5 = load_results(LCB / "codegeneration_8_0.6_eval.json")
    assert (pass_1.benchmark, pass_1.metric, pass_1.score, pass_1.is_primary) == ("lcb_v6", "pass@1", 50.0, True)
    assert (pass_1.problems, pass_1.samples_per_problem, pass_1.temperature, pass_1.k) == (10, 8, 0.6, 1)
    assert [(o.problem_id, o.correct, o.samples) for o in pass_1.problem_outcomes] == [
        (str(index), correct, 8) for index, correct in enumerate(LCB_CORRECT)
    ]
    assert (pass_5.metric, pass_5.score, pass_5.k, pass_5.is_primary) == ("pass@5", 75.0, 5, False)


def test_livecodebench_eval_all() -> None:
    (result,) = load_results(LCB / "codegeneration_8_0.6_eval_all.json")
    assert (result.benchmark, result.score, result.problems, result.samples_per_problem) == ("lcb_v6", 50.0, 10, 8)
    assert [o.problem_id for o in result.problem_outcomes][:3] == ["abc392_a", "abc392_d", "3709"]
    assert [o.correct for o in result.problem_outcomes] == LCB_CORRECT
    assert result.settings == {"contest_date_from": "2025-02-08", "contest_date_to": "2025-04-19"}


def test_livecodebench_release_from_contest_dates(tmp_path: Path) -> None:
    v6 = shutil.copy(LCB / "codegeneration_8_0.6_eval_all.json", tmp_path / "codegeneration_8_0.6_eval_all.json")
    assert load_results(v6)[0].benchmark == "lcb_v6"
    problems = fixture_json("livecodebench/release_v6/codegeneration_8_0.6_eval_all.json")
    for problem in problems:
        problem["contest_date"] = "2024-10-05T00:00:00"
    assert load_results(write(tmp_path, "run_eval_all.json", problems))[0].benchmark == "lcb_v5"


def test_livecodebench_release_from_name_or_caller(tmp_path: Path) -> None:
    eval_file = LCB / "codegeneration_8_0.6_eval.json"
    unnamed = shutil.copy(eval_file, tmp_path / "codegeneration_8_0.6_eval.json")
    with raises("cannot tell which LiveCodeBench release this file scores; pass --benchmark lcb_v5 or lcb_v6"):
        load_results(unnamed)
    assert load_results(unnamed, benchmark="LCB v5")[0].benchmark == "lcb_v5"
    named = shutil.copy(eval_file, tmp_path / "lcb_release_v5_eval.json")
    assert load_results(named)[0].benchmark == "lcb_v5"
    # A model version in the name is not a LiveCodeBench release.
    model_version = shutil.copy(eval_file, tmp_path / "vibethinker_v2_codegeneration_8_0.6_eval.json")
    with raises("cannot tell which LiveCodeBench release"):
        load_results(model_version)


def test_livecodebench_eval_pass_at_1_must_match_its_problems(tmp_path: Path) -> None:
    document = fixture_json("livecodebench/release_v6/codegeneration_8_0.6_eval.json")
    document[0]["pass@1"] = 0.55
    with raises("pass@1 0.55 disagrees with its per-problem results (0.5)"):
        load_results(write(tmp_path, "release_v6/x_eval.json", document))


def test_livecodebench_graded_list_must_be_booleans(tmp_path: Path) -> None:
    problems = fixture_json("livecodebench/release_v6/codegeneration_8_0.6_eval_all.json")
    problems[1]["graded_list"] = []
    with raises("problem 'abc392_d' \"graded_list\" is []; it must hold one true/false per generation"):
        load_results(write(tmp_path, "release_v6/x_eval_all.json", problems))


# --- plain JSON --------------------------------------------------------------------------------------------------


def test_plain_json_percent() -> None:
    results = load_results(RESULTS / "plain" / "readme_scores.json")
    assert [(r.benchmark, r.score) for r in results] == [
        ("aime24", 80.3), ("aime25", 74.4), ("hmmt25", 50.4), ("lcb_v5", 55.9), ("lcb_v6", 51.1),
        ("gpqa_diamond", 46.7), ("math500", 95.0),
    ]
    assert all(r.metric == "pass@1" and r.is_primary and r.samples_per_problem is None for r in results)


def test_plain_json_fractions_and_protocol() -> None:
    aime25, hmmt25 = load_results(RESULTS / "plain" / "fractions_with_protocol.json")
    assert (aime25.benchmark, aime25.score, hmmt25.benchmark, hmmt25.score) == ("aime25", 74.375, "hmmt25", 50.4)
    assert (aime25.samples_per_problem, aime25.temperature, aime25.top_p, aime25.max_tokens, aime25.k) == (
        64, 1.0, 0.95, 40960, 1,
    )
    assert aime25.settings == {"grader": "rllm math_reward"}


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({"aime24": 6.7, "lcb_v5": 0.0}, {"aime24": 6.7, "lcb_v5": 0.0}),  # a zero fits both scales
        ({"aime24": 0.067, "lcb_v5": 0}, {"aime24": 6.7, "lcb_v5": 0.0}),
        ({"aime25": 1, "hmmt25": 0.5}, {"aime25": 100.0, "hmmt25": 50.0}),
        ({"scores": {"hmmt25": 0.6, "aime24": 6.7}, "scale": "percent"}, {"hmmt25": 0.6, "aime24": 6.7}),
        ({"scores": {"aime25": 0.5}, "scale": "fraction"}, {"aime25": 50.0}),
    ],
)
def test_plain_json_scale(tmp_path: Path, scores: dict, expected: dict[str, float]) -> None:
    results = load_results(write(tmp_path, "scores.json", scores))
    assert {r.benchmark: r.score for r in results} == pytest.approx(expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"hmmt25": 0.6, "aime24": 6.7}, "scores mix the 0-1 and 0-100 scales (hmmt25=0.6, aime24=6.7)"),
        ({"aime25": 174.4}, "score 'aime25' is 174.4, above 100"),
        ({"aime25": -1}, "score 'aime25' is negative (-1)"),
        ({"aime25": "74.4%", "hmmt25": 50.4}, "score 'aime25' is '74.4%', not a number"),
        ({"aime25": True, "hmmt25": 50.4}, "score 'aime25' is True, not a number"),
        ({"scores": {"aime25": 74.4}, "scale": "fraction"}, "'aime25' is 74.4 but \"scale\" is \"fraction\""),
        ({"scores": {"aime25": 74.4}, "scale": "percentage"}, "\"scale\" is 'percentage'"),
        ({"scores": {"aime25": 74.4}, "protocl": {}}, "unknown top-level key 'protocl' next to \"scores\""),
        ({"scores": {"aime25": 74.4}, "protocol": {"samples": 0}}, 'protocol "samples" is 0'),
        ({"scores": {}}, "has no scores"),
        ({"aime25": 74.4, "AIME 2025": 70.0}, "'aime25' and 'AIME 2025' are both benchmark aime25"),
    ],
)
def test_plain_json_bad_input(tmp_path: Path, content: dict, message: str) -> None:
    with raises(message):
        load_results(write(tmp_path, "scores.json", content), format="plain_json")


# --- the loader: format and benchmark overrides ---------------------------------------------------------------


def test_format_override(tmp_path: Path) -> None:
    path = write(tmp_path, "scores.json", {"aime25": 74.4})
    assert load_results(path, format="plain_json")[0].source_format == "plain_json"
    assert load_results(RESULTS / "lm_eval" / "arc_easy-v0-res.json", format="LM-Eval")[0].metric == "acc"
    with raises("unknown format 'xml'; choose one of: vibethinker, livecodebench, lm_eval, lighteval, evalscope"):
        load_results(path, format="xml")
    with raises("not valid JSON at line 1, column 1 (Expecting value); this format expects an lm-evaluation"):
        load_results(RESULTS / "vibethinker" / "pass_0.49h.csv", format="lm_eval")
    with raises('has no "results" object'):
        load_results(path, format="lm_eval")


def test_benchmark_override(tmp_path: Path) -> None:
    renamed = shutil.copy(RESULTS / "vibethinker" / "v1" / "aime25.json", tmp_path / "run-0417.json")
    assert {r.benchmark for r in load_results(renamed)} == {"run_0417"}  # a new name still imports
    assert {r.benchmark for r in load_results(renamed, benchmark="AIME 2025")} == {"aime25"}
    summary = RESULTS / "vibethinker" / "pass_0.49h.csv"
    assert {r.benchmark for r in load_results(summary, benchmark="aime24")} == {"aime24"}
    with raises("--benchmark aime25 names one benchmark but the file holds 7 (aime24, aime25, hmmt25"):
        load_results(RESULTS / "plain" / "readme_scores.json", benchmark="aime25")
    with raises("the benchmark given to import: benchmark name '??' has no letters or digits"):
        load_results(renamed, benchmark="??")


# --- bad files ----------------------------------------------------------------------------------------------


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with raises(f"{tmp_path / 'nope.json'}: no such file; check the path"):
        load_results(tmp_path / "nope.json")
    with raises(f"{tmp_path}: is a folder; give the result file inside it"):
        load_results(tmp_path)


@pytest.mark.parametrize("content", ["", "  \n\n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, "results.json", content)
    with raises(f"{path}: the file is empty"):
        load_results(path)
    with raises("the file is empty"):
        detect_format(path)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(b"\x1f\x8b\x08\x00\xff")
    with raises("is not UTF-8 text (byte 1)"):
        load_results(path)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "results.json", '{\n  "results": {\n    "aime25": {"exact_match,none": 0.5,}\n  }\n}\n')
    with raises(f"{path}: not valid JSON at line 3, column 40 (Expecting property name enclosed in double"):
        load_results(path)


def test_invalid_json_lines_names_the_line(tmp_path: Path) -> None:
    lines = '{"correctness": [1, 0]}\n{"correctness": [0, 0]}\n{"correctness": [1,\n'
    path = write(tmp_path, "aime25.json", lines)
    with raises(f"{path}: not valid JSON at line 3, column 20 (Expecting value); every line of a JSON Lines file"):
        load_results(path)


def test_json_lines_split_only_at_newlines(tmp_path: Path) -> None:
    # JSON allows U+2028 raw inside strings (pandas writes it with force_ascii=False); it is no line break.
    path = tmp_path / "aime25.json"
    path.write_text('{"responses": ["a\u2028b", "c"], "correctness": [1, 0]}\n', encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")
    assert load_results(path)[0].score == 50.0


def test_json_lines_of_an_unknown_shape(tmp_path: Path) -> None:
    # lm-eval's samples_<task>_<date>.jsonl: valid JSON Lines, but not a results file.
    path = write(tmp_path, "samples_aime25.jsonl", '{"doc_id": 0, "filter": "none"}\n{"doc_id": 1, "filter": "none"}\n')
    with raises(f"{path}: not a result format vibedash knows; supported: vibethinker"):
        load_results(path)


def test_json_too_large_to_convert(tmp_path: Path) -> None:
    path = write(tmp_path, "scores.json", '{"aime25": ' + "7" * 5000 + "}")
    with raises("not valid JSON (Exceeds the limit"):
        load_results(path)


def test_json_document_is_not_json_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "aime25.json", '{\n  "correctness": [1, 0]\n}\n')
    with raises("is one JSON document, not JSON Lines; this format expects VibeThinker's per-problem JSON Lines"):
        load_results(path, format="vibethinker")


def test_unknown_shape_lists_formats_and_suggests_format(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.json", {"model": "x", "comment": "no scores here"})
    with pytest.raises(ResultFileError) as error:
        detect_format(path)
    message = str(error.value)
    assert message.startswith(f"{path}: not a result format vibedash knows; supported: vibethinker (")
    assert all(name in message for name in FORMATS)
    assert message.endswith("if it is one of these, pass --format NAME")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("pass_1h.csv", CSV_HEADER, "has a header but no rows"),
        ("pass_1h.csv", CSV_HEADER + "ckpt,aime25.parquet,0.7,0.9,n/a,0,100,1\n",
         "row 2 column cons@64 is 'n/a', not a number"),
        ("pass_1h.csv", CSV_HEADER + "ckpt,aime25.parquet,74.4,0.9,0.8,0,100,1\n",
         "row 2 pass@1 is 74.4, outside 0 to 1"),
        ("pass_1h.csv", CSV_HEADER + "ckpt,aime25,0.7,0.9,0.8,0,100,1\nckpt,aime25.parquet,0.6,0.9,0.8,0,100,1\n",
         "rows 2 and 3 are both aime25; keep the row of the run you want to import"),
        ("pass_1h.csv", "model_path,dataset,pass@1,pass@64,cons@16\nckpt,aime25,0.7,0.9,0.8\n",
         "columns pass@64, cons@16 name different sample counts"),
        ("aime25.json", '{"correctness": [1, 0]}\n{"correctness": [1, 0, 1]}\n',
         "line 2 has 3 samples but line 1 has 2"),
        ("aime25.json", '{"correctness": [1, 2]}\n',
         'line 1 "correctness" is [1, 2]; it must be a non-empty list of 0/1'),
        ("aime25.json", '{"correctness": [1, 0], "responses": ["a"]}\n',
         "line 1 has 1 responses but 2 correctness values"),
        ("aime25.json", '{"correctness": [1], "extra_info": {"index": 3}}\n' * 2,
         "problem 3 appears twice (line 2)"),
        ("aime25.json", '{"correctness": [1]}\n[1, 2]\n', "line 2 is not a JSON object"),
    ],
)
def test_vibethinker_bad_input(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = write(tmp_path, name, content)
    with raises(f"{path}: {message}"):
        load_results(path)


def test_a_known_benchmark_with_a_word_for_a_score_is_plain_json_with_a_bad_score(tmp_path: Path) -> None:
    path = write(tmp_path, "scores.json", {"aime25": "high"})
    assert detect_format(path) == "plain_json"
    with raises("score 'aime25' is 'high', not a number"):
        load_results(path)


def test_an_integer_too_large_for_a_float_is_above_100(tmp_path: Path) -> None:
    path = write(tmp_path, "scores.json", '{"aime25": 1' + "0" * 400 + "}")
    with raises("score 'aime25' is 1000"):
        load_results(path)


def test_detection_survives_a_first_line_past_the_csv_field_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", "x" * 140_000 + "\n")
    with raises("not a result format vibedash knows"):
        load_results(path)
    summary = write(tmp_path, "pass_1h.csv", "model_path,dataset,pass@1\n" + "y" * 140_000 + ",aime25,0.5\n")
    with raises("is not valid CSV (field larger than field limit"):
        load_results(summary)
