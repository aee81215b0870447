"""Deploys: record them from Netlify, find one, mark the live one, and their facts for retention."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from vibedash.decisions.facts import DeployFacts
from vibedash.registry.models import Deploy, Event, Version, utcnow
from vibedash.registry.results import primary_scores
from vibedash.registry.versions import SHA_RE, NotFound, RegistryError, find_version, record_version, short

DEPLOY_FIELDS = ("site_id", "commit_ref", "state", "context", "branch", "title", "permalink", "url",
                 "admin_url", "error_message", "created_at", "updated_at", "published_at", "locked")


def upsert_deploy(session: Session, netlify_id: str, **fields: Any) -> Deploy:
    """Create or update one deploy row by its Netlify id; links it to its version by commit_ref."""
    if not netlify_id or not re.match(r"^[A-Za-z0-9_-]{1,64}$", netlify_id):
        raise RegistryError(f"{netlify_id!r} is not a Netlify deploy id (letters, digits, - and _)")
    deploy = session.scalar(select(Deploy).where(Deploy.netlify_id == netlify_id))
    if deploy is None:
        deploy = Deploy(netlify_id=netlify_id, created_at=fields.get("created_at") or utcnow())
        session.add(deploy)
    for name in DEPLOY_FIELDS:
        if name in fields and fields[name] is not None:
            setattr(deploy, name, fields[name])
    commit = fields.get("commit_ref")
    if commit and SHA_RE.match(commit.lower()) and deploy.version_id is None:
        version = session.scalar(select(Version).where(Version.sha == commit.lower()))
        if version is None:
            version = record_version(session, commit, branch=fields.get("branch"),
                                     created_at=fields.get("created_at"))
        deploy.version = version
    session.flush()
    return deploy


def find_deploy(session: Session, deploy_id_or_sha: str) -> Deploy:
    """A deploy by Netlify id, or the newest ready deploy of a version given by sha."""
    text = (deploy_id_or_sha or "").strip()
    deploy = session.scalar(select(Deploy).where(Deploy.netlify_id == text))
    if deploy is not None:
        return deploy
    if SHA_RE.match(text.lower()):
        version = find_version(session, text)
        deploy = session.scalar(
            select(Deploy).where(Deploy.version_id == version.id, Deploy.expired_at.is_(None))
            .order_by((Deploy.state == "ready").desc(), Deploy.created_at.desc()).limit(1))
        if deploy is None:
            raise NotFound(f"version {short(version.sha)} has no deploy in the registry: run "
                           "`python -m vibedash sync`, or record one with `record --deploy-id`")
        return deploy
    raise NotFound(f"no deploy {text!r} in the registry: give a Netlify deploy id or a commit sha "
                   "(run `python -m vibedash sync` to fetch deploys)")


# "is_live = 1", the very condition of the partial index ix_deploy_live (SQLite matches a partial index only
# by the same term; "is_live IS 1" would scan every deploy).
IS_LIVE = Deploy.is_live == true()


def live_deploy(session: Session) -> Deploy | None:
    return session.scalar(select(Deploy).where(IS_LIVE).order_by(Deploy.published_at.desc()).limit(1))


def set_live(session: Session, netlify_id: str | None, *, locked: bool | None = None) -> None:
    """Mark exactly one deploy (or none) as live."""
    for deploy in session.scalars(select(Deploy).where(IS_LIVE)):
        if deploy.netlify_id != netlify_id:
            deploy.is_live = False
    if netlify_id:
        deploy = session.scalar(select(Deploy).where(Deploy.netlify_id == netlify_id))
        if deploy is not None:
            deploy.is_live = True
            if deploy.published_at is None:
                deploy.published_at = utcnow()
            if locked is not None:
                deploy.locked = locked
    session.flush()


def last_live_times(session: Session) -> dict[str, datetime]:
    """When each deploy last stopped being live, from the audit log's succeeded promotions and rollbacks."""
    last_live: dict[str, datetime] = {}
    for kind in ("promote", "rollback"):  # one seek each on (kind, status, started_at)
        for previous, finished in session.execute(
                select(Event.previous_live, Event.finished_at).where(Event.kind == kind, Event.status == "succeeded")):
            if previous and finished:
                last_live[previous] = max(finished, last_live.get(previous, finished))
    return last_live


def deploy_facts(session: Session, gate_passed: dict[str, bool] | None = None) -> list[DeployFacts]:
    """Facts about every deploy for the retention planner (plain columns, no ORM objects: a million deploys
    are read as tuples; a version's scores are one shared mapping, not a copy per deploy)."""
    rows = session.execute(select(
        Deploy.netlify_id, Deploy.created_at, Deploy.version_id, Deploy.branch, Deploy.context, Deploy.state,
        Deploy.is_live, Deploy.locked, Deploy.pinned, Deploy.expired_at.is_not(None), Deploy.published_at,
        Version.sha, Version.branch).outerjoin(Version, Version.id == Deploy.version_id)).all()
    scores = primary_scores(session, {row[2] for row in rows if row[2] is not None})
    last_live = last_live_times(session)
    verdicts = gate_passed or {}
    facts = []
    for (netlify_id, created_at, version_id, deploy_branch, context, state, is_live, locked, pinned, expired,
         published_at, sha, version_branch) in rows:
        seen_live = published_at
        if netlify_id in last_live:
            seen_live = max(filter(None, (seen_live, last_live[netlify_id])))
        facts.append(DeployFacts(
            netlify_id=netlify_id, created_at=created_at, sha=sha, branch=deploy_branch or version_branch,
            context=context, state=state, is_live=bool(is_live), locked=bool(locked), pinned=bool(pinned),
            expired=bool(expired), last_live_at=seen_live, gate_passed=verdicts.get(sha) if sha else None,
            scores=scores.get(version_id, {}) if version_id else {}))
    return facts
