"""The retention chart's points of a registry plan, chosen as arrays: a hundred thousand versions may have both
scores, and the chart draws a few thousand of them, so the frontier, the thinning and the sort are numpy, and
only the points drawn become objects with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vibedash.registry.retention.plan import RegistryPlan


@dataclass(frozen=True)
class VersionPoint:
    """One version in the kept-versus-pruned chart."""

    sha: str
    branch: str | None
    x: float
    y: float
    # "kept" when any deploy of the version is kept, else "pruned"
    status: str
    on_frontier: bool
    tags: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass
class _ChartBase:
    """What the chart of two benchmarks takes from the versions alone (the same for every plan of them): the
    versions shown, newest deploy first, their scores, commits and frontier, and the points already made of
    versions no deploy rule keeps (their status and words depend on the versions alone)."""

    order: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    shas: list[str]
    frontier: np.ndarray
    points: dict[int, VersionPoint] = field(default_factory=dict)
    # the last positions chosen, and in their order by x, y, commit (a write seldom changes which are drawn);
    # one attribute, so a page reading it while another writes it sees one pair or the other
    last_sorted: tuple[np.ndarray, list[int]] | None = None

    def sorted_positions(self, chosen: np.ndarray) -> list[int]:
        """``chosen`` (positions) sorted by x, y, then commit."""
        last = self.last_sorted
        if last is not None and np.array_equal(chosen, last[0]):
            return last[1]
        ks = chosen.tolist()
        cx, cy, shas = self.xs[chosen].tolist(), self.ys[chosen].tolist(), self.shas
        ranked = [ks[j] for j in sorted(range(len(ks)), key=lambda j: (cx[j], cy[j], shas[ks[j]]))]
        self.last_sorted = (chosen, ranked)
        return ranked


def registry_version_points(plan: RegistryPlan, x: str, y: str, limit: int | None) -> list[VersionPoint]:
    """:func:`~vibedash.registry.action_queries.version_points` of a registry plan, chosen as arrays (a hundred
    thousand versions may have both scores): the same frontier as
    :func:`~vibedash.registry.action_queries.pareto_frontier`, the same points as its ``_thin``, and words only
    for the points drawn, each worded once while the versions stay the same."""
    order, xs, ys, kept = plan.version_columns(x, y)  # newest first: position = recency

    def base_of() -> _ChartBase:
        return _ChartBase(order, xs, ys, [plan.table.shas[i] for i in order.tolist()], pareto_mask(xs, ys))

    base = plan.per_versions(("chart", x, y), base_of)
    shas, frontier = base.shas, base.frontier
    chosen = np.arange(len(order))
    if limit is not None and len(order) > limit:
        on, off = np.flatnonzero(frontier), np.flatnonzero(~frontier)
        # kept first, then the most recent (the lowest position: ``off`` ascends, so each part is in order)
        rest = np.concatenate([off[kept[off]], off[~kept[off]]])
        chosen = np.concatenate([on, rest[: max(0, limit - len(on))]])
    ks = base.sorted_positions(chosen)
    rule_kept = plan.rule_kept_versions
    made = base.points

    def point(k: int) -> VersionPoint:
        i = int(order[k])
        if i in rule_kept:
            return make(k, i)
        found = made.get(k)
        if found is None:
            found = made[k] = make(k, i)
        return found

    def make(k: int, i: int) -> VersionPoint:
        tags, reasons = plan.version_reasons(i)
        return VersionPoint(sha=shas[k], branch=plan.branch_of(i), x=float(xs[k]), y=float(ys[k]),
                            status="kept" if kept[k] else "pruned", on_frontier=bool(frontier[k]), tags=tags,
                            reasons=reasons)

    return [point(k) for k in ks]


def pareto_mask(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """:func:`~vibedash.registry.action_queries.pareto_frontier` over arrays: which points no other point beats
    (equal points all stay)."""
    mask = np.zeros(len(xs), dtype=bool)
    if not len(xs):
        return mask
    by_x = np.argsort(-xs, kind="stable")
    sorted_x, sorted_y = xs[by_x], ys[by_x]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])  # groups of equal x, highest first
    tops = np.maximum.reduceat(sorted_y, starts)
    best_before = np.r_[-np.inf, np.maximum.accumulate(tops)[:-1]]  # best y among greater x
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(xs)]))
    mask[by_x] = (tops[group] > best_before[group]) & (sorted_y == tops[group])
    return mask
