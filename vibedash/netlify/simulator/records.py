"""What the simulated Netlify is made of: its constants, the records of sites, deploys and build hooks, the
request log's entries, and the id and timestamp formats Netlify uses."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

API_PREFIX = "/api/v1"
HOOK_PREFIX = "/build_hooks/"
MAX_PER_PAGE = 100
DEFAULT_RATE_LIMIT_PER_MINUTE = 500  # Netlify's documented general API limit (third-party summaries).
DEPLOY_STATES = ("new", "pending_review", "accepted", "rejected", "enqueued", "building", "uploading", "uploaded",
                 "preparing", "prepared", "processing", "processed", "ready", "error", "retrying")
CONTEXTS = ("production", "deploy-preview", "branch-deploy")


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
class Deploy:
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
class Hook:
    id: str
    site_id: str
    title: str
    branch: str
    created_at: datetime


@dataclass
class Site:
    id: str
    name: str
    repo_url: str | None
    production_branch: str
    created_at: datetime
    updated_at: datetime
    deploys: list[Deploy] = field(default_factory=list)   # oldest first, by (created_at, seq)
    published_id: str | None = None
    # Netlify pins a site by locking its published deploy; the lock is modelled on the site, and a deploy
    # reports locked=true while it is the published one of a locked site.
    locked: bool = False
    hooks: dict[str, Hook] = field(default_factory=dict)
    branch_heads: dict[str, str] = field(default_factory=dict)


def iso(moment: datetime | None) -> str | None:
    """Netlify's timestamp format: UTC with milliseconds, e.g. 2024-05-01T12:00:00.000Z."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_moment(value: datetime | str | None, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"created_at must be an ISO 8601 time like 2024-05-01T12:00:00Z, not {value!r}") \
                from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def object_id() -> str:
    """A 24-hex-digit id, the shape Netlify uses for deploys, builds and hooks."""
    return secrets.token_hex(12)


def stable_id(*parts: str, length: int = 24) -> str:
    """The same id for the same parts: a UUID (site ids) when length is 0, else that many hex digits."""
    if length == 0:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "vibedash-netlify-sim:" + ":".join(parts)))
    return hashlib.sha1(":".join(parts).encode()).hexdigest()[:length]
