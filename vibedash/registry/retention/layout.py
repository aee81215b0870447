"""How a registry retention plan lays out its versions: their keys, the branch heads among them, and whether two
plans' version tables are the same (a plan made after a write then keeps the earlier plan's verdicts)."""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from vibedash.decisions.retention import VersionTable, restorable
from vibedash.registry.retention import facts


def same_table(a: VersionTable, b: VersionTable, *, gate: bool = True) -> bool:
    """Whether two version tables hold the same versions, scores, times, contenders and (unless ``gate`` is
    False) gate verdicts."""
    if len(a) != len(b) or a.benchmarks != b.benchmarks:
        return False
    if not (isinstance(a.keys, VersionKeys) and isinstance(b.keys, VersionKeys) and a.keys.same_as(b.keys)):
        return False
    return (np.array_equal(a.scores, b.scores, equal_nan=True) and (not gate or np.array_equal(a.gate, b.gate))
            and np.array_equal(a.appeared, b.appeared) and np.array_equal(a.contender, b.contender))


def newest_per_branch(heads: list[facts.BranchHead], loose: list[facts.DeployRow], per_branch: int) -> list[int]:
    """The deploy ids of the ``per_branch`` newest versions' newest restorable deploy on every branch: the
    versions' heads the database ranked, with each deploy without a version (a version of its own) among them."""
    if per_branch <= 0:
        return []
    by_branch: dict[str, list[tuple]] = defaultdict(list)
    for head in heads:
        by_branch[head.branch].append((head.created_at, head.netlify_id, head.deploy_pk))
    for row in loose:
        if row.facts.branch and restorable(row.facts):
            by_branch[row.facts.branch].append((facts.as_utc(row.facts.created_at), row.facts.netlify_id, row.pk))
    pks: list[int] = []
    for ranked in by_branch.values():
        ranked.sort(key=lambda head: head[1])
        ranked.sort(key=lambda head: head[0], reverse=True)
        pks += [pk for _, _, pk in ranked[:per_branch]]
    return pks


class VersionKeys(Sequence[str]):
    """The versions' keys ("sha:<sha>", then "deploy:<id>" for deploys without a commit), made when asked for:
    the rules read a few of them (ties, names), and a hundred thousand strings need not be held twice."""

    def __init__(self, shas: list[str | None], loose: list[str]) -> None:
        self._shas, self._loose, self._n = shas, loose, len(shas) - len(loose)

    def __len__(self) -> int:
        return len(self._shas)

    def same_as(self, other: VersionKeys) -> bool:
        return self._n == other._n and self._loose == other._loose and self._shas == other._shas

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return f"sha:{self._shas[i].lower()}" if i < self._n else self._loose[i - self._n]


def sort_newest_first_pairs(pairs: list[tuple[int | None, Any]]) -> list[tuple[int | None, Any]]:
    pairs = list(pairs)
    pairs.sort(key=lambda pair: pair[1].netlify_id)
    pairs.sort(key=lambda pair: pair[1].created_at, reverse=True)
    return pairs



class KeptOrder:
    """The deploys a plan keeps, newest first, then by Netlify id: the representatives a version rule keeps
    (``merit``: sorted (-created_at, id) pairs, shared by every plan of the same versions) merged with the few a
    deploy rule keeps (``extra``), without copying the first (a hundred thousand may be kept)."""

    def __init__(self, merit: list[tuple[int, str]], merit_ids: frozenset[str],
                 extra: list[tuple[int, str]]) -> None:
        self._merit, self._merit_ids = merit, merit_ids
        self._extra = sorted(set(extra))
        self._extra_ids = frozenset(netlify_id for _, netlify_id in self._extra)
        self._both = self._extra_ids & merit_ids  # kept by a deploy rule and for merit: listed once

    def __len__(self) -> int:
        return len(self._merit) + len(self._extra) - len(self._both)

    def __contains__(self, netlify_id: object) -> bool:
        return netlify_id in self._extra_ids or netlify_id in self._merit_ids

    def __iter__(self) -> Iterator[str]:
        merit = ((key, netlify_id) for key, netlify_id in self._merit if netlify_id not in self._both)
        return (netlify_id for _, netlify_id in heapq.merge(merit, self._extra))

    def ids(self, start: int, stop: int) -> list[str]:
        return list(itertools.islice(iter(self), max(0, start), max(0, stop)))
