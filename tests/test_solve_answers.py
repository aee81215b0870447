"""Answer extraction, the vote, grading math answers (math-verify in its worker) and code outputs, problem
files, prompts and sampling settings, and the cache key."""

from __future__ import annotations

import json
import threading

import pytest

from vibedash.solve.answers import (
    as_integer,
    extract_code,
    extract_math_answer,
    last_boxed,
    majority_vote,
)
from vibedash.solve.grading import Grader, outputs_match
from vibedash.solve.mathcheck import MathVerifier
from vibedash.solve.problems import (
    BUILTIN_PROBLEMS,
    ProblemFileError,
    find_problem,
    load_problems,
    parse_problems,
)
from vibedash.solve.prompts import (
    MATH_INSTRUCTION,
    SamplingSettings,
    SettingsError,
    build_prompt,
    chat_messages,
)
from vibedash.solve.runlog import cache_key


@pytest.fixture(scope="module")
def grader():
    grader = Grader(MathVerifier(timeout_s=30))
    yield grader
    grader.close()


# -- extraction --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("so the answer is \\boxed{204}.", "204"),
    ("\\boxed{1} then \\boxed{2}", "2"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\left(\\frac{a}{b}, \\sqrt{2}\\right)}", "\\left(\\frac{a}{b}, \\sqrt{2}\\right)"),
    ("$\\boxed 7$", "7"),
    ("\\fbox{12}", "12"),
    ("no box here", None),
    ("cut off \\boxed{\\frac{1}{", None),
])
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_math_answer_comes_after_think():
    output = "<think>maybe \\boxed{3}? no.</think> The answer is \\boxed{4}."
    assert extract_math_answer(output) == "4"
    assert extract_math_answer("<think>only \\boxed{3} while thinking</think> and nothing after") is None
    assert extract_math_answer("no thinking tags, \\boxed{5}") == "5"


def test_extract_code_takes_the_last_block():
    output = "first\n```python\nprint(1)\n```\nbetter:\n```python\nimport sys\nprint(2)\n```\n"
    assert extract_code(output) == "import sys\nprint(2)"
    assert extract_code("```python\nprint(1)\n") is None  # unclosed
    assert extract_code("<think>```python\nprint(0)\n```</think>no code after thinking") is None


@pytest.mark.parametrize("text, value", [("204", 204), (" +7 ", 7), ("1,000", 1000), ("204.", 204),
                                         ("\\text{33}", 33), ("3.5", None), ("x", None), ("-12", -12)])
def test_as_integer(text, value):
    assert as_integer(text) == value


def test_majority_vote_counts_equal_answers_written_differently():
    vote = majority_vote(["\\frac{1}{2}", "\\dfrac{1}{2}", "3", None, "\\frac{1}{2}", "3"])
    assert vote.answer == "\\frac{1}{2}"
    assert (vote.votes, vote.samples) == (3, 6)
    assert vote.agreement == pytest.approx(0.5)
    assert vote.tally == (("\\frac{1}{2}", 3), ("3", 2))
    assert "none ×1" in vote.describe()


def test_majority_vote_ties_go_to_the_first_answer_and_empty_votes_have_no_answer():
    assert majority_vote(["7", "8", "8", "7"]).answer == "7"
    empty = majority_vote([None, None])
    assert empty.answer is None and empty.agreement == 0.0
    assert majority_vote([]).samples == 0


# -- grading -----------------------------------------------------------------------------------------------

EQUIVALENT = [
    ("204", "204"), ("204", "0204"), ("\\frac{1}{2}", "0.5"), ("\\frac{1}{2}", "\\dfrac12"),
    ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2"), ("6\\sqrt{3}", "\\sqrt{108}"), ("x^2+2x+1", "(x+1)^2"),
    ("\\{1,2\\}", "\\{2,1\\}"), ("2^{10}", "1024"), ("5", "x=5"), ("\\infty", "\\infty"),
]
NOT_EQUIVALENT = [
    ("204", "205"), ("\\frac{1}{2}", "\\frac{1}{3}"), ("\\pi", "3.14159"), ("\\frac{1}{3}", "0.333"),
    ("x^2+1", "(x+1)^2"), ("\\{1,2\\}", "\\{1,3\\}"), ("-3", "3"),
]


@pytest.mark.parametrize("gold, answer", EQUIVALENT)
def test_equivalent_answers_are_correct(grader, gold, answer):
    grade = grader.grade_math(f"<think>work</think> so \\boxed{{{answer}}}", gold)
    assert grade.correct is True, grade.detail
    assert grade.answer == answer


@pytest.mark.parametrize("gold, answer", NOT_EQUIVALENT)
def test_different_answers_are_wrong(grader, gold, answer):
    grade = grader.grade_math(f"\\boxed{{{answer}}}", gold)
    assert grade.correct is False, grade.detail


def test_integer_answers_skip_math_verify():
    verifier = MathVerifier()
    assert verifier.equivalent("204", "204").how == "integer"
    assert verifier.worker_pid is None  # never started the worker
    verifier.close()


def test_grading_without_answer_or_reference(grader):
    assert grader.grade_math("I give up", "12").correct is False
    missing_reference = grader.grade_math("\\boxed{12}", None)
    assert (missing_reference.correct, missing_reference.answer) == (None, "12")


def test_math_verify_works_off_the_main_thread(grader):
    # Streamlit runs pages off the main thread, where math-verify's own signal timeouts cannot work.
    grades = []
    thread = threading.Thread(target=lambda: grades.append(grader.grade_math("\\boxed{0.5}", "\\frac{1}{2}")))
    thread.start()
    thread.join(timeout=60)
    assert grades and grades[0].correct is True


