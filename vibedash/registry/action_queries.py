"""Read models for the action pages (Promote, Retention): plain, picklable values, nothing written.

The actions themselves live in :mod:`vibedash.actions.deploys` and :mod:`vibedash.actions.retention_apply`; this module only
gathers what a person needs to see before acting: every candidate with its gate verdict against live, the
audit log (:mod:`vibedash.registry.audit_log_queries`, offered here too), the pinned deploys, and the retention
plan reshaped for a chart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Engine, select, true
from sqlalchemy.orm import Session

from vibedash.decisions.facts import DeployFacts
from vibedash.decisions.gate import Policy, Verdict, evaluate
from vibedash.decisions.retention import (
    BriefDecision,
    Decision,
    PlanView,
    RetentionPlan,
    RetentionPolicy,
    grace_ends,
    plan_retention,
)
from vibedash.registry import records as registry
from vibedash.registry.audit_log_queries import (  # noqa: F401  (Promote's audit log reads, offered here as before)
    AUDIT_PAGE_SIZE,
    AuditPage,
    EventFilterChoices,
    audit_log_page,
    event_filter_choices,
)
from vibedash.registry.db import unit_of_work
from vibedash.registry.generation import GenerationCache, cached
from vibedash.registry.models import Deploy, Version
from vibedash.registry.queries import policy_fingerprint
from vibedash.registry.retention.chart import VersionPoint, registry_version_points


@dataclass(frozen=True)
class CandidateVerdict:
    """One candidate (a ready deploy that is not live) and what the gate says about it against live."""

    deploy_id: str
    sha: str
    branch: str | None
    context: str | None
    message: str | None
    created_at: datetime
    permalink: str | None
    scores: dict[str, float]
    verdict: Verdict


def candidate_verdicts(engine: Engine, policy: Policy, *, limit: int = 20) -> list[CandidateVerdict]:
    """The newest ``limit`` candidates (one deploy per version), each judged against the live version.

    Reads the registry's idea of live: the confirmation dialog re-checks against Netlify before acting.
    """
    with unit_of_work(engine) as session:
        # once per registry generation and policy: every write bumps the generation
        return cached(session, "candidate_verdicts", (policy_fingerprint(policy), limit),
                      lambda: _candidate_verdicts(session, policy, limit), reads_audit_log=False)


def _candidate_verdicts(session: Session, policy: Policy, limit: int) -> list[CandidateVerdict]:
    live = registry.live_deploy(session)
    live_facts = (registry.version_facts(session, live.version)
                  if live is not None and live.version is not None else None)
    pairs = registry.candidates(session, limit=limit)
    scores = registry.primary_scores(session, [version.id for version, _ in pairs])
    facts = registry.versions_facts(session, [version for version, _ in pairs])  # one read for them all
    out = []
    for (version, deploy), version_facts in zip(pairs, facts):
        verdict = evaluate(policy, version_facts, live_facts)
        out.append(CandidateVerdict(
            deploy_id=deploy.netlify_id, sha=version.sha, branch=deploy.branch or version.branch,
            context=deploy.context, message=version.message, created_at=deploy.created_at,
            permalink=deploy.permalink, scores=scores.get(version.id, {}), verdict=verdict))
    return out


def preferred_candidate(candidates: Sequence[CandidateVerdict]) -> CandidateVerdict | None:
    """The candidate to offer first: the newest that passes the gate, else the newest."""
    return next((c for c in candidates if c.verdict.passed), candidates[0] if candidates else None)


@dataclass(frozen=True)
class DeployBrief:
    """One deploy as a confirmation dialog names it."""

    deploy_id: str
    sha: str | None
    branch: str | None
    state: str
    created_at: datetime
    published_at: datetime | None
    is_live: bool
    locked: bool


def deploy_brief(engine: Engine, deploy_id: str | None) -> DeployBrief | None:
    """The registry's facts about one deploy, or None when it is not in the registry (or no id is given)."""
    if not deploy_id:
        return None
    with unit_of_work(engine) as session:
        row = session.execute(select(Deploy, Version.sha).outerjoin(Version, Version.id == Deploy.version_id)
                              .where(Deploy.netlify_id == deploy_id)).first()
        if row is None:
            return None
        deploy, sha = row
        return DeployBrief(deploy_id=deploy.netlify_id, sha=sha, branch=deploy.branch, state=deploy.state,
                           created_at=deploy.created_at, published_at=deploy.published_at,
                           is_live=deploy.is_live, locked=deploy.locked)


