"""Per-problem outcomes, the unit every statistic here works on: ``{problem id: (correct, samples)}``,
validated, counted in a stable order, their sampling variances, and which problems flipped between two
versions (ids sorted naturally: "aime-2" before "aime-10")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

PerProblem = Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class Flips:
    """Problems that changed between two versions, in natural id order."""

    gained: list[str]  # solved by B, not by A
    lost: list[str]  # solved by A, not by B
    n_common: int = 0  # problems both versions have, the only ones that can flip


def flipped_problems(a: PerProblem, b: PerProblem, threshold: float = 0.5) -> Flips:
    """Problems whose solved/unsolved status differs between A and B, over the problems both have.

    A problem counts as *solved* when its accuracy (correct / samples) is strictly above ``threshold``:
    with the default 0.5, a strict majority of samples must be correct (32 of 64 is not solved; with a
    single sample, solved means that sample was correct).
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1) (got {threshold}); 0.5 means a majority of samples")
    a, b = _validated(a, "a"), _validated(b, "b")

    def solved(outcome: tuple[int, int]) -> bool:
        correct, samples = outcome
        return correct > threshold * samples

    common = a.keys() & b.keys()
    gained = [p for p in common if solved(b[p]) and not solved(a[p])]
    lost = [p for p in common if solved(a[p]) and not solved(b[p])]
    return Flips(gained=sorted(gained, key=natural_key), lost=sorted(lost, key=natural_key),
                 n_common=len(common))


def natural_key(problem_id: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders embedded numbers by value: "aime-2" before "aime-10"."""
    # re.split with a capture group alternates text, number, text, ...: even positions are always text and
    # odd positions always numbers, so any two keys compare position by position without type errors.
    parts = re.split(r"(\d+)", problem_id)
    return tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(parts)), problem_id


def _validated(per_problem: PerProblem, name: str) -> PerProblem:
    for problem_id, outcome in per_problem.items():
        if not isinstance(problem_id, str):
            raise ValueError(f"{name} has problem id {problem_id!r}; problem ids must be strings")
        try:
            correct, samples = outcome
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{problem_id!r}] must be a (correct, samples) pair, "
                             f"got {outcome!r}") from None
        if not (_is_int(correct) and _is_int(samples)):
            raise ValueError(f"{name}[{problem_id!r}] must hold whole numbers (correct, samples), got {outcome!r}")
        if samples < 1 or not 0 <= correct <= samples:
            raise ValueError(f"{name}[{problem_id!r}] = {outcome!r} is impossible: need samples >= 1 and "
                             "0 <= correct <= samples")
    return per_problem


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _counts(per_problem: PerProblem, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    outcomes = np.array([per_problem[i] for i in ids], dtype=np.int64).reshape(len(ids), 2)
    return outcomes[:, 0], outcomes[:, 1]


def _within_variance(correct: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Each problem's binomial sampling variance of its accuracy, Jeffreys-smoothed (never zero):
    p~(1 - p~) / (k + 1) with p~ = (c + 1/2) / (k + 1). Floors the variance, so 30/30 against 30/30 does
    not give a zero-width interval."""
    smoothed = (correct + 0.5) / (samples + 1.0)
    return smoothed * (1 - smoothed) / (samples + 1.0)


def _unbiased_within(correct: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Unbiased estimate of each problem's sampling variance p(1 - p) / k (0 where k = 1: unknowable)."""
    accuracy = correct / samples
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(samples > 1, accuracy * (1 - accuracy) / np.maximum(samples - 1, 1), 0.0)


def _correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or float(np.ptp(x)) == 0.0 or float(np.ptp(y)) == 0.0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _accuracies(per_problem: PerProblem, ids: list[str]) -> np.ndarray:
    outcomes = np.array([per_problem[i] for i in ids], dtype=np.float64).reshape(len(ids), 2)
    return outcomes[:, 0] / outcomes[:, 1]
