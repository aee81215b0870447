"""The best candidate: one definition for Overview, Promote and the CLI (pure; no database).

The best candidate is the version the gate would pass against live that scores highest on the policy's
primary benchmark: candidates are judged best-first by primary score, and the first that passes wins. When
none passes, the highest-scoring candidate with results is offered with its failing verdict (never a version
with no results at all). Picking the best of many also picks the luckiest: the winner's lead over the
others is partly noise and shrinks on a re-run, and the choice says so, with how many were considered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vibedash.decisions.benchmarks import display_name
from vibedash.decisions.facts import VersionFacts
from vibedash.decisions.gate import Policy, Verdict, evaluate

# How many candidates the gate judges at most, best first: enough for any real queue, bounded for big registries.
MAX_JUDGED = 20


@dataclass(frozen=True)
class CandidateChoice:
    """Which candidate is best: its position in the order given, its verdict, and how it was chosen."""

    index: int | None  # position in the candidates given; None when none has results
    verdict: Verdict | None
    passes: bool  # the gate passes it (else it is the highest-scoring candidate, offered with its failures)
    considered: int  # candidates the gate judged
    available: int | None = None  # candidates there were in all, when the caller knows

    def selection_note(self, primary: str | None) -> str:
        """One sentence on how the winner was chosen and why its lead will shrink on a re-run."""
        by = f" by {display_name(primary)} score" if primary else ""
        pool = self.available if self.available is not None else self.considered
        if self.index is None:
            return "No candidate has results to judge."
        ranked = f"{pool} candidate{'s' if pool != 1 else ''} ranked{by}, {self.considered} judged best-first"
        if not self.passes:
            return f"{ranked}: none passes the gate against live; this is the highest-scoring."
        if pool <= 1:
            return f"{ranked}: it passes the gate."
        return (f"{ranked}: the first the gate passes. The best of several looks better than it is: expect its "
                "lead to shrink on a re-run.")


def choose_best_candidate(live: VersionFacts | None, candidates_in_primary_score_order: Iterable[VersionFacts],
                          policy: Policy, *, max_judged: int = MAX_JUDGED,
                          available: int | None = None) -> CandidateChoice:
    """The first candidate (best primary score first) that the gate passes against ``live``; else the first
    with results, with its failing verdict. Candidates without results are skipped; at most ``max_judged``
    are judged, and the iterable is consumed lazily (a caller can read facts on demand)."""
    considered = 0
    fallback: tuple[int, Verdict] | None = None
    for index, candidate in enumerate(candidates_in_primary_score_order):
        if considered >= max_judged:
            break
        if not candidate.scores:
            continue
        verdict = evaluate(policy, candidate, live)
        considered += 1
        if verdict.passed:
            return CandidateChoice(index, verdict, True, considered, available)
        if fallback is None:
            fallback = (index, verdict)
    if fallback is not None:
        return CandidateChoice(fallback[0], fallback[1], False, considered, available)
    return CandidateChoice(None, None, False, considered, available)
