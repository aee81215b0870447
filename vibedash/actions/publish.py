"""Promote and roll back: goal "deploy D live and locked", reached from Netlify's real state on every run.

Each run reads the site first and does only what is missing (publish, then lock). The live deploy the
action expects to replace is fixed when the intent starts and recorded on its audit event: if Netlify shows
another one, someone else acted, and the action refuses instead of overwriting their change (compare-and-set
on the live deploy). The site's claim (see :mod:`vibedash.registry.audit`) keeps two such actions of this
registry from running at once. A run that did not finish is resumed by the next run of the same command:
same target, same expected live, the gate judged only once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from vibedash.actions import intents
from vibedash.actions.converge import Run, Step
from vibedash.actions.observe import (
    LiveState,
    before_any_change,
    existing_deploy,
    read_live,
    resolve_deploy,
    sha_of,
)
from vibedash.actions.outcomes import (
    BAD_INPUT,
    REFUSED,
    ActionConflict,
    ActionError,
    ActionResult,
    GateRefused,
    PromotePreview,
)
from vibedash.decisions.gate import Policy, Verdict, evaluate
from vibedash.netlify.client import NetlifyClient
from vibedash.registry import audit
from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Deploy, Event, utcnow

# "No expectation given": the CLI judges against whatever is live when it starts; a page passes what its
# confirmation dialog showed, so a change in between is refused instead of silently judged anew.
UNCHECKED: Any = object()


def gate_verdict(engine: Engine, policy: Policy, candidate_sha: str | None,
                 live_deploy_id: str | None) -> Verdict:
    with unit_of_work(engine) as session:
        if candidate_sha is None:
            raise ActionError("this deploy is not linked to a version (no commit_ref), so the gate cannot judge "
                              "it: record it with `python -m vibedash record --commit SHA --deploy-id ID`",
                              outcome=BAD_INPUT)
        candidate = registry.version_facts(session, registry.find_version(session, candidate_sha))
        live = None
        if live_deploy_id:
            live_row = session.scalar(select(Deploy).where(Deploy.netlify_id == live_deploy_id))
            if live_row is not None and live_row.version is not None:
                live = registry.version_facts(session, live_row.version)
        return evaluate(policy, candidate, live)


def preview_promote(engine: Engine, client: NetlifyClient, site_id: str, target: str,
                    policy: Policy) -> PromotePreview:
    deploy_id, sha = resolve_deploy(engine, client, target)
    live_id = read_live(client, site_id).live_id
    return PromotePreview(deploy_id=deploy_id, sha=sha, live_deploy_id=live_id, live_sha=sha_of(engine, live_id),
                          verdict=gate_verdict(engine, policy, sha, live_id))


def _require_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ActionError("a reason is required (--reason TEXT): the audit log keeps it", outcome=BAD_INPUT)
    return reason


def _start(engine: Engine, *, kind: str, site_id: str, actor: str, target: str, previous_live: str | None,
           **fields: Any) -> int:
    """The ``started`` event holding the site's claim; a held claim becomes a refusal (audited)."""
    intent = intents.intent_text(kind, site_id, target, previous_live)
    try:
        return audit.start_event(engine, kind=kind, actor=actor, target=target, previous_live=previous_live,
                                 intent=intent, claim=audit.site_claim(site_id), **fields)
    except audit.ClaimHeld as exc:
        fields.pop("detail", None)
        event_id = audit.record_event(engine, kind=kind, actor=actor, status=audit.REFUSED, target=target,
                                      previous_live=previous_live, intent=intent, error=str(exc), **fields)
        raise ActionConflict(str(exc), event_id=event_id) from None


def _publish_steps(client: NetlifyClient, site_id: str, target: str) -> list[Step]:
    return [
        Step("publish", f"publishing {target}", lambda: client.restore_deploy(target, site_id),
             landed=lambda s: s.live_id == target, needed=lambda s: s.live_id != target),
        Step("lock", f"locking {target}", lambda: client.lock_deploy(target),
             landed=lambda s: s.live_id == target and s.locked, needed=lambda s: not s.locked),
    ]


def _live_and_locked(run: Run) -> dict[str, Any]:
    steps: dict[str, Any] = {}
    try:
        run.converge(_publish_steps(run.client, run.site_id, run.target),
                     goal=lambda s: s.live_id == run.target and s.locked, steps=steps)
    except BaseException as exc:
        run.guard(exc)
        raise
    return steps


