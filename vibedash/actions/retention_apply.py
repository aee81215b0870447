"""Applying a retention plan: the registry's facts in, audited deletions on Netlify out.

The plan itself is pure (vibedash.decisions.retention); this module gathers its facts and carries it out, one
audited delete at a time, stopping at the first unexpected error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from vibedash.actions.deploys import ActionError, delete_deploy
from vibedash.actions.observe import read_live
from vibedash.actions.outcomes import (
    EXIT_CODES,
    PARTIAL,
    REFUSED,
    UNAVAILABLE,
    outcome_of_netlify_error,
)
from vibedash.config import Settings
from vibedash.decisions.policies import retention_policy
from vibedash.decisions.retention import PlanView, RetentionPolicy
from vibedash.netlify.client import NetlifyClient, NetlifyError
from vibedash.registry.action_queries import registry_plan
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Event, utcnow


def gate_results(engine: Engine) -> dict[str, bool]:
    """The latest recorded gate verdict of each version (from `gate` runs and promotions)."""
    passed: dict[str, bool] = {}
    with unit_of_work(engine) as session:
        rows = session.execute(select(Event.version_sha, Event.verdict).where(
            Event.verdict.is_not(None), Event.version_sha.is_not(None)).order_by(Event.started_at, Event.id))
        for sha, verdict in rows:
            if isinstance(verdict, dict) and "passed" in verdict:
                passed[sha] = bool(verdict["passed"])
    return passed


def current_plan(engine: Engine, settings: Settings, *, policy_path: str | None = None,
                 policy: RetentionPolicy | None = None) -> PlanView:
    """The plan of the whole registry under the policy in force, made once per registry generation (and grace
    period), its decisions read a page at a time."""
    policy = policy or retention_policy(settings, policy_path)
    return registry_plan(engine, policy, utcnow())


@dataclass
class ApplyReport:
    deleted: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    error: str | None = None
    # How the stop ended (an ActionError outcome: refused, unavailable, unknown...); None when complete.
    outcome: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and not self.not_done

    @property
    def exit_code(self) -> int:
        """The README's exit code: 0 done, 4 partly done, else what stopped the first delete."""
        if self.complete:
            return 0
        if self.deleted:
            return EXIT_CODES[PARTIAL]
        return EXIT_CODES.get(self.outcome or UNAVAILABLE, EXIT_CODES[UNAVAILABLE])

    def summary(self) -> str:
        text = f"deleted {len(self.deleted)} deploys"
        if self.error:
            text += f"; stopped at an error: {self.error}; not done: {len(self.not_done)} deploys (run apply again)"
        return text


def apply_plan(engine: Engine, client: NetlifyClient, site_id: str, plan: PlanView, *, actor: str,
               progress: Callable[[int, int, str], None] | None = None) -> ApplyReport:
    """Delete the plan's pruned deploys, each an audited action; stop at the first error.

    Each delete reads Netlify first, so running apply again after a stop (or a lost answer) only deletes
    what is still there.
    """
    report = ApplyReport()
    total = plan.count("prune")
    # streamed: a plan may prune hundreds of thousands of deploys, read and decided a chunk at a time
    targets = plan.iter_decisions("prune")
    try:
        live_now = read_live(client, site_id).live_id
    except NetlifyError as exc:
        report.error = f"reading the site failed ({exc}); nothing was deleted"
        report.not_done = [d.netlify_id for d in targets]
        report.outcome = outcome_of_netlify_error(exc)
        return report
    for index, decision in enumerate(targets, 1):
        if decision.netlify_id == live_now:
            report.error = (f"{decision.netlify_id} is live on Netlify now but the plan prunes it: the registry "
                            "is behind, run `python -m vibedash sync` and plan again")
            report.not_done = [decision.netlify_id, *(d.netlify_id for d in targets)]
            report.outcome = REFUSED
            break
        try:
            delete_deploy(engine, client, site_id, decision.netlify_id, actor=actor,
                          reason="retention: " + "; ".join(decision.reasons), live_deploy_id=live_now)
        except ActionError as exc:
            report.error = str(exc)
            report.not_done = [decision.netlify_id, *(d.netlify_id for d in targets)]
            report.outcome = exc.outcome
            break
        report.deleted.append(decision.netlify_id)
        if progress:
            progress(index, total, decision.netlify_id)
    return report
