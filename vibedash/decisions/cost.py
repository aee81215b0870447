"""The cost of a correct answer: tokens, seconds and joules a version spends per correct sample (pure).

For a reasoning model two versions with the same accuracy can differ several times in length; these figures
put that next to the score. Everything is per *sample*: a benchmark run at k = 64 with 30 problems has 1,920
samples, and "tokens per correct" is all the output tokens spent divided by the samples that were correct.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class CostInputs:
    samples: int  # graded samples
    correct: int
    output_tokens: int | None = None  # sum over the samples that have a count
    token_samples: int = 0
    thinking_tokens: int | None = None
    thinking_samples: int = 0
    seconds: float | None = None  # generation wall time of the run
    joules: float | None = None  # energy of the run, where power was measured


@dataclass(frozen=True)
class CostFigures:
    accuracy: float  # 0-100, share of samples correct
    samples: int
    correct: int
    mean_output_tokens: float | None
    mean_thinking_tokens: float | None
    tokens_per_correct: float | None  # None when nothing was correct (the cost is unbounded)
    seconds_per_correct: float | None
    joules_per_correct: float | None

    def as_dict(self) -> dict[str, Any]:
        return {name: (round(value, 6) if isinstance(value, float) else value)
                for name, value in asdict(self).items()}


def cost_figures(inputs: CostInputs) -> CostFigures:
    correct = inputs.correct

    def per_correct(total: float | None) -> float | None:
        return total / correct if total is not None and correct > 0 else None

    mean_tokens = (inputs.output_tokens / inputs.token_samples
                   if inputs.output_tokens is not None and inputs.token_samples else None)
    mean_thinking = (inputs.thinking_tokens / inputs.thinking_samples
                     if inputs.thinking_tokens is not None and inputs.thinking_samples else None)
    # Tokens per correct counts every sample's tokens; when only some samples have a count, scale the mean up
    # to all samples rather than pretend the uncounted ones were free.
    total_tokens = mean_tokens * inputs.samples if mean_tokens is not None else None
    return CostFigures(
        accuracy=100.0 * correct / inputs.samples if inputs.samples else 0.0, samples=inputs.samples,
        correct=correct, mean_output_tokens=mean_tokens, mean_thinking_tokens=mean_thinking,
        tokens_per_correct=per_correct(total_tokens), seconds_per_correct=per_correct(inputs.seconds),
        joules_per_correct=per_correct(inputs.joules))


def growth_percent(new: float, old: float) -> float | None:
    """Relative change of a cost in percent (+10 = 10% more); None when the old cost is 0."""
    return None if old == 0 else 100.0 * (new - old) / old


def frontier(points: Sequence[tuple[Hashable, float, float]]) -> list[Hashable]:
    """Keys of the points (key, tokens, accuracy) that no other point beats on both: fewer or equal tokens and
    higher or equal accuracy, better on one. Ordered by tokens."""
    ordered = sorted(points, key=lambda p: (p[1], -p[2]))
    best_accuracy = float("-inf")
    keys = []
    for key, _tokens, accuracy in ordered:
        if accuracy > best_accuracy:
            keys.append(key)
            best_accuracy = accuracy
    return keys
