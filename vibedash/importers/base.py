"""What every importer returns, and the one error type they raise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ResultFileError(ValueError):
    """A result file cannot be imported; the message names the file and says what to fix."""


@dataclass(frozen=True)
class ProblemOutcome:
    problem_id: str
    correct: int  # correct samples
    samples: int  # samples drawn for this problem


@dataclass(frozen=True)
class SampleOutcome:
    """One sample (generation) of a problem, where the source keeps them."""

    problem_id: str
    sample_index: int
    correct: bool | None
    answer: str | None = None  # the extracted answer
    output_tokens: int | None = None
    thinking_tokens: int | None = None
    latency_s: float | None = None  # seconds to the sample's last token
    finish_reason: str | None = None  # "stop", "length" (cut by the token cap), "cancelled"
    output: str | None = None  # the full output; stored (compressed) only when asked for
    first_token_s: float | None = None  # seconds to the first token, on latency_s's clock
    first_answer_s: float | None = None  # seconds to the first answer token (after </think>)


@dataclass(frozen=True)
class ParsedResult:
    """One normalised benchmark score read from a file (score on the 0 to 100 scale)."""

    benchmark: str  # canonical key, e.g. aime24, aime25, hmmt25, lcb_v5, lcb_v6, gpqa_diamond, math500
    score: float
    metric: str = "pass@1"
    stderr: float | None = None  # same 0-100 scale
    problems: int | None = None
    samples_per_problem: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    k: int | None = None
    max_tokens: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # anything else of the protocol worth keeping
    source_format: str = ""
    problem_outcomes: tuple[ProblemOutcome, ...] = ()
    # The headline metric of its benchmark in this file (pass@1 over pass@64 and cons@64, say):
    # exactly one result per benchmark is primary; it becomes BenchmarkResult.is_primary.
    is_primary: bool = True
    # Every sample behind problem_outcomes, where the source has them (per-sample files, the eval runner).
    samples: tuple[SampleOutcome, ...] = ()
