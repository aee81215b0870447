"""What every gate rule shares: the outcome of a check, the rule base class, benchmark names as rules write
them, and finding a version's result on a benchmark."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.judging import WARN, _baseline
from vibedash.decisions.wording import EPSILON, _no_result

NO_LIVE = "no live version to compare"
NO_PER_PROBLEM = "no per-problem results to test"

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