def promote(engine: Engine, client: NetlifyClient, site_id: str, target: str, *, actor: str, reason: str,
            policy: Policy, override: bool = False, expected_live: Any = UNCHECKED) -> ActionResult:
    """Make a candidate's deploy live and lock it, if the gate passes (or with an override reason).

    ``expected_live``: the live deploy the person saw when deciding; refused if Netlify shows another.
    """
    reason = _require_reason(reason)
    deploy_id, sha = resolve_deploy(engine, client, target)
    state = before_any_change(lambda: read_live(client, site_id), "reading the site before promoting")
    pending = intents.unfinished_live_change(engine, site_id, "promote")
    if pending and pending.target == deploy_id and state.live_id in (pending.previous_live, deploy_id) \
            and (expected_live is UNCHECKED or expected_live in (pending.previous_live, deploy_id)):
        return _resume_promote(engine, client, site_id, pending, actor=actor, reason=reason, sha=sha)
    if expected_live is not UNCHECKED and state.live_id != expected_live:
        raise ActionConflict(f"the live deploy changed since this promotion was reviewed: Netlify now shows "
                             f"{state.live_id or 'nothing'} live, not {expected_live or 'nothing'}. Review the "
                             "promotion again (the gate is judged against what is live now)")
    if state.live_id == deploy_id and state.locked:
        raise ActionError(f"{deploy_id} ({registry.short(sha)}) is already live and locked: nothing to do")
    deploy = before_any_change(lambda: existing_deploy(client, deploy_id), f"reading deploy {deploy_id}")
    if deploy is None:
        raise ActionError(f"Netlify no longer has deploy {deploy_id} (deleted by retention or by hand?): run "
                          "`python -m vibedash sync` and pick another", outcome=REFUSED)
    if deploy.get("state") != "ready":
        raise ActionError(f"deploy {deploy_id} is {deploy.get('state')!r}, not ready: only a ready deploy can go "
                          "live (wait for its build, or pick another deploy)", outcome=BAD_INPUT)
    verdict = None if state.live_id == deploy_id else gate_verdict(engine, policy, sha, state.live_id)
    if verdict is not None and not verdict.passed and not override:
        intent = intents.intent_text("promote", site_id, deploy_id, state.live_id)
        event_id = audit.record_event(engine, kind="promote", actor=actor, status=audit.REFUSED, target=deploy_id,
                                      version_sha=sha, previous_live=state.live_id, reason=reason, intent=intent,
                                      verdict=verdict.to_dict(), error="gate failed: " + verdict.summary())
        raise GateRefused(f"the gate failed ({verdict.summary()}); promote with --override and a reason to go "
                          "live anyway", event_id=event_id, verdict=verdict)
    detail = {"already_live": True} if verdict is None else None
    event_id = _start(engine, kind="promote", site_id=site_id, actor=actor, target=deploy_id,
                      previous_live=state.live_id, version_sha=sha, reason=reason,
                      verdict=verdict.to_dict() if verdict else None,
                      override=bool(override and verdict is not None and not verdict.passed), detail=detail)
    run = Run(engine, client, site_id, "promote", deploy_id, {state.live_id}, event_id)
    steps = _live_and_locked(run)
    run.finish(audit.SUCCEEDED, detail={"steps": steps})
    replacing = f", replacing {state.live_id}" if state.live_id and state.live_id != deploy_id else ""
    return ActionResult("promote", event_id, f"{deploy_id} ({registry.short(sha)}) is live and locked{replacing}"
                        + _how(steps), live_deploy_id=deploy_id, verdict=verdict, detail=steps)


def _resume_promote(engine: Engine, client: NetlifyClient, site_id: str, pending: intents.PendingIntent, *,
                    actor: str, reason: str, sha: str | None) -> ActionResult:
    """Carry on with an unfinished promote: same target and expected live; its verdict is not judged again."""
    deploy_id = pending.target or ""
    event_id = _start(engine, kind="promote", site_id=site_id, actor=actor, target=deploy_id,
                      previous_live=pending.previous_live, version_sha=pending.version_sha or sha, reason=reason,
                      verdict=pending.verdict, override=pending.override,
                      detail={"resumes": pending.event_id})
    run = Run(engine, client, site_id, "promote", deploy_id, {pending.previous_live}, event_id)
    steps = _live_and_locked(run)
    run.finish(audit.SUCCEEDED, detail={"steps": steps})
    judged = (pending.verdict or {}).get("summary")
    return ActionResult("promote", event_id, f"{deploy_id} ({registry.short(pending.version_sha or sha)}) is live "
                        f"and locked: finished promote #{pending.event_id}"
                        + (f" (gate judged then: {judged})" if judged else "") + _how(steps),
                        live_deploy_id=deploy_id, detail=steps)


def _how(steps: dict[str, Any]) -> str:
    if not any(k in steps for k in ("publish", "lock")):
        return " (nothing was missing on Netlify)"
    lost = [name for name, value in steps.items() if isinstance(value, str) and "answer was lost" in value]
    return f" (the answer to {' and '.join(lost)} was lost; read back from Netlify)" if lost else ""


