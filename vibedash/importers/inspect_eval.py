"""Inspect AI ``.eval`` logs (also what ``lighteval eval`` writes), read from their documented zip layout with
the standard library: no inspect_ai dependency.

A ``.eval`` file is a zip of JSON entries (deflate-compressed, as Inspect's own ZipWriter writes them):
``header.json`` (the EvalLog without samples: ``version``, ``status``, ``eval`` with ``task``, ``model``,
``config.epochs`` and ``model_generate_config``, ``results``, ``stats``), ``samples/{id}_epoch_{n}.json`` (one
EvalSample each: ``id``, ``epoch``, ``target``, ``output.choices[0].message``, ``output.choices[0].stop_reason``,
``output.usage`` with ``output_tokens`` and ``reasoning_tokens``, ``scores`` {scorer: {value, answer}},
``total_time``/``working_time``), ``summaries.json``, ``reductions.json`` and ``_journal/start.json``. A log still
running has no ``header.json``; its plan comes from ``_journal/start.json``. Each epoch is one sample.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from vibedash.decisions.benchmarks import canonical_benchmark
from vibedash.importers.base import ParsedResult, ResultFileError, SampleOutcome
from vibedash.importers.samples_common import check_samples, count_tokens, outcomes_and_score, stderr_of

NAME = "inspect_eval"
DESCRIPTION = "Inspect AI .eval log (zip; lighteval eval writes these)"
_CORRECT = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
_STOP_REASONS = {"stop": "stop", "max_tokens": "length", "model_length": "length", "length": "length"}


def parse_path(path: Path, benchmark: str | None = None) -> list[ParsedResult]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ResultFileError(f"{path}: is not a readable zip; an Inspect .eval log is a zip archive") from None
    with archive:
        names = set(archive.namelist())
        header = _json(archive, path, "header.json") if "header.json" in names else None
        start = _json(archive, path, "_journal/start.json") if "_journal/start.json" in names else None
        spec = (header or start or {}).get("eval")
        if not isinstance(spec, dict):
            raise ResultFileError(f"{path}: has no header.json or _journal/start.json with an \"eval\" spec; "
                                  "is it an Inspect .eval log?")
        sample_names = sorted(n for n in names if n.startswith("samples/") and n.endswith(".json"))
        if not sample_names:
            raise ResultFileError(f"{path}: holds no samples (samples/*.json); log the evaluation with its samples")
        samples: list[SampleOutcome] = []
        per_problem: dict[str, tuple[float, int]] = {}
        scorer: str | None = None
        for name in sample_names:
            record = _json(archive, path, name)
            sample, value, scorer = _sample(record, path, name, scorer)
            samples.append(sample)
            correct, n = per_problem.get(sample.problem_id, (0.0, 0))
            per_problem[sample.problem_id] = (correct + value, n + 1)
    samples.sort(key=lambda s: (s.problem_id, s.sample_index))
    check_samples(path, samples)
    outcomes, score = outcomes_and_score(per_problem)
    config = spec.get("model_generate_config") if isinstance(spec.get("model_generate_config"), dict) else {}
    epochs = (spec.get("config") or {}).get("epochs") if isinstance(spec.get("config"), dict) else None
    task = str(spec.get("task") or path.stem)
    key = canonical_benchmark(benchmark or task.split("/")[-1])
    seconds = sum(s.latency_s for s in samples if s.latency_s is not None) or None
    settings = {"task": task, "model": spec.get("model"), "scorer": scorer,
                "status": (header or {}).get("status", "started"), "seed": config.get("seed"),
                "generation_seconds": seconds}
    return [ParsedResult(
        benchmark=key, score=score, metric="pass@1", stderr=stderr_of(per_problem), problems=len(per_problem),
        samples_per_problem=epochs if isinstance(epochs, int) else max(n for _, n in per_problem.values()),
        temperature=_number(config.get("temperature")), top_p=_number(config.get("top_p")), k=1,
        max_tokens=config.get("max_tokens") if isinstance(config.get("max_tokens"), int) else None,
        settings={k: v for k, v in settings.items() if v is not None}, source_format=NAME,
        problem_outcomes=outcomes, samples=tuple(samples))]


def _json(archive: zipfile.ZipFile, path: Path, name: str) -> Any:
    try:
        return json.loads(archive.read(name))
    except NotImplementedError:
        raise ResultFileError(f"{path}: entry {name} uses a compression this Python cannot read (zstd); "
                              "convert it with `inspect log convert --to eval` from a deflate build, or to .json") from None
    except (ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise ResultFileError(f"{path}: entry {name} is not valid JSON ({exc})") from None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _value(score: Any) -> float | None:
    value = score.get("value") if isinstance(score, dict) else None
    if isinstance(value, str):
        return _CORRECT.get(value.upper())
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return max(0.0, min(1.0, float(value)))
    return None


def _text(message: Any) -> tuple[str, str]:
    """(reasoning, answer text) of an assistant message whose content is a string or a list of parts."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return "", content
    reasoning, text = [], []
    for part in content or []:
        if isinstance(part, dict) and part.get("type") == "reasoning":
            reasoning.append(str(part.get("reasoning") or ""))
        elif isinstance(part, dict) and part.get("type") == "text":
            text.append(str(part.get("text") or ""))
    return "".join(reasoning), "".join(text)


def _sample(record: Any, path: Path, name: str, scorer: str | None) -> tuple[SampleOutcome, float, str | None]:
    if not isinstance(record, dict) or "id" not in record:
        raise ResultFileError(f"{path}: {name} is not an Inspect sample (no id)")
    scores = record.get("scores") or {}
    if not isinstance(scores, dict) or not scores:
        raise ResultFileError(f"{path}: {name} has no scores; score the log (inspect score) before importing")
    scorer = scorer if scorer in scores else next(iter(scores))
    value = _value(scores[scorer])
    if value is None:
        raise ResultFileError(f"{path}: {name}: score {scores[scorer].get('value')!r} of {scorer} is not "
                              "C/I/P/N or a number")
    output = record.get("output") if isinstance(record.get("output"), dict) else {}
    choices = output.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    reasoning, text = _text(choice.get("message"))
    usage = output.get("usage") if isinstance(output.get("usage"), dict) else {}
    latency = record.get("working_time", record.get("total_time"))
    full = f"<think>{reasoning}</think>{text}" if reasoning else text
    return SampleOutcome(
        problem_id=str(record["id"]), sample_index=int(record.get("epoch", 1)) - 1,
        correct=None if value not in (0.0, 1.0) else value == 1.0,
        answer=scores[scorer].get("answer") if isinstance(scores[scorer].get("answer"), str) else None,
        output_tokens=count_tokens(usage.get("output_tokens")),
        thinking_tokens=count_tokens(usage.get("reasoning_tokens")),
        latency_s=float(latency) if isinstance(latency, (int, float)) else None,
        finish_reason=_STOP_REASONS.get(str(choice.get("stop_reason")), choice.get("stop_reason")),
        output=full or None), value, scorer
