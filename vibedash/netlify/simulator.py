"""A Netlify API simulator: a real HTTP server on loopback that follows Netlify's official spec.

It serves the operations the dashboard uses, with the spec's paths, status codes and object shapes
(tests/fixtures/netlify-openapi.yml), plus what the spec leaves out but Netlify does: bearer auth, paging with
``Link`` headers, ``X-RateLimit-*`` headers and a 500-requests-a-minute limit, token-less build hooks, auto
publishing of new production deploys unless the live deploy is locked. Faults can be injected for the next
matching requests: 429, 500, 503, slow answers and dropped connections, before or after the request is acted
on (an answer lost on the way back), a transient 404, a stale read-back (a cached earlier answer, as a lagging
replica or cache would give), and another actor changing the site just before or after a request.

Use it in tests and demos::

    with NetlifySimulator(token="test-token") as sim:
        site = sim.create_site(name="vibethinker")
        sim.add_deploy(site["id"], commit_ref="abc123", title="v1")
        client = NetlifyClient("test-token", site["id"], api_url=sim.api_url)

or from a terminal: ``python -m vibedash netlify-sim --seed-demo``.

Behaviour the public sources leave open is decided here and written down where it is decided (search for
"Simulator choice"); the client code must not depend on those choices.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import hmac
import ipaddress
import itertools
import json
import math
import re
import secrets
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

API_PREFIX = "/api/v1"
HOOK_PREFIX = "/build_hooks/"
MAX_PER_PAGE = 100
DEFAULT_RATE_LIMIT_PER_MINUTE = 500  # Netlify's documented general API limit (third-party summaries).
DEPLOY_STATES = ("new", "pending_review", "accepted", "rejected", "enqueued", "building", "uploading", "uploaded",
                 "preparing", "prepared", "processing", "processed", "ready", "error", "retrying")
CONTEXTS = ("production", "deploy-preview", "branch-deploy")
FAULT_KINDS = ("429", "500", "503", "slow", "drop", "transient-404", "stale", "interleave")
# Kinds that may act on the request before failing it (the change happens, the answer says otherwise).
_AFTER_HANDLING_KINDS = ("500", "503", "slow", "drop")


class LoggedRequest(NamedTuple):
    method: str
    path: str     # path and query string as sent, e.g. /api/v1/sites/x/deploys?page=2&per_page=100
    status: int   # 0 when the connection was dropped without an answer


class HookCall(NamedTuple):
    hook_id: str
    deploy_id: str
    title: str | None
    branch: str
    payload: str


@dataclass
class _Fault:
    kind: str
    remaining: int
    path_contains: str | None
    method: str | None
    reset_in: float = 1.0                 # 429: X-RateLimit-Reset this many seconds ahead
    retry_after: float | None = None      # Retry-After seconds (None: header left out)
    seconds: float = 1.0                  # slow: delay before answering
    after_handling: bool = False          # act on the request first, then fail (answer lost or misleading)
    message: str | None = None
    after_path: str | None = None         # armed only once a request whose path contains this was handled
    armed: bool = True
    action: Callable[[NetlifySimulator], None] | None = None   # interleave: what the other actor does

    def matches(self, method: str, target: str) -> bool:
        return (self.remaining > 0 and self.armed and (self.method is None or self.method == method)
                and (self.path_contains is None or self.path_contains in target))


@dataclass
class _Deploy:
    id: str
    site_id: str
    seq: int
    build_id: str
    state: str
    branch: str
    context: str
    commit_ref: str | None
    title: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    error_message: str | None = None
    review_id: int | None = None
    draft: bool = False
    skipped: bool | None = None
    ready_at: float | None = None         # monotonic time a build in progress finishes
    fails_with: str | None = None         # error message the build in progress will end with
    publish_when_ready: bool | None = None

    @property
    def order(self) -> tuple[datetime, int]:
        return self.created_at, self.seq


@dataclass
class _Hook:
    id: str
    site_id: str
    title: str
    branch: str
    created_at: datetime


@dataclass
class _Site:
    id: str
    name: str
    repo_url: str | None
    production_branch: str
    created_at: datetime
    updated_at: datetime
    deploys: list[_Deploy] = field(default_factory=list)   # oldest first, by (created_at, seq)
    published_id: str | None = None
    # Netlify pins a site by locking its published deploy; the lock is modelled on the site, and a deploy
    # reports locked=true while it is the published one of a locked site.
    locked: bool = False
    hooks: dict[str, _Hook] = field(default_factory=dict)
    branch_heads: dict[str, str] = field(default_factory=dict)


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Reply:
    status: int
    body: Any = None                      # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Route:
    method: str
    template: str                         # spec path, relative to basePath
    handler: str                          # NetlifySimulator method name

    def pattern(self) -> str:
        parts = []
        for piece in self.template.strip("/").split("/"):
            parts.append(f"(?P<{piece[1:-1]}>[^/]+)" if piece.startswith("{") else piece)
        return "^/" + "/".join(parts) + "/?$"


# Every API route, with the spec path it implements (tests check each against the spec).
API_ROUTES: tuple[_Route, ...] = (
    _Route("GET", "/sites", "_list_sites"),
    _Route("GET", "/sites/{site_id}", "_get_site"),
    _Route("GET", "/sites/{site_id}/deploys", "_list_site_deploys"),
    _Route("GET", "/sites/{site_id}/deploys/{deploy_id}", "_get_site_deploy"),
    _Route("DELETE", "/sites/{site_id}/deploys/{deploy_id}", "_delete_site_deploy"),
    _Route("POST", "/sites/{site_id}/deploys/{deploy_id}/restore", "_restore_site_deploy"),
    _Route("GET", "/deploys/{deploy_id}", "_get_deploy"),
    _Route("DELETE", "/deploys/{deploy_id}", "_delete_deploy"),
    _Route("POST", "/deploys/{deploy_id}/lock", "_lock_deploy"),
    _Route("POST", "/deploys/{deploy_id}/unlock", "_unlock_deploy"),
    _Route("GET", "/sites/{site_id}/build_hooks", "_list_build_hooks"),
    _Route("POST", "/sites/{site_id}/build_hooks", "_create_build_hook"),
    _Route("GET", "/sites/{site_id}/build_hooks/{id}", "_get_build_hook"),
    _Route("DELETE", "/sites/{site_id}/build_hooks/{id}", "_delete_build_hook"),
)


def _iso(moment: datetime | None) -> str | None:
    """Netlify's timestamp format: UTC with milliseconds, e.g. 2024-05-01T12:00:00.000Z."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_moment(value: datetime | str | None, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"created_at must be an ISO 8601 time like 2024-05-01T12:00:00Z, not {value!r}") \
                from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _object_id() -> str:
    """A 24-hex-digit id, the shape Netlify uses for deploys, builds and hooks."""
    return secrets.token_hex(12)


