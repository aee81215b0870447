"""Triggering a build through a build hook, exactly once.

A build hook call cannot be repeated safely: each call that reaches Netlify starts a build, and the hook's
answer carries no build id. So every trigger gets a unique reference in its deploy title, and after an
ambiguous call (no answer, a 5xx) the site's deploy list is searched for that title before anything is sent
again, this run or the next. The outcome is said plainly: started, not started, or unknown (and what to
check).
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine

from vibedash.actions import intents
from vibedash.actions.converge import no_answer
from vibedash.actions.observe import pause
from vibedash.actions.outcomes import (
    BAD_INPUT,
    REFUSED,
    UNKNOWN,
    ActionError,
    ActionResult,
    outcome_of_netlify_error,
)
from vibedash.decisions.gate import Verdict
from vibedash.netlify.client import (
    NetlifyAuthError,
    NetlifyClient,
    NetlifyError,
    NetlifyNotFound,
    NetlifyRateLimited,
    NetlifyRequestError,
)
from vibedash.registry import audit
from vibedash.registry import records as registry

# How far down the deploy list (newest first) to look for a triggered build.
SEARCH_DEPTH = 50


def build_title(engine: Engine, sha: str | None, reference: str | None = None) -> str:
    """A deploy title that names the commit, its headline scores, and (when given) the trigger's reference."""
    suffix = f" · ref {reference}" if reference else ""
    if not sha:
        return "vibedash: build" + suffix
    from vibedash.decisions.benchmarks import display_name
    from vibedash.registry.db import unit_of_work

    with unit_of_work(engine) as session:
        version = registry.find_version(session, sha)
        scores = registry.version_facts(session, version, with_problems=False).scores
        short = registry.short(version.sha)
    parts = " · ".join(f"{display_name(b)} {s.score:.1f}" for b, s in list(scores.items())[:4])
    return f"vibedash: {short}" + (f" · {parts}" if parts else "") + suffix


def find_build_hook(client: NetlifyClient, site_id: str, branch: str | None = None) -> str:
    """The URL of the site's build hook for ``branch`` (else its first hook), from listSiteBuildHooks."""
    hooks = client.list_build_hooks(site_id)
    if not hooks:
        raise ActionError("the site has no build hook: create one in Netlify (Site configuration > Build & deploy > "
                          "Build hooks) or set VIBEDASH_BUILD_HOOK_URL", outcome=BAD_INPUT)
    chosen = next((h for h in hooks if branch and h.get("branch") == branch), hooks[0])
    return chosen["url"]


def find_triggered_build(client: NetlifyClient, site_id: str, title: str) -> str | None:
    """The id of the newest deploy titled ``title`` among the site's latest deploys, or None."""
    for index, deploy in enumerate(client.list_site_deploys(site_id, per_page=min(SEARCH_DEPTH, 100))):
        if deploy.get("title") == title:
            return deploy.get("id")
        if index + 1 >= SEARCH_DEPTH:
            break
    return None


def _deploys_page(site_id: str | None) -> str:
    return (f"the Deploys list of site {site_id} on app.netlify.com" if site_id
            else "the site's Deploys list on app.netlify.com")


def trigger_build(engine: Engine, client: NetlifyClient, hook_url: str, *, actor: str, sha: str | None = None,
                  branch: str | None = None, reason: str | None = None, verdict: Verdict | None = None,
                  site_id: str | None = None, again: bool = False) -> ActionResult:
    """Start one build for ``sha`` through the hook; see the module docstring for how "once" is kept.

    ``again``: trigger even though an earlier trigger's outcome is unknown and cannot be checked here (no
    token to list deploys): the person has checked Netlify's deploy list and found no such build.
    """
    site_id = site_id or client.site_id
    can_look = client.has_token and bool(site_id)
    intent = f"trigger {site_id or 'hook'} {sha or '-'} {branch or 'default'}"
    pending = intents.unfinished_trigger(engine, intent)
    title = None
    if pending is not None and pending.detail.get("title"):
        title = pending.detail["title"]
        if can_look:
            found = _look(client, site_id, title, f"checking whether trigger #{pending.event_id} started a build")
            if found:
                event_id = audit.record_event(engine, kind="trigger", actor=actor, target=branch or "default branch",
                                              version_sha=sha, reason=reason, intent=intent,
                                              detail={"title": title, "resumes": pending.event_id, "deploy": found})
                return ActionResult("trigger", event_id, f"build triggered (started by trigger #{pending.event_id}, "
                                    f"whose answer was lost): deploy {found}, {title}; nothing sent again",
                                    detail={"title": title, "deploy": found})
        elif not again:
            raise ActionError(f"trigger #{pending.event_id} for this commit may have started a build: check "
                              f"{_deploys_page(site_id)} for a deploy titled \u201c{title}\u201d. If there is none, "
                              "run this again with --again (with NETLIFY_AUTH_TOKEN and NETLIFY_SITE_ID set, "
                              "vibedash checks for you)", outcome=REFUSED)
    title = title or build_title(engine, sha, secrets.token_hex(3))
    event_id = audit.start_event(engine, kind="trigger", actor=actor, target=branch or "default branch",
                                 version_sha=sha, reason=reason, verdict=verdict.to_dict() if verdict else None,
                                 intent=intent, detail={"title": title, **({"resumes": pending.event_id}
                                                                            if pending else {})})
    try:
        return _fire(engine, client, hook_url, event_id, title=title, sha=sha, branch=branch, site_id=site_id,
                     can_look=can_look)
    except BaseException as exc:
        if not isinstance(exc, ActionError):
            audit.finish_event(engine, event_id, audit.UNKNOWN, error=f"interrupted ({type(exc).__name__}); "
                               f"a build may have started: check {_deploys_page(site_id)} for \u201c{title}\u201d")
        raise


