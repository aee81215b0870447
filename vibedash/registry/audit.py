"""The audit log: every action writes its event before it calls out and finishes it after.

A crash between the two leaves a visible ``started`` event; a retry is safe because actions re-read
the world (Netlify, the registry) before acting.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Event, utcnow

STARTED, SUCCEEDED, FAILED, PARTIAL = "started", "succeeded", "failed", "partial"


def start_event(engine: Engine, *, kind: str, actor: str, target: str | None = None,
                version_sha: str | None = None, previous_live: str | None = None, reason: str | None = None,
                verdict: dict[str, Any] | None = None, override: bool = False,
                detail: dict[str, Any] | None = None) -> int:
    """Write and commit a ``started`` event; returns its id."""
    with unit_of_work(engine) as session:
        event = Event(kind=kind, actor=actor, target=target, version_sha=version_sha,
                      previous_live=previous_live, reason=reason, verdict=verdict, override=override,
                      detail=detail, status=STARTED)
        session.add(event)
        session.flush()
        return event.id


def finish_event(engine: Engine, event_id: int, status: str, *, error: str | None = None,
                 detail: dict[str, Any] | None = None) -> None:
    """Mark the event succeeded, failed or partial (with the error a person can act on)."""
    with unit_of_work(engine) as session:
        event = session.get(Event, event_id)
        if event is None:
            raise LookupError(f"no audit event {event_id}")
        event.status = status
        event.error = error
        event.finished_at = utcnow()
        if detail:
            event.detail = {**(event.detail or {}), **detail}


def record_event(engine: Engine, *, kind: str, actor: str, status: str = SUCCEEDED, **fields: Any) -> int:
    """A local action with nothing to call out to (pin, import): one finished event."""
    with unit_of_work(engine) as session:
        event = Event(kind=kind, actor=actor, status=status, finished_at=utcnow(), **fields)
        session.add(event)
        session.flush()
        return event.id


def latest_events(engine: Engine, limit: int = 50) -> list[Event]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Event).order_by(Event.started_at.desc(), Event.id.desc()).limit(limit)))