def _stable_id(*parts: str, length: int = 24) -> str:
    """The same id for the same parts: a UUID (site ids) when length is 0, else that many hex digits."""
    if length == 0:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "vibedash-netlify-sim:" + ":".join(parts)))
    return hashlib.sha1(":".join(parts).encode()).hexdigest()[:length]


class NetlifySimulator:
    """A thread-safe, in-memory Netlify with a real HTTP front end on ``host:port``."""

    def __init__(self, port: int = 0, token: str = "test-token", *, host: str = "127.0.0.1",
                 build_seconds: float = 0.0, rate_limit_per_minute: int | None = DEFAULT_RATE_LIMIT_PER_MINUTE,
                 restore_keeps_lock: bool = True, echo: Callable[[str], None] | None = None) -> None:
        """``build_seconds``: how long a hook-triggered build stays "building" (0: ready at once).

        ``restore_keeps_lock``: Simulator choice for a point Netlify does not document: when a locked site
        publishes another deploy through restore, the site stays locked (the newly published deploy is the
        pinned one). False models the older docs' "publishing a deploy unlocks".
        """
        if not token:
            raise ValueError("the simulator needs a token to check bearer auth against")
        self.token = token
        self.build_seconds = build_seconds
        self.rate_limit_per_minute = rate_limit_per_minute
        self.restore_keeps_lock = restore_keeps_lock
        self._echo = echo
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._sites: dict[str, _Site] = {}
        self._deploys: dict[str, _Deploy] = {}
        self._hooks: dict[str, _Hook] = {}
        self._log: list[LoggedRequest] = []
        self._hook_calls: list[HookCall] = []
        self._faults: list[_Fault] = []
        self._last_answers: dict[str, _Reply] = {}   # latest 200 answer per GET path
        self._stale_answers: dict[str, _Reply] = {}  # the answer before it: what a "stale" fault serves
        self._failing_builds: list[str] = []
        self._building: set[str] = set()   # ids of deploys whose build finishes at their ready_at
        self._seq = itertools.count(1)
        self._window_start = 0.0
        self._window_count = 0
        self.internal_errors: list[str] = []
        self._server = _make_server(host, port, self)
        self._thread: threading.Thread | None = None
        self.host = host
        self.port: int = self._server.server_address[1]

    # ---------------------------------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def hook_base(self) -> str:
        return self.base_url + HOOK_PREFIX.rstrip("/")

    def start(self) -> NetlifySimulator:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="netlify-sim", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()   # wakes requests sleeping in a "slow" fault
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> NetlifySimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------- seeding helpers

    def create_site(self, name: str = "vibedash-sim", *, site_id: str | None = None, repo_url: str | None = None,
                    production_branch: str = "main") -> dict[str, Any]:
        """A site; its id is derived from the name (names are unique on Netlify), so a restarted simulator
        keeps the same NETLIFY_SITE_ID."""
        now = datetime.now(UTC)
        with self._lock:
            if any(s.name == name for s in self._sites.values()):
                raise ValueError(f"a site named {name!r} already exists")
            site = _Site(id=site_id or _stable_id("site", name, length=0), name=name, repo_url=repo_url,
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
            hook = _Hook(id=hook_id or _object_id(), site_id=site.id, title=title,
                         branch=branch or site.production_branch, created_at=datetime.now(UTC))
            site.hooks[hook.id] = hook
            self._hooks[hook.id] = hook
            return self._hook_json(hook)

    def fail_next_builds(self, count: int = 1, message: str = "Build script returned non-zero exit code: 2") -> None:
        """The next ``count`` hook-triggered builds end in state "error" with ``message``."""
        with self._lock:
            self._failing_builds.extend([message] * count)

    def inject(self, kind: str, count: int = 1, path_contains: str | None = None, **opts: Any) -> None:
        """Make the next ``count`` requests whose path contains ``path_contains`` fail in a chosen way.

        Kinds: "429" (opts ``reset_in`` seconds for X-RateLimit-Reset, default 1; ``retry_after`` seconds,
        default ``reset_in``, None leaves the header out), "500", "503" (opts ``message``, ``retry_after``),
        "slow" (opt ``seconds``, then answered normally),
        "drop" (close the connection with no answer),
        "transient-404" (a 404 for something that exists, as a lagging replica may answer),
        "stale" (a GET answered with the previous answer this path got, as a stale cache would: a read-back
        that lies; answered normally when the path has no earlier answer),
        "interleave" (opt ``action``, a callable taking the simulator: another actor acts just before the
        request is handled, or just after it with ``after_handling=True``; the request is then served).
        ``after_handling=True`` on "500", "503", "slow" and "drop" acts on the request first: the change
        happens, but the answer is an error, comes too late, or never comes. Opt ``method`` limits the fault to
        one HTTP method; opt ``after_path`` arms it only once a request whose path contains that text has been
        handled (e.g. a stale read-back of the site only after the restore).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
        if count < 1:
            raise ValueError("count must be at least 1")
        allowed = {"reset_in", "retry_after", "seconds", "after_handling", "message", "method", "after_path",
                   "action"}
        unknown = set(opts) - allowed
        if unknown:
            raise ValueError(f"unknown fault options {sorted(unknown)}; use {sorted(allowed)}")
        if opts.get("after_handling") and kind not in _AFTER_HANDLING_KINDS + ("interleave",):
            raise ValueError(f"after_handling applies to {', '.join(_AFTER_HANDLING_KINDS)} and interleave, "
                             f"not {kind!r} (a 429 means nothing was done)")
        if (kind == "interleave") != callable(opts.get("action")):
            raise ValueError("an interleave fault needs action=callable(simulator), and only it takes one")
        opts["armed"] = opts.get("after_path") is None
        method = opts.pop("method", None)
        if kind == "429":
            opts.setdefault("reset_in", 1.0)
            opts.setdefault("retry_after", opts["reset_in"])
        with self._lock:
            self._faults.append(_Fault(kind=kind, remaining=count, path_contains=path_contains,
                                       method=method.upper() if method else None, **opts))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

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
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    @property
    def hook_calls(self) -> list[HookCall]:
        with self._lock:
            return list(self._hook_calls)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

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

    def serve_until_interrupted(self) -> None:
        """Serve in the calling thread until Ctrl-C, then close the socket."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._stopping.set()
            self._server.server_close()

    def deploy_count(self, site_id: str) -> int:
        with self._lock:
            return len(self._site_or_value_error(site_id).deploys)

    @classmethod
    def routes(cls) -> list[tuple[str, str]]:
        """(method, spec path) of every API route served, paths relative to the spec's basePath."""
        return [(route.method, route.template) for route in API_ROUTES]

    # ------------------------------------------------------------------------------------- state machine

    def _site_or_value_error(self, site_id: str) -> _Site:
        try:
            return self._sites[site_id]
        except KeyError:
            raise ValueError(f"the simulator has no site {site_id!r}; create it with create_site()") from None

    def _new_deploy(self, site: _Site, *, commit_ref: str | None, branch: str, context: str, state: str,
                    title: str | None, created_at: datetime | str | None, deploy_id: str | None = None,
                    error_message: str | None = None, review_id: int | None = None) -> _Deploy:
        if state not in DEPLOY_STATES:
            raise ValueError(f"state must be one of {', '.join(DEPLOY_STATES)}, not {state!r}")
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, not {context!r}")
        deploy_id = deploy_id or _object_id()
        if deploy_id in self._deploys:
            raise ValueError(f"deploy {deploy_id} already exists")
        created = _parse_moment(created_at, datetime.now(UTC))
        deploy = _Deploy(id=deploy_id, site_id=site.id, seq=next(self._seq), build_id=_object_id(), state=state,
                         branch=branch, context=context, commit_ref=commit_ref, title=title, created_at=created,
                         updated_at=created, error_message=error_message if state == "error" else None,
                         review_id=review_id)
        bisect.insort(site.deploys, deploy, key=lambda d: d.order)
        self._deploys[deploy.id] = deploy
        if commit_ref:
            site.branch_heads[branch] = commit_ref
        return deploy

    def _finished(self, site: _Site, deploy: _Deploy, at: datetime | None = None) -> None:
        """A deploy became ready: publish it when Netlify would."""
        if deploy.publish_when_ready is None:
            publish = deploy.context == "production" and not site.locked
        else:
            publish = deploy.publish_when_ready
        if publish:
            self._publish(site, deploy, at)

    def _publish(self, site: _Site, deploy: _Deploy, at: datetime | None = None) -> None:
        at = at or datetime.now(UTC)
        site.published_id = deploy.id
        site.updated_at = deploy.published_at = deploy.updated_at = at

    def _advance_builds(self) -> None:
        """Finish builds whose time has come (checked lazily on every request: no timer threads)."""
        now = time.monotonic()
        due = [d for d in map(self._deploys.get, self._building) if d is not None and (d.ready_at or 0.0) <= now]
        for deploy in sorted(due, key=lambda d: d.ready_at or 0.0):
            self._complete_build(deploy)

    def _start_build(self, deploy: _Deploy, seconds: float) -> None:
        deploy.state = "building"
        deploy.ready_at = time.monotonic() + seconds
        self._building.add(deploy.id)

    def _complete_build(self, deploy: _Deploy) -> None:
        self._building.discard(deploy.id)
        deploy.ready_at = None
        deploy.updated_at = datetime.now(UTC)
        if deploy.fails_with is not None:
            deploy.state, deploy.error_message, deploy.fails_with = "error", deploy.fails_with, None
            return
        deploy.state = "ready"
        self._finished(self._sites[deploy.site_id], deploy)

    # ------------------------------------------------------------------------------------ JSON shapes

    def _deploy_json(self, deploy: _Deploy) -> dict[str, Any]:
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
            "skipped": deploy.skipped, "created_at": _iso(deploy.created_at), "updated_at": _iso(deploy.updated_at),
            "published_at": _iso(deploy.published_at), "title": deploy.title, "context": deploy.context,
            "locked": site.locked and site.published_id == deploy.id, "review_url": review_url,
            "framework": None, "function_schedules": [], "functions_region": "us-east-2",
        }

    def _site_json(self, site: _Site) -> dict[str, Any]:
        host = f"{site.name}.netlify.app"
        published = self._deploys.get(site.published_id) if site.published_id else None
        return {
            "id": site.id, "name": site.name, "state": "current", "plan": "nf_team_dev",
            "url": f"http://{host}", "ssl_url": f"https://{host}",
            "admin_url": f"https://app.netlify.com/projects/{site.name}",
            "deploy_url": f"http://{published.id}--{host}" if published else None,
            "screenshot_url": None, "created_at": _iso(site.created_at), "updated_at": _iso(site.updated_at),
            "user_id": None, "ssl": True, "force_ssl": True, "managed_dns": True,
            "published_deploy": self._deploy_json(published) if published else None,
            "account_name": "vibedash simulator", "account_slug": "vibedash-sim",
            "git_provider": "github" if site.repo_url else None,
            "build_settings": {"repo_url": site.repo_url, "repo_branch": site.production_branch,
                               "stop_builds": False},
            "functions_region": "us-east-2", "prevent_non_git_prod_deploys": False,
        }

    def _hook_json(self, hook: _Hook) -> dict[str, Any]:
        return {"id": hook.id, "title": hook.title, "branch": hook.branch, "url": f"{self.hook_base}/{hook.id}",
                "site_id": hook.site_id, "created_at": _iso(hook.created_at)}

    # ------------------------------------------------------------------------------------ API handlers
    # Each takes (path params, query, body, request base URL) and returns a _Reply or raises _ApiError.
    # They run under self._lock.

    def _site_for(self, key: str) -> _Site:
        site = self._sites.get(key)
        if site is None:  # Netlify also accepts a site's name or its netlify.app domain as site_id
            site = next((s for s in self._sites.values() if key in (s.name, f"{s.name}.netlify.app")), None)
        if site is None:
            raise _ApiError(404, "Not Found")
        return site

    def _deploy_for(self, deploy_id: str, site: _Site | None = None) -> _Deploy:
        deploy = self._deploys.get(deploy_id)
        if deploy is None or (site is not None and deploy.site_id != site.id):
            raise _ApiError(404, "Not Found")
        return deploy

    def _list_sites(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        sites = sorted(self._sites.values(), key=lambda s: s.created_at, reverse=True)
        if query.get("name"):
            sites = [s for s in sites if query["name"] in s.name]
        return self._paged(sites, self._site_json, query, base + "/sites")

    def _get_site(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        return _Reply(200, self._site_json(self._site_for(params["site_id"])))

    def _list_site_deploys(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        site = self._site_for(params["site_id"])
        state = query.get("state")
        if state is not None and state not in DEPLOY_STATES:
            raise _ApiError(422, f"state must be one of {', '.join(DEPLOY_STATES)}")
        production = _query_bool(query, "production")
        previews = _query_bool(query, "deploy-previews")
        latest_published = _query_bool(query, "latest-published")
        deploys: Iterable[_Deploy] = reversed(site.deploys)  # newest first, as Netlify lists them
        if latest_published:
            deploys = [self._deploys[site.published_id]] if site.published_id else []
        selected = [d for d in deploys
                    if (state is None or d.state == state)
                    and ("branch" not in query or d.branch == query["branch"])
                    and (production is None or (d.context == "production") == production)
                    and (previews is None or (d.context == "deploy-preview") == previews)]
        return self._paged(selected, self._deploy_json, query, f"{base}/sites/{params['site_id']}/deploys")

    def _get_site_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        site = self._site_for(params["site_id"])
        return _Reply(200, self._deploy_json(self._deploy_for(params["deploy_id"], site)))

    def _get_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        return _Reply(200, self._deploy_json(self._deploy_for(params["deploy_id"])))

    def _restore_site_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        site = self._site_for(params["site_id"])
        deploy = self._deploy_for(params["deploy_id"], site)
        if deploy.state != "ready":
            raise _ApiError(422, f"Deploy {deploy.id} is {deploy.state}, not ready; only a ready deploy can be "
                                 "published")
        if not self.restore_keeps_lock:
            site.locked = False
        self._publish(site, deploy)
        return _Reply(201, self._deploy_json(deploy))

    def _lock_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        deploy = self._deploy_for(params["deploy_id"])
        site = self._sites[deploy.site_id]
        if site.published_id != deploy.id:
            # Simulator choice: Netlify locks the live deploy ("pinning a site to the latest published
            # deploy"); locking anything else is refused so callers publish (restore) first, then lock.
            raise _ApiError(422, f"Deploy {deploy.id} is not the published deploy; publish it before locking")
        site.locked = True
        deploy.updated_at = datetime.now(UTC)
        return _Reply(200, self._deploy_json(deploy))

    def _unlock_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        deploy = self._deploy_for(params["deploy_id"])
        site = self._sites[deploy.site_id]
        if site.published_id == deploy.id and site.locked:
            # As on Netlify, deploys that finished while locked are not published now: a person picks one.
            site.locked = False
            deploy.updated_at = datetime.now(UTC)
        return _Reply(200, self._deploy_json(deploy))

    def _delete_site_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        site = self._site_for(params["site_id"])
        return self._delete(site, self._deploy_for(params["deploy_id"], site))

    def _delete_deploy(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        deploy = self._deploy_for(params["deploy_id"])
        return self._delete(self._sites[deploy.site_id], deploy)

    def _delete(self, site: _Site, deploy: _Deploy) -> _Reply:
        if site.published_id == deploy.id:
            # Retention never deletes the live deploy; refusing here keeps a bad prune from taking a site down.
            raise _ApiError(422, f"Deploy {deploy.id} is the published deploy of {site.name} and cannot be "
                                 "deleted; publish another deploy first")
        site.deploys.remove(deploy)
        del self._deploys[deploy.id]
        self._building.discard(deploy.id)
        return _Reply(204)

    def _list_build_hooks(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        site = self._site_for(params["site_id"])
        return _Reply(200, self.build_hooks(site.id))

    def _create_build_hook(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        site = self._site_for(params["site_id"])
        try:
            setup = json.loads(body or b"{}")
        except ValueError:
            raise _ApiError(400, "request body must be JSON: {\"title\": ..., \"branch\": ...}") from None
        if not isinstance(setup, dict) or not isinstance(setup.get("title"), str) or not setup["title"].strip():
            raise _ApiError(422, "title is required")
        branch = setup.get("branch") or site.production_branch
        if not isinstance(branch, str):
            raise _ApiError(422, "branch must be a string")
        hook = _Hook(id=_object_id(), site_id=site.id, title=setup["title"].strip(), branch=branch,
                     created_at=datetime.now(UTC))
        site.hooks[hook.id] = hook
        self._hooks[hook.id] = hook
        return _Reply(201, self._hook_json(hook))

    def _get_build_hook(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        site = self._site_for(params["site_id"])
        hook = site.hooks.get(params["id"])
        if hook is None:
            raise _ApiError(404, "Not Found")
        return _Reply(200, self._hook_json(hook))

    def _delete_build_hook(self, params: dict[str, str], query: dict[str, str], body: bytes, base: str) -> _Reply:
        site = self._site_for(params["site_id"])
        if site.hooks.pop(params["id"], None) is None:
            raise _ApiError(404, "Not Found")
        del self._hooks[params["id"]]
        return _Reply(204)

    def _trigger_hook(self, hook_id: str, query: dict[str, str], body: bytes) -> _Reply:
        hook = self._hooks.get(hook_id)
        if hook is None:
            raise _ApiError(404, "Not Found")
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
        return _Reply(200)

    def _paged(self, items: list[Any], render: Callable[[Any], dict[str, Any]], query: dict[str, str],
               link_base: str) -> _Reply:
        page = _query_int(query, "page", 1)
        per_page = min(_query_int(query, "per_page", MAX_PER_PAGE), MAX_PER_PAGE)
        if page < 1 or per_page < 1:
            raise _ApiError(422, "page and per_page must be at least 1")
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        keep = {k: v for k, v in query.items() if k not in ("page", "per_page")}

        def link(number: int, rel: str) -> str:
            return f'<{link_base}?{urlencode({**keep, "page": number, "per_page": per_page})}>; rel="{rel}"'

        links = []
        if page < last:
            links.append(link(page + 1, "next"))
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        links.append(link(last, "last"))
        return _Reply(200, [render(item) for item in chunk], {"Link": ", ".join(links)})

    # --------------------------------------------------------------------------------- HTTP plumbing

    def _arm_faults(self, target: str) -> None:
        """A request was handled: arm the faults waiting for it (``after_path``)."""
        with self._lock:
            for fault in self._faults:
                if not fault.armed and fault.after_path is not None and fault.after_path in target:
                    fault.armed = True

    def _remember_answer(self, method: str, target: str, reply: _Reply) -> _Reply:
        if method == "GET" and reply.status == 200:
            with self._lock:
                previous = self._last_answers.get(target)
                self._last_answers[target] = reply
                # "stale" serves the answer before the latest: keep it one step behind.
                self._stale_answers[target] = previous or reply
        return reply

    def _stale_answer(self, target: str) -> _Reply | None:
        with self._lock:
            return self._stale_answers.get(target)

    def _take_fault(self, method: str, target: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, target):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def _record(self, method: str, target: str, status: int) -> None:
        with self._lock:
            self._log.append(LoggedRequest(method, target, status))
        if self._echo is not None:
            self._echo(f"{method} {target} -> {status or 'dropped'}")

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

    def _handle(self, method: str, target: str, headers: Any, body: bytes) -> _Reply:
        """Answer one request (faults already applied)."""
        split = urlsplit(target)
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        base = f"http://{headers.get('Host') or f'127.0.0.1:{self.port}'}{API_PREFIX}"
        if split.path.startswith(HOOK_PREFIX) and method == "POST":
            hook_id = split.path[len(HOOK_PREFIX):].strip("/")
            with self._lock:
                self._advance_builds()
                return _guarded(lambda: self._trigger_hook(hook_id, query, body))
        if not split.path.startswith(API_PREFIX + "/") and split.path != API_PREFIX:
            return _error_reply(404, "Not Found")
        rate_headers = self._rate_headers()
        reply = self._api_reply(method, split.path[len(API_PREFIX):] or "/", headers, query, body, base)
        reply.headers = {**rate_headers, **reply.headers}
        return reply

    def _api_reply(self, method: str, path: str, headers: Any, query: dict[str, str], body: bytes,
                   base: str) -> _Reply:
        authorization = headers.get("Authorization") or ""
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self.token.encode()):
            return _error_reply(401, "Access Denied: a valid bearer token is required (Authorization: Bearer ...)")
        if self._over_rate_limit():
            return _error_reply(429, "API rate limit exceeded")
        allowed_methods = []
        for route, regex in _COMPILED_ROUTES:
            found = regex.match(path)
            if found is None:
                continue
            allowed_methods.append(route.method)
            if route.method == method:
                handler = getattr(self, route.handler)
                with self._lock:
                    self._advance_builds()
                    params = {name: unquote(value) for name, value in found.groupdict().items()}
                    return _guarded(lambda: handler(params, query, body, base))
        if allowed_methods:
            reply = _error_reply(405, f"{method} is not supported here; use {', '.join(allowed_methods)}")
            reply.headers["Allow"] = ", ".join(allowed_methods)
            return reply
        return _error_reply(404, "Not Found")


def _guarded(action: Callable[[], _Reply]) -> _Reply:
    try:
        return action()
    except _ApiError as exc:
        return _error_reply(exc.status, exc.message)


def _error_reply(status: int, message: str) -> _Reply:
    return _Reply(status, {"code": status, "message": message})


def _query_int(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _ApiError(422, f"{name} must be a whole number, not {raw!r}") from None


def _query_bool(query: dict[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", ""):
        return True
    if lowered in ("false", "0"):
        return False
    raise _ApiError(422, f"{name} must be true or false, not {raw!r}")


_COMPILED_ROUTES = [(route, re.compile(route.pattern())) for route in API_ROUTES]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False   # a request sleeping in a "slow" fault must not hold up stop()
    sim: NetlifySimulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (read timeouts) make the socket fail under us; that is expected here.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


def _make_server(host: str, port: int, sim: NetlifySimulator) -> _Server:
    server_class = _Server6 if ":" in host else _Server
    server = server_class((host, port), _Handler)
    server.sim = sim
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like Netlify, so client connection pooling is exercised
    # Headers and body go out in separate writes; with Nagle on, the body then waits for the client's delayed
    # ACK (about 40 ms a request on Linux loopback).
    disable_nagle_algorithm = True
    server: _Server
    server_version = "vibedash-netlify-sim"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        pass  # requests are recorded in sim.requests (and echoed by the CLI) instead

    def _serve(self, method: str) -> None:
        sim = self.server.sim
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        target = self.path
        fault = sim._take_fault(method, target)
        if fault is not None and fault.kind == "interleave":
            # Another actor acts around this request, which is then served normally.
            if not fault.after_handling:
                with sim._lock:
                    fault.action(sim)
            reply = self._answer_safely(sim, method, target, body)
            if fault.after_handling:
                with sim._lock:
                    fault.action(sim)
            self._send(method, target, reply)
            return
        if fault is not None and fault.kind == "stale" and method == "GET":
            stale = sim._stale_answer(target)
            self._send(method, target, stale if stale is not None else self._answer_safely(sim, method, target,
                                                                                           body))
            return
        handled = None
        if fault is not None and fault.after_handling:
            handled = self._answer_safely(sim, method, target, body)   # the change happens...
        if fault is not None and fault.kind == "slow":
            sim._stopping.wait(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "drop":
            sim._record(method, target, 0)                             # ...but its answer is lost
            self.close_connection = True
            return
        if fault is not None:
            reply = self._fault_reply(fault)
            if target.startswith(API_PREFIX):   # every API answer carries the rate-limit headers
                reply.headers = {**sim._rate_headers(), **reply.headers}
            self._send(method, target, reply)
            return
        self._send(method, target, handled or self._answer_safely(sim, method, target, body))

    def _answer_safely(self, sim: NetlifySimulator, method: str, target: str, body: bytes) -> _Reply:
        try:
            reply = sim._remember_answer(method, target, sim._handle(method, target, self.headers, body))
            sim._arm_faults(target)
            return reply
        except Exception:  # a simulator bug: answer 500 and keep it visible to tests
            details = traceback.format_exc()
            with sim._lock:
                sim.internal_errors.append(details)
            print(details, file=sys.stderr)
            return _error_reply(500, "simulator bug; see its standard error")

    def _fault_reply(self, fault: _Fault) -> _Reply:
        status = 404 if fault.kind == "transient-404" else int(fault.kind)
        messages = {429: "API rate limit exceeded", 500: "Internal Server Error", 503: "Service Unavailable",
                    404: "Not Found"}
        reply = _error_reply(status, fault.message or messages[status])
        if status == 429:
            reply.headers.update({"X-RateLimit-Limit": str(DEFAULT_RATE_LIMIT_PER_MINUTE),
                                  "X-RateLimit-Remaining": "0",
                                  "X-RateLimit-Reset": str(math.ceil(time.time() + fault.reset_in))})
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = str(math.ceil(fault.retry_after))
        return reply

    def _send(self, method: str, target: str, reply: _Reply) -> None:
        self.server.sim._record(method, target, reply.status)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 204:
                if reply.body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if reply.status != 204:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True   # the client gave up (read timeout); nothing left to do


# ---------------------------------------------------------------------------------------------- demo + CLI


def seed_demo(sim: NetlifySimulator) -> dict[str, Any]:
    """A small, plausible site: a week of model versions, one failed build, one preview, and a build hook."""
    site = sim.create_site(name="vibethinker-demo", repo_url="https://github.com/example/vibethinker")
    start = datetime.now(UTC) - timedelta(days=7)
    versions = ["sft-base", "sft-math-mix", "rl-step-200", "rl-step-400", "rl-step-600", "rl-step-800"]
    # Stable ids, so a registry synced against one run of the demo still matches after a restart.
    for day, name in enumerate(versions):
        sim.add_deploy(site["id"], deploy_id=_stable_id("deploy", name), commit_ref=_stable_id(name, length=40),
                       title=f"Publish {name}", created_at=start + timedelta(days=day))
    sim.add_deploy(site["id"], deploy_id=_stable_id("deploy", "rl-step-1000"),
                   commit_ref=_stable_id("rl-step-1000", length=40), title="Publish rl-step-1000", state="error",
                   error_message="Build script returned non-zero exit code: 2",
                   created_at=start + timedelta(days=6, hours=3))
    sim.add_deploy(site["id"], deploy_id=_stable_id("deploy", "long-context"),
                   commit_ref=_stable_id("long-context", length=40), branch="long-context",
                   context="deploy-preview", review_id=42, title="Preview: long-context",
                   created_at=start + timedelta(days=6, hours=5))
    sim.add_build_hook(site["id"], title="vibedash", branch="main", hook_id=_stable_id("hook", site["id"]))
    return sim.site(site["id"])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vibedash netlify-sim",
        description="Serve a local Netlify API simulator (loopback only unless --host is given).")
    parser.add_argument("--port", type=int, default=8999, help="port to listen on (0 picks a free one)")
    parser.add_argument("--host", default=None,
                        help="address to bind (default 127.0.0.1); anything but loopback exposes the simulator")
    parser.add_argument("--token", default="test-token", help="bearer token the simulator accepts")
    parser.add_argument("--seed-demo", action="store_true", help="start with a demo site full of deploys")
    parser.add_argument("--build-seconds", type=float, default=0.0,
                        help="how long a hook-triggered build stays 'building' (default 0: ready at once)")
    parser.add_argument("--quiet", action="store_true", help="do not print one line per request")
    return parser


def main(argv: list[str] | None = None, *,
         seed: Callable[[NetlifySimulator], dict[str, Any]] | None = None) -> int:
    """Run the simulator until Ctrl-C. ``seed`` replaces the built-in demo data for ``--seed-demo``."""
    args = build_parser().parse_args(argv)
    host = args.host or "127.0.0.1"
    if not _is_loopback(host):
        print(f"warning: binding {host} makes the simulator (and its token) reachable from other machines",
              file=sys.stderr)
    echo = None if args.quiet else (lambda line: print(line, flush=True))
    try:
        sim = NetlifySimulator(port=args.port, token=args.token, host=host, build_seconds=args.build_seconds,
                               echo=echo)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{args.port} ({exc.strerror or exc}); pick another --port",
              file=sys.stderr)
        return 2
    if args.seed_demo:
        site = (seed or seed_demo)(sim)
    else:
        site = sim.create_site(name="vibedash-sim")
    hooks = sim.build_hooks(site["id"]) or [
        sim.add_build_hook(site["id"], title="vibedash", hook_id=_stable_id("hook", site["id"]))]
    print(f"Netlify simulator serving {sim.api_url} (Ctrl-C to stop). Use these settings:")
    print(f"  NETLIFY_AUTH_TOKEN={sim.token}")
    print(f"  NETLIFY_SITE_ID={site['id']}")
    print(f"  VIBEDASH_NETLIFY_API_URL={sim.api_url}")
    print(f"  VIBEDASH_BUILD_HOOK_URL={hooks[0]['url']}", flush=True)
    sim.serve_until_interrupted()
    print("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