@dataclass(frozen=True)
class PinnedDeploy:
    deploy_id: str
    sha: str | None
    branch: str | None
    reason: str | None
    pinned_by: str | None
    pinned_at: datetime | None
    expired: bool


def pinned_deploys(engine: Engine) -> list[PinnedDeploy]:
    """Every pinned deploy, most recently pinned first (expired ones too: their pin can still be removed)."""
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(Deploy, Version.sha).outerjoin(Version, Version.id == Deploy.version_id)
            # "pinned = 1": the condition of the partial index ix_deploy_pinned (a few pins among many deploys)
            .where(Deploy.pinned == true()).order_by(Deploy.pinned_at.desc(), Deploy.netlify_id)).all()
        return [PinnedDeploy(deploy_id=d.netlify_id, sha=sha, branch=d.branch, reason=d.pin_reason,
                             pinned_by=d.pinned_by, pinned_at=d.pinned_at, expired=d.expired_at is not None)
                for d, sha in rows]


# --- the retention plan as a picture -----------------------------------------------------------------------

# Retention plans are big (one decision per deploy): at most two stay cached, for the policies in use.
PLANS = GenerationCache(size=2)


def cached_plan(session: Session, policy: RetentionPolicy, now: datetime,
                facts: Callable[[], Sequence[DeployFacts]]) -> RetentionPlan:
    """The retention plan at ``now``, computed from ``facts()`` once per registry generation and policy.

    A plan changes only when the registry does (a new generation) or when a deploy leaves its grace period
    (:func:`grace_ends`), so it is reused until either happens.
    """
    def compute() -> tuple[RetentionPlan, datetime | None]:
        deploys = facts()
        return plan_retention(deploys, policy, now), grace_ends(deploys, policy, now)

    def still_valid(entry: tuple[RetentionPlan, datetime | None]) -> bool:
        plan, until = entry
        return plan.now <= now and (until is None or now < until)

    # The same plan object while it holds (its ``now`` says when it was made), so what pages derive from it
    # (the chart's points, the summary) is derived once.
    plan, _ = cached(session, "retention_plan", repr(policy), compute, still_valid=still_valid, cache=PLANS)
    return plan


def registry_plan(engine: Engine, policy: RetentionPolicy, now: datetime) -> PlanView:
    """The retention plan of the whole registry at ``now`` (:class:`RegistryPlan`: counts and verdicts in
    memory, decisions read a page at a time), made once per registry generation and policy, and reused until a
    deploy leaves its grace period."""
    from vibedash.registry.retention.plan import RegistryPlan

    def still_valid(plan: RegistryPlan) -> bool:
        return plan.now <= now and (plan.valid_until is None or now < plan.valid_until)

    def compute() -> RegistryPlan:
        # the newest plan made before: the new one reads only the versions changed since (see RegistryPlan)
        with _LATEST_LOCK:
            previous = _LATEST.get(str(engine.url))
        plan = RegistryPlan(engine, policy, now, previous=previous)
        with _LATEST_LOCK:
            _LATEST[str(engine.url)] = plan
            _LATEST.move_to_end(str(engine.url))
            while len(_LATEST) > _LATEST_SIZE:
                _LATEST.popitem(last=False)
        return plan

    with unit_of_work(engine) as session:
        plan = cached(session, "registry_retention_plan", repr(policy), compute, still_valid=still_valid, cache=PLANS)
    # the plans of earlier generations are done with: a page after a write holds one plan, not two
    PLANS.forget_others(plan.instance, "registry_retention_plan", repr(policy), plan)
    return plan.bound_to(engine)


