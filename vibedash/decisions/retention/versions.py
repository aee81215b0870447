"""The version rules of retention, judged for every version at once (pure, vectorised).

A version's merit (it set a new best on a benchmark when it appeared, it is on the Pareto frontier of the chosen
benchmarks, it passed the gate) and its faults (why no merit rule keeps it) depend on one row per version: its
scores, its gate verdict, when it first appeared, and whether it still has a deploy one can restore. This module
takes those rows as columns (numpy arrays, one entry per version) and judges them all with array operations, so
a registry of a hundred thousand versions is judged in well under a second and held in a few megabytes; the
sentences a person reads are written only for the versions a page or a command shows (:meth:`Verdicts.merit`,
:meth:`Verdicts.faults`).

The rules themselves, and the choices they make, are described in :mod:`vibedash.decisions.retention`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from vibedash.decisions.retention.policy import RetentionPolicy
from vibedash.decisions.retention.terms import (
    DOMINATED,
    FRONTIER,
    GATE,
    NEW_BEST,
    NO_RULE,
    UNSCORED,
    score_text,
    short,
)

GATE_PASSED, GATE_FAILED, GATE_UNKNOWN = 1, 0, -1


@dataclass(frozen=True)
class VersionTable:
    """One row per version (a commit, or a deploy without one), ordered by ``keys``.

    ``scores`` has one column per name in ``benchmarks`` (NaN: no score); ``appeared`` orders the versions by
    their first deploy (any monotone encoding of time: equal values appeared at the same instant);
    ``contender``: the version still has a restorable deploy (only those compete for the frontier and gate).
    """

    keys: Sequence[str]
    shas: Sequence[str | None]
    benchmarks: tuple[str, ...]
    scores: np.ndarray
    gate: np.ndarray
    appeared: np.ndarray
    contender: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)

    def scores_of(self, i: int) -> dict[str, float]:
        """The version's scores by benchmark (sorted by name), without the missing ones."""
        row = self.scores[i]
        return {b: float(row[c]) for c, b in enumerate(self.benchmarks) if not np.isnan(row[c])}

    def short(self, i: int) -> str:
        return short(self.shas[i], self.keys[i])


def chosen_benchmarks(policy: RetentionPolicy, seen: Sequence[str], warnings: list[str]) -> tuple[str, ...]:
    """The benchmarks the frontier and new bests judge: the policy's (those with scores), else every one seen."""
    if not policy.benchmarks:
        return tuple(seen)
    unknown = [b for b in policy.benchmarks if b not in seen]
    if unknown and seen:
        # most likely a typo: judging on a benchmark nobody has would put every version "missing" it
        warnings.append(f"the policy names benchmarks without any score: {', '.join(unknown)}; they are "
                        f"ignored (benchmarks with scores: {', '.join(seen)})")
    return tuple(b for b in policy.benchmarks if b in seen)


