"""The promotion gate: a policy of rules plus the facts of two versions gives a verdict with reasons.

Pure functions over :mod:`vibedash.decisions.facts`; no database, no network. Every rule is checked and reported
(a verdict never stops at the first failure), each with the numbers behind it, so a person deciding on an
override sees the whole picture.

Rules are written as short strings, the same in a TOML policy file and on the command line::

    aime25 >= 75                      candidate's score is at least 75
    aime25 improves >= 2%             the 95% CI of the gain over live clears 2% of live's score
    aime25 improves >= 1.5            the 95% CI of the gain clears 1.5 points (its lower bound)
    aime25 improves >= 1.5 headline   the gain is beyond noise and its estimate is at least 1.5 points
    no regression > 1                 no benchmark both have drops more than 1 point below live beyond noise
    no regression > 1 on aime25,hmmt25
    aime25 significant                the gain over live is beyond noise (95% CI above zero, exact test)
    aime25 significant at 90%
    requires aime25,hmmt25            candidate has results for these
    aime25 same protocol              same metric, samples per problem and temperature as live

Noise: every comparison with live is like with like (the problems both share, see
:mod:`vibedash.decisions.noise`), and a rule never shows ✓ beside "within noise". Where the data cannot
decide (too few problems, problem sets that differ, noise unknown, an interval that straddles the bar),
the check says so with what the comparison can detect, and fails or warns (⚠, passes) as the policy says:
by default an undecided improvement fails and an undecided regression warns.

Rules that compare with live pass when there is no live version, or when live has no result on that
benchmark: there is nothing to beat, and the detail says so. A candidate without the result fails.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.noise import DEFAULT_MAX_UNSHARED, DEFAULT_MIN_PROBLEMS, NoiseSettings, compare_facts
from vibedash.decisions.power import power_text
from vibedash.decisions.rules import (  # noqa: F401  (re-exported: the gate's public names)
    FAIL,
    NO_LIVE,
    NO_PER_PROBLEM,
    UNDECIDED_CHOICES,
    WARN,
    Check,
    ImprovesOverLive,
    MinScore,
    NoRegression,
    PolicyError,
    RequiresBenchmarks,
    Rule,
    SameProtocol,
    SignificantImprovement,
    _check_benchmark,
    _judging,
    _parse_list,
    _short,
    find_score,
    judging,
)
from vibedash.decisions.stats import DiffInterval


@dataclass(frozen=True)
class Verdict:
    passed: bool
    checks: tuple[Check, ...]
    candidate_sha: str
    live_sha: str | None
    policy: str = ""
    # what the candidate was compared with: "live", or e.g. "abc1234 (--against)"
    against: str = "live"

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
        if self.against == "live":
            against = f"live {_short(self.live_sha)}" if self.live_sha else "no live version"
        else:
            against = self.against
        policy = f" {self.policy!r}" if self.policy else ""
        outcome = "passes" if self.passed else "fails"
        warned = sum(check.passed and check.warning for check in self.checks)
        caveat = f", {warned} with a warning" if warned and self.passed else ""
        lines = [f"{'✓' if self.passed else '✗'} gate{policy} {outcome} for {_short(self.candidate_sha)} "
                 f"(against {against}): {self.summary()}{caveat}"]
        lines += [f"  {check.mark} {check.rule}: {check.detail}" for check in self.checks]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, as kept in the audit log."""
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "policy": self.policy,
            "candidate_sha": self.candidate_sha,
            "live_sha": self.live_sha,
            "against": self.against,
            "checks": [{"rule": c.rule, "passed": c.passed, "detail": c.detail, "measured": c.measured,
                        "warning": c.warning} for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict` (the ``summary`` key is derived and ignored)."""
        try:
            checks = tuple(Check(rule=str(c["rule"]), passed=bool(c["passed"]), detail=str(c["detail"]),
                                 measured=None if c.get("measured") is None else float(c["measured"]),
                                 warning=bool(c.get("warning", False)))
                           for c in data["checks"])
            return cls(passed=bool(data["passed"]), checks=checks, candidate_sha=str(data["candidate_sha"]),
                       live_sha=None if data.get("live_sha") is None else str(data["live_sha"]),
                       policy=str(data.get("policy") or ""), against=str(data.get("against") or "live"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a gate verdict: missing or malformed field {exc}") from None


# ---------------------------------------------------------------------------------------------------------
# Policies


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    name: str = "custom"
    # The benchmark the policy is about (a candidate must improve it); the others are guarded against
    # regression. Compare may use it instead of correcting for many benchmarks.
    primary: str | None = None
    min_problems: int = DEFAULT_MIN_PROBLEMS
    max_unshared: float = DEFAULT_MAX_UNSHARED
    # What a check does when the data cannot decide: "fail", or "warn" (passes, shown with ⚠)
    undecided_improvement: str = FAIL
    undecided_regression: str = WARN

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        if not self.rules:
            raise PolicyError(f"gate policy {self.name!r} has no rules; add at least one "
                              "(going live without a gate is an override, with a reason)")
        if self.primary is not None:
            _check_benchmark(self.primary)
        if not (isinstance(self.min_problems, int) and not isinstance(self.min_problems, bool)
                and self.min_problems >= 2):
            raise PolicyError(f"min_problems must be a whole number of at least 2 (got {self.min_problems!r})")
        if not (isinstance(self.max_unshared, (int, float)) and 0 <= self.max_unshared < 1):
            raise PolicyError(f"max_unshared must be a fraction from 0 to below 1, e.g. 0.1 "
                              f"(got {self.max_unshared!r})")
        for key in ("undecided_improvement", "undecided_regression"):
            if getattr(self, key) not in UNDECIDED_CHOICES:
                raise PolicyError(f"{key} must be \"fail\" or \"warn\" (got {getattr(self, key)!r})")

    def as_strings(self) -> list[str]:
        """The rules in the form :func:`parse_rule` reads, e.g. to write a policy file."""
        return [rule.text for rule in self.rules]

    def settings_key(self) -> tuple[Any, ...]:
        """Everything that changes verdicts, hashable: a cache key for pages."""
        return (self.name, *self.as_strings(), self.primary, self.min_problems, self.max_unshared,
                self.undecided_improvement, self.undecided_regression)

    @property
    def noise(self) -> NoiseSettings:
        return NoiseSettings(min_problems=self.min_problems, max_unshared=self.max_unshared)

    @property
    def primary_benchmark(self) -> str | None:
        """The policy's primary benchmark: named, else the first benchmark an improvement rule names."""
        if self.primary:
            return self.primary
        for rule in self.rules:
            if isinstance(rule, (ImprovesOverLive, SignificantImprovement)):
                return rule.benchmark
        return None


DEFAULT_POLICY = Policy(
    name="default",
    primary="aime25",
    rules=(
        RequiresBenchmarks(("aime25",)),
        ImprovesOverLive("aime25", 2.0, relative=True, headline=True),
        NoRegression(2.0),
    ),
)

_BENCH = r"(?P<bench>[a-z0-9][a-z0-9_.\-]*)"
_NUM = r"\+?(?P<num>\d+(?:\.\d+)?)"
_POINTS = r"(?:\s*(?:points?|pts?))?"
_LIST = r"(?P<list>[a-z0-9][a-z0-9_.\-]*(?:\s*[,\s]\s*[a-z0-9][a-z0-9_.\-]*)*)"
_HEADLINE = r"(?P<headline>\s+(?:on\s+(?:the\s+)?)?headline)?"


@dataclass(frozen=True)
class RuleForm:
    """One way to write a rule: a pattern over the normalised text, how to build the rule, an example."""

    pattern: re.Pattern[str]
    build: Callable[[re.Match[str]], Rule]
    example: str


# The table of rule kinds. Other modules add kinds with :func:`register_rule_form` (e.g. cost rules).
RULE_FORMS: list[RuleForm] = [
    RuleForm(re.compile(rf"{_BENCH}\s*>=\s*{_NUM}"),
             lambda m: MinScore(m["bench"], float(m["num"])), "aime25 >= 75"),
    RuleForm(re.compile(rf"{_BENCH}\s+improves\s*>=\s*{_NUM}\s*%{_HEADLINE}"),
             lambda m: ImprovesOverLive(m["bench"], float(m["num"]), relative=True, headline=bool(m["headline"])),
             "aime25 improves >= 2%"),
    RuleForm(re.compile(rf"{_BENCH}\s+improves\s*>=\s*{_NUM}{_POINTS}{_HEADLINE}"),
             lambda m: ImprovesOverLive(m["bench"], float(m["num"]), relative=False, headline=bool(m["headline"])),
             "aime25 improves >= 1.5 (optionally '... headline')"),
    RuleForm(re.compile(rf"no\s+regressions?\s*>\s*{_NUM}{_POINTS}(?:\s+on\s+{_LIST})?"),
             lambda m: NoRegression(float(m["num"]), _parse_list(m["list"]) if m["list"] else None),
             "no regression > 1 (optionally '... on aime25,hmmt25')"),
    RuleForm(re.compile(rf"{_BENCH}\s+significant(?:\s+at\s+{_NUM}\s*%)?"),
             lambda m: SignificantImprovement(m["bench"], float(m["num"]) / 100 if m["num"] else 0.95),
             "aime25 significant (optionally '... at 90%')"),
    RuleForm(re.compile(rf"requires\s+{_LIST}"),
             lambda m: RequiresBenchmarks(_parse_list(m["list"])), "requires aime25,hmmt25"),
    RuleForm(re.compile(rf"{_BENCH}\s+same\s+protocol"),
             lambda m: SameProtocol(m["bench"]), "aime25 same protocol"),
]


def register_rule_form(pattern: str | re.Pattern[str], build: Callable[[re.Match[str]], Rule], example: str) -> None:
    """Add a kind of rule (matched on the lowercased, space-normalised text, before the built-in kinds)."""
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    if any(form.pattern.pattern == compiled.pattern for form in RULE_FORMS):
        return
    RULE_FORMS.insert(0, RuleForm(compiled, build, example))


def accepted_forms() -> str:
    return ", ".join(f"'{form.example}'" for form in RULE_FORMS)


ACCEPTED_FORMS = accepted_forms()


def parse_rule(text: str) -> Rule:
    """Read one rule string (case-insensitive; "≥" works for ">="). Raises PolicyError with the forms."""
    if not isinstance(text, str):
        raise PolicyError(f"a gate rule must be a string such as 'aime25 >= 75', got {text!r}")
    normalised = " ".join(text.replace("≥", ">=").casefold().split())
    for form in RULE_FORMS:
        match = form.pattern.fullmatch(normalised)
        if match:
            return form.build(match)
    raise PolicyError(f"cannot read gate rule {text!r}; write one of: {accepted_forms()}")


def policy_from_strings(rules: Iterable[str], name: str = "custom", **settings: Any) -> Policy:
    """A policy from rule strings; ``settings`` are Policy's (primary, min_problems, undecided_improvement...)."""
    return Policy(rules=tuple(parse_rule(rule) for rule in rules), name=name, **settings)


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
    unknown = sorted(set(gate) - {"name", "rules", *_POLICY_SETTINGS})
    if unknown:
        raise PolicyError(f"{path}: unknown key(s) {', '.join(unknown)} in [gate]; the keys are name, rules, "
                          f"{', '.join(_POLICY_SETTINGS)}")
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
    settings = {key: gate[key] for key in _POLICY_SETTINGS if key in gate}
    try:
        return Policy(rules=tuple(parsed), name=name.strip(), **settings)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from None


_POLICY_SETTINGS = ("primary", "min_problems", "max_unshared", "undecided_improvement", "undecided_regression")


def evaluate(policy: Policy, candidate: VersionFacts, live: VersionFacts | None, *,
             against: str = "live") -> Verdict:
    """Check every rule of ``policy`` for ``candidate`` against ``live`` (None when nothing is live).

    ``against`` names what ``live`` is when it is not the live version (``gate --against SHA``): the
    checks then say "vs abc1234" rather than "vs live".
    """
    baseline = "live" if against == "live" else _short(live.sha) if live is not None else against
    with judging(policy.noise, policy.undecided_improvement, policy.undecided_regression, baseline):
        checks = tuple(rule.check(candidate, live) for rule in policy.rules)
    label = against if against == "live" or live is None else f"{_short(live.sha)} ({against})"
    return Verdict(passed=all(check.passed for check in checks), checks=checks, candidate_sha=candidate.sha,
                   live_sha=live.sha if live is not None else None, policy=policy.name, against=label)


def power_lines(policy: Policy, candidate: VersionFacts, live: VersionFacts | None) -> list[str]:
    """What the comparison on the policy's primary benchmark can detect, in plain words, with what would detect
    the policy's bar ("k = 64 samples per problem would detect 1.5"); empty when there is nothing to compare."""
    primary = policy.primary_benchmark
    if primary is None or live is None:
        return []
    new, old = find_score(candidate, primary), find_score(live, primary)
    if new is None or old is None:
        return []
    comparison = compare_facts(old, new, policy.noise)
    if comparison.diff is None:
        return [f"{primary}: {comparison.reason}"]
    bar = _bar_points(policy, primary, old.score)
    diff = comparison.diff
    shared = f"{diff.n_common} shared problems" if diff.n_common is not None else "headline scores only"
    bar_text = f"; the policy's bar is {bar:+.1f} points" if bar else ""
    return [f"power on {primary} ({shared}): this comparison {power_text(diff, bar)}{bar_text}"]


def _bar_points(policy: Policy, benchmark: str, live_score: float) -> float | None:
    for rule in policy.rules:
        if isinstance(rule, ImprovesOverLive) and rule.benchmark.casefold() == benchmark.casefold():
            return rule.min_delta * live_score / 100 if rule.relative else rule.min_delta
    return None


def compare_results(old: ScoreFact, new: ScoreFact) -> DiffInterval | None:
    """Interval of (new - old), like with like (see :func:`vibedash.decisions.noise.compare_facts`): paired over
    the shared problems when both have per-problem outcomes, else from imported standard errors or the
    numbers of problems (known benchmark sizes fill them in), else None when the noise is unknown."""
    return compare_facts(old, new, _judging().noise).diff

