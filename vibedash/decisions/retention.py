"""Retention by meaning: which deploys to keep, which to prune, and why (the pure plan).

Netlify deletes deploys by age, which can delete the very version one needs to roll back to. This module
keeps what matters and says why: every deploy gets a decision with at least one reason a person can read.

How a plan is made
------------------
Deploys are grouped by version (commit sha). Two kinds of rules keep things:

* Deploy rules keep *that* deploy: the live deploy (always), pinned deploys (always), the last N deploys
  that were live before the current one (rollback targets), deploys younger than the grace period, the
  newest deploy of each of the N newest versions on every branch, and deploys still building.
* Version rules judge a version's merit: it set a new best on a benchmark when it appeared, it is on the
  Pareto frontier of the chosen benchmarks, or it passed the gate. A version kept for its merit keeps one
  deploy: its newest restorable one (state ready, old or current, not expired). Its other restorable
  deploys are pruned as "older duplicate of <sha>" unless a deploy rule keeps them.

Everything else is pruned, with the reasons every rule gave. Choices worth knowing:

* Failed builds (state error, rejected, ...) have nothing to roll back to: they are pruned unless pinned,
  live or in the grace period.
* Expired deploys (already gone from Netlify) get the action ``expired``: they are listed, so the plan
  covers every deploy, but they are neither kept nor pruned.
* Deploys in a state retention does not know (a build in progress, a state Netlify adds later) are kept.
* Frontier: version A dominates B when A is at least as good as B on every chosen benchmark and better on
  one. A missing score counts as worse than any score: a version is judged on what it was measured on (the
  grace period gives it time to be measured), and one measured on fewer benchmarks never pushes out one
  measured on more. Versions equal on every chosen benchmark do not dominate each other: all of them stay
  on the frontier (the reason names the ones tied). Versions with no score on any chosen benchmark take no
  part. Only versions with a restorable deploy compete: a better version whose deploys are gone cannot
  push out the best one still there.
* New bests are history: versions are taken in order of their first deploy, and a version sets a new best
  on a benchmark when its score is strictly greater than that of every version that appeared earlier,
  whether or not those are still deployed. The first version scored on a benchmark sets its first best.
  Versions that appeared at the same instant are each compared with the earlier ones only.
* A version without scores (or missing some chosen benchmark) is kept by the grace period and the plan
  says so ("no scores yet; kept until ... (grace period)"); after the grace period it is judged like any
  other.
* Rollback targets are the deploys with a ``last_live_at``, most recent first, counting only restorable
  ones, since an expired or failed deploy is no rollback target. Deploys tied at the last place are all
  kept.

All datetimes must be timezone-aware (the registry returns UTC). Decisions are ordered newest deploy first,
then by Netlify id, whatever the input order.
"""

from __future__ import annotations

import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from functools import cached_property
from itertools import groupby
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vibedash.decisions.facts import DeployFacts

# ---------------------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------------------


class RetentionPolicyError(ValueError):
    """A retention policy cannot be used; the message names the setting and says what to fix."""


