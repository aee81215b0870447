"""Gate rules that compare the candidate with live, noise-aware: an improvement by at least a bar, no
regression beyond an allowance, a gain beyond noise. Each says what the comparison can detect when the data
cannot decide, and fails or warns as the policy in force says (:mod:`vibedash.decisions.judging`)."""

from __future__ import annotations

from dataclasses import dataclass

from vibedash.decisions.facts import VersionFacts
from vibedash.decisions.judging import _baseline, _judging
from vibedash.decisions.noise import BenchmarkComparison, NoiseSettings, compare_facts
from vibedash.decisions.power import power_text
from vibedash.decisions.rule_base import (
    _EPSILON,
    NO_LIVE,
    NO_PER_PROBLEM,
    Check,
    PolicyError,
    Rule,
    _benchmark_tuple,
    _check_benchmark,
    find_score,
)
from vibedash.decisions.wording import _amount, _diff_text, _percent, _points, _short


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