def _look(client: NetlifyClient, site_id: str, title: str, doing: str) -> str | None:
    try:
        return find_triggered_build(client, site_id, title)
    except NetlifyError as exc:
        raise ActionError(f"{doing} failed ({exc}); nothing was triggered", outcome=outcome_of_netlify_error(exc)) \
            from None


def _fire(engine: Engine, client: NetlifyClient, hook_url: str, event_id: int, *, title: str, sha: str | None,
          branch: str | None, site_id: str | None, can_look: bool) -> ActionResult:
    try:
        client.trigger_build_hook(hook_url, title=title, branch=branch, payload=sha)
    except NetlifyError as exc:
        return _after_failed_call(engine, client, event_id, exc, title=title, site_id=site_id, can_look=can_look)
    deploy_id = None
    if can_look:
        try:
            deploy_id = find_triggered_build(client, site_id, title)
        except NetlifyError:
            deploy_id = None  # the build started either way; its id is a nicety
    audit.finish_event(engine, event_id, audit.SUCCEEDED, detail={"deploy": deploy_id} if deploy_id else None)
    return ActionResult("trigger", event_id, f"build triggered (started): {title}"
                        + (f", deploy {deploy_id}" if deploy_id else ""), detail={"title": title, "deploy": deploy_id})


def _after_failed_call(engine: Engine, client: NetlifyClient, event_id: int, exc: NetlifyError, *, title: str,
                       site_id: str | None, can_look: bool) -> ActionResult:
    if isinstance(exc, (NetlifyRateLimited, NetlifyRequestError, NetlifyNotFound, NetlifyAuthError)):
        # Netlify answered and refused: certainly nothing started.
        message = f"the build was not started: {exc}"
        audit.finish_event(engine, event_id, audit.FAILED, error=message, detail={"started": "no"})
        outcome = BAD_INPUT if isinstance(exc, NetlifyNotFound) else outcome_of_netlify_error(exc)
        raise ActionError(message, event_id=event_id, outcome=outcome) from None
    answer = "got no answer" if no_answer(exc) else "got an error answer"
    if can_look:
        pause()
        try:
            found = find_triggered_build(client, site_id, title)
        except NetlifyError as look_error:
            found, looked = None, f"looking for it failed too ({look_error})"
        else:
            looked = f"no deploy titled \u201c{title}\u201d is in the site's deploy list yet"
        if found:
            audit.finish_event(engine, event_id, audit.SUCCEEDED, detail={"deploy": found, "started": "yes"})
            return ActionResult("trigger", event_id, f"build triggered (started; the hook's answer was lost, the "
                                f"build was found in the deploy list): deploy {found}, {title}",
                                detail={"title": title, "deploy": found})
        message = (f"unknown whether the build started: the hook {answer} ({exc}), and {looked}. Check "
                   f"{_deploys_page(site_id)} later; running the same command again looks for it first and "
                   "triggers only if it never appeared")
    else:
        message = (f"unknown whether the build started: the hook {answer} ({exc}). Check "
                   f"{_deploys_page(site_id)} for a deploy titled \u201c{title}\u201d before triggering again")
    audit.finish_event(engine, event_id, audit.UNKNOWN, error=message, detail={"started": "unknown"})
    raise ActionError(message, event_id=event_id, outcome=UNKNOWN) from None
