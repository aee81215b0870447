"""The per-version inputs of a retention plan, read whole or patched from what changed since an earlier plan.

A plan judges one row per version: its deploy figures, representative and gate verdict (from
``version_deploy_summary``) and its headline scores (from ``benchmark_result``). A plan made at registry
generation G keeps them as a :class:`VersionSnapshot`; the next plan reads only the summary rows whose
``changed_generation`` is G or later (an index seek: the triggers of migration 0011 stamp every row they touch,
and every change to a version's headline scores) and patches copies of the arrays, so a plan made just after a
write costs what that write changed, not a read of every version.

Rows at generation G itself are read again: a write that bypassed the engine (and bumped the generation only
afterwards) stamps its rows with the generation it saw. A version whose row was deleted leaves no stamp: the
registry counts removals (migration 0012), and a snapshot that saw another count reads everything again.
When no changed row differs from what the earlier snapshot holds (a pin marks its version and changes none of
its figures), the snapshot keeps the earlier one's very arrays, and the plan what it derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy.orm import Session

from vibedash.registry.generation import current
from vibedash.registry.retention import facts

ARRAYS = ("version_ids", "first_deploy", "newest_deploy", "deploys", "expired", "failed_open", "restorable_open",
          "gate", "representative_at")  # the figures' numpy columns
COLUMNS = ("shas", "branches", "representative")  # ... and its lists

# Past this many changed versions, reading everything is as cheap as patching.
PATCH_LIMIT = 20_000


@dataclass(frozen=True)
class VersionSnapshot:
    """What a plan read per version, and the registry generation it read it at."""

    instance: str
    generation: int
    removals: int  # registry_state.summary_removals when read
    figures: facts.VersionFigures
    benchmarks: tuple[str, ...]  # every benchmark stored (columns of ``scores``, some perhaps empty)
    scores: np.ndarray  # rows as ``figures.version_ids``

    def scored(self) -> tuple[tuple[str, ...], np.ndarray]:
        return facts.scored_only(self.benchmarks, self.scores)


def read_snapshot(session: Session, previous: VersionSnapshot | None = None) -> tuple[VersionSnapshot,
                                                                                     np.ndarray | None]:
    """(the snapshot now; the ids of the versions marked changed since ``previous``, or None when it was read
    whole). When no changed version's figures or scores differ (a pin marks its version, and changes neither),
    the snapshot holds ``previous``'s very arrays: what a plan derived from them still holds."""
    instance, generation = current(session)
    if previous is not None and previous.instance == instance and 0 <= previous.generation <= generation:
        patched = _patched(session, previous, instance, generation)
        if patched is not None:
            return patched
    removals = _removals(session)
    figures = facts.version_figures(session)
    benchmarks, scores = facts.headline_matrix(session, figures.version_ids)
    return VersionSnapshot(instance, generation, removals, figures, benchmarks, scores), None


def _removals(session: Session) -> int:
    """How many times a version was removed (or the summary refilled): a removed version's row goes without a
    mark, so a snapshot that saw another count is read whole."""
    part = next(facts.raw_rows(session, "SELECT summary_removals FROM registry_state WHERE id = 1"), [])
    return int(part[0][0]) if part else -1


def _patched(session: Session, previous: VersionSnapshot, instance: str,
             generation: int) -> tuple[VersionSnapshot, np.ndarray] | None:
    removals = _removals(session)
    if removals != previous.removals or removals < 0:
        return None
    changed = facts.version_figures(session, changed_since=previous.generation)
    if len(changed.version_ids) > PATCH_LIMIT:
        return None
    old = previous.figures
    if not len(changed.version_ids):
        figures, benchmarks, scores = old, previous.benchmarks, previous.scores
    else:
        figures, kept, added = _merge(old, changed)
        names, rows = facts.headline_rows(session, changed.version_ids[added], previous.benchmarks)
        if figures is old and names == previous.benchmarks and _same_scores(previous, changed.version_ids, rows):
            return replace(previous, generation=generation), changed.version_ids
        column_of = {name: c for c, name in enumerate(names)}
        scores = np.full((len(figures.version_ids), len(names)), np.nan)
        old_columns = [column_of[name] for name in previous.benchmarks]
        kept_at = np.searchsorted(figures.version_ids, old.version_ids[kept])
        added_at = np.searchsorted(figures.version_ids, changed.version_ids[added])
        scores[np.ix_(kept_at, old_columns)] = previous.scores[kept]
        scores[added_at] = rows
        benchmarks = names
    return VersionSnapshot(instance, generation, removals, figures, benchmarks, scores), changed.version_ids


def _same_scores(previous: VersionSnapshot, version_ids: np.ndarray, rows: np.ndarray) -> bool:
    at = np.searchsorted(previous.figures.version_ids, version_ids)
    return np.array_equal(previous.scores[at], rows, equal_nan=True)


def _merge(old: facts.VersionFigures, changed: facts.VersionFigures) -> tuple[facts.VersionFigures, np.ndarray,
                                                                              np.ndarray]:
    """(the figures with ``changed`` rows replacing, adding or removing versions; the mask of ``old`` rows kept;
    the mask of ``changed`` rows added)."""
    # old rows of the changed versions: a search per changed version (both sorted), not a pass over every one
    n = len(old.version_ids)
    where = np.searchsorted(old.version_ids, changed.version_ids)
    found = where < n
    found[found] = old.version_ids[where[found]] == changed.version_ids[found]
    kept = np.ones(n, dtype=bool)
    kept[where[found]] = False
    added = changed.deploys > 0
    if added.all() and len(old.version_ids) - kept.sum() == len(changed.version_ids):
        at = np.flatnonzero(~kept)
        if _same_rows(old, changed, at):
            return old, kept, added
        return _replaced(old, changed, at), kept, added
    ids = np.concatenate([old.version_ids[kept], changed.version_ids[added]])
    order = np.argsort(ids, kind="stable")
    kept_rows, added_rows = np.flatnonzero(kept).tolist(), np.flatnonzero(added).tolist()

    def array(name: str) -> np.ndarray:
        return np.concatenate([getattr(old, name)[kept], getattr(changed, name)[added]])[order]

    def column(name: str) -> list:
        before, after = getattr(old, name), getattr(changed, name)
        joined = [before[i] for i in kept_rows] + [after[i] for i in added_rows]
        return [joined[i] for i in order.tolist()]

    merged = replace(old, **{name: array(name) for name in ARRAYS}, **{name: column(name) for name in COLUMNS})
    return merged, kept, added


def _same_rows(old: facts.VersionFigures, changed: facts.VersionFigures, at: np.ndarray) -> bool:
    """Whether the changed rows (at positions ``at`` of ``old``) hold what ``old`` holds there."""
    for name in ARRAYS:
        if not np.array_equal(getattr(old, name)[at], getattr(changed, name), equal_nan=True):
            return False
    return all([getattr(old, name)[i] for i in at.tolist()] == list(getattr(changed, name)) for name in COLUMNS)


def _replaced(old: facts.VersionFigures, changed: facts.VersionFigures, at: np.ndarray) -> facts.VersionFigures:
    """The usual case, every changed version still there with a deploy: copies with those rows replaced (``at``:
    their positions, ascending as ``changed`` is)."""
    arrays = {}
    for name in ARRAYS:
        values = getattr(old, name).copy()
        values[at] = getattr(changed, name)
        arrays[name] = values
    columns = {}
    for name in COLUMNS:
        values = list(getattr(old, name))
        for i, value in zip(at.tolist(), getattr(changed, name)):
            values[i] = value
        columns[name] = values
    return replace(old, **arrays, **columns)
