"""The retention plan of deploys held in memory: every deploy decided, counted and paged (the in-memory
:class:`RetentionPlan`, and :class:`PlanView`, what every plan offers pages and commands). How a plan is made is
the package's docstring (:mod:`vibedash.decisions.retention`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np

from vibedash.decisions.facts import DeployFacts
from vibedash.decisions.retention.deploys import (
    BriefDecision,
    Decision,
    Keeps,
    VersionContext,
    decide,
    keep_grace,
    keep_live_pinned_building,
    keep_newest_per_branch,
    keep_rollback_targets,
    kept_restorable,
    live_warning,
    restorable,
    sort_newest_first,
)
from vibedash.decisions.retention.policy import (
    RetentionPolicy,
)
from vibedash.decisions.retention.terms import (
    KEEP_TAG_ORDER,
    PRUNE_TAG_ORDER,
)
from vibedash.decisions.retention.versions import (
    GATE_FAILED,
    GATE_PASSED,
    GATE_UNKNOWN,
    VersionTable,
    chosen_benchmarks,
    judge_versions,
)

# ---------------------------------------------------------------------------------------------------------
# What every plan offers
# ---------------------------------------------------------------------------------------------------------


class PlanView:
    """What pages, the CLI and ``retention apply`` read from a plan, whether it holds its decisions in memory
    (:class:`RetentionPlan`) or reads them from the registry a page at a time. Decisions come newest deploy
    first, then by Netlify id; ``action`` is "keep", "prune", "expired" or "all"."""

    policy: RetentionPolicy
    now: datetime
    warnings: tuple[str, ...]

    def count(self, action: str = "all") -> int:
        summary = self.summary()
        return summary["deploys"] if action == "all" else summary[action]

    def page(self, action: str, start: int, stop: int) -> list[Decision]:
        raise NotImplementedError

    def iter_decisions(self, action: str = "all") -> Iterator[Decision]:
        raise NotImplementedError

    def brief_page(self, action: str, start: int, stop: int) -> list[BriefDecision]:
        """:meth:`page` without the reasons, for lists to choose from."""
        return [BriefDecision(d.netlify_id, d.sha, d.branch, d.action) for d in self.page(action, start, stop)]

    def decision(self, netlify_id: str) -> Decision:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        raise NotImplementedError

    def benchmarks(self) -> list[str]:
        """Benchmarks with a score on any version the plan judges (sorted by name)."""
        raise NotImplementedError

    # Whole lists: for tests and small registries; pages and commands page or stream instead.
    @property
    def keep(self) -> list[Decision]:
        return list(self.iter_decisions("keep"))

    @property
    def prune(self) -> list[Decision]:
        return list(self.iter_decisions("prune"))

    @property
    def expired(self) -> list[Decision]:
        return list(self.iter_decisions("expired"))

    def iter_rows(self, action: str = "all") -> Iterator[dict[str, Any]]:
        """Plain dicts for tables and exports: one per deploy, one column per benchmark (None where unscored)."""
        benchmarks = self.benchmarks()
        fixed = ("netlify_id", "sha", "branch", "created_at", "state", "action", "tags", "reasons")
        # a benchmark named like a fixed column must not overwrite it
        column = {b: (f"score {b}" if b in fixed else b) for b in benchmarks}
        for d in self.iter_decisions(action):
            row: dict[str, Any] = {"netlify_id": d.netlify_id, "sha": d.short_sha, "branch": d.branch,
                                   "created_at": d.created_at, "state": d.state, "action": d.action,
                                   "tags": ", ".join(d.tags), "reasons": "; ".join(d.reasons)}
            for b in benchmarks:
                row[column[b]] = d.scores.get(b)
            yield row

    def to_rows(self) -> list[dict[str, Any]]:
        return list(self.iter_rows("all"))


def summarise(deploys: int, keep: int, prune: int, expired: int, kept_for: Mapping[str, int],
              pruned_as: Mapping[str, int]) -> dict[str, Any]:
    """Counts and one line of text. A deploy kept for several reasons counts under each of them."""
    kept_for = {tag: kept_for[tag] for tag in KEEP_TAG_ORDER if kept_for.get(tag)}
    pruned_as = {tag: pruned_as[tag] for tag in PRUNE_TAG_ORDER if pruned_as.get(tag)}
    text = f"keep {keep} of {deploys} deploys, prune {prune}"
    if prune:
        text += f" (frees {prune} deploy{'s' if prune != 1 else ''})"
    if expired:
        text += f", {expired} already expired"
    if kept_for:
        text += "; kept for: " + ", ".join(f"{tag} {n}" for tag, n in kept_for.items())
    if pruned_as:
        text += "; pruned as: " + ", ".join(f"{tag} {n}" for tag, n in pruned_as.items())
    return {"deploys": deploys, "keep": keep, "prune": prune, "expired": expired, "kept_for": kept_for,
            "pruned_as": pruned_as, "text": text}


@dataclass(frozen=True)
class RetentionPlan(PlanView):
    """A plan with every decision in memory (what :func:`plan_retention` returns)."""

    decisions: tuple[Decision, ...]
    policy: RetentionPolicy
    now: datetime
    # things a person should check before applying the plan (a typo in a benchmark name, no live deploy)
    warnings: tuple[str, ...] = ()

    # The lists by action and the summary are computed once per plan (a plan is immutable).
    @cached_property
    def _by_action(self) -> dict[str, list[Decision]]:
        groups: dict[str, list[Decision]] = {"keep": [], "prune": [], "expired": []}
        for d in self.decisions:
            groups[d.action].append(d)
        return groups

    def _of(self, action: str) -> Sequence[Decision]:
        return self.decisions if action == "all" else self._by_action[action]

    @property
    def keep(self) -> list[Decision]:
        return list(self._by_action["keep"])

    @property
    def prune(self) -> list[Decision]:
        return list(self._by_action["prune"])

    @property
    def expired(self) -> list[Decision]:
        return list(self._by_action["expired"])

    def page(self, action: str, start: int, stop: int) -> list[Decision]:
        return list(self._of(action)[start:stop])

    def iter_decisions(self, action: str = "all") -> Iterator[Decision]:
        return iter(self._of(action))

    def decision(self, netlify_id: str) -> Decision:
        for d in self.decisions:
            if d.netlify_id == netlify_id:
                return d
        raise KeyError(f"no deploy {netlify_id!r} in this retention plan")

    def benchmarks(self) -> list[str]:
        return sorted({b for d in self.decisions for b in d.scores})

    def summary(self) -> dict[str, Any]:
        summary = self._summary
        return {**summary, "kept_for": dict(summary["kept_for"]), "pruned_as": dict(summary["pruned_as"])}

    @cached_property
    def _summary(self) -> dict[str, Any]:
        keep, prune, expired = self._by_action["keep"], self._by_action["prune"], self._by_action["expired"]
        return summarise(len(self.decisions), len(keep), len(prune), len(expired), _count_tags(keep),
                         _count_tags(prune))


def _count_tags(decisions: Iterable[Decision]) -> Counter:
    return Counter(tag for d in decisions for tag in d.tags)


# ---------------------------------------------------------------------------------------------------------
# Planning in memory
# ---------------------------------------------------------------------------------------------------------


def plan_retention(deploys: Sequence[DeployFacts], policy: RetentionPolicy, now: datetime) -> RetentionPlan:
    """Decide keep, prune or expired for every deploy, each with its reasons. Pure and deterministic."""
    check_inputs(deploys, now)
    warnings: list[str] = []
    groups = _group_by_version(deploys)
    table, scores = _version_table(groups)
    chosen = chosen_benchmarks(policy, table.benchmarks, warnings)
    live_warning(sorted(d.netlify_id for d in deploys if d.is_live), warnings)

    keeps: Keeps = defaultdict(list)
    keep_live_pinned_building(deploys, keeps)
    keep_rollback_targets(deploys, policy, keeps)
    heads: dict[str, list[DeployFacts]] = defaultdict(list)
    for _, members in groups:
        seen: set[str] = set()
        for d in members:  # newest first, so the first seen per branch is the version's newest there
            if d.branch and restorable(d) and d.branch not in seen:
                seen.add(d.branch)
                heads[d.branch].append(d)
    keep_newest_per_branch(heads, policy, keeps)
    keep_grace(((d, scores[i], table.shas[i]) for i, (_, members) in enumerate(groups) for d in members),
               policy, chosen, now, keeps)

    verdicts = judge_versions(table, policy, chosen)
    merited = verdicts.merited
    decisions = []
    for i, (_, members) in enumerate(groups):
        representative = next((d for d in members if restorable(d)), None)
        version = VersionContext(verdicts, i, scores[i], representative and representative.netlify_id,
                                 kept_restorable(representative, bool(merited[i]), members, keeps))
        decisions.extend(decide(d, version, keeps.get(d.netlify_id, ()), policy) for d in members)
    sort_newest_first(decisions)
    return RetentionPlan(decisions=tuple(decisions), policy=policy, now=now, warnings=tuple(warnings))


def grace_ends(deploys: Iterable[DeployFacts], policy: RetentionPolicy, now: datetime) -> datetime | None:
    """The next moment after ``now`` when a deploy leaves its grace period: until then, a plan made at ``now``
    is the plan of any later moment (time enters the plan only through the grace period). None: never."""
    if policy.grace_days == 0:
        return None
    grace = timedelta(days=policy.grace_days)
    ends = [d.created_at + grace for d in deploys if not d.expired and d.created_at + grace > now]
    return min(ends) if ends else None


def check_inputs(deploys: Iterable[DeployFacts], now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("plan_retention: now is a naive datetime; pass a timezone-aware one "
                         "(datetime.now(timezone.utc))")
    ids: set[str] = set()
    for d in deploys:
        if d.netlify_id in ids:
            raise ValueError(f"plan_retention: deploy {d.netlify_id} appears twice; pass each deploy once")
        ids.add(d.netlify_id)
        for name in ("created_at", "last_live_at"):
            value = getattr(d, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"plan_retention: deploy {d.netlify_id} has a naive {name}; pass "
                                 "timezone-aware (UTC) datetimes")


def version_key(d: DeployFacts) -> str:
    # a deploy without a commit (a manual upload) is a version of its own, without scores
    return f"sha:{d.sha.lower()}" if d.sha else f"deploy:{d.netlify_id}"


def _group_by_version(deploys: Sequence[DeployFacts]) -> list[tuple[str, list[DeployFacts]]]:
    groups: dict[str, list[DeployFacts]] = defaultdict(list)
    for d in deploys:
        groups[version_key(d)].append(d)
    return [(key, sort_newest_first(members)) for key, members in sorted(groups.items())]


def _version_table(groups: Sequence[tuple[str, list[DeployFacts]]]) -> tuple[VersionTable, list[dict[str, float]]]:
    """The version rules' input, and each version's scores (the newest deploy's facts win: they agree)."""
    scores: list[dict[str, float]] = []
    gate, appeared, contender = [], [], []
    for _, members in groups:
        merged: dict[str, float] = {}
        for d in reversed(members):
            merged.update(d.scores)
        scores.append(dict(sorted(merged.items())))
        verdicts = {d.gate_passed for d in members}
        gate.append(GATE_PASSED if True in verdicts else GATE_FAILED if False in verdicts else GATE_UNKNOWN)
        first = min(d.created_at for d in members)
        appeared.append(int(first.timestamp() * 1_000_000))
        contender.append(any(restorable(d) for d in members))
    benchmarks = tuple(sorted({b for s in scores for b in s}))
    matrix = np.full((len(groups), len(benchmarks)), np.nan)
    column = {b: c for c, b in enumerate(benchmarks)}
    for i, s in enumerate(scores):
        for b, value in s.items():
            matrix[i, column[b]] = value
    table = VersionTable(keys=[key for key, _ in groups], shas=[members[0].sha for _, members in groups],
                         benchmarks=benchmarks, scores=matrix, gate=np.array(gate, dtype=np.int8),
                         appeared=np.array(appeared, dtype=np.int64), contender=np.array(contender, dtype=bool))
    return table, scores
