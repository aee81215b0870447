"""The promotion gate: a policy of rules plus the facts of two versions gives a verdict with reasons.

Pure functions over :mod:`vibedash.decisions.facts`; no database, no network. Every rule is checked and reported
(a verdict never stops at the first failure), each with the numbers behind it, so a person deciding on an
override sees the whole picture.

Rules are written as short strings, the same in a TOML policy file and on the command line::

    aime25 >= 75                      candidate's score is at least 75
    aime25 improves >= 2%             at least 2% better than live (relative)
    aime25 improves >= 1.5            at least 1.5 points better than live (absolute)
    no regression > 1                 no benchmark both have drops more than 1 point below live
    no regression > 1 on aime25,hmmt25
    aime25 significant                paired 95% CI of the improvement over live lies above zero
    aime25 significant at 90%
    requires aime25,hmmt25            candidate has results for these
    aime25 same protocol              same metric, samples per problem and temperature as live

Rules that compare with live pass when there is no live version, or when live has no result on that
benchmark: there is nothing to beat, and the detail says so. A candidate without the result fails.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.stats import (
    NORMAL_APPROXIMATION,
    DiffInterval,
    diff_ci_from_scores,
    paired_diff_ci,
)

NO_LIVE = "no live version to compare"
NO_PER_PROBLEM = "no per-problem results to test"

# Scores are decimals such as 64.1; in floating point 64.1 - 62.1 is 1.99999999999999, which would miss a
# 2-point bar. The tolerance is far below any meaningful difference on a 0 to 100 scale.
_EPSILON = 1e-9


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


@dataclass(frozen=True)
class Verdict:
    passed: bool
    checks: tuple[Check, ...]
    candidate_sha: str
    live_sha: str | None
    policy: str = ""

    def __post_init__(self) -> None:
        if self.passed != all(check.passed for check in self.checks):
            raise ValueError("a verdict passes exactly when every check passes")

    def summary(self) -> str:
        """E.g. "2 of 3 rules pass"."""
        total = len(self.checks)
        passing = sum(check.passed for check in self.checks)
        return f"{passing} of {total} rules pass" if total != 1 else f"{passing} of 1 rule passes"

    def format_text(self) -> str:
        """Several lines for a terminal or a log: the outcome, then every rule with ✓ or ✗ and its numbers."""
        against = f"live {_short(self.live_sha)}" if self.live_sha else "no live version"
        policy = f" {self.policy!r}" if self.policy else ""
        outcome = "passes" if self.passed else "fails"
        lines = [f"{'✓' if self.passed else '✗'} gate{policy} {outcome} for {_short(self.candidate_sha)} "
                 f"(against {against}): {self.summary()}"]
        lines += [f"  {'✓' if check.passed else '✗'} {check.rule}: {check.detail}" for check in self.checks]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as kept in the audit log."""
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "policy": self.policy,
            "candidate_sha": self.candidate_sha,
            "live_sha": self.live_sha,
            "checks": [{"rule": c.rule, "passed": c.passed, "detail": c.detail, "measured": c.measured}
                       for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict` (the ``summary`` key is derived and ignored)."""
        try:
            checks = tuple(Check(rule=str(c["rule"]), passed=bool(c["passed"]), detail=str(c["detail"]),
                                 measured=None if c.get("measured") is None else float(c["measured"]))
                           for c in data["checks"])
            return cls(passed=bool(data["passed"]), checks=checks, candidate_sha=str(data["candidate_sha"]),
                       live_sha=None if data.get("live_sha") is None else str(data["live_sha"]),
                       policy=str(data.get("policy") or ""))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a gate verdict: missing or malformed field {exc}") from None


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
            return self._outcome(True, _no_result("live", live, benchmark) + " to compare")
        return new, old

    def _outcome(self, passed: bool, detail: str, measured: float | None = None) -> Check:
        # Rounded so the audit log keeps 1.6, not 1.5999999999999943; finite so it stays valid JSON.
        finite = measured is not None and math.isfinite(measured)
        return Check(rule=self.describe(), passed=passed, detail=detail,
                     measured=round(float(measured), 6) if finite else None)


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
    """The candidate beats live on ``benchmark`` by at least ``min_delta`` points, or percent if relative."""

    benchmark: str
    min_delta: float
    relative: bool = False

    def __post_init__(self) -> None:
        _check_benchmark(self.benchmark)
        if not self.min_delta > 0:
            raise PolicyError(f"'{self.text}': an improvement must be more than 0; "
                              "to allow equal scores write 'no regression > 0'")

    @property
    def text(self) -> str:
        return f"{self.benchmark} improves >= {self.min_delta:g}{'%' if self.relative else ''}"

    def describe(self) -> str:
        return f"{self.benchmark} improves on live by ≥ {_amount(self.min_delta, self.relative)}"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        pair = self._both_scores(self.benchmark, candidate, live)
        if isinstance(pair, Check):
            return pair
        new, old = pair

        delta = new.score - old.score
        interval = _interval_text(compare_results(old, new))
        if not self.relative:
            passed = delta >= self.min_delta - _EPSILON
            detail = f"{new.score:.1f} vs live {old.score:.1f}: {_near(delta, self.min_delta, signed=True)}"
            return self._outcome(passed, detail + interval, delta)
        if old.score == 0:
            # Any gain over zero is an unbounded relative gain; no gain is none.
            detail = f"{new.score:.1f} vs live 0.0: {delta:+.1f} (relative change undefined against 0)"
            return self._outcome(delta > _EPSILON, detail + interval)
        change = 100 * delta / old.score
        passed = change >= self.min_delta - _EPSILON
        detail = (f"{new.score:.1f} vs live {old.score:.1f}: {delta:+.1f} "
                  f"({_near(change, self.min_delta, signed=True)}%)")
        return self._outcome(passed, detail + interval, change)


@dataclass(frozen=True)
class NoRegression(Rule):
    """No benchmark (of those both versions have, or of ``benchmarks``) drops more than the allowance."""

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
            return f"no drop > {allowance} vs live on {', '.join(self.benchmarks)}"
        return f"no benchmark drops > {allowance} vs live"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        if live is None:
            return self._outcome(True, NO_LIVE)
        names = self.benchmarks if self.benchmarks is not None else tuple(sorted(candidate.scores))
        compared: list[tuple[str, float, float]] = []
        not_compared: list[str] = []
        for name in names:
            new, old = find_score(candidate, name), find_score(live, name)
            if new is None or old is None:
                not_compared.append(f"{name} (no {'candidate' if new is None else 'live'} result)")
            else:
                compared.append((name, new.score, old.score))
        skipped = f"; not compared: {', '.join(not_compared)}" if self.benchmarks and not_compared else ""
        if not compared:
            return self._outcome(True, f"no benchmark in common with live {_short(live.sha)}{skipped}")

        compared.sort(key=lambda item: (item[1] - item[2], item[0]))  # worst change first
        worst = compared[0][1] - compared[0][2]
        too_far = [item for item in compared if item[2] - item[1] > self.max_drop_points + _EPSILON]
        if too_far:
            drops = ", ".join(_change(*item) for item in too_far)
            return self._outcome(False, f"{drops}: more than {_points(self.max_drop_points)}{skipped}", worst)
        counted = f"{len(compared)} benchmark{'s' if len(compared) != 1 else ''} compared"
        if worst < -_EPSILON:
            detail = f"largest drop: {_change(*compared[0])}; {counted}"
        else:
            detail = f"no drop; {counted}"
        return self._outcome(True, detail + skipped, worst)


@dataclass(frozen=True)
class SignificantImprovement(Rule):
    """The paired bootstrap interval of (candidate - live) on ``benchmark`` lies entirely above zero."""

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
        return f"{self.benchmark} improves on live beyond noise ({_percent(self.confidence)} CI above 0)"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        pair = self._both_scores(self.benchmark, candidate, live)
        if isinstance(pair, Check):
            return pair
        new, old = pair
        lacking = [side for side, fact in (("candidate", new), ("live", old)) if not fact.per_problem]
        if lacking:
            return self._outcome(False, f"{NO_PER_PROBLEM} (none for {' and '.join(lacking)})")
        try:
            diff = paired_diff_ci(old.per_problem, new.per_problem, confidence=self.confidence)
        except ValueError:
            return self._outcome(False, f"{NO_PER_PROBLEM}: no problem ids in common with live")
        where = "above zero" if diff.low > 0 else "within noise" if diff.within_noise else "below zero"
        detail = (f"{diff.delta:+.1f} over {diff.n_common} paired problems, "
                  f"{_percent(self.confidence)} CI [{diff.low:+.1f}, {diff.high:+.1f}]: {where}")
        return self._outcome(diff.low > 0, detail, diff.delta)


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
        return f"{self.benchmark} measured with live's protocol"

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
                unknown.append(f"{label} ({'candidate' if mine is None else 'live'})")
            elif not _same(mine, theirs):
                differences.append(f"{label} {mine} vs live {theirs}")
        if differences:
            return self._outcome(False, "; ".join(differences))
        if unknown:
            return self._outcome(False, f"cannot confirm: unknown {', '.join(unknown)}")
        return self._outcome(True, f"{new.metric}, {new.samples_per_problem} samples per problem, "
                                   f"temperature {new.temperature} on both")


# ---------------------------------------------------------------------------------------------------------
# Policies


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        if not self.rules:
            raise PolicyError(f"gate policy {self.name!r} has no rules; add at least one "
                              "(going live without a gate is an override, with a reason)")

    def as_strings(self) -> list[str]:
        """The rules in the form :func:`parse_rule` reads, e.g. to write a policy file."""
        return [rule.text for rule in self.rules]


DEFAULT_POLICY = Policy(
    name="default",
    rules=(
        RequiresBenchmarks(("aime25",)),
        ImprovesOverLive("aime25", 2.0, relative=True),
        NoRegression(1.0),
    ),
)

_BENCH = r"(?P<bench>[a-z0-9][a-z0-9_.\-]*)"
_NUM = r"\+?(?P<num>\d+(?:\.\d+)?)"
_POINTS = r"(?:\s*(?:points?|pts?))?"
_LIST = r"(?P<list>[a-z0-9][a-z0-9_.\-]*(?:\s*[,\s]\s*[a-z0-9][a-z0-9_.\-]*)*)"

ACCEPTED_FORMS = ("'aime25 >= 75', 'aime25 improves >= 2%', 'aime25 improves >= 1.5', 'no regression > 1' "
                  "(optionally '... on aime25,hmmt25'), 'aime25 significant' (optionally '... at 90%'), "
                  "'requires aime25,hmmt25', 'aime25 same protocol'")


_FORMS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Rule]], ...] = (
    (re.compile(rf"{_BENCH}\s*>=\s*{_NUM}"),
     lambda m: MinScore(m["bench"], float(m["num"]))),
    (re.compile(rf"{_BENCH}\s+improves\s*>=\s*{_NUM}\s*%"),
     lambda m: ImprovesOverLive(m["bench"], float(m["num"]), relative=True)),
    (re.compile(rf"{_BENCH}\s+improves\s*>=\s*{_NUM}{_POINTS}"),
     lambda m: ImprovesOverLive(m["bench"], float(m["num"]), relative=False)),
    (re.compile(rf"no\s+regressions?\s*>\s*{_NUM}{_POINTS}(?:\s+on\s+{_LIST})?"),
     lambda m: NoRegression(float(m["num"]), _parse_list(m["list"]) if m["list"] else None)),
    (re.compile(rf"{_BENCH}\s+significant(?:\s+at\s+{_NUM}\s*%)?"),
     lambda m: SignificantImprovement(m["bench"], float(m["num"]) / 100 if m["num"] else 0.95)),
    (re.compile(rf"requires\s+{_LIST}"),
     lambda m: RequiresBenchmarks(_parse_list(m["list"]))),
    (re.compile(rf"{_BENCH}\s+same\s+protocol"),
     lambda m: SameProtocol(m["bench"])),
)


# Rule forms that live in their own modules (e.g. cost rules) register here when their module is imported;
# parse_rule imports the modules named in _EXTENSIONS the first time it needs them.
_EXTENSIONS = ("vibedash.decisions.cost_rules",)
_EXTRA_FORMS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Rule], tuple[str, ...]]] = []


def register_rule_form(pattern: re.Pattern[str], build: Callable[[re.Match[str]], Rule], *examples: str) -> None:
    """Add a rule form (matched against the lower-cased, space-normalised rule text); ``examples`` are
    listed when a rule cannot be read."""
    if all(existing.pattern != pattern.pattern for existing, _, _ in _EXTRA_FORMS):
        _EXTRA_FORMS.append((pattern, build, examples))


def _load_extensions() -> None:
    for module in _EXTENSIONS:
        importlib.import_module(module)


def parse_rule(text: str) -> Rule:
    """Read one rule string (case-insensitive; "≥" works for ">=", "≤" for "<="). Raises PolicyError with the
    forms."""
    if not isinstance(text, str):
        raise PolicyError(f"a gate rule must be a string such as 'aime25 >= 75', got {text!r}")
    normalised = " ".join(text.replace("≥", ">=").replace("≤", "<=").casefold().split())
    for pattern, build in _FORMS:
        match = pattern.fullmatch(normalised)
        if match:
            return build(match)
    _load_extensions()
    for pattern, build, _ in _EXTRA_FORMS:
        match = pattern.fullmatch(normalised)
        if match:
            return build(match)
    extra = "".join(f", '{example}'" for _, _, examples in _EXTRA_FORMS for example in examples)
    raise PolicyError(f"cannot read gate rule {text!r}; write one of: {ACCEPTED_FORMS}{extra}")


def policy_from_strings(rules: Iterable[str], name: str = "custom") -> Policy:
    return Policy(rules=tuple(parse_rule(rule) for rule in rules), name=name)


def load_policy(path: str | os.PathLike[str], *, missing_ok: bool = False) -> Policy:
    """Read a policy from TOML: a ``[gate]`` table with ``rules = [...]`` and an optional ``name``.

    With ``missing_ok``, a file that does not exist gives :data:`DEFAULT_POLICY` (the built-in defaults).
    """
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return DEFAULT_POLICY
        raise PolicyError(f"gate policy file {path} does not exist") from None
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path} is not valid TOML ({exc})") from None

    gate = data.get("gate")
    if not isinstance(gate, dict):
        raise PolicyError(f"{path} has no [gate] table; write [gate] then rules = [\"aime25 >= 75\", ...]")
    unknown = sorted(set(gate) - {"name", "rules"})
    if unknown:
        raise PolicyError(f"{path}: unknown key(s) {', '.join(unknown)} in [gate]; only name and rules are read")
    rules = gate.get("rules")
    if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
        raise PolicyError(f"{path}: [gate] rules must be a list of strings such as [\"aime25 >= 75\"]")
    name = gate.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(f"{path}: [gate] name must be a non-empty string")

    parsed: list[Rule] = []
    for number, rule in enumerate(rules, start=1):
        try:
            parsed.append(parse_rule(rule))
        except PolicyError as exc:
            raise PolicyError(f"{path}: rule {number}: {exc}") from None
    try:
        return Policy(rules=tuple(parsed), name=name.strip())
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from None


# ---------------------------------------------------------------------------------------------------------
# Evaluation


def evaluate(policy: Policy, candidate: VersionFacts, live: VersionFacts | None) -> Verdict:
    """Check every rule of ``policy`` for ``candidate`` against ``live`` (None when nothing is live)."""
    checks = tuple(rule.check(candidate, live) for rule in policy.rules)
    return Verdict(passed=all(check.passed for check in checks), checks=checks, candidate_sha=candidate.sha,
                   live_sha=live.sha if live is not None else None, policy=policy.name)


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


def compare_results(old: ScoreFact, new: ScoreFact) -> DiffInterval | None:
    """Interval of (new - old): paired bootstrap when both have per-problem outcomes on common problems,
    else the conservative approximation from the scores, else None when the problem counts are unknown."""
    if old.per_problem and new.per_problem:
        try:
            return paired_diff_ci(old.per_problem, new.per_problem)
        except ValueError:
            pass  # no problems in common: fall back to the unpaired approximation
    return diff_ci_from_scores(old.score, old.problems or len(old.per_problem) or None,
                               new.score, new.problems or len(new.per_problem) or None)


# ---------------------------------------------------------------------------------------------------------
# Formatting helpers


def _short(sha: str | None) -> str:
    return (sha or "")[:7]


def _no_result(side: str, version: VersionFacts, benchmark: str) -> str:
    return f"{side} {_short(version.sha)} has no {benchmark} result"


def _interval_text(diff: DiffInterval | None) -> str:
    if diff is None:
        return ""
    approximate = diff.method == NORMAL_APPROXIMATION
    text = f", {'≈' if approximate else ''}95% CI [{diff.low:+.1f}, {diff.high:+.1f}]"
    if approximate:
        text += " (from scores only)"
    return text + (", within noise" if diff.within_noise else "")


def _near(value: float, bar: float, *, signed: bool = False) -> str:
    """``value`` with one decimal, or more when one decimal would print the bar it missed or just made."""
    sign = "+" if signed else ""
    for decimals in range(1, 5):
        shown = f"{value:{sign}.{decimals}f}"
        if abs(value - bar) <= _EPSILON or float(shown) != bar:
            return shown
    return shown


def _change(name: str, new: float, old: float) -> str:
    return f"{name} {new - old:+.1f} ({new:.1f} vs live {old:.1f})"


def _points(value: float) -> str:
    return f"{value:g} point" if value == 1 else f"{value:g} points"


def _amount(value: float, relative: bool) -> str:
    return f"{value:g}%" if relative else _points(value)


def _percent(confidence: float) -> str:
    return f"{100 * confidence:g}%"


def _same(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b