def test_a_hung_check_times_out_and_the_worker_restarts():
    verifier = MathVerifier(timeout_s=30)
    try:
        assert verifier.equivalent("\\frac{1}{2}", "0.5").equal is True
        first_worker = verifier.worker_pid
        verifier.timeout_s = 0.000001  # any check now runs past its deadline
        timed_out = verifier.equivalent("\\frac{1}{3}", "\\frac{2}{6}")
        assert timed_out.equal is None and "longer than" in timed_out.how
        assert verifier.worker_pid is None  # killed
        verifier.timeout_s = 30
        assert verifier.equivalent("\\frac{1}{3}", "\\frac{2}{6}").equal is True
        assert verifier.worker_pid not in (None, first_worker)  # a fresh worker
    finally:
        verifier.close()


@pytest.mark.parametrize("expected, actual, same", [
    ("3\n", "3", True), ("YES\nNO\n", "YES \nNO\n\n", True), ("1.5\n", "1.50\n", True),
    ("1 2 3\n", "1 2 3 \n", True), ("3\n", "4\n", False), ("YES\n", "YES\nNO\n", False), ("a b\n", "a c\n", False),
])
def test_outputs_match(expected, actual, same):
    assert outputs_match(expected, actual) is same


# -- problems ----------------------------------------------------------------------------------------------

def test_builtin_problems_are_complete():
    ids = [p.id for p in BUILTIN_PROBLEMS]
    assert len(ids) == len(set(ids))
    math = [p for p in BUILTIN_PROBLEMS if p.kind == "math"]
    code = [p for p in BUILTIN_PROBLEMS if p.kind == "code"]
    assert len(math) == 8 and len(code) == 4
    assert all(0 <= int(p.answer) <= 999 for p in math)  # AIME style
    assert all(len(p.tests) >= 3 for p in code)
    with pytest.raises(KeyError, match="math-01"):
        find_problem("nope")


def test_problem_file_round_trip(tmp_path):
    path = tmp_path / "problems.jsonl"
    path.write_text(json.dumps({"id": "p1", "kind": "math", "prompt": "1+1?", "answer": 2}) + "\n\n" +
                    json.dumps({"id": "c1", "kind": "code", "prompt": "echo",
                                "tests": [{"input": "x\n", "output": "x\n"}]}) + "\n", encoding="utf-8")
    math, code = load_problems(path)
    assert (math.id, math.kind, math.answer) == ("p1", "math", "2")
    assert code.tests[0].input == "x\n"


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 1: not valid JSON"),
    ('["a list"]', "line 1: expected a JSON object"),
    ('{"id": "p", "kind": "poem", "prompt": "x", "answer": "1"}', "kind 'poem' is not one of math, code"),
    ('{"id": "p", "kind": "math", "prompt": "x"}', "needs an 'answer'"),
    ('{"id": "p", "kind": "code", "prompt": "x", "tests": []}', "needs 'tests'"),
    ('{"id": "p", "kind": "code", "prompt": "x", "tests": [{"input": 1}]}', "test 1 must be an object"),
    ('{"kind": "math", "prompt": "x", "answer": "1"}', "'id' is missing"),
])
def test_problem_file_errors_name_the_line(line, message):
    with pytest.raises(ProblemFileError, match=message) as error:
        parse_problems([line], source="mine.jsonl")
    assert str(error.value).startswith("mine.jsonl")


def test_problem_file_rejects_duplicates_and_empty_files(tmp_path):
    line = '{"id": "p", "kind": "math", "prompt": "x", "answer": "1"}'
    with pytest.raises(ProblemFileError, match="line 2: id 'p' is used twice"):
        parse_problems([line, line])
    with pytest.raises(ProblemFileError, match="no problems found"):
        parse_problems(["", "  "])
    with pytest.raises(ProblemFileError, match="cannot read problem file"):
        load_problems(tmp_path / "missing.jsonl")


# -- prompts, settings, cache key --------------------------------------------------------------------------

def test_prompts_follow_vibethinker():
    assert build_prompt("math", "What is 2+2?") == f"What is 2+2?\n{MATH_INSTRUCTION}"
    assert build_prompt("math", "Put it in \\boxed{} please") == "Put it in \\boxed{} please"
    code = build_prompt("code", "Read n, print n squared.")
    assert code.startswith("You are an expert Python programmer.") and "```python\n# YOUR CODE HERE\n```" in code
    assert chat_messages("hi") == [{"role": "user", "content": "hi"}]  # no system message


def test_sampling_settings_defaults_and_validation():
    defaults = SamplingSettings()
    assert (defaults.temperature, defaults.top_p, defaults.top_k, defaults.max_new_tokens) == (0.6, 0.95, None, 40960)
    assert SamplingSettings(top_k=-1).top_k is None and SamplingSettings(top_k=0).top_k is None
    assert SamplingSettings(samples=8).mode == "vote"
    for bad in ({"temperature": -1}, {"top_p": 0}, {"max_new_tokens": 0}, {"samples": 0}, {"seed": -3}):
        with pytest.raises(SettingsError):
            SamplingSettings(**bad)


def test_cache_key_changes_with_every_part_of_the_request():
    base = dict(version_sha="a" * 40, model_ref="/m", prompt="q", settings=SamplingSettings(), backend="transformers")
    key = cache_key(**base)
    assert key == cache_key(**base) and len(key) == 64
    variants = [dict(version_sha="b" * 40), dict(model_ref="/n"), dict(prompt="q2"), dict(backend="openai"),
                dict(settings=SamplingSettings(seed=1)), dict(settings=SamplingSettings(samples=2)),
                dict(settings=SamplingSettings(max_new_tokens=5))]
    assert len({cache_key(**{**base, **change}) for change in variants} | {key}) == len(variants) + 1
