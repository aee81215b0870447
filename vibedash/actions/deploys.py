"""Promote, roll back, lock, unlock, trigger, delete, pin: each one audited.

Every action that calls Netlify writes its audit event (``started``) first and finishes it afterwards
(``succeeded``, ``failed`` with the error, or ``partial`` when some steps worked), so a crash in between
stays visible. Actions re-read the site from Netlify before acting, which makes a retry safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from vibedash.decisions.gate import Policy, Verdict, evaluate
from vibedash.netlify.client import NetlifyClient, NetlifyError, NetlifyNotFound
from vibedash.netlify.sync import deploy_fields
from vibedash.registry import records as registry
from vibedash.registry.audit import (
    FAILED,
    PARTIAL,
    SUCCEEDED,
    finish_event,
    record_event,
    start_event,
)
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Deploy, Event, Site, utcnow


class ActionError(RuntimeError):
    """An action did not (fully) happen; the message says what state things are in and what to do."""

    def __init__(self, message: str, *, event_id: int | None = None, partial: bool = False,
                 verdict: Verdict | None = None):
        super().__init__(message)
        self.event_id = event_id
        self.partial = partial
        self.verdict = verdict


class GateRefused(ActionError):
    """The gate failed and no override reason was given."""


@dataclass(frozen=True)
class ActionResult:
    kind: str
    event_id: int
    message: str
    live_deploy_id: str | None = None
    verdict: Verdict | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotePreview:
    """What a promote would do, for the confirmation dialog: nothing is changed."""

    deploy_id: str
    sha: str | None
    live_deploy_id: str | None
    live_sha: str | None
    verdict: Verdict


# --- reading the world ------------------------------------------------------------------------------------

def _live_on_netlify(client: NetlifyClient, site_id: str) -> tuple[str | None, bool]:
    published = client.get_site(site_id).get("published_deploy") or {}
    return published.get("id"), bool(published.get("locked"))


def _resolve_deploy(engine: Engine, client: NetlifyClient, target: str) -> tuple[str, str | None]:
    """(Netlify deploy id, version sha) for a deploy id or a commit sha; fetches unknown deploy ids."""
    with unit_of_work(engine) as session:
        try:
            deploy = registry.find_deploy(session, target)
            return deploy.netlify_id, deploy.version.sha if deploy.version else None
        except registry.NotFound:
            if registry.SHA_RE.match(target.strip().lower()) and len(target.strip()) != 24:
                raise
    data = client.get_deploy(target.strip())  # a deploy not synced yet
    with unit_of_work(engine) as session:
        deploy = registry.upsert_deploy(session, data["id"], **deploy_fields(data))
        return deploy.netlify_id, deploy.version.sha if deploy.version else None


def gate_verdict(engine: Engine, policy: Policy, candidate_sha: str | None,
                 live_deploy_id: str | None) -> Verdict:
    with unit_of_work(engine) as session:
        if candidate_sha is None:
            raise ActionError("this deploy is not linked to a version (no commit_ref), so the gate cannot judge "
                              "it: record it with `python -m vibedash record --commit SHA --deploy-id ID`")
        candidate = registry.version_facts(session, registry.find_version(session, candidate_sha))
        live = None
        if live_deploy_id:
            live_row = session.scalar(select(Deploy).where(Deploy.netlify_id == live_deploy_id))
            if live_row is not None and live_row.version is not None:
                live = registry.version_facts(session, live_row.version)
        return evaluate(policy, candidate, live)


def preview_promote(engine: Engine, client: NetlifyClient, site_id: str, target: str,
                    policy: Policy) -> PromotePreview:
    deploy_id, sha = _resolve_deploy(engine, client, target)
    live_id, _ = _live_on_netlify(client, site_id)
    with unit_of_work(engine) as session:
        live_row = session.scalar(select(Deploy).where(Deploy.netlify_id == live_id)) if live_id else None
        live_sha = live_row.version.sha if live_row is not None and live_row.version else None
    return PromotePreview(deploy_id=deploy_id, sha=sha, live_deploy_id=live_id, live_sha=live_sha,
                          verdict=gate_verdict(engine, policy, sha, live_id))


# --- publishing (shared by promote and rollback) ----------------------------------------------------------

def _publish_and_lock(engine: Engine, client: NetlifyClient, site_id: str, deploy_id: str, event_id: int,
                      *, already_live: bool) -> dict[str, Any]:
    """restore -> lock -> read back. Raises ActionError (partial when the restore worked)."""
    steps: dict[str, Any] = {}
    if not already_live:
        try:
            client.restore_deploy(deploy_id, site_id)
        except NetlifyError as exc:
            finish_event(engine, event_id, FAILED, error=f"publishing failed: {exc}", detail=steps)
            raise ActionError(f"publishing {deploy_id} failed, nothing changed: {exc}", event_id=event_id) from exc
        steps["restored"] = True
    try:
        client.lock_deploy(deploy_id)
        steps["locked"] = True
        live_id, locked = _live_on_netlify(client, site_id)
    except NetlifyError as exc:
        _mark_live(engine, site_id, deploy_id, locked=False)
        message = (f"{deploy_id} is live but NOT locked ({exc}): the next git build may replace it. "
                   f"Retry the same command, or run `python -m vibedash lock {deploy_id}`")
        finish_event(engine, event_id, PARTIAL, error=message, detail=steps)
        raise ActionError(message, event_id=event_id, partial=True) from exc
    steps["verified_live"], steps["verified_locked"] = live_id == deploy_id, locked
    if live_id != deploy_id or not locked:
        message = (f"Netlify reports {live_id or 'nothing'} as live ({'locked' if locked else 'unlocked'}) after "
                   f"publishing {deploy_id}: check the site in Netlify and retry")
        finish_event(engine, event_id, PARTIAL if live_id == deploy_id else FAILED, error=message, detail=steps)
        raise ActionError(message, event_id=event_id, partial=live_id == deploy_id)
    _mark_live(engine, site_id, deploy_id, locked=True)
    return steps


def _mark_live(engine: Engine, site_id: str, deploy_id: str, *, locked: bool) -> None:
    with unit_of_work(engine) as session:
        registry.set_live(session, deploy_id, locked=locked)
        site = session.get(Site, site_id) or Site(id=site_id)
        site.published_deploy_id = deploy_id
        session.add(site)


# --- actions ----------------------------------------------------------------------------------------------

def promote(engine: Engine, client: NetlifyClient, site_id: str, target: str, *, actor: str, reason: str,
            policy: Policy, override: bool = False) -> ActionResult:
    """Make a candidate's deploy live and lock it, if the gate passes (or with an override reason)."""
    reason = (reason or "").strip()
    if not reason:
        raise ActionError("a reason is required (--reason TEXT): the audit log keeps it")
    deploy_id, sha = _resolve_deploy(engine, client, target)
    deploy = client.get_deploy(deploy_id)
    if deploy.get("state") != "ready":
        raise ActionError(f"deploy {deploy_id} is {deploy.get('state')!r}, not ready: only a ready deploy can go "
                          "live (wait for its build, or pick another deploy)")
    live_id, live_locked = _live_on_netlify(client, site_id)
    if live_id == deploy_id and live_locked:
        raise ActionError(f"{deploy_id} ({registry.short(sha)}) is already live and locked: nothing to do")
    verdict = gate_verdict(engine, policy, sha, live_id)
    if not verdict.passed and not override:
        event_id = record_event(engine, kind="promote", actor=actor, status="refused", target=deploy_id,
                                version_sha=sha, previous_live=live_id, reason=reason, verdict=verdict.to_dict(),
                                error="gate failed: " + verdict.summary())
        raise GateRefused(f"the gate failed ({verdict.summary()}); promote with --override and a reason to go "
                          "live anyway", event_id=event_id, verdict=verdict)
    event_id = start_event(engine, kind="promote", actor=actor, target=deploy_id, version_sha=sha,
                           previous_live=live_id, reason=reason, verdict=verdict.to_dict(),
                           override=override and not verdict.passed)
    steps = _publish_and_lock(engine, client, site_id, deploy_id, event_id, already_live=live_id == deploy_id)
    finish_event(engine, event_id, SUCCEEDED, detail=steps)
    return ActionResult("promote", event_id, f"{deploy_id} ({registry.short(sha)}) is live and locked"
                        + (f", replacing {live_id}" if live_id and live_id != deploy_id else ""),
                        live_deploy_id=deploy_id, verdict=verdict, detail=steps)