@dataclass
class Verdicts:
    """What the version rules say about every version of a :class:`VersionTable` (arrays, one entry each)."""

    table: VersionTable
    policy: RetentionPolicy
    chosen: tuple[str, ...]
    unscored: np.ndarray  # the score rules cannot judge it (tag "no scores")
    on_frontier: np.ndarray
    dominated_by: np.ndarray  # index of the most recent frontier version that dominates it, else -1
    new_best: np.ndarray  # (versions, chosen): set a new best on that benchmark when it appeared
    previous_best: np.ndarray  # (versions, chosen): the best before it; NaN: it was the first score
    gate_merit: np.ndarray
    gate_judged: np.ndarray  # the gate rule judged it (a contender with a commit)
    # frontier versions tied on every chosen benchmark with another one: index -> the tied group, in order
    ties: dict[int, list[int]] = field(default_factory=dict)
    # the words of faults() once written (a chart words thousands, every plan of the same verdicts again);
    # not an init field, so a copy made with replace() (judged again) starts empty
    _fault_words: dict[int, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def merited(self) -> np.ndarray:
        """Versions some merit rule keeps (their representative deploy is kept)."""
        return self.on_frontier | self.new_best.any(axis=1) | self.gate_merit

    def fault_tag(self, i: int) -> str:
        return UNSCORED if self.unscored[i] else DOMINATED if self.dominated_by[i] >= 0 else NO_RULE

    def fault_tags(self) -> np.ndarray:
        """The prune tag of every version, as an array of strings."""
        tags = np.full(len(self.table), NO_RULE, dtype=object)
        tags[self.dominated_by >= 0] = DOMINATED
        tags[self.unscored] = UNSCORED
        return tags

    def merit(self, i: int) -> list[tuple[str, str]]:
        """(tag, reason) of each version rule that keeps version ``i``, in the rules' order."""
        out: list[tuple[str, str]] = []
        t = self.table
        if self.on_frontier[i]:
            reason = f"on the frontier of {', '.join(self.chosen)}"
            tied = [j for j in self.ties.get(i, ()) if j != i]
            if tied:
                reason += f" (tied with {', '.join(t.short(j) for j in tied)})"
            out.append((FRONTIER, reason))
        for c, benchmark in enumerate(self.chosen):
            if self.new_best[i, c]:
                score = score_text(float(t.scores[i, t.benchmarks.index(benchmark)]))
                before = self.previous_best[i, c]
                tail = "the first score" if np.isnan(before) else f"previous best {score_text(float(before))}"
                out.append((NEW_BEST, f"new best on {benchmark} when it appeared ({score}, {tail})"))
        if self.gate_merit[i]:
            out.append((GATE, "passed the gate"))
        return out

    def faults(self, i: int) -> list[str]:
        """Why no version rule keeps version ``i`` (empty when none judged it), in the rules' order."""
        words = self._fault_words.get(i)
        if words is None:
            words = self._fault_words[i] = tuple(self._word_faults(i))
        return list(words)

    def _word_faults(self, i: int) -> list[str]:
        t, policy, out = self.table, self.policy, []
        if self.unscored[i]:
            if t.shas[i] is None:
                out.append("no version (no commit sha), so no scores")
            else:
                fault = "no scores" if np.isnan(t.scores[i]).all() else f"no score on {', '.join(self.chosen)}"
                if policy.grace_days:
                    fault += f" after the {policy.grace_days}-day grace period"
                out.append(fault)
        by = int(self.dominated_by[i])
        if by >= 0:
            mine, theirs = t.scores_of(i), t.scores_of(by)
            wins = [b for b in self.chosen if b in theirs and (b not in mine or theirs[b] > mine[b])]
            out.append(f"dominated by {t.short(by)} on {', '.join(wins)}")
        if policy.keep_new_bests and not self.unscored[i] and not self.new_best[i].any():
            out.append("never a new best")
        if self.gate_judged[i] and not self.gate_merit[i]:
            out.append("gate not passed" if t.gate[i] == GATE_FAILED else "no gate verdict")
        return out


def judge_versions(table: VersionTable, policy: RetentionPolicy, chosen: tuple[str, ...]) -> Verdicts:
    """Every version rule the policy switches on, for every version of ``table``."""
    n, k = len(table), len(chosen)
    columns = [table.benchmarks.index(b) for b in chosen]
    chosen_scores = table.scores[:, columns] if columns else np.zeros((n, 0))
    has_sha = np.array([sha is not None for sha in table.shas], dtype=bool)
    scored = has_sha & (~np.isnan(chosen_scores)).any(axis=1) if k else np.zeros(n, dtype=bool)
    verdicts = Verdicts(
        table=table, policy=policy, chosen=chosen,
        # no rule reads scores when neither the frontier nor new bests is on, so their absence is no reason
        unscored=~scored if (policy.keep_frontier or policy.keep_new_bests) else np.zeros(n, dtype=bool),
        on_frontier=np.zeros(n, dtype=bool), dominated_by=np.full(n, -1, dtype=np.int64),
        new_best=np.zeros((n, k), dtype=bool), previous_best=np.full((n, k), np.nan),
        gate_merit=np.zeros(n, dtype=bool), gate_judged=np.zeros(n, dtype=bool))
    if policy.keep_frontier:
        _judge_frontier(verdicts, chosen_scores, scored & table.contender)
    if policy.keep_new_bests:
        _judge_new_bests(verdicts, chosen_scores, has_sha)
    _judge_gate(verdicts, table, has_sha)
    return verdicts


def judge_gate_again(previous: Verdicts, table: VersionTable) -> Verdicts:
    """``previous``'s verdicts for ``table``, which differs from the table they judged only in gate verdicts
    (a gate run recorded): the gate rule judges again, the score rules' verdicts stand (they never read the
    gate). Equal to :func:`judge_versions` of ``table``, without the frontier's cost."""
    verdicts = replace(previous, table=table)
    _judge_gate(verdicts, table, np.array([sha is not None for sha in table.shas], dtype=bool))
    return verdicts


def _judge_gate(verdicts: Verdicts, table: VersionTable, has_sha: np.ndarray) -> None:
    if verdicts.policy.keep_gate_passed:
        verdicts.gate_judged = table.contender & has_sha
        verdicts.gate_merit = verdicts.gate_judged & (table.gate == GATE_PASSED)


# --- the frontier -------------------------------------------------------------------------------------------

# Points compared at once in the skyline: a block's comparisons are one vectorised step (block x skyline x k).
_SKYLINE_BLOCK = 256
# The strongest rows every row is first checked against, and how many rows at a time (memory: rows x pivots x k).
_PIVOTS, _PIVOT_ROWS = 32, 8192


def score_matrix(scores: np.ndarray) -> np.ndarray:
    """Scores with a missing one (NaN) replaced by a value below every real one, which turns "a missing score
    is worse than any" into plain Pareto dominance."""
    matrix = np.array(scores, dtype=float)
    present = matrix[~np.isnan(matrix)]
    floor = (present.min() if present.size else 0.0) - 1.0
    matrix[np.isnan(matrix)] = floor
    return matrix


def _dominance(by: np.ndarray, of: np.ndarray) -> np.ndarray:
    """[i, j]: row j of ``by`` dominates row i of ``of`` (at least as good everywhere, better somewhere)."""
    at_least = (by[None, :, :] >= of[:, None, :]).all(axis=2)
    better = (by[None, :, :] > of[:, None, :]).any(axis=2)
    return at_least & better


def skyline(matrix: np.ndarray) -> np.ndarray:
    """Indexes of the rows no other row dominates (maximising every column), in ascending order.

    Sort-filter-skyline: rows sorted by their sum (then by their values, so that rounding never puts a
    dominated row first) can only be dominated by rows before them, and by then those rows' own dominators
    have been kept instead; so each block of rows is checked against the skyline found so far and against
    itself. Work grows with rows x skyline size, not rows squared: output-sensitive.
    """
    n = matrix.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    keys = [matrix[:, c] for c in range(matrix.shape[1] - 1, -1, -1)] + [matrix.sum(axis=1)]
    order = np.lexsort([-k for k in keys])
    # Most rows are dominated by one of the strongest few: drop those first, every row against a few pivots
    # in one vectorised step (exact: a dominated row is never on the skyline), then sweep what is left.
    pivots = matrix[order[:_PIVOTS]]
    alive = np.ones(n, dtype=bool)
    for start in range(0, n, _PIVOT_ROWS):
        rows = matrix[start:start + _PIVOT_ROWS]
        alive[start:start + _PIVOT_ROWS] = ~_dominance(pivots, rows).any(axis=1)
    order = order[alive[order]]
    n = order.size
    kept: list[int] = []
    kept_rows = np.zeros((0, matrix.shape[1]))
    for start in range(0, n, _SKYLINE_BLOCK):
        block = order[start:start + _SKYLINE_BLOCK]
        rows = matrix[block]
        dominated = _dominance(kept_rows, rows).any(axis=1) if len(kept) else np.zeros(len(block), dtype=bool)
        dominated |= _dominance(rows, rows).any(axis=1)
        survivors = block[~dominated]
        kept.extend(survivors.tolist())
        kept_rows = np.vstack([kept_rows, matrix[survivors]])
    return np.sort(np.array(kept, dtype=int))


def _judge_frontier(verdicts: Verdicts, chosen_scores: np.ndarray, competing: np.ndarray) -> None:
    scored = np.flatnonzero(competing)  # ascending: the table's (key) order
    if scored.size == 0:
        return
    matrix = score_matrix(chosen_scores[scored])
    local = skyline(matrix)
    frontier = scored[local]
    verdicts.on_frontier[frontier] = True
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i in frontier.tolist():
        groups[tuple(np.nan_to_num(chosen_scores[i], nan=-np.inf).tolist())].append(i)
    verdicts.ties = {i: group for group in groups.values() if len(group) > 1 for i in group}
    # Name the most recent frontier version that dominates each dominated one (it always has one): the
    # frontier sorted most recent first, the first dominator in that order, a block of versions at a time.
    table = verdicts.table
    keys = np.array([table.keys[i] for i in frontier.tolist()], dtype=object)
    recent_first = np.lexsort((keys, table.appeared[frontier]))[::-1]
    frontier_rows = matrix[local][recent_first]
    # each frontier version in turn, most recent first, claims the dominated versions it dominates that no more
    # recent one claimed: one vectorised step over the unclaimed per frontier version, and most are claimed by
    # the first few (at worst, frontier x versions comparisons, as a full matrix would make)
    unclaimed = np.flatnonzero(~np.isin(np.arange(scored.size), local))
    rows = matrix[unclaimed]
    for f, row in enumerate(frontier_rows):
        if not unclaimed.size:
            break
        claimed = (rows <= row).all(axis=1) & (rows < row).any(axis=1)
        verdicts.dominated_by[scored[unclaimed[claimed]]] = frontier[recent_first[f]]
        unclaimed, rows = unclaimed[~claimed], rows[~claimed]


# --- new bests ----------------------------------------------------------------------------------------------

def _judge_new_bests(verdicts: Verdicts, chosen_scores: np.ndarray, has_sha: np.ndarray) -> None:
    """History: versions in order of appearance; a new best beats every version that appeared strictly earlier
    (whether or not it is still deployed); versions that appeared at the same instant are each compared with
    the earlier ones only."""
    table = verdicts.table
    for c in range(chosen_scores.shape[1]):
        idx = np.flatnonzero(has_sha & ~np.isnan(chosen_scores[:, c]))
        if idx.size == 0:
            continue
        idx = idx[np.argsort(table.appeared[idx], kind="stable")]  # ties keep key order
        scores, when = chosen_scores[idx, c], table.appeared[idx]
        starts = np.flatnonzero(np.r_[True, when[1:] != when[:-1]])
        group_top = np.maximum.reduceat(scores, starts)
        best_before = np.r_[-np.inf, np.maximum.accumulate(group_top)[:-1]]
        group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, idx.size]))
        before = best_before[group]
        first = group == 0
        verdicts.new_best[idx, c] = first | (scores > before)
        verdicts.previous_best[idx, c] = np.where(first, np.nan, before)
