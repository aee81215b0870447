"""Gate rules on the cost of a correct answer (per-sample token counts, times and energy):

    aime25 tokens grow <= 10%              mean output tokens per sample at most 10% above live's
    aime25 thinking_tokens grow <= 10%     mean thinking tokens per sample
    aime25 cost_per_correct grows <= 15%   output tokens per correct answer (also: tokens_per_correct)
    aime25 seconds_per_correct grows <= 20%
    aime25 joules_per_correct grows <= 20%

Like the other rules that compare with live: no live version, or live without the figure, passes (the detail
says so); a candidate without the figure fails. Registered with the gate's rule parser on import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vibedash.decisions.cost import growth_percent
from vibedash.decisions.facts import VersionFacts
from vibedash.decisions.gate import _BENCH, _NUM, register_rule_form
from vibedash.decisions.rules import (
    _EPSILON,
    NO_LIVE,
    _baseline,
    Check,
    PolicyError,
    Rule,
    _check_benchmark,
    _no_result,
    find_score,
)

# rule word -> (figure in ScoreFact.cost, how it reads)
MEASURES: dict[str, tuple[str, str]] = {
    "tokens": ("mean_output_tokens", "mean output tokens per sample"),
    "thinking_tokens": ("mean_thinking_tokens", "mean thinking tokens per sample"),
    "cost_per_correct": ("tokens_per_correct", "tokens per correct answer"),
    "tokens_per_correct": ("tokens_per_correct", "tokens per correct answer"),
    "seconds_per_correct": ("seconds_per_correct", "seconds per correct answer"),
    "joules_per_correct": ("joules_per_correct", "joules per correct answer"),
}


@dataclass(frozen=True)
class CostGrowth(Rule):
    """The candidate's cost figure on ``benchmark`` is at most ``max_growth`` percent above live's."""

    benchmark: str
    measure: str
    max_growth: float

    def __post_init__(self) -> None:
        _check_benchmark(self.benchmark)
        if self.measure not in MEASURES:
            raise PolicyError(f"unknown cost measure {self.measure!r}; use one of {', '.join(MEASURES)}")
        if not self.max_growth >= 0:
            raise PolicyError(f"'{self.text}': the allowed growth cannot be negative")

    @property
    def text(self) -> str:
        verb = "grow" if self.measure.endswith("tokens") else "grows"
        return f"{self.benchmark} {self.measure} {verb} <= {self.max_growth:g}%"

    def describe(self) -> str:
        return f"{self.benchmark} {MEASURES[self.measure][1]} grows ≤ {self.max_growth:g}% over {_baseline()}"

    def check(self, candidate: VersionFacts, live: VersionFacts | None) -> Check:
        figure, label = MEASURES[self.measure]
        if live is None:
            return self._outcome(True, NO_LIVE)
        new = find_score(candidate, self.benchmark)
        if new is None:
            return self._outcome(False, _no_result("candidate", candidate, self.benchmark))
        if not new.cost:
            return self._outcome(False, f"candidate {candidate.sha[:7]} has no per-sample results on "
                                        f"{self.benchmark} to count {label} (evaluate it with `vibedash eval`)")
        mine = new.cost.get(figure)
        if mine is None:
            why = "no correct answers" if figure.endswith("per_correct") and not new.cost.get("correct") else \
                "not measured"
            return self._outcome(False, f"candidate's {label}: {why}")
        old = find_score(live, self.benchmark)
        theirs = old.cost.get(figure) if old is not None and old.cost else None
        if theirs is None:
            return self._outcome(True, f"{mine:,.0f} {label}; {_baseline()} {live.sha[:7]} has no such figure to "
                                       "compare")
        growth = growth_percent(float(mine), float(theirs))
        if growth is None:
            return self._outcome(mine <= 0, f"{mine:,.1f} vs {_baseline()} 0 {label}")
        passed = growth <= self.max_growth + _EPSILON
        detail = f"{mine:,.1f} vs {_baseline()} {theirs:,.1f} {label}: {growth:+.1f}%"
        if not passed:
            detail += f", more than {self.max_growth:g}%"
        return self._outcome(passed, detail, growth)


_MEASURE = "(?P<measure>" + "|".join(sorted(MEASURES, key=len, reverse=True)) + ")"
register_rule_form(
    re.compile(rf"{_BENCH}\s+{_MEASURE}\s+grows?\s*<=\s*{_NUM}\s*%"),
    lambda m: CostGrowth(m["bench"], m["measure"], float(m["num"])),
    "aime25 tokens grow <= 10% (or cost_per_correct, thinking_tokens, seconds_per_correct, joules_per_correct)")