def rollback_target(engine: Engine, current_live: str | None) -> str | None:
    """The deploy that was live before the current one: from the audit log, else Netlify's publish times."""
    with unit_of_work(engine) as session:
        if current_live:
            previous = session.scalar(
                select(Event.previous_live).where(Event.kind.in_(("promote", "rollback")), Event.status == "succeeded",
                                                  Event.target == current_live, Event.previous_live.is_not(None))
                .order_by(Event.finished_at.desc(), Event.id.desc()).limit(1))
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
    """Publish (and lock) the deploy that was live before the current one, or a named one."""
    reason = (reason or "").strip()
    if not reason:
        raise ActionError("a reason is required (--reason TEXT): the audit log keeps it")
    live_id, _ = _live_on_netlify(client, site_id)
    if to:
        target, sha = _resolve_deploy(engine, client, to)
    else:
        target = rollback_target(engine, live_id)
        if target is None:
            raise ActionError("no earlier live deploy is known to roll back to: name one with --to DEPLOY_ID "
                              "(run `python -m vibedash sync` first if the registry is behind Netlify)")
        sha = _sha_of(engine, target)
    if target == live_id:
        raise ActionError(f"{target} is already live: nothing to roll back")
    try:
        state = client.get_deploy(target).get("state")
    except NetlifyNotFound as exc:
        with unit_of_work(engine) as session:
            row = session.scalar(select(Deploy).where(Deploy.netlify_id == target))
            if row is not None:
                row.expired_at = utcnow()
        raise ActionError(f"cannot roll back to {target}: Netlify no longer has it (deleted by retention?); "
                          "pick another with --to") from exc
    if state != "ready":
        raise ActionError(f"cannot roll back to {target}: it is {state!r}, not ready")
    event_id = start_event(engine, kind="rollback", actor=actor, target=target, version_sha=sha,
                           previous_live=live_id, reason=reason)
    steps = _publish_and_lock(engine, client, site_id, target, event_id, already_live=False)
    finish_event(engine, event_id, SUCCEEDED, detail=steps)
    return ActionResult("rollback", event_id, f"rolled back to {target} ({registry.short(sha)}), live and locked"
                        + (f", replacing {live_id}" if live_id else ""), live_deploy_id=target, detail=steps)


