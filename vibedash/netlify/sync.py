"""Netlify to registry: incremental, idempotent, one transaction per sync.

A repeated sync with nothing new costs two requests (the site, then the first page of deploys); a first
sync of N deploys costs one request for the site plus about N/100 list requests. Only a full sync can see
which deploys Netlify no longer has: those are marked expired, never deleted (their scores stay).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from vibedash.netlify.client import NetlifyClient, NetlifyError, NetlifyNotFound
from vibedash.registry.audit import FAILED, SUCCEEDED, finish_event, start_event
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Deploy, Site, Version, utcnow

FINAL_STATES = {"ready", "error", "rejected", "old", "current", "processed"}
SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
PER_PAGE = 100
FULL_SYNC_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class SyncReport:
    site_id: str
    full: bool
    seen: int
    created: int
    updated: int
    expired: int
    live_deploy_id: str | None
    live_locked: bool
    requests: int

    def summary(self) -> str:
        kind = "full sync" if self.full else "sync"
        live = f"live {self.live_deploy_id}{' (locked)' if self.live_locked else ''}" if self.live_deploy_id \
            else "nothing live"
        return (f"{kind} of site {self.site_id}: {self.seen} deploys read, {self.created} new, {self.updated} "
                f"updated, {self.expired} marked expired; {live}; {self.requests} Netlify requests")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def deploy_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The registry's view of a Netlify `deploy` object (every field is optional in the spec)."""
    commit = (data.get("commit_ref") or "").lower() or None
    return {
        "site_id": data.get("site_id"),
        "commit_ref": commit if commit and SHA_RE.match(commit) else None,
        "state": data.get("state") or "unknown",
        "context": data.get("context"),
        "branch": data.get("branch"),
        "title": data.get("title"),
        "permalink": data.get("deploy_ssl_url") or data.get("deploy_url"),
        "url": data.get("ssl_url") or data.get("url"),
        "admin_url": data.get("admin_url"),
        "error_message": data.get("error_message"),
        "created_at": parse_time(data.get("created_at")),
        "updated_at": parse_time(data.get("updated_at")),
        "published_at": parse_time(data.get("published_at")),
        "locked": bool(data.get("locked")),
    }


def sync_site(engine: Engine, client: NetlifyClient, site_id: str, *, actor: str, full: bool | None = None,
              progress: Callable[[int, int], None] | None = None) -> SyncReport:
    """Pull the site's deploys into the registry. ``full=None``: full when none was done in the last day."""
    event_id = start_event(engine, kind="sync", actor=actor, target=site_id)
    requests_before = client.request_count
    try:
        report = _sync(engine, client, site_id, full=full, progress=progress, requests_before=requests_before)
    except NetlifyError as exc:
        finish_event(engine, event_id, FAILED, error=str(exc))
        raise
    except Exception as exc:
        finish_event(engine, event_id, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finish_event(engine, event_id, SUCCEEDED, detail={
        "full": report.full, "seen": report.seen, "created": report.created, "updated": report.updated,
        "expired": report.expired, "live": report.live_deploy_id, "requests": report.requests})
    return report


def _sync(engine: Engine, client: NetlifyClient, site_id: str, *, full: bool | None,
          progress: Callable[[int, int], None] | None, requests_before: int) -> SyncReport:
    site = client.get_site(site_id)
    published = site.get("published_deploy") or {}
    with unit_of_work(engine) as session:
        site_row = session.get(Site, site_id)
        known = {d.netlify_id: (d.updated_at, d.state, d.expired_at)
                 for d in session.scalars(select(Deploy).where(Deploy.site_id == site_id))}
    if full is None:
        # Only a full read can notice deploys Netlify deleted; once a day keeps expiry current at ~N/100 requests.
        full = (site_row is None or site_row.last_full_sync_at is None
                or utcnow() - site_row.last_full_sync_at > FULL_SYNC_EVERY)

    fetched: dict[str, dict[str, Any]] = {}
    for data in client.list_site_deploys(site_id, per_page=PER_PAGE, on_page=progress):
        deploy_id = data.get("id")
        if not deploy_id:
            continue
        if not full and _unchanged(known.get(deploy_id), data):
            # Netlify lists newest first and a deploy's build is immutable: past the first deploy we already
            # have as it is, everything is known (unfinished builds are re-read one by one below).
            break
        fetched[deploy_id] = data
    if not full:
        # Deploys that were still building last time may have finished on a page we did not read.
        for deploy_id, (_, state, expired) in known.items():
            if deploy_id not in fetched and expired is None and state not in FINAL_STATES:
                try:
                    fetched[deploy_id] = client.get_deploy(deploy_id)
                except NetlifyNotFound:
                    pass

    now = utcnow()
    created = updated = expired = 0
    with unit_of_work(engine) as session:
        rows = {d.netlify_id: d for d in session.scalars(select(Deploy).where(Deploy.site_id == site_id))}
        shas = {f["commit_ref"] for f in map(deploy_fields, fetched.values()) if f["commit_ref"]}
        versions = {v.sha: v for v in session.scalars(select(Version).where(Version.sha.in_(shas)))} if shas else {}
        for deploy_id, data in fetched.items():
            fields = deploy_fields(data)
            fields["site_id"] = fields["site_id"] or site_id
            row = rows.get(deploy_id)
            if row is None:
                row = Deploy(netlify_id=deploy_id, created_at=fields["created_at"] or now)
                session.add(row)
                rows[deploy_id] = row
                created += 1
            elif _unchanged(known.get(deploy_id), data):
                row.synced_at = now
                continue
            else:
                updated += 1
            for name, value in fields.items():
                if value is not None or name in ("published_at", "error_message"):
                    setattr(row, name, value)
            row.expired_at = None
            row.synced_at = now
            sha = fields["commit_ref"]
            if sha and row.version_id is None:
                version = versions.get(sha)
                if version is None:
                    version = Version(sha=sha, branch=fields["branch"], created_at=fields["created_at"] or now,
                                      message=fields["title"])
                    session.add(version)
                    versions[sha] = version
                row.version = version
        if full:
            for deploy_id, row in rows.items():
                if deploy_id not in fetched and row.expired_at is None:
                    row.expired_at = now
                    row.is_live = False
                    expired += 1
        live_id = published.get("id")
        for row in rows.values():
            should_be_live = row.netlify_id == live_id
            if row.is_live != should_be_live:
                row.is_live = should_be_live
        if live_id and live_id in rows:
            rows[live_id].locked = bool(published.get("locked"))
            if rows[live_id].published_at is None:
                rows[live_id].published_at = parse_time(published.get("published_at")) or now
        if site_row is None:
            site_row = Site(id=site_id)
            session.add(site_row)
        else:
            site_row = session.merge(site_row)
        site_row.name = site.get("name") or site_row.name
        site_row.url = site.get("ssl_url") or site.get("url") or site_row.url
        site_row.admin_url = site.get("admin_url") or site_row.admin_url
        site_row.published_deploy_id = live_id
        site_row.last_synced_at = now
        if full:
            site_row.last_full_sync_at = now
    return SyncReport(site_id=site_id, full=bool(full), seen=len(fetched), created=created, updated=updated,
                      expired=expired, live_deploy_id=live_id, live_locked=bool(published.get("locked")),
                      requests=client.request_count - requests_before)


def _unchanged(known: tuple[datetime | None, str, datetime | None] | None, data: dict[str, Any]) -> bool:
    if known is None:
        return False
    updated_at, state, expired = known
    return (expired is None and state == (data.get("state") or "unknown")
            and updated_at is not None and updated_at == parse_time(data.get("updated_at")))
