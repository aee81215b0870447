"""Gate rules about the candidate's own results: a minimum score, results present on named benchmarks, and
measured with live's protocol (metric, samples per problem, temperature)."""

from __future__ import annotations

from dataclasses import dataclass

from vibedash.decisions.facts import VersionFacts
from vibedash.decisions.judging import _baseline
from vibedash.decisions.rule_base import (
    _EPSILON,
    Check,
    PolicyError,
    Rule,
    _benchmark_tuple,
    _check_benchmark,
    find_score,
)
from vibedash.decisions.wording import _near, _no_result, _same


@dataclass(frozen=True)
class MinScore(Rule):
    """The candidate scores at least ``threshold`` on ``benchmark``: "aime25 >= 75"."""

    benchmark: str
    threshold: float

    def __post_init__(self) -> None:
        _check_benchmark(self.benchmark)
        if not 0 <= self.threshold <= 100:
            raise PolicyError(f"'{self.benchmark} >= {self.threshold:g}': the bar must be a score from 0 to 100")

    @property
    def text(self) -> str:
        return f"{self.benchmark} >= {self.threshold:g}"

    def describe(self) -> str:
        return f"{self.benchmark} ≥ {self.threshold:g}"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        fact = find_score(candidate, self.benchmark)
        if fact is None:
            return self._outcome(False, _no_result("candidate", candidate, self.benchmark))
        if fact.score >= self.threshold - _EPSILON:
            return self._outcome(True, _near(fact.score, self.threshold), fact.score)
        return self._outcome(False, f"{_near(fact.score, self.threshold)}, below {self.threshold:g}", fact.score)


@dataclass(frozen=True)
class RequiresBenchmarks(Rule):
    """The candidate has results for every one of ``benchmarks``."""

    benchmarks: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "benchmarks", _benchmark_tuple(self.benchmarks, "requires"))

    @property
    def text(self) -> str:
        return f"requires {','.join(self.benchmarks)}"

    def describe(self) -> str:
        return f"has results for {', '.join(self.benchmarks)}"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        missing = [name for name in self.benchmarks if find_score(candidate, name) is None]
        if missing:
            present = sorted(candidate.scores)
            has = f" (has {', '.join(present)})" if present else " (has no results)"
            return self._outcome(False, f"missing {', '.join(missing)}{has}")
        return self._outcome(True, f"has {', '.join(self.benchmarks)}")


@dataclass(frozen=True)
class SameProtocol(Rule):
    """The candidate's result on ``benchmark`` was measured like live's: metric, samples, temperature."""

    benchmark: str

    def __post_init__(self) -> None:
        _check_benchmark(self.benchmark)

    @property
    def text(self) -> str:
        return f"{self.benchmark} same protocol"

    def describe(self) -> str:
        return f"{self.benchmark} measured with {_baseline()}'s protocol"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        pair = self._both_scores(self.benchmark, candidate, live)
        if isinstance(pair, Check):
            return pair
        new, old = pair

        differences: list[str] = []
        unknown: list[str] = []
        fields = (("metric", new.metric, old.metric), ("samples per problem", new.samples_per_problem,
                                                       old.samples_per_problem),
                  ("temperature", new.temperature, old.temperature))
        for label, mine, theirs in fields:
            if mine is None or theirs is None:
                unknown.append(f"{label} ({'candidate' if mine is None else _baseline()})")
            elif not _same(mine, theirs):
                differences.append(f"{label} {mine} vs {_baseline()} {theirs}")
        if differences:
            return self._outcome(False, "; ".join(differences))
        if unknown:
            return self._outcome(False, f"cannot confirm: unknown {', '.join(unknown)}")
        return self._outcome(True, f"{new.metric}, {new.samples_per_problem} samples per problem, "
                                   f"temperature {new.temperature} on both")
