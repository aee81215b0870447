"""The simulated Netlify's state: sites, deploys and build hooks in memory, how tests and demos set it up and
read it back, and Netlify's rules over it (auto publishing unless locked, builds that finish on their own)."""

from __future__ import annotations

import bisect
import hashlib
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from vibedash.netlify.simulator.records import (
    CONTEXTS,
    DEPLOY_STATES,
    Deploy,
    Hook,
    HookCall,
    Site,
    iso,
    object_id,
    parse_moment,
    stable_id,
)


class InMemoryNetlify:
    """Netlify's sites, deploys and hooks, guarded by one re-entrant lock; no HTTP (see NetlifySimulator)."""

    def __init__(self, *, build_seconds: float, restore_keeps_lock: bool) -> None:
        self.build_seconds = build_seconds
        self.restore_keeps_lock = restore_keeps_lock
        self._lock = threading.RLock()
        self._sites: dict[str, Site] = {}
        self._deploys: dict[str, Deploy] = {}
        self._hooks: dict[str, Hook] = {}
        self._hook_calls: list[HookCall] = []
        self._failing_builds: list[str] = []
        self._building: set[str] = set()   # ids of deploys whose build finishes at their ready_at
        self._seq = itertools.count(1)

    @property
    def hook_base(self) -> str:
        """The URL build hooks are served under (``<hook_base>/<id>``); only the HTTP front end knows it."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------- seeding helpers

    def create_site(self, name: str = "vibedash-sim", *, site_id: str | None = None, repo_url: str | None = None,
                    production_branch: str = "main") -> dict[str, Any]:
        """A site; its id is derived from the name (names are unique on Netlify), so a restarted simulator
        keeps the same NETLIFY_SITE_ID."""
        now = datetime.now(UTC)
        with self._lock:
            if any(s.name == name for s in self._sites.values()):
                raise ValueError(f"a site named {name!r} already exists")
            site = Site(id=site_id or stable_id("site", name, length=0), name=name, repo_url=repo_url,
                         production_branch=production_branch, created_at=now, updated_at=now)
            if site.id in self._sites:
                raise ValueError(f"site {site.id} already exists")
            self._sites[site.id] = site
            return self._site_json(site)

    def add_deploy(self, site_id: str, *, commit_ref: str | None = None, branch: str | None = None,
                   context: str = "production", state: str = "ready", title: str | None = None,
                   created_at: datetime | str | None = None, publish: bool | None = None,
                   deploy_id: str | None = None, error_message: str | None = None, review_id: int | None = None,
                   ready_in: float | None = None) -> dict[str, Any]:
        """Record a deploy as if Netlify had built it.

        ``publish``: None applies Netlify's rule (a production deploy goes live when ready unless the site is
        locked); True publishes it whatever the lock; False never does. ``ready_in``: with state "building",
        seconds until it becomes ready on its own.
        """
        if publish and not (state == "ready" or (state == "building" and ready_in is not None)):
            raise ValueError(f"only a ready deploy (or a building one with ready_in) can be published, "
                             f"not one in state {state!r}")
        with self._lock:
            site = self._site_or_value_error(site_id)
            deploy = self._new_deploy(site, commit_ref=commit_ref, branch=branch or site.production_branch,
                                      context=context, state=state, title=title, created_at=created_at,
                                      deploy_id=deploy_id, error_message=error_message, review_id=review_id)
            deploy.publish_when_ready = publish
            if state == "building" and ready_in is not None:
                self._start_build(deploy, ready_in)
            elif state == "ready":
                # Recorded history: it went live when it was created, not when the simulator heard of it.
                self._finished(site, deploy, at=deploy.created_at)
            return self._deploy_json(deploy)

    def seed(self, n_deploys: int, site_id: str, *, branch: str | None = None, context: str = "production",
             newest_at: datetime | None = None, interval: timedelta = timedelta(minutes=30)) -> list[dict[str, Any]]:
        """Add ``n_deploys`` ready deploys ``interval`` apart, the newest at ``newest_at`` (default now) and
        published (unless the site is locked). Fast: everything happens in memory."""
        if n_deploys < 0:
            raise ValueError("n_deploys must not be negative")
        newest_at = newest_at or datetime.now(UTC)
        with self._lock:
            site = self._site_or_value_error(site_id)
            branch = branch or site.production_branch
            made = []
            for index in range(n_deploys):
                created = newest_at - interval * (n_deploys - 1 - index)
                sha = hashlib.sha1(f"{site.id}:{branch}:{index}".encode()).hexdigest()
                made.append(self._new_deploy(site, commit_ref=sha, branch=branch, context=context, state="ready",
                                             title=f"Seeded deploy {index + 1}", created_at=created))
            if context == "production" and not site.locked:
                for deploy in made[:-1]:
                    deploy.published_at = deploy.created_at   # each was live once, until the next one
            if made:
                self._finished(site, made[-1], at=made[-1].created_at)
            return [self._deploy_json(deploy) for deploy in made]

    def set_locked(self, site_id: str, locked: bool = True) -> None:
        """Lock (or unlock) the site's published deploy directly, as seeding does before serving."""
        with self._lock:
            site = self._site_or_value_error(site_id)
            if locked and site.published_id is None:
                raise ValueError(f"site {site_id} has no published deploy to lock")
            site.locked = locked

    def add_build_hook(self, site_id: str, title: str = "vibedash", branch: str | None = None, *,
                       hook_id: str | None = None) -> dict[str, Any]:
        with self._lock:
            site = self._site_or_value_error(site_id)
            hook = Hook(id=hook_id or object_id(), site_id=site.id, title=title,
                         branch=branch or site.production_branch, created_at=datetime.now(UTC))
            site.hooks[hook.id] = hook
            self._hooks[hook.id] = hook
            return self._hook_json(hook)

    def fail_next_builds(self, count: int = 1, message: str = "Build script returned non-zero exit code: 2") -> None:
        """The next ``count`` hook-triggered builds end in state "error" with ``message``."""
        with self._lock:
            self._failing_builds.extend([message] * count)

    def publish(self, site_id: str, deploy_id: str) -> None:
        """Another actor publishes a ready deploy (a person clicking "Publish deploy" in Netlify's UI): the
        site goes to it whatever the lock, and stays locked if it was (as restore does here)."""
        with self._lock:
            site = self._site_or_value_error(site_id)
            deploy = self._deploys.get(deploy_id)
            if deploy is None or deploy.site_id != site.id or deploy.state != "ready":
                raise ValueError(f"deploy {deploy_id} is not a ready deploy of site {site_id}")
            if not self.restore_keeps_lock:
                site.locked = False
            self._publish(site, deploy)

    # ---------------------------------------------------------------------------------------- inspection


    @property
    def hook_calls(self) -> list[HookCall]:
        with self._lock:
            return list(self._hook_calls)

    def published_deploy_id(self, site_id: str) -> str | None:
        with self._lock:
            self._advance_builds()
            return self._site_or_value_error(site_id).published_id

    def deploy(self, deploy_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance_builds()
            if deploy_id not in self._deploys:
                raise KeyError(deploy_id)
            return self._deploy_json(self._deploys[deploy_id])

    def site(self, site_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance_builds()
            return self._site_json(self._site_or_value_error(site_id))

    def build_hooks(self, site_id: str) -> list[dict[str, Any]]:
        with self._lock:
            site = self._site_or_value_error(site_id)
            return [self._hook_json(h) for h in sorted(site.hooks.values(), key=lambda h: h.created_at)]

    def deploy_count(self, site_id: str) -> int:
        with self._lock:
            return len(self._site_or_value_error(site_id).deploys)

    # ------------------------------------------------------------------------------------- state machine

    def _site_or_value_error(self, site_id: str) -> Site:
        try:
            return self._sites[site_id]
        except KeyError:
            raise ValueError(f"the simulator has no site {site_id!r}; create it with create_site()") from None

    def _new_deploy(self, site: Site, *, commit_ref: str | None, branch: str, context: str, state: str,
                    title: str | None, created_at: datetime | str | None, deploy_id: str | None = None,
                    error_message: str | None = None, review_id: int | None = None) -> Deploy:
        if state not in DEPLOY_STATES:
            raise ValueError(f"state must be one of {', '.join(DEPLOY_STATES)}, not {state!r}")
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, not {context!r}")
        deploy_id = deploy_id or object_id()
        if deploy_id in self._deploys:
            raise ValueError(f"deploy {deploy_id} already exists")
        created = parse_moment(created_at, datetime.now(UTC))
        deploy = Deploy(id=deploy_id, site_id=site.id, seq=next(self._seq), build_id=object_id(), state=state,
                         branch=branch, context=context, commit_ref=commit_ref, title=title, created_at=created,
                         updated_at=created, error_message=error_message if state == "error" else None,
                         review_id=review_id)
        bisect.insort(site.deploys, deploy, key=lambda d: d.order)
        self._deploys[deploy.id] = deploy
        if commit_ref:
            site.branch_heads[branch] = commit_ref
        return deploy

    def _finished(self, site: Site, deploy: Deploy, at: datetime | None = None) -> None:
        """A deploy became ready: publish it when Netlify would."""
        if deploy.publish_when_ready is None:
            publish = deploy.context == "production" and not site.locked
        else:
            publish = deploy.publish_when_ready
        if publish:
            self._publish(site, deploy, at)

    def _publish(self, site: Site, deploy: Deploy, at: datetime | None = None) -> None:
        at = at or datetime.now(UTC)
        site.published_id = deploy.id
        site.updated_at = deploy.published_at = deploy.updated_at = at

    def _advance_builds(self) -> None:
        """Finish builds whose time has come (checked lazily on every request: no timer threads)."""
        now = time.monotonic()
        due = [d for d in map(self._deploys.get, self._building) if d is not None and (d.ready_at or 0.0) <= now]
        for deploy in sorted(due, key=lambda d: d.ready_at or 0.0):
            self._complete_build(deploy)

    def _start_build(self, deploy: Deploy, seconds: float) -> None:
        deploy.state = "building"
        deploy.ready_at = time.monotonic() + seconds
        self._building.add(deploy.id)

    def _complete_build(self, deploy: Deploy) -> None:
        self._building.discard(deploy.id)
        deploy.ready_at = None
        deploy.updated_at = datetime.now(UTC)
        if deploy.fails_with is not None:
            deploy.state, deploy.error_message, deploy.fails_with = "error", deploy.fails_with, None
            return
        deploy.state = "ready"
        self._finished(self._sites[deploy.site_id], deploy)

    # ------------------------------------------------------------------------------------ JSON shapes

    def _deploy_json(self, deploy: Deploy) -> dict[str, Any]:
        site = self._sites[deploy.site_id]
        host = f"{site.name}.netlify.app"
        permalink_host = f"{deploy.id}--{host}"
        commit_url = f"{site.repo_url}/commit/{deploy.commit_ref}" if site.repo_url and deploy.commit_ref else None
        review_url = (f"{site.repo_url}/pull/{deploy.review_id}"
                      if site.repo_url and deploy.review_id is not None else None)
        return {
            "id": deploy.id, "site_id": site.id, "user_id": None, "build_id": deploy.build_id,
            "state": deploy.state, "name": site.name,
            "url": f"http://{host}", "ssl_url": f"https://{host}",
            "admin_url": f"https://app.netlify.com/projects/{site.name}",
            "deploy_url": f"http://{permalink_host}", "deploy_ssl_url": f"https://{permalink_host}",
            "screenshot_url": None, "review_id": deploy.review_id, "draft": deploy.draft,
            "required": [], "required_functions": [], "error_message": deploy.error_message,
            "branch": deploy.branch, "commit_ref": deploy.commit_ref, "commit_url": commit_url,
            "skipped": deploy.skipped, "created_at": iso(deploy.created_at), "updated_at": iso(deploy.updated_at),
            "published_at": iso(deploy.published_at), "title": deploy.title, "context": deploy.context,
            "locked": site.locked and site.published_id == deploy.id, "review_url": review_url,
            "framework": None, "function_schedules": [], "functions_region": "us-east-2",
        }

    def _site_json(self, site: Site) -> dict[str, Any]:
        host = f"{site.name}.netlify.app"
        published = self._deploys.get(site.published_id) if site.published_id else None
        return {
            "id": site.id, "name": site.name, "state": "current", "plan": "nf_team_dev",
            "url": f"http://{host}", "ssl_url": f"https://{host}",
            "admin_url": f"https://app.netlify.com/projects/{site.name}",
            "deploy_url": f"http://{published.id}--{host}" if published else None,
            "screenshot_url": None, "created_at": iso(site.created_at), "updated_at": iso(site.updated_at),
            "user_id": None, "ssl": True, "force_ssl": True, "managed_dns": True,
            "published_deploy": self._deploy_json(published) if published else None,
            "account_name": "vibedash simulator", "account_slug": "vibedash-sim",
            "git_provider": "github" if site.repo_url else None,
            "build_settings": {"repo_url": site.repo_url, "repo_branch": site.production_branch,
                               "stop_builds": False},
            "functions_region": "us-east-2", "prevent_non_git_prod_deploys": False,
        }

    def _hook_json(self, hook: Hook) -> dict[str, Any]:
        return {"id": hook.id, "title": hook.title, "branch": hook.branch, "url": f"{self.hook_base}/{hook.id}",
                "site_id": hook.site_id, "created_at": iso(hook.created_at)}