def _sha_of(engine: Engine, deploy_id: str) -> str | None:
    with unit_of_work(engine) as session:
        row = session.scalar(select(Deploy).where(Deploy.netlify_id == deploy_id))
        return row.version.sha if row is not None and row.version is not None else None


def set_lock(engine: Engine, client: NetlifyClient, site_id: str, *, locked: bool, actor: str,
             target: str | None = None, reason: str | None = None) -> ActionResult:
    """Lock (stop auto publishing) or unlock the given deploy, by default the live one."""
    if target:
        deploy_id, sha = _resolve_deploy(engine, client, target)
    else:
        deploy_id, _ = _live_on_netlify(client, site_id)
        if deploy_id is None:
            raise ActionError("nothing is live on this site, so there is nothing to lock or unlock")
        sha = _sha_of(engine, deploy_id)
    kind = "lock" if locked else "unlock"
    event_id = start_event(engine, kind=kind, actor=actor, target=deploy_id, version_sha=sha, reason=reason)
    try:
        data = client.lock_deploy(deploy_id) if locked else client.unlock_deploy(deploy_id)
    except NetlifyError as exc:
        finish_event(engine, event_id, FAILED, error=str(exc))
        raise ActionError(f"{kind} of {deploy_id} failed, nothing changed: {exc}", event_id=event_id) from exc
    with unit_of_work(engine) as session:
        row = session.scalar(select(Deploy).where(Deploy.netlify_id == deploy_id))
        if row is not None:
            row.locked = bool(data.get("locked", locked))
    finish_event(engine, event_id, SUCCEEDED)
    effect = "locked: auto publishing stopped" if locked else "unlocked: auto publishing resumed"
    return ActionResult(kind, event_id, f"{deploy_id} {effect}", detail={"locked": locked})