# The newest plan made per registry (by URL; a plan checks the registry's instance id before patching from one)
_LATEST: OrderedDict[str, Any] = OrderedDict()
_LATEST_SIZE = 4
_LATEST_LOCK = threading.Lock()


_VIEWS: OrderedDict[tuple, tuple[PlanView, Any]] = OrderedDict()
_VIEWS_SIZE = 16


def _per_plan(plan: PlanView, key: tuple, compute: Callable[[], Any]) -> Any:
    """What a page derives from one plan, derived once per plan object (the plan is immutable and cached)."""
    identity = getattr(plan, "cache_identity", plan)  # copies of one plan bound to other engines share it
    full_key = (id(identity), *key)
    hit = _VIEWS.get(full_key)
    if hit is not None and hit[0] is identity:
        return hit[1]
    value = compute()
    _VIEWS[full_key] = (identity, value)  # holding it keeps its id from being reused while cached
    while len(_VIEWS) > _VIEWS_SIZE:
        _VIEWS.popitem(last=False)
    return value


def decisions_page(plan: PlanView, action: str, page: int, size: int) -> list[Decision]:
    """Page ``page`` (from 1) of the plan's decisions with ``action`` ("all" for every one), ``size`` a page;
    read once per plan and page."""
    start = (max(1, page) - 1) * size
    return list(_per_plan(plan, ("page", action, start, size), lambda: tuple(plan.page(action, start, start + size))))


def decisions_shown(plan: PlanView, action: str) -> tuple[Decision, ...]:
    """Every decision with ``action`` (for small plans and tests; pages use :func:`decisions_page`)."""
    return _per_plan(plan, ("action", action), lambda: tuple(plan.iter_decisions(action)))


def plan_token(plan: PlanView) -> tuple:
    """What identifies the plan a person confirmed: its counts and the first deploys it prunes. A confirmation
    dialog compares it with a fresh plan's, and asks again when they differ."""
    summary = plan.summary()
    first = _per_plan(plan, ("token",), lambda: tuple(d.netlify_id for d in plan.brief_page("prune", 0, 50)))
    return (summary["keep"], summary["prune"], summary["expired"], first)


def prune_ids(plan: PlanView, limit: int | None = None) -> list[str]:
    """The Netlify ids the plan would delete, in the plan's order (at most ``limit``)."""
    if limit is not None:
        return [d.netlify_id for d in decisions_page(plan, "prune", 1, limit)]
    return [d.netlify_id for d in plan.iter_decisions("prune")]


def pin_choices(plan: PlanView, pinned: frozenset[str], limit: int) -> list[BriefDecision]:
    """Deploys still on Netlify and not pinned, pruned ones first (a pin saves those), at most ``limit``."""
    def choose() -> tuple[BriefDecision, ...]:
        out: list[BriefDecision] = []
        for action in ("prune", "keep"):
            start = 0
            while len(out) < limit:
                page = plan.brief_page(action, start, start + limit)
                out += [d for d in page if d.action != "expired" and d.netlify_id not in pinned][:limit - len(out)]
                if len(page) < limit:
                    break
                start += limit
        return tuple(out)

    return list(_per_plan(plan, ("pin choices", pinned, limit), choose))


def plan_benchmarks(plan: PlanView) -> list[str]:
    """Benchmarks with a score on any deploy the plan judges, in the order the dashboard shows them."""
    from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS

    order = {b: i for i, b in enumerate(HEADLINE_BENCHMARKS)}
    return sorted(plan.benchmarks(), key=lambda b: (order.get(b, len(order)), b))


CHART_POINTS = 2000