def rollback_target(engine: Engine, current_live: str | None) -> str | None:
    """The deploy that was live before the current one: from the audit log, else Netlify's publish times.

    While a rollback is unfinished (and nothing else has happened since), its own target: finishing it is the
    rollback to do, never a step onward to the deploy it was rolling away from.
    """
    with unit_of_work(engine) as session:
        latest = session.scalar(select(Event).where(Event.kind.in_(intents.LIVE_CHANGING),
                                                    Event.status != audit.REFUSED, Event.intent.is_not(None))
                                .order_by(Event.id.desc()).limit(1))
        if latest is not None and latest.kind == "rollback" and latest.status in audit.UNFINISHED \
                and current_live in (latest.previous_live, latest.target):
            return latest.target
        if current_live:
            # partial and unknown count too: their target did go live (the lock is what may be missing).
            previous = session.scalar(
                select(Event.previous_live).where(Event.kind.in_(intents.LIVE_CHANGING),
                                                  Event.status.in_((audit.SUCCEEDED, audit.PARTIAL, audit.UNKNOWN)),
                                                  Event.target == current_live, Event.previous_live.is_not(None),
                                                  Event.previous_live != current_live)
                .order_by(Event.id.desc()).limit(1))
            if previous:
                row = session.scalar(select(Deploy).where(Deploy.netlify_id == previous))
                if row is not None and row.expired_at is None:
                    return previous
        candidates = session.scalars(
            select(Deploy).where(Deploy.published_at.is_not(None), Deploy.expired_at.is_(None),
                                 Deploy.state == "ready")
            .order_by(Deploy.published_at.desc())).all()
        for row in candidates:
            if row.netlify_id != current_live:
                return row.netlify_id
    return None


def rollback(engine: Engine, client: NetlifyClient, site_id: str, *, actor: str, reason: str,
             to: str | None = None) -> ActionResult:
    """Publish (and lock) the deploy that was live before the current one, or a named one.

    The target is fixed when the rollback starts and recorded; running the command again after a rollback
    that did not finish goes to that same target (never onward to the deploy being rolled away from).
    """
    reason = _require_reason(reason)
    state = before_any_change(lambda: read_live(client, site_id), "reading the site before rolling back")
    named = resolve_deploy(engine, client, to) if to else None
    pending = intents.unfinished_live_change(engine, site_id, "rollback")
    if pending and (named is None or named[0] == pending.target) \
            and state.live_id in (pending.previous_live, pending.target):
        target, sha, previous, resumes = pending.target or "", pending.version_sha, pending.previous_live, pending
    else:
        target, sha = named if named else (rollback_target(engine, state.live_id), None)
        if target is None:
            raise ActionError("no earlier live deploy is known to roll back to: name one with --to DEPLOY_ID "
                              "(run `python -m vibedash sync` first if the registry is behind Netlify)")
        sha = sha or sha_of(engine, target)
        if target == state.live_id:
            raise ActionError(f"{target} is already live: nothing to roll back")
        _check_rollback_target(engine, client, target)
        previous, resumes = state.live_id, None
    event_id = _start(engine, kind="rollback", site_id=site_id, actor=actor, target=target, previous_live=previous,
                      version_sha=sha, reason=reason, detail={"resumes": resumes.event_id} if resumes else None)
    run = Run(engine, client, site_id, "rollback", target, {previous}, event_id)
    steps = _live_and_locked(run)
    run.finish(audit.SUCCEEDED, detail={"steps": steps})
    finished = f": finished rollback #{resumes.event_id}" if resumes else ""
    return ActionResult("rollback", event_id, f"rolled back to {target} ({registry.short(sha)}), live and locked"
                        + (f", replacing {previous}" if previous else "") + finished + _how(steps),
                        live_deploy_id=target, detail=steps)


def _check_rollback_target(engine: Engine, client: NetlifyClient, target: str) -> None:
    """Refuse a target Netlify no longer has (confirmed by a second read) or that is not ready."""
    deploy = before_any_change(lambda: existing_deploy(client, target), f"reading deploy {target}")
    if deploy is None:
        with unit_of_work(engine) as session:
            row = session.scalar(select(Deploy).where(Deploy.netlify_id == target))
            if row is not None:
                row.expired_at = utcnow()
        raise ActionError(f"cannot roll back to {target}: Netlify no longer has it (deleted by retention?); "
                          "pick another with --to", outcome=REFUSED)
    if deploy.get("state") != "ready":
        raise ActionError(f"cannot roll back to {target}: it is {deploy.get('state')!r}, not ready",
                          outcome=BAD_INPUT)


__all__ = ["UNCHECKED", "LiveState", "gate_verdict", "preview_promote", "promote", "rollback", "rollback_target"]