def build_title(engine: Engine, sha: str | None) -> str:
    """A deploy title that names the commit and its headline scores."""
    if not sha:
        return "vibedash: build"
    with unit_of_work(engine) as session:
        version = registry.find_version(session, sha)
        scores = registry.version_facts(session, version, with_problems=False).scores
    from vibedash.decisions.benchmarks import display_name

    parts = " · ".join(f"{display_name(b)} {s.score:.1f}" for b, s in list(scores.items())[:4])
    return f"vibedash: {registry.short(version.sha)}" + (f" · {parts}" if parts else "")


def find_build_hook(client: NetlifyClient, site_id: str, branch: str | None = None) -> str:
    """The URL of the site's build hook for ``branch`` (else its first hook), from listSiteBuildHooks."""
    hooks = client.list_build_hooks(site_id)
    if not hooks:
        raise ActionError("the site has no build hook: create one in Netlify (Site configuration > Build & deploy > "
                          "Build hooks) or set VIBEDASH_BUILD_HOOK_URL")
    chosen = next((h for h in hooks if branch and h.get("branch") == branch), hooks[0])
    return chosen["url"]


def trigger_build(engine: Engine, client: NetlifyClient, hook_url: str, *, actor: str, sha: str | None = None,
                  branch: str | None = None, reason: str | None = None,
                  verdict: Verdict | None = None) -> ActionResult:
    title = build_title(engine, sha)
    event_id = start_event(engine, kind="trigger", actor=actor, target=branch or "default branch", version_sha=sha,
                           reason=reason, verdict=verdict.to_dict() if verdict else None, detail={"title": title})
    try:
        client.trigger_build_hook(hook_url, title=title, branch=branch, payload=sha)
    except NetlifyError as exc:
        finish_event(engine, event_id, FAILED, error=str(exc))
        raise ActionError(f"the build was not triggered: {exc}", event_id=event_id) from exc
    finish_event(engine, event_id, SUCCEEDED)
    return ActionResult("trigger", event_id, f"build triggered: {title}", detail={"title": title})


def delete_deploy(engine: Engine, client: NetlifyClient, site_id: str, deploy_id: str, *, actor: str,
                  reason: str) -> ActionResult:
    """Delete one deploy on Netlify and mark it expired here (its scores and history stay)."""
    with unit_of_work(engine) as session:
        row = session.scalar(select(Deploy).where(Deploy.netlify_id == deploy_id))
        if row is not None and row.is_live:
            raise ActionError(f"{deploy_id} is live: it is never deleted")
        sha = row.version.sha if row is not None and row.version else None
    event_id = start_event(engine, kind="delete", actor=actor, target=deploy_id, version_sha=sha, reason=reason)
    try:
        client.delete_deploy(deploy_id, site_id)
    except NetlifyNotFound:
        pass  # already gone: the goal is reached; still mark it expired below
    except NetlifyError as exc:
        finish_event(engine, event_id, FAILED, error=str(exc))
        raise ActionError(f"deleting {deploy_id} failed: {exc}", event_id=event_id) from exc
    with unit_of_work(engine) as session:
        row = session.scalar(select(Deploy).where(Deploy.netlify_id == deploy_id))
        if row is not None:
            row.expired_at = utcnow()
    finish_event(engine, event_id, SUCCEEDED)
    return ActionResult("delete", event_id, f"deleted {deploy_id}")


def set_pin(engine: Engine, deploy_or_sha: str, *, pinned: bool, actor: str, reason: str | None = None) -> ActionResult:
    """Pin (keep whatever retention says) or unpin a deploy. Local only, audited."""
    if pinned and not (reason or "").strip():
        raise ActionError("a reason is required to pin (--reason TEXT): it shows in the retention plan")
    with unit_of_work(engine) as session:
        row = registry.find_deploy(session, deploy_or_sha)
        row.pinned = pinned
        row.pin_reason = reason.strip() if pinned and reason else None
        row.pinned_by = actor if pinned else None
        row.pinned_at = utcnow() if pinned else None
        deploy_id, sha = row.netlify_id, row.version.sha if row.version else None
    event_id = record_event(engine, kind="pin" if pinned else "unpin", actor=actor, target=deploy_id,
                            version_sha=sha, reason=reason)
    return ActionResult("pin" if pinned else "unpin", event_id,
                        f"{deploy_id} {'pinned' if pinned else 'unpinned'}")