def version_points(plan: PlanView, x: str, y: str, *, limit: int | None = CHART_POINTS) -> list[VersionPoint]:
    """Versions still on Netlify with scores on both benchmarks; the 2-D Pareto frontier of ``x``, ``y`` marked.

    The plan's own frontier spans the policy's benchmarks (often more than two), so the frontier drawn here
    is computed over the two chosen benchmarks only, among the versions that still have a deploy.

    A chart of a hundred thousand dots draws nothing a person can read and costs seconds: past ``limit``
    points, every frontier version stays, then the most recent kept ones, then the most recent pruned ones
    (None: no limit).
    """
    return list(_per_plan(plan, ("points", x, y, limit), lambda: _version_points(plan, x, y, limit)))


def _version_points(plan: PlanView, x: str, y: str, limit: int | None) -> list[VersionPoint]:
    from vibedash.registry.retention.plan import RegistryPlan

    if isinstance(plan, RegistryPlan):
        return registry_version_points(plan, x, y, limit)
    points = _all_version_points(plan, x, y)
    recency = {}
    for rank, decision in enumerate(plan.iter_decisions("all")):  # newest deploy first
        if decision.sha is not None:
            recency.setdefault(decision.sha, rank)
    return _thin(points, recency, limit)


def _thin(points: list[VersionPoint], recency: dict[str, int], limit: int | None) -> list[VersionPoint]:
    """Every frontier point, then kept ones and then pruned ones, most recent first, up to ``limit``; sorted by
    x, y."""
    points.sort(key=lambda p: (p.x, p.y, p.sha))
    if limit is None or len(points) <= limit:
        return points
    frontier = [p for p in points if p.on_frontier]
    rest = sorted((p for p in points if not p.on_frontier), key=lambda p: (p.status != "kept", recency[p.sha]))
    shown = frontier + rest[: max(0, limit - len(frontier))]
    shown.sort(key=lambda p: (p.x, p.y, p.sha))
    return shown


def _all_version_points(plan: PlanView, x: str, y: str) -> list[VersionPoint]:
    by_version: dict[str, list] = {}
    for decision in plan.iter_decisions("all"):
        if decision.sha is None or decision.action == "expired":
            continue
        if x in decision.scores and y in decision.scores:
            by_version.setdefault(decision.sha, []).append(decision)
    frontier = pareto_frontier({sha: (ds[0].scores[x], ds[0].scores[y]) for sha, ds in by_version.items()})
    points = []
    for sha, decisions in by_version.items():
        kept = [d for d in decisions if d.action == "keep"]
        shown = kept or decisions
        points.append(VersionPoint(
            sha=sha, branch=decisions[0].branch, x=decisions[0].scores[x], y=decisions[0].scores[y],
            status="kept" if kept else "pruned", on_frontier=sha in frontier,
            tags=tuple(dict.fromkeys(t for d in shown for t in d.tags)),
            reasons=tuple(dict.fromkeys(r for d in shown for r in d.reasons))))
    points.sort(key=lambda p: (p.x, p.y, p.sha))
    return points


def pareto_frontier(points: dict[str, tuple[float, float]]) -> set[str]:
    """Keys of the points no other point beats (at least as good on both coordinates, better on one).

    Points equal on both coordinates do not beat each other: all of them are on the frontier. A sweep from
    the highest x down, O(n log n), since a registry may hold many thousands of versions.
    """
    ordered = sorted(points.items(), key=lambda item: -item[1][0])
    frontier: set[str] = set()
    best_y_of_greater_x = float("-inf")
    for _, group_iter in groupby(ordered, key=lambda item: item[1][0]):
        group = list(group_iter)
        top = max(y for _, (_, y) in group)
        if top > best_y_of_greater_x:
            frontier.update(key for key, (_, y) in group if y == top)
        best_y_of_greater_x = max(best_y_of_greater_x, top)
    return frontier
