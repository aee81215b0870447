"""What a registry retention plan knows per version, built once and reused by the plans that follow.

A plan judges one row per version (a hundred thousand of them): its deploy figures, representative, scores and
the version rules' verdicts, and from those the per-version arrays the plan counts with. None of it depends on
the deploy rules (pins, rollback targets, branch heads, the grace period), so a plan made after a write that
changed no version's figures or scores (a pin, a deploy published, a sync that changed nothing) takes the
earlier plan's :class:`PlanVersions` whole: the same arrays, the same verdicts, the words of their faults
already written. Only the few deploys a deploy rule can keep are then decided again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from vibedash.decisions.facts import DeployFacts
from vibedash.decisions.retention import (
    GATE_FAILED,
    GATE_PASSED,
    GATE_UNKNOWN,
    RetentionPolicy,
    Verdicts,
    VersionTable,
    chosen_benchmarks,
    judge_gate_again,
    judge_versions,
    restorable,
)
from vibedash.decisions.retention.terms import FAILED_STATES
from vibedash.registry.retention import facts
from vibedash.registry.retention.layout import VersionKeys, same_table
from vibedash.registry.retention.snapshot import VersionSnapshot

T = TypeVar("T")
_MISSING = object()
DERIVED_KEPT = 16  # what pages derive from one set of versions (charts of pairs of benchmarks, ...)


@dataclass(frozen=True)
class MeritCounts:
    """Counts over every version when only the version rules keep deploys."""

    frontier: int  # representatives kept for being on the frontier
    new_best: int  # ... for a new best
    gate: int  # ... for passing the gate
    rest: np.ndarray  # per version: its restorable deploys Netlify has, less its kept representative
    duplicates: int  # restorable deploys of merited versions but their representative
    unkept: np.ndarray  # per prune tag (PlanVersions.fault_codes): restorable deploys of versions no rule keeps


@dataclass(eq=False)
class PlanVersions:
    """Versions with a commit (by version id), then the deploys without one (each a version of its own)."""

    figures: facts.VersionFigures
    scores_read: np.ndarray  # the snapshot's score matrix, by identity: a new one means new scores
    loose: tuple[DeployFacts, ...]
    policy: RetentionPolicy
    version_ids: np.ndarray
    loose_index: dict[str, int]  # Netlify id of a deploy without a version -> its index
    shas: list[str | None]
    branches: list[str | None]
    table: VersionTable
    newest: np.ndarray  # int64 microseconds: each version's newest deploy
    deploys: np.ndarray
    expired: np.ndarray
    failed_open: np.ndarray
    restorable_open: np.ndarray
    rep_ids: np.ndarray  # object: each version's newest restorable deploy (None: none)
    rep_at: np.ndarray  # datetime64[us]: its created_at
    chosen: tuple[str, ...]
    chosen_warnings: tuple[str, ...]
    verdicts: Verdicts
    merited: np.ndarray  # a version rule keeps its representative
    _derived: dict[tuple, Any] = field(default_factory=dict, repr=False)
    _derived_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, snapshot: VersionSnapshot, loose: Sequence[DeployFacts], policy: RetentionPolicy,
              previous: PlanVersions | None) -> PlanVersions:
        """The versions of ``snapshot`` and ``loose``: ``previous`` itself when nothing it was built from
        changed, else built again, keeping ``previous``'s verdicts where the version rules' inputs are equal."""
        loose = tuple(loose)
        if previous is not None and previous.built_from(snapshot, loose, policy):
            return previous
        figures = snapshot.figures
        benchmarks, scores = snapshot.scored()
        n_sha = len(figures.version_ids)
        shas: list[str | None] = [*figures.shas, *(None for _ in loose)]
        keys = VersionKeys(shas, [f"deploy:{d.netlify_id}" for d in loose])
        loose_at = facts.as_datetime64([d.created_at for d in loose])
        appeared = np.concatenate([figures.first_deploy, loose_at]).astype("datetime64[us]").astype(np.int64)

        def column(values, loose_values) -> np.ndarray:
            return np.concatenate([values, np.array(loose_values, dtype=np.int64)]).astype(np.int64)

        gate = np.concatenate([np.select([figures.gate == facts.GATE_YES, figures.gate == facts.GATE_NO],
                                         [GATE_PASSED, GATE_FAILED], GATE_UNKNOWN),
                               np.full(len(loose), GATE_UNKNOWN)]).astype(np.int8)
        rep_ids = np.array([*figures.representative, *(d.netlify_id if restorable(d) else None for d in loose)],
                           dtype=object)
        contender = rep_ids != None  # noqa: E711  (element-wise)
        table = VersionTable(keys=keys, shas=shas, benchmarks=benchmarks,
                             scores=np.vstack([scores, np.full((len(loose), scores.shape[1]), np.nan)]), gate=gate,
                             appeared=appeared, contender=contender)
        warnings: list[str] = []
        chosen = chosen_benchmarks(policy, benchmarks, warnings)
        same_rules = previous is not None and previous.policy == policy and previous.chosen == chosen
        if same_rules and same_table(previous.table, table):
            verdicts = previous.verdicts  # nothing the version rules judge has changed
        elif same_rules and same_table(previous.table, table, gate=False):
            verdicts = judge_gate_again(previous.verdicts, table)  # a gate verdict recorded
        else:
            verdicts = judge_versions(table, policy, chosen)
        return cls(
            figures=figures, scores_read=snapshot.scores, loose=loose, policy=policy,
            version_ids=figures.version_ids, loose_index={d.netlify_id: n_sha + k for k, d in enumerate(loose)},
            shas=shas, branches=[*figures.branches, *(d.branch for d in loose)], table=table,
            newest=np.concatenate([figures.newest_deploy, loose_at]).astype("datetime64[us]").astype(np.int64),
            deploys=column(figures.deploys, [1] * len(loose)),
            expired=column(figures.expired, [int(d.expired and not d.is_live) for d in loose]),
            failed_open=column(figures.failed_open, [int(not d.expired and d.state in FAILED_STATES) for d in loose]),
            restorable_open=column(figures.restorable_open, [int(restorable(d)) for d in loose]),
            rep_ids=rep_ids,
            rep_at=np.concatenate([figures.representative_at, facts.as_datetime64(
                [d.created_at if restorable(d) else None for d in loose])]).astype("datetime64[us]"),
            chosen=chosen, chosen_warnings=tuple(warnings), verdicts=verdicts, merited=verdicts.merited & contender)

    def built_from(self, snapshot: VersionSnapshot, loose: tuple[DeployFacts, ...], policy: RetentionPolicy) -> bool:
        return (self.figures is snapshot.figures and self.scores_read is snapshot.scores and self.policy == policy
                and self.loose == loose)

    def __len__(self) -> int:
        return len(self.shas)

    def index_of(self, version_id: int | None, netlify_id: str) -> int | None:
        if version_id is None:
            return self.loose_index.get(netlify_id)
        where = int(np.searchsorted(self.version_ids, version_id))
        if where < len(self.version_ids) and self.version_ids[where] == version_id:
            return where
        return None

    def indexes_of(self, rows: Sequence[facts.DeployRow]) -> list[int | None]:
        """:meth:`index_of` of many deploys at once (a thousand searches as one)."""
        ids = np.array([row.version_id if row.version_id is not None else -1 for row in rows], dtype=np.int64)
        where = np.clip(np.searchsorted(self.version_ids, ids), 0, max(len(self.version_ids) - 1, 0))
        found = (self.version_ids[where] == ids) if len(self.version_ids) else np.zeros(len(ids), dtype=bool)
        return [int(w) if ok else (self.loose_index.get(row.facts.netlify_id) if row.version_id is None else None)
                for row, w, ok in zip(rows, where.tolist(), found.tolist())]

    def scores(self, i: int | None) -> dict[str, float]:
        return self.table.scores_of(i) if i is not None else {}

    # --- what every plan of these versions counts with, computed once ---------------------------------------

    @cached_property
    def totals(self) -> tuple[int, int, int]:
        """(deploys, expired, failed builds Netlify still has) over every version."""
        return int(self.deploys.sum()), int(self.expired.sum()), int(self.failed_open.sum())

    @cached_property
    def fault_codes(self) -> tuple[list[str], np.ndarray]:
        """(the prune tags, each version's index into them): what a version no rule keeps is pruned as."""
        names, codes = np.unique(self.verdicts.fault_tags().astype(str), return_inverse=True)
        return names.tolist(), codes.astype(np.int64)

    @cached_property
    def new_best_any(self) -> np.ndarray:
        v = self.verdicts
        return v.new_best.any(axis=1) if v.new_best.size else np.zeros(len(self), dtype=bool)

    @cached_property
    def merit_counts(self) -> MeritCounts:
        """The counts of a plan in which no deploy rule keeps anything (each plan corrects them where one does)."""
        v, merited = self.verdicts, self.merited
        rest = self.restorable_open - merited  # a merited version's representative is kept
        names, codes = self.fault_codes
        return MeritCounts(
            frontier=int((v.on_frontier & merited).sum()), new_best=int((self.new_best_any & merited).sum()),
            gate=int((v.gate_merit & merited).sum()), rest=rest, duplicates=int(rest[merited].sum()),
            unkept=np.bincount(codes, weights=np.where(merited, 0, rest), minlength=len(names)).astype(np.int64))

    @cached_property
    def merit_kept(self) -> tuple[list[tuple[int, str]], frozenset[str]]:
        """The representatives a version rule keeps as (-created_at in microseconds, Netlify id), sorted: the
        kept deploys' order (newest first, then by id) before the deploy rules add theirs; and their ids."""
        rows = np.flatnonzero(self.merited)
        created = self.rep_at[rows].astype(np.int64)
        ids = self.rep_ids[rows].tolist()
        order = np.lexsort((np.array(ids, dtype=str), -created)) if ids else np.zeros(0, dtype=np.int64)
        keyed = [(-int(created[k]), ids[k]) for k in order.tolist()]
        return keyed, frozenset(ids)

    def derived(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()`` once per ``key`` for these versions (a few kept: a person looks at a few charts). Pages
        of several sessions share these versions: the computation runs unlocked (it may ask for another derived
        value), the table changes under a lock."""
        found = self._derived.get(key, _MISSING)
        if found is _MISSING:
            value = compute()
            with self._derived_lock:
                found = self._derived.setdefault(key, value)
                while len(self._derived) > DERIVED_KEPT:
                    self._derived.pop(next(iter(self._derived)))
        return found

    def chart_columns(self, x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the versions still on Netlify with a commit and scores on ``x`` and ``y``, newest deploy first; their
        ``x`` and ``y`` scores), once per pair of benchmarks."""
        return self.derived(("columns", x, y), lambda: self._chart_columns(x, y))

    def _chart_columns(self, x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        table = self.table
        cx, cy = table.benchmarks.index(x), table.benchmarks.index(y)
        has_sha = np.array([sha is not None for sha in table.shas], dtype=bool)
        open_ = (self.deploys - self.expired) > 0
        shown = np.flatnonzero(open_ & has_sha & ~np.isnan(table.scores[:, cx]) & ~np.isnan(table.scores[:, cy]))
        order = shown[np.argsort(-self.newest[shown], kind="stable")]
        return order, table.scores[order, cx], table.scores[order, cy]
