"""The audit log: every action writes its event before it calls out and finishes it after.

A crash between the two leaves a visible ``started`` event; a retry is safe because actions re-read
the world (Netlify, the registry) before acting.

Two more things live here because they must be decided in the database, not in one process:

- the *claim*: an action that changes what is live on a site holds ``event.claim = "site:<id>"`` while it
  runs. The column is unique, so a second such action on the same site cannot start until the first one
  finishes (two promotes launched together: one runs, the other is refused), on SQLite and PostgreSQL alike;
- redaction: every text written to the log goes through :func:`vibedash.redact.redact` first, so no token,
  hook id or password reaches the database whatever an error message quoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vibedash.redact import redact, redact_data
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Event, utcnow

STARTED, SUCCEEDED, FAILED, PARTIAL = "started", "succeeded", "failed", "partial"
# refused: nothing was attempted (gate failed, site changed, another action running).
# unknown: a change may or may not have happened (every answer lost and nothing could be read back).
REFUSED, UNKNOWN = "refused", "unknown"
UNFINISHED = (STARTED, FAILED, PARTIAL, UNKNOWN)

# A claim older than this is taken to belong to a process that died (kill -9, power loss) and is taken
# over. It is longer than any action can run: a handful of Netlify calls, each bounded by the client's
# timeouts and retry budget.
CLAIM_STALE_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class ClaimHolder:
    """The action that holds a site's claim (for the refusal message)."""

    event_id: int
    kind: str
    target: str | None
    actor: str
    started_at: datetime

    def describe(self) -> str:
        return (f"{self.kind} of {self.target or 'the site'} by {self.actor}, event #{self.event_id}, started "
                f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC")


class ClaimHeld(RuntimeError):
    """Another live-changing action on the same site is running (its event holds the claim)."""

    def __init__(self, holder: ClaimHolder) -> None:
        released = holder.started_at + CLAIM_STALE_AFTER
        super().__init__(f"another action is changing this site right now ({holder.describe()}): wait for it "
                         f"to finish and run this again (if that process died, its claim lapses at "
                         f"{released:%H:%M:%S} UTC)")
        self.holder = holder


def site_claim(site_id: str) -> str:
    return f"site:{site_id}"


def start_event(engine: Engine, *, kind: str, actor: str, target: str | None = None,
                version_sha: str | None = None, previous_live: str | None = None, reason: str | None = None,
                verdict: dict[str, Any] | None = None, override: bool = False,
                detail: dict[str, Any] | None = None, intent: str | None = None, claim: str | None = None) -> int:
    """Write and commit a ``started`` event; returns its id.

    With ``claim``, the event holds it until :func:`finish_event`; raises :class:`ClaimHeld` when a running
    action holds it already (a stale claim is taken over, its event marked ``unknown``).
    """
    fields = dict(kind=kind, actor=actor, target=target, version_sha=version_sha, previous_live=previous_live,
                  reason=redact(reason), verdict=verdict, override=override, detail=redact_data(detail),
                  status=STARTED, intent=intent)
    if claim is None:
        return _insert(engine, fields)
    for _attempt in range(2):
        try:
            return _insert(engine, {**fields, "claim": claim})
        except IntegrityError:
            holder = claim_holder(engine, claim)
            if holder is None:
                continue  # released between our insert and our look: try once more
            if utcnow() - holder.started_at < CLAIM_STALE_AFTER:
                raise ClaimHeld(holder) from None
            _release_stale(engine, holder)
    holder = claim_holder(engine, claim)
    if holder is not None:
        raise ClaimHeld(holder)
    return _insert(engine, {**fields, "claim": claim})


def _insert(engine: Engine, fields: dict[str, Any]) -> int:
    with unit_of_work(engine) as session:
        event = Event(**fields)
        session.add(event)
        session.flush()
        return event.id


def claim_holder(engine: Engine, claim: str) -> ClaimHolder | None:
    with unit_of_work(engine) as session:
        event = session.scalar(select(Event).where(Event.claim == claim))
        if event is None:
            return None
        return ClaimHolder(event.id, event.kind, event.target, event.actor, event.started_at)


def _release_stale(engine: Engine, holder: ClaimHolder) -> None:
    with unit_of_work(engine) as session:
        session.execute(update(Event).where(Event.id == holder.event_id, Event.status == STARTED).values(
            status=UNKNOWN, finished_at=utcnow(),
            error="interrupted: the process running it ended before it finished; its claim on the site was "
                  "released after it went stale. Check Netlify's real state (the next action reads it first)."))
        session.execute(update(Event).where(Event.id == holder.event_id).values(claim=None))


def finish_event(engine: Engine, event_id: int, status: str, *, error: str | None = None,
                 detail: dict[str, Any] | None = None) -> None:
    """Mark the event succeeded, failed, partial or unknown (with the error a person can act on); release its
    claim."""
    with unit_of_work(engine) as session:
        event = session.get(Event, event_id)
        if event is None:
            raise LookupError(f"no audit event {event_id}")
        event.status = status
        event.error = redact(error)
        event.finished_at = utcnow()
        event.claim = None
        if detail:
            event.detail = redact_data({**(event.detail or {}), **detail})


def record_event(engine: Engine, *, kind: str, actor: str, status: str = SUCCEEDED, **fields: Any) -> int:
    """A local action with nothing to call out to (pin, import), or a refusal: one finished event."""
    with engine.begin() as conn:
        return record_event_in(conn, kind=kind, actor=actor, status=status, **fields)


# Built once (a statement object keeps its cache key); the values come as parameters at each execution.
_INSERT_EVENT = insert(Event)
_EVENT_COLUMNS = frozenset(Event.__table__.columns.keys())


def record_event_in(session_or_connection: Session | Connection, *, kind: str, actor: str,
                    status: str = SUCCEEDED, **fields: Any) -> int:
    """As :func:`record_event`, inside the caller's transaction: the change and its audit line commit together
    or not at all (an import is never stored without its line, nor its line without it)."""
    unknown = fields.keys() - _EVENT_COLUMNS
    if unknown:  # parameters a statement has no column for would be dropped without a word
        raise TypeError(f"record_event_in() got fields the audit log has no column for: {', '.join(sorted(unknown))}")
    for name in ("reason", "error"):
        if name in fields:
            fields[name] = redact(fields[name])
    if "detail" in fields:
        fields["detail"] = redact_data(fields["detail"])
    # One Core INSERT (no ORM unit of work): imports record an event per version, so this is on ingestion's path.
    conn = session_or_connection.connection() if isinstance(session_or_connection, Session) else session_or_connection
    result = conn.execute(_INSERT_EVENT, {"kind": kind, "actor": actor, "status": status, "finished_at": utcnow(),
                                          **fields})
    return int(result.inserted_primary_key[0])


def latest_events(engine: Engine, limit: int = 50) -> list[Event]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Event).order_by(Event.started_at.desc(), Event.id.desc()).limit(limit)))
