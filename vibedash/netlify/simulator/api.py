"""The simulated REST API over the in-memory state: bearer auth, the rate limit, routing, and one handler per
route of the spec (plus the token-less build hook)."""

from __future__ import annotations

import hmac
import json
import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from vibedash.netlify.simulator.api_answers import (
    API_ROUTES,
    COMPILED_ROUTES,
    ApiError,
    Reply,
    error_reply,
    guarded,
    paged,
    query_bool,
)
from vibedash.netlify.simulator.records import (
    API_PREFIX,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    DEPLOY_STATES,
    HOOK_PREFIX,
    Deploy,
    Hook,
    HookCall,
    Site,
    object_id,
)
from vibedash.netlify.simulator.state import InMemoryNetlify


class NetlifyApi(InMemoryNetlify):
    """Answers API requests (``_handle``) from the in-memory state; the HTTP front end is NetlifySimulator's."""

    port: int  # the front end's; names the host of links when a request carries no Host header

    def __init__(self, *, token: str, build_seconds: float, rate_limit_per_minute: int | None,
                 restore_keeps_lock: bool) -> None:
        super().__init__(build_seconds=build_seconds, restore_keeps_lock=restore_keeps_lock)
        self.token = token
        self.rate_limit_per_minute = rate_limit_per_minute
        self._window_start = 0.0
        self._window_count = 0

    @classmethod
    def routes(cls) -> list[tuple[str, str]]:
        """(method, spec path) of every API route served, paths relative to the spec's basePath."""
        return [(route.method, route.template) for route in API_ROUTES]

    # ------------------------------------------------------------------------------------ API handlers
    # Each takes (path params, query, body, request base URL) and returns a Reply or raises ApiError.
    # They run under self._lock.

    def _site_for(self, key: str) -> Site:
        site = self._sites.get(key)
        if site is None:  # Netlify also accepts a site's name or its netlify.app domain as site_id
            site = next((s for s in self._sites.values() if key in (s.name, f"{s.name}.netlify.app")), None)
        if site is None:
            raise ApiError(404, "Not Found")
        return site

    def _deploy_for(self, deploy_id: str, site: Site | None = None) -> Deploy:
        deploy = self._deploys.get(deploy_id)
        if deploy is None or (site is not None and deploy.site_id != site.id):
            raise ApiError(404, "Not Found")
        return deploy

    def _list_sites(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        sites = sorted(self._sites.values(), key=lambda s: s.created_at, reverse=True)
        if query.get("name"):
            sites = [s for s in sites if query["name"] in s.name]
        return paged(sites, self._site_json, query, base + "/sites")

    def _get_site(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        return Reply(200, self._site_json(self._site_for(params["site_id"])))

    def _list_site_deploys(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        site = self._site_for(params["site_id"])
        state = query.get("state")
        if state is not None and state not in DEPLOY_STATES:
            raise ApiError(422, f"state must be one of {', '.join(DEPLOY_STATES)}")
        production = query_bool(query, "production")
        previews = query_bool(query, "deploy-previews")
        latest_published = query_bool(query, "latest-published")
        deploys: Iterable[Deploy] = reversed(site.deploys)  # newest first, as Netlify lists them
        if latest_published:
            deploys = [self._deploys[site.published_id]] if site.published_id else []
        selected = [d for d in deploys
                    if (state is None or d.state == state)
                    and ("branch" not in query or d.branch == query["branch"])
                    and (production is None or (d.context == "production") == production)
                    and (previews is None or (d.context == "deploy-preview") == previews)]
        return paged(selected, self._deploy_json, query, f"{base}/sites/{params['site_id']}/deploys")

    def _get_site_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        site = self._site_for(params["site_id"])
        return Reply(200, self._deploy_json(self._deploy_for(params["deploy_id"], site)))

    def _get_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        return Reply(200, self._deploy_json(self._deploy_for(params["deploy_id"])))

    def _restore_site_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        site = self._site_for(params["site_id"])
        deploy = self._deploy_for(params["deploy_id"], site)
        if deploy.state != "ready":
            raise ApiError(422, f"Deploy {deploy.id} is {deploy.state}, not ready; only a ready deploy can be "
                                 "published")
        if not self.restore_keeps_lock:
            site.locked = False
        self._publish(site, deploy)
        return Reply(201, self._deploy_json(deploy))

    def _lock_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        deploy = self._deploy_for(params["deploy_id"])
        site = self._sites[deploy.site_id]
        if site.published_id != deploy.id:
            # Simulator choice: Netlify locks the live deploy ("pinning a site to the latest published
            # deploy"); locking anything else is refused so callers publish (restore) first, then lock.
            raise ApiError(422, f"Deploy {deploy.id} is not the published deploy; publish it before locking")
        site.locked = True
        deploy.updated_at = datetime.now(UTC)
        return Reply(200, self._deploy_json(deploy))

    def _unlock_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        deploy = self._deploy_for(params["deploy_id"])
        site = self._sites[deploy.site_id]
        if site.published_id == deploy.id and site.locked:
            # As on Netlify, deploys that finished while locked are not published now: a person picks one.
            site.locked = False
            deploy.updated_at = datetime.now(UTC)
        return Reply(200, self._deploy_json(deploy))

    def _delete_site_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        site = self._site_for(params["site_id"])
        return self._delete(site, self._deploy_for(params["deploy_id"], site))

    def _delete_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        deploy = self._deploy_for(params["deploy_id"])
        return self._delete(self._sites[deploy.site_id], deploy)

    def _delete(self, site: Site, deploy: Deploy) -> Reply:
        if site.published_id == deploy.id:
            # Retention never deletes the live deploy; refusing here keeps a bad prune from taking a site down.
            raise ApiError(422, f"Deploy {deploy.id} is the published deploy of {site.name} and cannot be "
                                 "deleted; publish another deploy first")
        site.deploys.remove(deploy)
        del self._deploys[deploy.id]
        self._building.discard(deploy.id)
        return Reply(204)

    def _list_build_hooks(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        site = self._site_for(params["site_id"])
        return Reply(200, self.build_hooks(site.id))

    def _create_build_hook(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        site = self._site_for(params["site_id"])
        try:
            setup = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "request body must be JSON: {\"title\": ..., \"branch\": ...}") from None
        if not isinstance(setup, dict) or not isinstance(setup.get("title"), str) or not setup["title"].strip():
            raise ApiError(422, "title is required")
        branch = setup.get("branch") or site.production_branch
        if not isinstance(branch, str):
            raise ApiError(422, "branch must be a string")
        hook = Hook(id=object_id(), site_id=site.id, title=setup["title"].strip(), branch=branch,
                     created_at=datetime.now(UTC))
        site.hooks[hook.id] = hook
        self._hooks[hook.id] = hook
        return Reply(201, self._hook_json(hook))

    def _get_build_hook(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        site = self._site_for(params["site_id"])
        hook = site.hooks.get(params["id"])
        if hook is None:
            raise ApiError(404, "Not Found")
        return Reply(200, self._hook_json(hook))

    def _delete_build_hook(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> Reply:
        site = self._site_for(params["site_id"])
        if site.hooks.pop(params["id"], None) is None:
            raise ApiError(404, "Not Found")
        del self._hooks[params["id"]]
        return Reply(204)

    def _trigger_hook(self, hook_id: str, query: dict[str, str], body: bytes) -> Reply:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise ApiError(404, "Not Found")
        site = self._sites[hook.site_id]
        branch = query.get("trigger_branch") or hook.branch
        title = query.get("trigger_title")
        building = self.build_seconds > 0
        deploy = self._new_deploy(
            site, commit_ref=site.branch_heads.get(branch), branch=branch,
            context="production" if branch == site.production_branch else "branch-deploy",
            state="building" if building else "ready",
            title=title or f"Deploy triggered by hook: {hook.title}", created_at=None)
        if self._failing_builds:
            deploy.fails_with = self._failing_builds.pop(0)
        self._hook_calls.append(HookCall(hook.id, deploy.id, title, branch, body.decode("utf-8", "replace")))
        if building:
            self._start_build(deploy, self.build_seconds)
        else:
            self._complete_build(deploy)
        # Netlify's hook answer carries no deploy id (netlify/cli#1986): 200 with an empty body.
        return Reply(200)

    def _rate_headers(self) -> dict[str, str]:
        """Count this API request in the current one-minute window and describe the window."""
        now = time.time()
        limit = self.rate_limit_per_minute or DEFAULT_RATE_LIMIT_PER_MINUTE
        with self._lock:
            if now - self._window_start >= 60:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            remaining = max(0, limit - self._window_count)
            reset = math.ceil(self._window_start + 60)
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(reset)}

    def _over_rate_limit(self) -> bool:
        with self._lock:
            return self.rate_limit_per_minute is not None and self._window_count > self.rate_limit_per_minute

    def _handle(self, method: str, target: str, headers: Any, body: bytes) -> Reply:
        """Answer one request (faults already applied)."""
        split = urlsplit(target)
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        base = f"http://{headers.get('Host') or f'127.0.0.1:{self.port}'}{API_PREFIX}"
        if split.path.startswith(HOOK_PREFIX) and method == "POST":
            hook_id = split.path[len(HOOK_PREFIX):].strip("/")
            with self._lock:
                self._advance_builds()
                return guarded(lambda: self._trigger_hook(hook_id, query, body))
        if not split.path.startswith(API_PREFIX + "/") and split.path != API_PREFIX:
            return error_reply(404, "Not Found")
        rate_headers = self._rate_headers()
        reply = self._api_reply(method, split.path[len(API_PREFIX):] or "/", headers, query, body, base)
        reply.headers = {**rate_headers, **reply.headers}
        return reply

    def _api_reply(self, method: str, path: str, headers: Any, query: dict[str, str], body: bytes,
                   base: str) -> Reply:
        authorization = headers.get("Authorization") or ""
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self.token.encode()):
            return error_reply(401, "Access Denied: a valid bearer token is required (Authorization: Bearer ...)")
        if self._over_rate_limit():
            return error_reply(429, "API rate limit exceeded")
        allowed_methods = []
        for route, regex in COMPILED_ROUTES:
            found = regex.match(path)
            if found is None:
                continue
            allowed_methods.append(route.method)
            if route.method == method:
                handler = getattr(self, route.handler)
                with self._lock:
                    self._advance_builds()
                    params = {name: unquote(value) for name, value in found.groupdict().items()}
                    return guarded(lambda: handler(params, query, body, base))
        if allowed_methods:
            reply = error_reply(405, f"{method} is not supported here; use {', '.join(allowed_methods)}")
            reply.headers["Allow"] = ", ".join(allowed_methods)
            return reply
        return error_reply(404, "Not Found")
