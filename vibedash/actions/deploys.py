"""Promote, roll back, lock, unlock, trigger, delete, pin: each one audited, each one safe to run again.

Every action that calls Netlify knows its goal state ("deploy D live and locked", "deploy D deleted", "a
build for commit C started"), reads Netlify's real state first, does only what is missing, and reads back
after each change. Its audit event is written (``started``) before anything is sent and always finished:
``succeeded``, ``refused`` (nothing attempted), ``failed`` (nothing changed), ``partial`` (some steps
done) or ``unknown`` (a change may have happened and could not be read back); never left ``started``.

The actions live in their own modules (publish, locking, builds; converge is the loop they share); this
module keeps delete and pin, and every name pages and the CLI import from here.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from vibedash.actions.builds import (
    build_title,
    find_build_hook,
    find_triggered_build,
    trigger_build,
)
from vibedash.actions.converge import no_answer
from vibedash.actions.locking import set_lock
from vibedash.actions.observe import LiveState, existing_deploy, pause, read_live
from vibedash.actions.outcomes import (
    BAD_INPUT,
    UNKNOWN,
    ActionConflict,
    ActionError,
    ActionResult,
    GateRefused,
    PromotePreview,
    outcome_of_netlify_error,
)
from vibedash.actions.publish import (
    UNCHECKED,
    gate_verdict,
    preview_promote,
    promote,
    rollback,
    rollback_target,
)
from vibedash.netlify.client import NetlifyClient, NetlifyError
from vibedash.registry import audit
from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Deploy, utcnow

__all__ = [
    "UNCHECKED", "ActionConflict", "ActionError", "ActionResult", "GateRefused", "LiveState", "PromotePreview",
    "build_title", "delete_deploy", "find_build_hook", "find_triggered_build", "gate_verdict", "preview_promote",
    "promote", "rollback", "rollback_target", "set_lock", "set_pin", "trigger_build",
]


def _mark_expired(engine: Engine, deploy_id: str) -> None:
    with unit_of_work(engine) as session:
        row = session.scalar(select(Deploy).where(Deploy.netlify_id == deploy_id))
        if row is not None and row.expired_at is None:
            row.expired_at = utcnow()


def delete_deploy(engine: Engine, client: NetlifyClient, site_id: str, deploy_id: str, *, actor: str,
                  reason: str, live_deploy_id: str | None | object = UNCHECKED) -> ActionResult:
    """Goal: deploy D deleted on Netlify and marked expired here (its scores and history stay).

    Reads first (a deploy already gone is only marked expired; a 404 is confirmed before it is believed),
    never deletes the live deploy, and after a failed delete reads back whether the deploy is still there.
    ``live_deploy_id``: the site's live deploy when the caller has just read it (retention apply reads it
    once for the whole plan); otherwise the site is read here.
    """
    with unit_of_work(engine) as session:
        row = session.scalar(select(Deploy).where(Deploy.netlify_id == deploy_id))
        registry_live = row is not None and row.is_live
        sha = row.version.sha if row is not None and row.version else None
    if registry_live:
        raise ActionError(f"{deploy_id} is live: it is never deleted")
    event_id = audit.start_event(engine, kind="delete", actor=actor, target=deploy_id, version_sha=sha,
                                 reason=reason, intent=f"delete {site_id} {deploy_id}")
    try:
        try:
            if live_deploy_id is UNCHECKED:
                live_deploy_id = read_live(client, site_id).live_id
            present = existing_deploy(client, deploy_id)
        except NetlifyError as exc:
            message = f"reading deploy {deploy_id} before deleting it failed ({exc}); nothing was deleted"
            audit.finish_event(engine, event_id, audit.FAILED, error=message, detail={"steps": {}})
            raise ActionError(message, event_id=event_id, outcome=outcome_of_netlify_error(exc)) from None
        if live_deploy_id == deploy_id:
            message = (f"{deploy_id} is live on Netlify: it is never deleted (run `python -m vibedash sync`: the "
                       "registry is behind)")
            audit.finish_event(engine, event_id, audit.REFUSED, error=message, detail={"steps": {}})
            raise ActionError(message, event_id=event_id)
        return _delete(engine, client, site_id, deploy_id, event_id, already_gone=present is None)
    except BaseException as exc:
        if not isinstance(exc, ActionError):
            audit.finish_event(engine, event_id, audit.UNKNOWN,
                               error=f"interrupted ({type(exc).__name__}); run the delete again to check")
        raise


def _delete(engine: Engine, client: NetlifyClient, site_id: str, deploy_id: str, event_id: int, *,
            already_gone: bool) -> ActionResult:
    if already_gone:
        _mark_expired(engine, deploy_id)
        audit.finish_event(engine, event_id, audit.SUCCEEDED, detail={"steps": {}, "already_gone": True})
        return ActionResult("delete", event_id, f"{deploy_id} was already gone from Netlify: marked expired")
    try:
        client.delete_deploy(deploy_id, site_id)
    except NetlifyError as exc:
        return _after_failed_delete(engine, client, deploy_id, event_id, exc)
    _mark_expired(engine, deploy_id)
    audit.finish_event(engine, event_id, audit.SUCCEEDED, detail={"steps": {"delete": "done"}})
    return ActionResult("delete", event_id, f"deleted {deploy_id}")


def _after_failed_delete(engine: Engine, client: NetlifyClient, deploy_id: str, event_id: int,
                         exc: NetlifyError) -> ActionResult:
    """The delete's answer was an error or never came: Netlify's deploy list decides what happened."""
    try:
        pause()
        present = existing_deploy(client, deploy_id)
    except NetlifyError as read_error:
        message = (f"unknown whether {deploy_id} was deleted: the delete failed ({exc}) and reading it back "
                   f"failed too ({read_error}). Run the same command again: it checks first")
        audit.finish_event(engine, event_id, audit.UNKNOWN, error=message, detail={"steps": {"delete": "unknown"}})
        raise ActionError(message, event_id=event_id, outcome=UNKNOWN) from None
    if present is None:
        _mark_expired(engine, deploy_id)
        audit.finish_event(engine, event_id, audit.SUCCEEDED,
                           detail={"steps": {"delete": "done (its answer was lost; read back)"}})
        return ActionResult("delete", event_id, f"deleted {deploy_id} (the answer was lost; Netlify no longer has "
                            "it)")
    if no_answer(exc):
        message = (f"deleting {deploy_id} got no answer ({exc}); Netlify still has it as of reading back, but the "
                   "request may still arrive. Run the same command again: it checks first")
        audit.finish_event(engine, event_id, audit.UNKNOWN, error=message, detail={"steps": {"delete": "unknown"}})
        raise ActionError(message, event_id=event_id, outcome=UNKNOWN) from None
    message = f"deleting {deploy_id} failed ({exc}); Netlify still has it: nothing changed"
    audit.finish_event(engine, event_id, audit.FAILED, error=message, detail={"steps": {"delete": "failed"}})
    raise ActionError(message, event_id=event_id, outcome=outcome_of_netlify_error(exc)) from None


def set_pin(engine: Engine, deploy_or_sha: str, *, pinned: bool, actor: str, reason: str | None = None) -> ActionResult:
    """Pin (keep whatever retention says) or unpin a deploy. Local only, audited."""
    if pinned and not (reason or "").strip():
        raise ActionError("a reason is required to pin (--reason TEXT): it shows in the retention plan",
                          outcome=BAD_INPUT)
    with unit_of_work(engine) as session:
        row = registry.find_deploy(session, deploy_or_sha)
        row.pinned = pinned
        row.pin_reason = reason.strip() if pinned and reason else None
        row.pinned_by = actor if pinned else None
        row.pinned_at = utcnow() if pinned else None
        deploy_id, sha = row.netlify_id, row.version.sha if row.version else None
    event_id = audit.record_event(engine, kind="pin" if pinned else "unpin", actor=actor, target=deploy_id,
                                  version_sha=sha, reason=reason)
    return ActionResult("pin" if pinned else "unpin", event_id,
                        f"{deploy_id} {'pinned' if pinned else 'unpinned'}")
