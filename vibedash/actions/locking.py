"""Lock and unlock: goal "deploy D (the live one) locked" or "unlocked", read back every time.

Netlify locks a site by locking its published deploy, so the lock only means something on the live deploy.
The action reads the site first (nothing is sent when the goal already holds), sends one lock or unlock,
and reads the site back: a lost answer is resolved by that read, and a deploy published by someone else in
between is reported as such, never as a lock that worked.
"""

from __future__ import annotations

from sqlalchemy import Engine

from vibedash.actions import intents
from vibedash.actions.converge import Run, Step
from vibedash.actions.observe import (
    before_any_change,
    read_live,
    resolve_deploy,
    sha_of,
)
from vibedash.actions.outcomes import ActionConflict, ActionError, ActionResult
from vibedash.netlify.client import NetlifyClient
from vibedash.registry import audit


def set_lock(engine: Engine, client: NetlifyClient, site_id: str, *, locked: bool, actor: str,
             target: str | None = None, reason: str | None = None) -> ActionResult:
    """Lock (stop auto publishing) or unlock the given deploy, by default the live one."""
    kind = "lock" if locked else "unlock"
    state = before_any_change(lambda: read_live(client, site_id), f"reading the site before the {kind}")
    if target:
        deploy_id, sha = resolve_deploy(engine, client, target)
    else:
        deploy_id, sha = state.live_id, sha_of(engine, state.live_id)
        if deploy_id is None:
            raise ActionError("nothing is live on this site, so there is nothing to lock or unlock")
    if deploy_id != state.live_id:
        if locked:
            raise ActionError(f"{deploy_id} is not live ({state.describe()}): only the live deploy can be locked. "
                              f"Promote or roll back to it (both lock it), or lock the live one")
        event_id = audit.record_event(engine, kind=kind, actor=actor, target=deploy_id, version_sha=sha,
                                      reason=reason, intent=intents.intent_text(kind, site_id, deploy_id,
                                                                                with_previous=False),
                                      detail={"steps": {}, "not_live": True})
        return ActionResult(kind, event_id, f"{deploy_id} is not live, so it is not locked: nothing to do "
                            f"({state.describe()})", detail={"locked": False})
    intent = intents.intent_text(kind, site_id, deploy_id, with_previous=False)
    try:
        event_id = audit.start_event(engine, kind=kind, actor=actor, target=deploy_id, version_sha=sha,
                                     previous_live=state.live_id, reason=reason, intent=intent,
                                     claim=audit.site_claim(site_id))
    except audit.ClaimHeld as exc:
        event_id = audit.record_event(engine, kind=kind, actor=actor, status=audit.REFUSED, target=deploy_id,
                                      version_sha=sha, reason=reason, intent=intent, error=str(exc))
        raise ActionConflict(str(exc), event_id=event_id) from None
    send = (lambda: client.lock_deploy(deploy_id)) if locked else (lambda: client.unlock_deploy(deploy_id))
    step = Step(kind, f"{'locking' if locked else 'unlocking'} {deploy_id}", send,
                landed=lambda s: s.live_id == deploy_id and s.locked == locked,
                needed=lambda s: s.locked != locked)
    run = Run(engine, client, site_id, kind, deploy_id, {deploy_id}, event_id)
    steps: dict = {}
    try:
        run.converge([step], goal=lambda s: s.live_id == deploy_id and s.locked == locked, steps=steps)
    except BaseException as exc:
        run.guard(exc)
        raise
    run.finish(audit.SUCCEEDED, detail={"steps": steps})
    effect = "locked: auto publishing stopped" if locked else "unlocked: auto publishing resumed"
    if kind not in steps:
        effect = f"already {effect.split(':')[0]}: nothing to do"
    elif "lost" in str(steps[kind]):
        effect += " (the answer was lost; read back from Netlify)"
    return ActionResult(kind, event_id, f"{deploy_id} {effect}", detail={"locked": locked, "steps": steps})
