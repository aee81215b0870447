"""Problem sets for the eval runner, read from the files people have.

- The solve panel's JSONL (``{"id", "kind", "prompt", "answer"}`` or ``"tests"`` for code).
- The common dataset layouts, JSONL or parquet: a question in ``problem``, ``question``, ``prompt`` (a string,
  or a list of chat messages as in VibeThinker's own parquet files) or ``input``; the answer in ``answer``,
  ``final_answer``, ``expected_answer``, ``ground_truth``, ``target``, ``reward_model.ground_truth`` or, failing
  those, the last ``\\boxed{}`` of a worked ``solution`` (MATH). Ids come from ``id``, ``problem_id``,
  ``unique_id``, ``task_id``, ``idx``, ``index`` or ``extra_info.index``, else the row number.

Anything unreadable is refused whole with one line naming the file (and row) and what to fix.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibedash.solve.answers import last_boxed
from vibedash.solve.problems import KINDS, Problem, ProblemFileError, TestCase, _problem_from_record

QUESTION_FIELDS = ("problem", "question", "prompt", "input", "query")
ANSWER_FIELDS = ("answer", "final_answer", "expected_answer", "ground_truth", "target", "gold")
ID_FIELDS = ("id", "problem_id", "unique_id", "task_id", "question_id", "idx", "index")
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class ProblemSet:
    problems: tuple[Problem, ...]
    source: str  # the file it came from
    digest: str  # sha256 of the problems as read: part of an eval run's protocol key
    layout: str  # "solve jsonl", "dataset jsonl", "dataset parquet"

    @property
    def name(self) -> str:
        """The file name without extensions: the default benchmark name."""
        return Path(self.source).name.split(".")[0]


def load_problem_set(path: str | Path) -> ProblemSet:
    """Read a problem file (JSONL or parquet); ProblemFileError with one clear line when it cannot."""
    path = Path(path)
    if not path.exists():
        raise ProblemFileError(f"{path}: no such problem file; check the path")
    if path.is_dir():
        raise ProblemFileError(f"{path}: is a folder; give a .jsonl or .parquet problem file")
    try:
        head = path.open("rb").read(4)
    except OSError as exc:
        raise ProblemFileError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    if head == PARQUET_MAGIC or path.suffix == ".parquet":
        records = list(_parquet_records(path))
        layout = "dataset parquet"
    else:
        records = list(_jsonl_records(path))
        layout = "dataset jsonl"
    if not records:
        raise ProblemFileError(f"{path}: holds no problems; write one JSON object per line")
    problems = []
    seen: set[str] = set()
    solve_format = all(isinstance(r, Mapping) and r.get("kind") in KINDS for _, r in records)
    for where, record in records:
        problem = (_problem_from_record(record, f"{path} {where}") if solve_format
                   else _dataset_problem(record, f"{path} {where}", where))
        if problem.id in seen:
            raise ProblemFileError(f"{path} {where}: id {problem.id!r} is used twice; give every problem its own id")
        seen.add(problem.id)
        problems.append(problem)
    if solve_format:
        layout = "solve jsonl"
    return ProblemSet(problems=tuple(problems), source=str(path), digest=_digest(problems), layout=layout)


def _jsonl_records(path: Path) -> Iterable[tuple[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ProblemFileError(f"{path}: is not UTF-8 text; problem files are JSONL (UTF-8) or parquet") from None
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of problems is common enough to accept
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProblemFileError(f"{path}: not valid JSON at line {exc.lineno} ({exc.msg})") from None
        yield from ((f"item {i}", row) for i, row in enumerate(rows, start=1))
        return
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProblemFileError(f"{path} line {number}: not valid JSON ({exc.msg}); write one JSON object per "
                                   "line") from None


def _parquet_records(path: Path) -> Iterable[tuple[str, Any]]:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    except ImportError:
        raise ProblemFileError(f"{path}: reading parquet needs pyarrow (pip install pyarrow)") from None
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise ProblemFileError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0][:200]})") from None
    for number, row in enumerate(table.to_pylist(), start=1):
        yield f"row {number}", row


def _first(record: Mapping[str, Any], names: Iterable[str]) -> Any:
    for name in names:
        value = record.get(name)
        if value is not None and value != "":
            return value
    return None


def _question_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # chat messages: the user turns
        turns = [m.get("content") for m in value if isinstance(m, Mapping) and m.get("role", "user") == "user"]
        text = "\n\n".join(t for t in turns if isinstance(t, str))
        return text or None
    return None


def _answer_text(record: Mapping[str, Any]) -> str | None:
    value = _first(record, ANSWER_FIELDS)
    reward = record.get("reward_model")
    if value is None and isinstance(reward, Mapping):
        value = reward.get("ground_truth")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or value is None:
        solution = record.get("solution")
        return last_boxed(solution) if isinstance(solution, str) else None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (int, float, str)):
        text = str(value).strip()
        unboxed = last_boxed(text) if "\\boxed" in text else None
        return unboxed or text or None
    return None


def _dataset_problem(record: Any, where: str, position: str) -> Problem:
    if not isinstance(record, Mapping):
        raise ProblemFileError(f"{where}: expected an object with a question (problem, question or prompt) and an "
                               "answer")
    question = _question_text(_first(record, QUESTION_FIELDS))
    if not question or not question.strip():
        raise ProblemFileError(f"{where}: no question; put it in one of {', '.join(QUESTION_FIELDS)}")
    tests = record.get("tests")
    if isinstance(tests, list) and tests:
        cases = []
        for index, test in enumerate(tests, start=1):
            if not (isinstance(test, Mapping) and isinstance(test.get("input"), str)
                    and isinstance(test.get("output"), str)):
                raise ProblemFileError(f"{where}: test {index} must be an object with string input and output")
            cases.append(TestCase(input=test["input"], output=test["output"]))
        return Problem(id=_problem_id(record, position), kind="code", prompt=question, tests=tuple(cases))
    answer = _answer_text(record)
    if answer is None:
        raise ProblemFileError(f"{where}: no answer; put it in one of {', '.join(ANSWER_FIELDS)} (or a solution "
                               "ending in \\boxed{...})")
    return Problem(id=_problem_id(record, position), kind="math", prompt=question, answer=answer)


def _problem_id(record: Mapping[str, Any], position: str) -> str:
    value = _first(record, ID_FIELDS)
    extra = record.get("extra_info")
    if value is None and isinstance(extra, Mapping):
        value = extra.get("index")
    if value is None:
        return position.split()[-1]  # the row or line number
    return str(value)


def _digest(problems: Iterable[Problem]) -> str:
    digest = hashlib.sha256()
    for problem in problems:
        digest.update(json.dumps([problem.id, problem.kind, problem.prompt, problem.answer,
                                  [[t.input, t.output] for t in problem.tests]], ensure_ascii=False).encode())
    return digest.hexdigest()