@dataclass(frozen=True)
class RetentionPolicy:
    """What to keep beyond the live and pinned deploys, which are always kept.

    Each rule is switched off by ``False`` (or ``0`` for the counts).
    """

    # the last N deploys that were live before the current one (rollback targets)
    keep_last_live: int = 3
    # every version that set a new best on a benchmark when it appeared
    keep_new_bests: bool = True
    # the Pareto frontier of ``benchmarks``
    keep_frontier: bool = True
    # the benchmarks that matter, for the frontier and for new bests; empty: every benchmark with a score
    benchmarks: tuple[str, ...] = ()
    # versions whose gate verdict passed
    keep_gate_passed: bool = True
    # on every branch, the newest deploy of each of the N newest versions
    keep_newest_per_branch: int = 1
    # deploys younger than this are never pruned
    grace_days: int = 14

    def __post_init__(self) -> None:
        for name in ("keep_last_live", "keep_newest_per_branch", "grace_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RetentionPolicyError(f"{name} must be a whole number, 0 or more (0 switches it off); "
                                           f"got {value!r}")
        for name in ("keep_new_bests", "keep_frontier", "keep_gate_passed"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise RetentionPolicyError(f"{name} must be true or false; got {value!r}")
        benchmarks = self.benchmarks
        if isinstance(benchmarks, str) or not all(isinstance(b, str) and b.strip() for b in benchmarks):
            raise RetentionPolicyError(f"benchmarks must be a list of benchmark names such as "
                                       f'["aime25", "hmmt25"]; got {benchmarks!r}')
        # a list from TOML becomes a tuple, in the given order without repeats, so the policy stays hashable
        object.__setattr__(self, "benchmarks", tuple(dict.fromkeys(b.strip() for b in benchmarks)))

    def describe(self) -> list[str]:
        """One line per rule, switched-off rules included, for pages and the CLI."""
        of = f"any of {', '.join(self.benchmarks)}" if self.benchmarks else "any benchmark"
        over = ", ".join(self.benchmarks) if self.benchmarks else "all benchmarks with scores"
        lines = [
            "keep the live deploy (always)",
            "keep pinned deploys (always)",
            _switch(self.keep_last_live > 0,
                    f"keep the last {self.keep_last_live} deploys that were live before the current one "
                    "(rollback targets)", "rollback targets"),
            _switch(self.grace_days > 0, f"never touch deploys younger than {_days(self.grace_days)} "
                    "(grace period)", "grace period"),
            _switch(self.keep_newest_per_branch > 0,
                    f"keep the {_newest(self.keep_newest_per_branch)} on every branch",
                    "newest per branch"),
            _switch(self.keep_new_bests, f"keep every version that set a new best on {of} when it appeared",
                    "new bests"),
            _switch(self.keep_frontier, f"keep the Pareto frontier over {over}", "frontier"),
            _switch(self.keep_gate_passed, "keep versions that passed the gate", "gate passed"),
        ]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The policy as TOML-ready data (what :func:`parse_retention_policy` reads back)."""
        data: dict[str, Any] = {"keep_live": True, "keep_pinned": True}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = list(value) if isinstance(value, tuple) else value
        return data


DEFAULT_RETENTION_POLICY = RetentionPolicy()

# rules that cannot be switched off: the file may say so (as documentation), never the opposite
_ALWAYS_ON = {
    "keep_live": "the live deploy is never pruned",
    "keep_pinned": "a pin is always honoured; unpin the deploy instead",
}


def parse_retention_policy(data: Mapping[str, Any], source: str = "retention policy") -> RetentionPolicy:
    """A policy from plain data (a parsed TOML file); unknown keys and wrong types are errors."""
    known = {f.name for f in fields(RetentionPolicy)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _ALWAYS_ON:
            if value is not True:
                raise RetentionPolicyError(f"{source}: {key} cannot be switched off ({_ALWAYS_ON[key]}); "
                                           f"remove the line or set it to true")
        elif key in known:
            values[key] = value
        else:
            raise RetentionPolicyError(f"{source}: unknown setting {key!r}; known settings: "
                                       f"{', '.join(sorted(known | _ALWAYS_ON.keys()))}")
    if "benchmarks" in values:
        if not isinstance(values["benchmarks"], list):
            raise RetentionPolicyError(f'{source}: benchmarks must be a list such as ["aime25", "hmmt25"]; '
                                       f"got {values['benchmarks']!r}")
        values["benchmarks"] = tuple(values["benchmarks"])
    try:
        return RetentionPolicy(**values)
    except RetentionPolicyError as exc:
        raise RetentionPolicyError(f"{source}: {exc}") from None


def load_retention_policy(path: str | Path, *, missing_ok: bool = False) -> RetentionPolicy:
    """Read a policy from a TOML file (see ``examples/vibedash-retention.toml``).

    With ``missing_ok`` a missing file gives :data:`DEFAULT_RETENTION_POLICY` (for the default path, which
    a project need not have); a path the user named should exist.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return DEFAULT_RETENTION_POLICY
        raise RetentionPolicyError(f"retention policy file {path} does not exist; create it (see "
                                   "examples/vibedash-retention.toml) or point VIBEDASH_RETENTION_POLICY "
                                   "at another file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RetentionPolicyError(f"{path} is not valid TOML ({exc}); fix the file") from None
    return parse_retention_policy(data, source=str(path))


# ---------------------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------------------

Action = Literal["keep", "prune", "expired"]

# Tags: short labels of why a deploy is kept or pruned, for counting and filtering.
LIVE, PINNED, ROLLBACK, GRACE, BUILDING = "live", "pinned", "rollback", "grace", "building"
BRANCH, NEW_BEST, FRONTIER, GATE = "newest on branch", "new best", "frontier", "gate passed"
FAILED, DUPLICATE, DOMINATED, UNSCORED, NO_RULE = "failed", "duplicate", "dominated", "no scores", "no rule"
EXPIRED = "expired"

# Netlify states of a deploy one can roll back to ("old": previously published; "current": after a restore)
RESTORABLE_STATES = frozenset({"ready", "old", "current"})
# states of a build that ended without a site
FAILED_STATES = frozenset({"error", "failed", "rejected", "canceled", "cancelled"})

_KEEP_TAG_ORDER = (LIVE, PINNED, ROLLBACK, GRACE, BRANCH, BUILDING, NEW_BEST, FRONTIER, GATE)
_PRUNE_TAG_ORDER = (FAILED, DUPLICATE, DOMINATED, UNSCORED, NO_RULE)


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


@dataclass(frozen=True)
class RetentionPlan:
    decisions: tuple[Decision, ...]
    policy: RetentionPolicy
    now: datetime
    # things a person should check before applying the plan (a typo in a benchmark name, no live deploy)
    warnings: tuple[str, ...] = ()

    # The lists by action and the summary are computed once per plan (a plan is immutable): a page asks for
    # them on every rerun, and a plan may hold a million decisions.
    @cached_property
    def _by_action(self) -> dict[str, list[Decision]]:
        groups: dict[str, list[Decision]] = {"keep": [], "prune": [], "expired": []}
        for d in self.decisions:
            groups[d.action].append(d)
        return groups

    @property
    def keep(self) -> list[Decision]:
        return list(self._by_action["keep"])

    @property
    def prune(self) -> list[Decision]:
        return list(self._by_action["prune"])

    @property
    def expired(self) -> list[Decision]:
        return list(self._by_action["expired"])

    def decision(self, netlify_id: str) -> Decision:
        for d in self.decisions:
            if d.netlify_id == netlify_id:
                return d
        raise KeyError(f"no deploy {netlify_id!r} in this retention plan")

    def summary(self) -> dict[str, Any]:
        """Counts and one line of text. A deploy kept for several reasons counts under each of them."""
        summary = self._summary
        return {**summary, "kept_for": dict(summary["kept_for"]), "pruned_as": dict(summary["pruned_as"])}

    @cached_property
    def _summary(self) -> dict[str, Any]:
        keep, prune, expired = self._by_action["keep"], self._by_action["prune"], self._by_action["expired"]
        kept_for = _count_tags(keep, _KEEP_TAG_ORDER)
        pruned_as = _count_tags(prune, _PRUNE_TAG_ORDER)
        text = f"keep {len(keep)} of {len(self.decisions)} deploys, prune {len(prune)}"
        if prune:
            text += f" (frees {len(prune)} deploy{'s' if len(prune) != 1 else ''})"
        if expired:
            text += f", {len(expired)} already expired"
        if kept_for:
            text += "; kept for: " + ", ".join(f"{tag} {n}" for tag, n in kept_for.items())
        if pruned_as:
            text += "; pruned as: " + ", ".join(f"{tag} {n}" for tag, n in pruned_as.items())
        return {"deploys": len(self.decisions), "keep": len(keep), "prune": len(prune),
                "expired": len(expired), "kept_for": kept_for, "pruned_as": pruned_as, "text": text}

    def to_rows(self) -> list[dict[str, Any]]:
        """Plain dicts for tables: one per deploy, one column per benchmark (None where unscored)."""
        benchmarks = sorted({b for d in self.decisions for b in d.scores})
        fixed = ("netlify_id", "sha", "branch", "created_at", "state", "action", "tags", "reasons")
        # a benchmark named like a fixed column must not overwrite it
        column = {b: (f"score {b}" if b in fixed else b) for b in benchmarks}
        rows = []
        for d in self.decisions:
            row: dict[str, Any] = {"netlify_id": d.netlify_id, "sha": d.short_sha, "branch": d.branch,
                                   "created_at": d.created_at, "state": d.state, "action": d.action,
                                   "tags": ", ".join(d.tags), "reasons": "; ".join(d.reasons)}
            for b in benchmarks:
                row[column[b]] = d.scores.get(b)
            rows.append(row)
        return rows


def _count_tags(decisions: Iterable[Decision], order: Sequence[str]) -> dict[str, int]:
    counts = Counter(tag for d in decisions for tag in d.tags)
    return {tag: counts[tag] for tag in order if counts[tag]}


# ---------------------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Version:
    """The deploys of one version (or one deploy without a commit sha) and what the rules say about it."""

    key: str
    sha: str | None
    deploys: list[DeployFacts]
    scores: dict[str, float]
    gate_passed: bool | None
    appeared_at: datetime
    # newest restorable deploy: the one a version kept for its merit keeps
    representative: DeployFacts | None
    # (tag, reason) of each version rule that keeps it
    merit: list[tuple[str, str]] = field(default_factory=list)
    # why no merit rule keeps it, for its prune reasons
    faults: list[str] = field(default_factory=list)
    fault_tag: str = NO_RULE


def plan_retention(deploys: Sequence[DeployFacts], policy: RetentionPolicy, now: datetime) -> RetentionPlan:
    """Decide keep, prune or expired for every deploy, each with its reasons. Pure and deterministic."""
    _check_inputs(deploys, now)
    warnings: list[str] = []
    versions = _group_by_version(deploys)
    seen = sorted({b for v in versions for b in v.scores})
    chosen = _chosen_benchmarks(policy, seen, warnings)
    live = [d for d in deploys if d.is_live]
    if not live:
        warnings.append("no deploy is marked live; sync with Netlify before applying this plan")
    elif len(live) > 1:
        warnings.append(f"{len(live)} deploys are marked live ({', '.join(sorted(d.netlify_id for d in live))});"
                        " all are kept; sync with Netlify before applying this plan")

    deploy_keeps: dict[str, list[tuple[str, str]]] = defaultdict(list)  # netlify_id -> [(tag, reason)]
    _keep_live_pinned_building(deploys, deploy_keeps)
    _keep_rollback_targets(deploys, policy, deploy_keeps)
    _keep_newest_per_branch(versions, policy, deploy_keeps)
    _keep_grace(versions, policy, chosen, now, deploy_keeps)

    # only versions with a restorable deploy compete: one whose deploys are gone cannot be kept anyway
    contenders = [v for v in versions if v.representative is not None]
    _judge_unscored(versions, chosen, policy)
    if policy.keep_frontier:
        _judge_frontier(contenders, chosen)
    if policy.keep_new_bests:
        _judge_new_bests(versions, chosen)
    if policy.keep_gate_passed:
        _judge_gate(contenders)

    decisions = [_decide(d, v, policy, deploy_keeps) for v in versions for d in v.deploys]
    _sort_newest_first(decisions)
    return RetentionPlan(decisions=tuple(decisions), policy=policy, now=now, warnings=tuple(warnings))


def grace_ends(deploys: Iterable[DeployFacts], policy: RetentionPolicy, now: datetime) -> datetime | None:
    """The next moment after ``now`` when a deploy leaves its grace period: until then, a plan made at ``now``
    is the plan of any later moment (time enters the plan only through the grace period). None: never."""
    if policy.grace_days == 0:
        return None
    grace = timedelta(days=policy.grace_days)
    ends = [d.created_at + grace for d in deploys if not d.expired and d.created_at + grace > now]
    return min(ends) if ends else None


def _check_inputs(deploys: Sequence[DeployFacts], now: datetime) -> None:
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


def _group_by_version(deploys: Sequence[DeployFacts]) -> list[_Version]:
    groups: dict[str, list[DeployFacts]] = defaultdict(list)
    for d in deploys:
        # a deploy without a commit (a manual upload) is a version of its own, without scores
        groups[f"sha:{d.sha.lower()}" if d.sha else f"deploy:{d.netlify_id}"].append(d)
    versions = []
    for key, members in sorted(groups.items()):
        _sort_newest_first(members)
        scores: dict[str, float] = {}
        for d in reversed(members):  # the newest deploy's facts win (they are the version's, so agree)
            scores.update(d.scores)
        verdicts = {d.gate_passed for d in members}
        restorable = [d for d in members if _restorable(d)]
        versions.append(_Version(
            key=key, sha=members[0].sha, deploys=members, scores=dict(sorted(scores.items())),
            gate_passed=True if True in verdicts else False if False in verdicts else None,
            appeared_at=min(d.created_at for d in members),
            representative=restorable[0] if restorable else None))
    return versions


def _chosen_benchmarks(policy: RetentionPolicy, seen: Sequence[str], warnings: list[str]) -> tuple[str, ...]:
    if not policy.benchmarks:
        return tuple(seen)
    unknown = [b for b in policy.benchmarks if b not in seen]
    if unknown and seen:
        # most likely a typo: judging on a benchmark nobody has would put every version "missing" it
        warnings.append(f"the policy names benchmarks without any score: {', '.join(unknown)}; they are "
                        f"ignored (benchmarks with scores: {', '.join(seen)})")
    return tuple(b for b in policy.benchmarks if b in seen)


def _missing(v: _Version, chosen: Sequence[str]) -> list[str]:
    return [b for b in chosen if b not in v.scores]


def _restorable(d: DeployFacts) -> bool:
    return d.state in RESTORABLE_STATES and not d.expired


# --- deploy rules -----------------------------------------------------------------------------------------


def _keep_live_pinned_building(deploys: Sequence[DeployFacts], keeps: dict[str, list[tuple[str, str]]]) -> None:
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


def rollback_targets(deploys: Sequence[DeployFacts], n: int) -> list[tuple[int, DeployFacts]]:
    """The last ``n`` restorable deploys that were live before the current one, most recent first, each with
    its rank (1: the one a rollback goes to). Deploys with the same ``last_live_at`` share a rank, and a
    tie at the last rank keeps them all: when in doubt, keep the way back."""
    was_live = [d for d in deploys if d.last_live_at is not None and not d.is_live and _restorable(d)]
    was_live.sort(key=lambda d: (-_timestamp(d.last_live_at), -_timestamp(d.created_at), d.netlify_id))
    targets: list[tuple[int, DeployFacts]] = []
    for position, d in enumerate(was_live, start=1):
        tied = targets and targets[-1][1].last_live_at == d.last_live_at
        rank = targets[-1][0] if tied else position
        if rank > n:
            break
        targets.append((rank, d))
    return targets


def _keep_rollback_targets(deploys: Sequence[DeployFacts], policy: RetentionPolicy,
                           keeps: dict[str, list[tuple[str, str]]]) -> None:
    for rank, d in rollback_targets(deploys, policy.keep_last_live):
        assert d.last_live_at is not None  # rollback_targets only returns deploys that were live
        keeps[d.netlify_id].append((ROLLBACK, f"rollback target {rank} of {policy.keep_last_live} "
                                              f"(last live {_date(d.last_live_at)})"))


def _keep_newest_per_branch(versions: Sequence[_Version], policy: RetentionPolicy,
                            keeps: dict[str, list[tuple[str, str]]]) -> None:
    n = policy.keep_newest_per_branch
    if n == 0:
        return
    # branch -> version key -> its newest restorable deploy on that branch
    heads: dict[str, dict[str, DeployFacts]] = defaultdict(dict)
    for v in versions:
        for d in v.deploys:  # newest first, so the first seen per branch is the newest
            if d.branch and _restorable(d) and v.key not in heads[d.branch]:
                heads[d.branch][v.key] = d
    for branch, by_version in heads.items():
        newest = _sort_newest_first(list(by_version.values()))[:n]
        for rank, d in enumerate(newest, start=1):
            where = f"newest on branch {branch}" if rank == 1 else f"{_ordinal(rank)} newest on branch {branch}"
            keeps[d.netlify_id].append((BRANCH, where))


def _keep_grace(versions: Sequence[_Version], policy: RetentionPolicy, chosen: Sequence[str], now: datetime,
                keeps: dict[str, list[tuple[str, str]]]) -> None:
    if policy.grace_days == 0:
        return
    grace = timedelta(days=policy.grace_days)
    for v in versions:
        missing = _missing(v, chosen)
        for d in v.deploys:
            if d.expired or now - d.created_at >= grace:
                continue
            until = f"kept until {_date(d.created_at + grace)} (grace period)"
            if d.state in FAILED_STATES:
                why = f"build failed (state {d.state})"
            elif v.sha is None:
                why = "no version (no commit sha)"
            elif not v.scores:
                why = "no scores yet"
            elif missing:
                why = f"no score on {', '.join(missing)} yet"
            else:
                why = f"younger than {_days(policy.grace_days)}"
            keeps[d.netlify_id].append((GRACE, f"{why}; {until}"))


# --- version rules ----------------------------------------------------------------------------------------


def _judge_unscored(versions: Sequence[_Version], chosen: Sequence[str], policy: RetentionPolicy) -> None:
    """Versions the score rules cannot judge (the grace period has kept their young deploys)."""
    if not (policy.keep_frontier or policy.keep_new_bests):
        return  # no rule reads scores, so their absence is no reason
    for v in versions:
        if v.sha is not None and any(b in v.scores for b in chosen):
            continue
        if v.sha is None:
            v.faults.append("no version (no commit sha), so no scores")
        else:
            fault = "no scores" if not v.scores else f"no score on {', '.join(chosen)}"
            if policy.grace_days:
                fault += f" after the {policy.grace_days}-day grace period"
            v.faults.append(fault)
        v.fault_tag = UNSCORED


def _dominates(a: _Version, b: _Version, chosen: Sequence[str]) -> bool:
    """At least as good on every chosen benchmark and better on one; a missing score is worse than any."""
    better = False
    for bench in chosen:
        sa, sb = a.scores.get(bench), b.scores.get(bench)
        if sb is not None and (sa is None or sa < sb):
            return False
        if sa is not None and (sb is None or sa > sb):
            better = True
    return better


# Points compared at once in the skyline: a block's comparisons are one vectorised step (block x skyline x k).
_SKYLINE_BLOCK = 256


def _score_matrix(versions: Sequence[_Version], chosen: Sequence[str]) -> np.ndarray:
    """Scores as a matrix, one row per version; a missing score becomes a value below every real one, which
    turns "a missing score is worse than any" into plain Pareto dominance."""
    matrix = np.array([[v.scores.get(b, np.nan) for b in chosen] for v in versions], dtype=float)
    present = matrix[~np.isnan(matrix)]
    floor = (present.min() if present.size else 0.0) - 1.0
    matrix[np.isnan(matrix)] = floor
    return matrix.reshape(len(versions), len(chosen))


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


def _judge_frontier(contenders: Sequence[_Version], chosen: Sequence[str]) -> None:
    scored = [v for v in contenders if v.sha is not None and any(b in v.scores for b in chosen)]
    if not scored:
        return
    matrix = _score_matrix(scored, chosen)
    on_frontier_index = skyline(matrix)
    frontier = [scored[i] for i in on_frontier_index]
    on_frontier = {v.key for v in frontier}
    tied: dict[tuple, list[_Version]] = defaultdict(list)
    for v in frontier:
        tied[tuple(v.scores.get(b) for b in chosen)].append(v)
    for v in frontier:
        ties = [o for o in tied[tuple(v.scores.get(b) for b in chosen)] if o is not v]
        reason = f"on the frontier of {', '.join(chosen)}"
        if ties:
            reason += f" (tied with {', '.join(_short(o) for o in ties)})"
        v.merit.append((FRONTIER, reason))
    # Name the most recent frontier version that dominates each dominated one (it always has one): the
    # frontier sorted most recent first, the first dominator in that order, a block of versions at a time.
    recent_first = sorted(range(len(frontier)), key=lambda i: (frontier[i].appeared_at, frontier[i].key),
                          reverse=True)
    frontier_rows = matrix[on_frontier_index][recent_first]
    dominated = [i for i, v in enumerate(scored) if v.key not in on_frontier]
    block = max(1, 2_000_000 // max(1, len(frontier) * len(chosen)))
    for start in range(0, len(dominated), block):
        chunk = dominated[start:start + block]
        first = _dominance(frontier_rows, matrix[chunk]).argmax(axis=1)
        for i, j in zip(chunk, first.tolist()):
            v, by = scored[i], frontier[recent_first[j]]
            wins = [b for b in chosen if b in by.scores and (b not in v.scores or by.scores[b] > v.scores[b])]
            v.faults.append(f"dominated by {_short(by)} on {', '.join(wins)}")
            v.fault_tag = DOMINATED


def _judge_new_bests(versions: Sequence[_Version], chosen: Sequence[str]) -> None:
    """History: a version keeps its "new best" even if the earlier best is gone from Netlify."""
    for benchmark in chosen:
        scored = sorted((v for v in versions if v.sha is not None and benchmark in v.scores),
                        key=lambda v: (v.appeared_at, v.key))
        best_before: float | None = None  # best score of the versions that appeared strictly earlier
        for _, batch_iter in groupby(scored, key=lambda v: v.appeared_at):
            batch = list(batch_iter)  # versions that appeared at the same instant: compared with earlier ones
            for v in batch:
                score = v.scores[benchmark]
                if best_before is None:
                    v.merit.append((NEW_BEST, f"new best on {benchmark} when it appeared ({_score(score)}, "
                                              "the first score)"))
                elif score > best_before:
                    v.merit.append((NEW_BEST, f"new best on {benchmark} when it appeared ({_score(score)}, "
                                              f"previous best {_score(best_before)})"))
            top = max(v.scores[benchmark] for v in batch)
            best_before = top if best_before is None else max(best_before, top)
    for v in versions:
        if v.fault_tag != UNSCORED and not any(tag == NEW_BEST for tag, _ in v.merit):
            v.faults.append("never a new best")


def _judge_gate(contenders: Sequence[_Version]) -> None:
    for v in contenders:
        if v.sha is None:
            continue
        if v.gate_passed:
            v.merit.append((GATE, "passed the gate"))
        else:
            v.faults.append("gate not passed" if v.gate_passed is False else "no gate verdict")


# --- one deploy -------------------------------------------------------------------------------------------


def _decide(d: DeployFacts, v: _Version, policy: RetentionPolicy,
            deploy_keeps: Mapping[str, list[tuple[str, str]]]) -> Decision:
    def decision(action: Action, reasons: Sequence[str], tags: Sequence[str]) -> Decision:
        return Decision(netlify_id=d.netlify_id, sha=d.sha, action=action, reasons=tuple(reasons),
                        scores=v.scores, branch=d.branch, created_at=d.created_at, state=d.state,
                        tags=tuple(dict.fromkeys(tags)))

    keeps = list(deploy_keeps.get(d.netlify_id, ()))
    if d is v.representative:
        keeps += v.merit
    if keeps:
        return decision("keep", [reason for _, reason in keeps], [tag for tag, _ in keeps])
    if d.expired:
        gone = ["already expired (gone from Netlify); nothing to prune"]
        if d.pinned:
            gone.append("it was pinned, but Netlify no longer has it")
        return decision("expired", gone, [EXPIRED])

    tail = _not_protected(policy)
    if d.state in FAILED_STATES:
        return decision("prune", [f"build failed (state {d.state}), nothing to roll back to", tail], [FAILED])
    kept = _kept_restorable(v, deploy_keeps)
    if kept is not None:
        older = "older " if (d.created_at, d.netlify_id) < (kept.created_at, kept.netlify_id) else ""
        return decision("prune", [f"{older}duplicate of {_short(v)} (deploy {kept.netlify_id} is kept)", tail],
                        [DUPLICATE])
    reasons = list(v.faults)
    n = policy.keep_newest_per_branch
    if n and d.branch:
        reasons.append(f"not the newest version on branch {d.branch}" if n == 1
                       else f"not among the {n} newest versions on branch {d.branch}")
    if d.last_live_at is not None:
        reasons.append(f"last live {_date(d.last_live_at)}, before the last {policy.keep_last_live} rollback "
                       "targets" if policy.keep_last_live else
                       f"last live {_date(d.last_live_at)} (rollback targets: off)")
    reasons.append(tail)
    return decision("prune", reasons, [v.fault_tag])


def _kept_restorable(v: _Version, deploy_keeps: Mapping[str, list[tuple[str, str]]]) -> DeployFacts | None:
    """The deploy that keeps this version restorable, if any: its representative when that is kept."""
    if v.representative is not None and (v.merit or deploy_keeps.get(v.representative.netlify_id)):
        return v.representative
    # newest first; a kept build in progress or failed build keeps nothing restorable
    return next((d for d in v.deploys if _restorable(d) and deploy_keeps.get(d.netlify_id)), None)


def _not_protected(policy: RetentionPolicy) -> str:
    age = f"older than {_days(policy.grace_days)}" if policy.grace_days else "no grace period"
    return f"not live, not pinned, {age}"


# --- wording ----------------------------------------------------------------------------------------------


def _switch(on: bool, text: str, name: str) -> str:
    return text if on else f"{name}: off"


def _newest(n: int) -> str:
    return "newest version" if n == 1 else f"{n} newest versions"


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def _score(x: float) -> str:
    text = f"{x:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _short(v: _Version) -> str:
    return v.sha[:7] if v.sha else v.key


_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


def _sort_newest_first(items: list) -> list:
    """Sort deploys or decisions in place, newest ``created_at`` first, then by Netlify id; returns them.

    Two stable sorts on plain attributes (ids ascending, then times descending) order exactly as the key
    (-timestamp, id) would, without a float conversion per item: a million deploys sort in a second.
    """
    items.sort(key=lambda d: d.netlify_id)
    items.sort(key=lambda d: d.created_at or _OLDEST, reverse=True)
    return items


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("-inf")
