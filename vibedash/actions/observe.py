"""Reading Netlify's real state, as every action does first and after every change.

Two rules come from how answers go wrong: a single 404 is not proof that a deploy is gone (a lagging replica
may say so for a moment), and a single read-back that says "not applied" is not proof either (a stale cache
may answer). Both are confirmed by a second read a moment later before an action relies on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, select

from vibedash.netlify.client import NetlifyClient, NetlifyError, NetlifyNotFound
from vibedash.netlify.sync import deploy_fields
from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Deploy, Site

T = TypeVar("T")

# Pause before confirming a surprising read (a 404, a change that did not seem to land). Tests shorten it.
CONFIRM_PAUSE_S = 0.5


@dataclass(frozen=True)
class LiveState:
    """What Netlify says is live on a site, and whether it is locked."""

    live_id: str | None
    locked: bool

    def describe(self) -> str:
        if self.live_id is None:
            return "nothing is live"
        return f"{self.live_id} is live and {'locked' if self.locked else 'unlocked'}"


def read_live(client: NetlifyClient, site_id: str) -> LiveState:
    published = client.get_site(site_id).get("published_deploy") or {}
    return LiveState(published.get("id"), bool(published.get("locked")))


def pause() -> None:
    if CONFIRM_PAUSE_S > 0:
        time.sleep(CONFIRM_PAUSE_S)


def existing_deploy(client: NetlifyClient, deploy_id: str) -> dict[str, Any] | None:
    """The deploy, or None when Netlify says twice, a moment apart, that it has no such deploy."""
    try:
        return client.get_deploy(deploy_id)
    except NetlifyNotFound:
        pause()
    try:
        return client.get_deploy(deploy_id)
    except NetlifyNotFound:
        return None


def before_any_change(call: Callable[[], T], doing: str) -> T:
    """Run a read that comes before any change: a Netlify failure then means nothing changed."""
    from vibedash.actions.outcomes import ActionError, outcome_of_netlify_error

    try:
        return call()
    except NetlifyError as exc:
        raise ActionError(f"{doing} failed ({exc}); nothing was changed", outcome=outcome_of_netlify_error(exc)) \
            from None


def sha_of(engine: Engine, deploy_id: str | None) -> str | None:
    if not deploy_id:
        return None
    with unit_of_work(engine) as session:
        row = session.scalar(select(Deploy).where(Deploy.netlify_id == deploy_id))
        return row.version.sha if row is not None and row.version is not None else None


def resolve_deploy(engine: Engine, client: NetlifyClient, target: str) -> tuple[str, str | None]:
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


def note_live(engine: Engine, site_id: str, state: LiveState) -> None:
    """Bring the registry's idea of live (and of the lock) in line with what Netlify just said."""
    with unit_of_work(engine) as session:
        registry.set_live(session, state.live_id, locked=state.locked)
        site = session.get(Site, site_id) or Site(id=site_id)
        site.published_deploy_id = state.live_id
        session.add(site)
