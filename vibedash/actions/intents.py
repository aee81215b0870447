"""Intents: what an action set out to reach, so that a retry resumes it instead of starting something new.

An intent is written on the action's audit event as text, e.g. ``promote <site> <deploy> from <live>``. A
promote or rollback that did not finish (failed, partial, unknown, or a crashed ``started``) is *resumed* by
the next run of the same action when Netlify still shows either the live deploy it started from or its
target: same target, same expected live, and the gate's verdict from the first run (it is not judged again
against a deploy that this very intent made live).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, or_, select

from vibedash.registry.audit import REFUSED, UNFINISHED
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Event

LIVE_CHANGING = ("promote", "rollback")


def intent_text(kind: str, site_id: str, target: str | None, previous_live: str | None = None,
                *, with_previous: bool = True) -> str:
    text = f"{kind} {site_id} {target or '-'}"
    return f"{text} from {previous_live or 'nothing'}" if with_previous else text


@dataclass(frozen=True)
class PendingIntent:
    """An earlier run of an action that did not reach its goal."""

    event_id: int
    kind: str
    status: str
    target: str | None
    previous_live: str | None
    version_sha: str | None
    verdict: dict[str, Any] | None
    override: bool
    detail: dict[str, Any]


def _pending(event: Event) -> PendingIntent:
    return PendingIntent(event.id, event.kind, event.status, event.target, event.previous_live,
                         event.version_sha, event.verdict, bool(event.override), dict(event.detail or {}))


def unfinished_live_change(engine: Engine, site_id: str, kind: str) -> PendingIntent | None:
    """The site's latest promote or rollback (refusals aside), when it is of ``kind`` and did not finish.

    Anything that finished later (another promote or rollback) supersedes it: then there is nothing to resume.
    """
    with unit_of_work(engine) as session:
        latest = session.scalar(
            select(Event).where(Event.kind.in_(LIVE_CHANGING), Event.status != REFUSED,
                                or_(*(Event.intent.startswith(f"{k} {site_id} ", autoescape=True)
                                      for k in LIVE_CHANGING)))
            .order_by(Event.id.desc()).limit(1))
        if latest is None or latest.kind != kind or latest.status not in UNFINISHED:
            return None
        return _pending(latest)


def unfinished_trigger(engine: Engine, intent: str) -> PendingIntent | None:
    """The latest trigger of this intent, when its outcome is still unknown (a build may have started)."""
    with unit_of_work(engine) as session:
        latest = session.scalar(select(Event).where(Event.kind == "trigger", Event.intent == intent)
                                .order_by(Event.id.desc()).limit(1))
        if latest is None or latest.status not in ("started", "unknown"):
            return None
        return _pending(latest)
