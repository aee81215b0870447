"""The deploy rules of retention and one deploy's decision (pure).

Deploy rules keep *that* deploy: live, pinned, still building, a rollback target, in its grace period, the newest
of its version on a branch. :func:`decide` then says keep, prune or expired for one deploy from those keeps and
its version's verdict (:mod:`vibedash.decisions.retention.versions`), with every reason. Both the plan held in
memory (:func:`vibedash.decisions.retention.plan_retention`) and the registry's plan read a page at a time
(:mod:`vibedash.registry.retention.plan`) decide each deploy here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from vibedash.decisions.facts import DeployFacts
from vibedash.decisions.retention.policy import RetentionPolicy
from vibedash.decisions.retention.terms import (
    BRANCH,
    BUILDING,
    DUPLICATE,
    EXPIRED,
    FAILED,
    FAILED_STATES,
    GRACE,
    LIVE,
    PINNED,
    RESTORABLE_STATES,
    ROLLBACK,
    Action,
    date,
    days,
    ordinal,
)
from vibedash.decisions.retention.versions import Verdicts

Keeps = dict[str, list[tuple[str, str]]]  # netlify_id -> [(tag, reason)] of the deploy rules that keep it


@dataclass(frozen=True)
class Decision:
    """Keep, prune or expired for one deploy, with the reasons (never empty)."""

    netlify_id: str
    sha: str | None
    action: Action
    reasons: tuple[str, ...]
    # the version's scores (benchmark -> 0 to 100), empty for a deploy without a version
    scores: Mapping[str, float] = field(default_factory=dict)
    branch: str | None = None
    created_at: datetime | None = None
    state: str = "ready"
    tags: tuple[str, ...] = ()

    @property
    def short_sha(self) -> str | None:
        return self.sha[:7] if self.sha else None


class BriefDecision(NamedTuple):  # a tuple: a list of choices makes hundreds each rerun
    """What a list of deploys to choose from shows of a decision: the deploy, its version, its branch, the action
    (no reasons: the plan's table words those)."""

    netlify_id: str
    sha: str | None
    branch: str | None
    action: Action

    @property
    def short_sha(self) -> str | None:
        return self.sha[:7] if self.sha else None


def live_warning(live_ids: Sequence[str], warnings: list[str]) -> None:
    if not live_ids:
        warnings.append("no deploy is marked live; sync with Netlify before applying this plan")
    elif len(live_ids) > 1:
        warnings.append(f"{len(live_ids)} deploys are marked live ({', '.join(live_ids)});"
                        " all are kept; sync with Netlify before applying this plan")


def restorable(d: DeployFacts) -> bool:
    return d.state in RESTORABLE_STATES and not d.expired


# --- deploy rules -----------------------------------------------------------------------------------------


def keep_live_pinned_building(deploys: Iterable[DeployFacts], keeps: Keeps) -> None:
    for d in deploys:
        if d.is_live:
            # Netlify serves it, so it exists whatever the registry says about expiry
            keeps[d.netlify_id].append((LIVE, "live"))
        if d.pinned and not d.expired:
            keeps[d.netlify_id].append((PINNED, "pinned"))
        if (not d.expired and d.state not in RESTORABLE_STATES and d.state not in FAILED_STATES
                and not d.is_live):
            # a build in progress, or a state Netlify added after this code was written: never guess
            keeps[d.netlify_id].append((BUILDING, f"state {d.state!r}: still building or unknown; "
                                                  "decided once it is ready"))


def rollback_targets(deploys: Iterable[DeployFacts], n: int) -> list[tuple[int, DeployFacts]]:
    """The last ``n`` restorable deploys that were live before the current one, most recent first, each with
    its rank (1: the one a rollback goes to). Deploys with the same ``last_live_at`` share a rank, and a
    tie at the last rank keeps them all: when in doubt, keep the way back."""
    was_live = [d for d in deploys if d.last_live_at is not None and not d.is_live and restorable(d)]
    was_live.sort(key=lambda d: (-_timestamp(d.last_live_at), -_timestamp(d.created_at), d.netlify_id))
    targets: list[tuple[int, DeployFacts]] = []
    for position, d in enumerate(was_live, start=1):
        tied = targets and targets[-1][1].last_live_at == d.last_live_at
        rank = targets[-1][0] if tied else position
        if rank > n:
            break
        targets.append((rank, d))
    return targets


def keep_rollback_targets(deploys: Iterable[DeployFacts], policy: RetentionPolicy, keeps: Keeps) -> None:
    for rank, d in rollback_targets(deploys, policy.keep_last_live):
        assert d.last_live_at is not None  # rollback_targets only returns deploys that were live
        keeps[d.netlify_id].append((ROLLBACK, f"rollback target {rank} of {policy.keep_last_live} "
                                              f"(last live {date(d.last_live_at)})"))


def keep_newest_per_branch(heads: Mapping[str, list[DeployFacts]], policy: RetentionPolicy, keeps: Keeps) -> None:
    """``heads``: branch -> the newest restorable deploy there of each version (at least the N newest ones)."""
    n = policy.keep_newest_per_branch
    if n == 0:
        return
    for branch, candidates in heads.items():
        for rank, d in enumerate(sort_newest_first(list(candidates))[:n], start=1):
            where = f"newest on branch {branch}" if rank == 1 else f"{ordinal(rank)} newest on branch {branch}"
            keeps[d.netlify_id].append((BRANCH, where))


def keep_grace(deploys: Iterable[tuple[DeployFacts, Mapping[str, float], str | None]], policy: RetentionPolicy,
               chosen: Sequence[str], now: datetime, keeps: Keeps) -> None:
    """``deploys``: (deploy, its version's scores, its version's sha), at least every one in the grace period."""
    if policy.grace_days == 0:
        return
    grace = timedelta(days=policy.grace_days)
    for d, scores, sha in deploys:
        if d.expired or now - d.created_at >= grace:
            continue
        until = f"kept until {date(d.created_at + grace)} (grace period)"
        missing = [b for b in chosen if b not in scores]
        if d.state in FAILED_STATES:
            why = f"build failed (state {d.state})"
        elif sha is None:
            why = "no version (no commit sha)"
        elif not scores:
            why = "no scores yet"
        elif missing:
            why = f"no score on {', '.join(missing)} yet"
        else:
            why = f"younger than {days(policy.grace_days)}"
        keeps[d.netlify_id].append((GRACE, f"{why}; {until}"))


# --- one deploy -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeptDeploy:
    """The deploy that keeps a version restorable: the one its other restorable deploys duplicate."""

    netlify_id: str
    created_at: datetime


@dataclass(frozen=True)
class VersionContext:
    """What one deploy's decision needs to know about its version."""

    verdicts: Verdicts
    index: int
    scores: Mapping[str, float]
    representative: str | None  # netlify id of its newest restorable deploy
    kept: KeptDeploy | None


def kept_restorable(representative: DeployFacts | None, merited: bool, members: Iterable[DeployFacts],
                    keeps: Mapping[str, Sequence[tuple[str, str]]]) -> KeptDeploy | None:
    """The deploy that keeps a version restorable, if any: its representative when that is kept, else its
    newest restorable deploy a deploy rule keeps (a kept build in progress or failed build keeps nothing)."""
    if representative is not None and (merited or keeps.get(representative.netlify_id)):
        return KeptDeploy(representative.netlify_id, representative.created_at)
    kept = next((d for d in members if restorable(d) and keeps.get(d.netlify_id)), None)  # newest first
    return KeptDeploy(kept.netlify_id, kept.created_at) if kept is not None else None


def decide(d: DeployFacts, version: VersionContext, deploy_keeps: Sequence[tuple[str, str]],
           policy: RetentionPolicy) -> Decision:
    """Keep, prune or expired for deploy ``d``: the deploy rules' keeps, then its version's merit if it is the
    version's representative, else why it goes."""
    def decision(action: Action, reasons: Sequence[str], tags: Sequence[str]) -> Decision:
        return Decision(netlify_id=d.netlify_id, sha=d.sha, action=action, reasons=tuple(reasons),
                        scores=version.scores, branch=d.branch, created_at=d.created_at, state=d.state,
                        tags=tuple(dict.fromkeys(tags)))

    verdicts, i = version.verdicts, version.index
    keeps = list(deploy_keeps)
    if d.netlify_id == version.representative:
        keeps += verdicts.merit(i)
    if keeps:
        return decision("keep", [reason for _, reason in keeps], [tag for tag, _ in keeps])
    if d.expired:
        gone = ["already expired (gone from Netlify); nothing to prune"]
        if d.pinned:
            gone.append("it was pinned, but Netlify no longer has it")
        return decision("expired", gone, [EXPIRED])

    tail = not_protected(policy)
    if d.state in FAILED_STATES:
        return decision("prune", [f"build failed (state {d.state}), nothing to roll back to", tail], [FAILED])
    kept = version.kept
    if kept is not None:
        older = "older " if (d.created_at, d.netlify_id) < (kept.created_at, kept.netlify_id) else ""
        return decision("prune", [f"{older}duplicate of {verdicts.table.short(i)} (deploy {kept.netlify_id} is "
                                  "kept)", tail], [DUPLICATE])
    reasons = verdicts.faults(i)
    n = policy.keep_newest_per_branch
    if n and d.branch:
        reasons.append(f"not the newest version on branch {d.branch}" if n == 1
                       else f"not among the {n} newest versions on branch {d.branch}")
    if d.last_live_at is not None:
        reasons.append(f"last live {date(d.last_live_at)}, before the last {policy.keep_last_live} rollback "
                       "targets" if policy.keep_last_live else
                       f"last live {date(d.last_live_at)} (rollback targets: off)")
    reasons.append(tail)
    return decision("prune", reasons, [verdicts.fault_tag(i)])


def not_protected(policy: RetentionPolicy) -> str:
    age = f"older than {days(policy.grace_days)}" if policy.grace_days else "no grace period"
    return f"not live, not pinned, {age}"


_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


def sort_newest_first(items: list) -> list:
    """Sort deploys or decisions in place, newest ``created_at`` first, then by Netlify id; returns them.

    Two stable sorts on plain attributes (ids ascending, then times descending) order exactly as the key
    (-timestamp, id) would, without a float conversion per item.
    """
    items.sort(key=lambda d: d.netlify_id)
    items.sort(key=lambda d: d.created_at or _OLDEST, reverse=True)
    return items


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("-inf")
