"""The gate's rules: each checks one condition for a candidate against live and says why, with its numbers.

Pure functions over :mod:`vibedash.decisions.facts`. Comparisons with live are like with like and noise-aware
(:mod:`vibedash.decisions.noise`): a check never shows ✓ beside "within noise"; where the data cannot decide it
fails or passes with a warning (⚠) as the policy in force says (see :func:`judging`).
:mod:`vibedash.decisions.gate` reads rules from text and evaluates policies.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.noise import BenchmarkComparison, NoiseSettings, compare_facts
from vibedash.decisions.power import power_text
from vibedash.decisions.wording import (  # noqa: F401  (_short is read by gate)
    EPSILON,
    _amount,
    _diff_text,
    _near,
    _no_result,
    _percent,
    _points,
    _same,
    _short,
)

NO_LIVE = "no live version to compare"
NO_PER_PROBLEM = "no per-problem results to test"
FAIL, WARN = "fail", "warn"
UNDECIDED_CHOICES = (FAIL, WARN)

_EPSILON = EPSILON  # see wording.EPSILON: 64.1 - 62.1 must clear a 2-point bar


class PolicyError(ValueError):
    """A gate rule or policy file cannot be used; the message says what to write instead."""


# Benchmark names are registry keys (aime25, lcb_v6, gpqa_diamond); rules name them without spaces.
def _check_benchmark(name: object) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise PolicyError(f"benchmark name {name!r} is not valid; use a key such as aime25 or lcb_v6")


def _benchmark_tuple(names: Iterable[str], form: str) -> tuple[str, ...]:
    if isinstance(names, str):
        names = _parse_list(names)
    result = tuple(names)
    if not result:
        raise PolicyError(f"'{form}' needs at least one benchmark, e.g. aime25,hmmt25")
    for name in result:
        _check_benchmark(name)
    return result


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(name for name in re.split(r"[,\s]+", text) if name)


# ---------------------------------------------------------------------------------------------------------
# Checks and verdicts


@dataclass(frozen=True)
class Check:
    """The outcome of one rule: its human text, pass or fail, and the numbers behind it."""

    rule: str
    passed: bool
    detail: str
    # The number the rule judged (a score, a change in points or %, the worst change); None when none.
    measured: float | None = None
    # Passed only because the policy warns where the data cannot decide: shown as ⚠, never as ✓.
    warning: bool = False

    @property
    def mark(self) -> str:
        return "✗" if not self.passed else "⚠" if self.warning else "✓"


# ---------------------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class Rule(ABC):
    """One condition a candidate must meet. ``text`` is the parseable form, ``describe()`` the human one."""

    @property
    @abstractmethod
    def text(self) -> str: ...

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check: ...

    def __str__(self) -> str:
        return self.text

    def _both_scores(self, benchmark: str, candidate: VersionFacts,
                     live: VersionFacts | None) -> tuple[ScoreFact, ScoreFact] | Check:
        """(candidate's score, live's score), or the outcome when one side has nothing to compare:
        no live version or no live result passes, a candidate without the result fails."""
        if live is None:
            return self._outcome(True, NO_LIVE)
        new = find_score(candidate, benchmark)
        if new is None:
            return self._outcome(False, _no_result("candidate", candidate, benchmark))
        old = find_score(live, benchmark)
        if old is None:
            return self._outcome(True, _no_result(_baseline(), live, benchmark) + " to compare")
        return new, old

    def _outcome(self, passed: bool, detail: str, measured: float | None = None, *,
                 warning: bool = False) -> Check:
        # Rounded so the audit log keeps 1.6, not 1.5999999999999943; finite so it stays valid JSON.
        finite = measured is not None and math.isfinite(measured)
        return Check(rule=self.describe(), passed=passed, detail=detail,
                     measured=round(float(measured), 6) if finite else None, warning=warning and passed)

    def _undecided(self, choice: str, detail: str, measured: float | None = None) -> Check:
        """The data cannot decide: fail, or pass with a warning (⚠), as the policy chose."""
        return self._outcome(choice == WARN, detail, measured, warning=True)


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
class ImprovesOverLive(Rule):
    """The candidate beats live on ``benchmark`` by at least ``min_delta`` points (percent of live's score if
    relative), judged on the lower bound of the difference's interval; with ``headline``, on the estimate
    of the difference, which must also be beyond noise."""

    benchmark: str
    min_delta: float
    relative: bool = False
    headline: bool = False

    def __post_init__(self) -> None:
        _check_benchmark(self.benchmark)
        if not self.min_delta > 0:
            raise PolicyError(f"'{self.text}': an improvement must be more than 0; "
                              "to allow equal scores write 'no regression > 0'")

    @property
    def text(self) -> str:
        return (f"{self.benchmark} improves >= {self.min_delta:g}{'%' if self.relative else ''}"
                + (" headline" if self.headline else ""))

    def describe(self) -> str:
        amount = _amount(self.min_delta, self.relative)
        if self.headline:
            return f"{self.benchmark} improves on {_baseline()} beyond noise, by ≥ {amount}"
        return f"{self.benchmark} improves on {_baseline()} by ≥ {amount} (95% CI lower bound)"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        pair = self._both_scores(self.benchmark, candidate, live)
        if isinstance(pair, Check):
            return pair
        new, old = pair
        bar = self.min_delta * old.score / 100 if self.relative else self.min_delta
        comparison = compare_facts(old, new, _judging().noise)
        measured = comparison.delta
        if self.relative:
            measured = 100 * comparison.delta / old.score if old.score else None
        bar_text = (f"+{self.min_delta:g}% of {old.score:.1f} = {bar:+.2f} points" if self.relative
                    else f"{bar:+g} points")
        head = f"{new.score:.1f} vs {_baseline()} {old.score:.1f}"
        if comparison.undecided:
            return self._undecided(_judging().undecided_improvement,
                                   f"{head}: {comparison.delta:+.1f}, {comparison.reason}", measured)
        diff = comparison.diff
        assert diff is not None
        shown = f"{head}: {_diff_text(comparison)}"
        if self.headline:
            established = diff.direction > 0 and diff.delta >= bar - _EPSILON
            missed = diff.delta < bar - _EPSILON and (diff.direction <= 0 or diff.high < bar)
        else:
            established = diff.direction > 0 and diff.low >= bar - _EPSILON
            missed = diff.high < bar
        if established:
            what = "estimate" if self.headline else "lower bound"
            return self._outcome(True, f"{shown}; the {what} clears {bar_text}", measured)
        if missed:
            return self._outcome(False, f"{shown}; below the bar {bar_text}", measured)
        words = "within noise" if diff.within_noise else "not clear of the bar"
        power = power_text(diff, bar if bar > 0 else None)
        underpowered = diff.mde is not None and diff.mde > max(bar, 0) + _EPSILON and diff.within_noise
        label = "underpowered" if underpowered else words
        return self._undecided(_judging().undecided_improvement,
                               f"{shown}; {label}: the interval does not clear {bar_text}"
                               + (f"; this comparison {power}" if power else ""), measured)


@dataclass(frozen=True)
class NoRegression(Rule):
    """No benchmark (of those both versions have, or of ``benchmarks``) drops more than the allowance:
    fails when a drop of more than the allowance is beyond noise (the interval's upper bound is below
    minus the allowance); undecided, as the policy says, when such a drop cannot be ruled out."""

    max_drop_points: float
    benchmarks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.max_drop_points >= 0:
            raise PolicyError(f"'no regression > {self.max_drop_points:g}': the allowed drop cannot be negative")
        if self.benchmarks is not None:
            object.__setattr__(self, "benchmarks", _benchmark_tuple(self.benchmarks, "no regression ... on"))

    @property
    def text(self) -> str:
        on = f" on {','.join(self.benchmarks)}" if self.benchmarks else ""
        return f"no regression > {self.max_drop_points:g}{on}"

    def describe(self) -> str:
        allowance = _points(self.max_drop_points)
        if self.benchmarks:
            return f"no drop > {allowance} vs {_baseline()} on {', '.join(self.benchmarks)}"
        return f"no benchmark drops > {allowance} vs {_baseline()}"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        if live is None:
            return self._outcome(True, NO_LIVE)
        names = self.benchmarks if self.benchmarks is not None else tuple(sorted(candidate.scores))
        compared: list[tuple[str, BenchmarkComparison, float, float]] = []
        not_compared: list[str] = []
        for name in names:
            new, old = find_score(candidate, name), find_score(live, name)
            if new is None or old is None:
                not_compared.append(f"{name} (no {'candidate' if new is None else _baseline()} result)")
            else:
                compared.append((name, compare_facts(old, new, _judging().noise), new.score, old.score))
        skipped = f"; not compared: {', '.join(not_compared)}" if self.benchmarks and not_compared else ""
        if not compared:
            return self._outcome(True, f"no benchmark in common with {_baseline()} {_short(live.sha)}{skipped}")

        margin = -self.max_drop_points - _EPSILON
        compared.sort(key=lambda item: (item[1].delta, item[0]))  # worst change first
        worst = compared[0][1].delta
        regressed = [c for c in compared if c[1].diff is not None and not c[1].undecided
                     and c[1].diff.direction < 0 and c[1].diff.high < margin]
        unsure = [c for c in compared if c not in regressed
                  and (c[1].undecided or c[1].diff is None or c[1].diff.low < margin)]
        if regressed:
            drops = ", ".join(f"{name} {_diff_text(cmp)}" for name, cmp, _, _ in regressed)
            return self._outcome(False, f"{drops}: a drop of more than {_points(self.max_drop_points)}, "
                                        f"beyond noise{skipped}", worst)
        counted = f"{len(compared)} benchmark{'s' if len(compared) != 1 else ''} compared"
        if unsure:
            parts, detectable = [], []
            for name, cmp, _, _ in unsure:
                if cmp.undecided or cmp.diff is None:
                    parts.append(f"{name} {cmp.delta:+.1f} ({cmp.reason})")
                    continue
                parts.append(f"{name} {cmp.diff.delta:+.1f}, CI [{cmp.diff.low:+.1f}, {cmp.diff.high:+.1f}]")
                if cmp.diff.mde is not None:
                    detectable.append(cmp.diff.mde)
            power = (f"; these comparisons can detect drops of about {min(detectable):.1f}"
                     + (f" to {max(detectable):.1f}" if max(detectable) - min(detectable) >= 0.05 else "")
                     + " points (80% power)") if detectable else ""
            return self._undecided(_judging().undecided_regression,
                                   f"cannot rule out a drop of more than {_points(self.max_drop_points)}: "
                                   f"{'; '.join(parts)}{power}; {counted}{skipped}", worst)
        name, cmp, _, _ = min(compared, key=lambda c: (c[1].diff.low if c[1].diff else 0.0, c[0]))
        assert cmp.diff is not None
        return self._outcome(True, f"no drop beyond {_points(self.max_drop_points)}: lowest bound "
                                   f"{cmp.diff.low:+.1f} on {name}; {counted}{skipped}", worst)


@dataclass(frozen=True)
class SignificantImprovement(Rule):
    """The gain of the candidate over live on ``benchmark`` is beyond noise: its paired interval lies above
    zero and the exact sign-flip test (McNemar at one sample per problem) agrees."""

    benchmark: str
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _check_benchmark(self.benchmark)
        if not 0.5 <= self.confidence < 1:
            raise PolicyError(f"'{self.benchmark} significant at {100 * self.confidence:g}%': "
                              "the confidence must be from 50% to below 100%")

    @property
    def text(self) -> str:
        at = "" if self.confidence == 0.95 else f" at {100 * self.confidence:g}%"
        return f"{self.benchmark} significant{at}"

    def describe(self) -> str:
        return f"{self.benchmark} improves on {_baseline()} beyond noise ({_percent(self.confidence)} CI above 0)"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        pair = self._both_scores(self.benchmark, candidate, live)
        if isinstance(pair, Check):
            return pair
        new, old = pair
        lacking = [side for side, fact in (("candidate", new), (_baseline(), old)) if not fact.per_problem]
        if lacking:
            return self._outcome(False, f"{NO_PER_PROBLEM} (none for {' and '.join(lacking)})")
        settings = _judging().noise
        comparison = compare_facts(old, new, NoiseSettings(self.confidence, settings.min_problems,
                                                           settings.max_unshared))
        if comparison.diff is None or comparison.diff.n_common is None:
            return self._outcome(False, f"{NO_PER_PROBLEM}: no problem ids in common with {_baseline()}")
        if comparison.undecided:
            return self._outcome(False, f"{comparison.delta:+.1f}: {comparison.reason}", comparison.delta)
        diff = comparison.diff
        where = "above zero" if diff.direction > 0 else "below zero" if diff.direction < 0 else "within noise"
        detail = f"{_diff_text(comparison)}: {where}"
        if diff.direction <= 0 and diff.mde is not None:
            detail += f"; this comparison {power_text(diff)}"
        return self._outcome(diff.direction > 0, detail, diff.delta)


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



# ---------------------------------------------------------------------------------------------------------
# The policy's settings while rules are checked


@dataclass(frozen=True)
class _Judging:
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    undecided_improvement: str = FAIL
    undecided_regression: str = WARN
    baseline: str = "live"


# The policy's noise settings while its rules are checked (rules keep their check(candidate, live) form).
_JUDGING: ContextVar[_Judging] = ContextVar("gate_judging", default=_Judging())


def _judging() -> _Judging:
    return _JUDGING.get()


def _baseline() -> str:
    return _JUDGING.get().baseline


@contextmanager
def judging(noise: NoiseSettings, undecided_improvement: str, undecided_regression: str,
            baseline: str = "live") -> Iterator[None]:
    """Within this block, rules judge noise with these settings and call the baseline ``baseline``."""
    token = _JUDGING.set(_Judging(noise, undecided_improvement, undecided_regression, baseline))
    try:
        yield
    finally:
        _JUDGING.reset(token)


def find_score(version: VersionFacts, benchmark: str) -> ScoreFact | None:
    """The version's result on ``benchmark``, matching the name case-insensitively."""
    fact = version.scores.get(benchmark)
    if fact is not None:
        return fact
    wanted = benchmark.casefold()
    for name, fact in version.scores.items():
        if name.casefold() == wanted:
            return fact
    return None
