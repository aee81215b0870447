"""The audit log as Promote shows it: the values its filters can take, and one page of events at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.generation import cached


@dataclass(frozen=True)
class EventFilterChoices:
    kinds: list[str]
    actors: list[str]
    statuses: list[str]


def event_filter_choices(engine: Engine) -> EventFilterChoices:
    """The values the audit log's filters can take: those present in the log."""
    with unit_of_work(engine) as session:
        def distinct(column: str) -> list[str]:
            # a skip scan over the column's index: one seek per distinct value, not a scan of the log
            return [value for value in registry.distinct_values(session, "event", column) if value]

        return cached(session, "event_filter_choices", None, lambda: EventFilterChoices(
            kinds=distinct("kind"), actors=distinct("actor"), statuses=distinct("status")))


AUDIT_PAGE_SIZE = 200  # events per page of the audit log


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first: the page actually shown (a page past the end becomes the last
    one), its events, and whether an older page exists."""

    page: int
    page_size: int
    events: list[dict[str, Any]]
    has_older: bool

    @property
    def first_number(self) -> int:
        """The position of the page's first event in the filtered log (1 = the newest)."""
        return (self.page - 1) * self.page_size + 1


def audit_log_page(session: Session, *, kind: str | None = None, actor: str | None = None,
                   status: str | None = None, page: int = 1, page_size: int = AUDIT_PAGE_SIZE) -> AuditPage:
    """Page ``page`` of the audit log (filters as :func:`vibedash.registry.records.events`).

    Reads that page alone, by offset, plus one event to know whether an older page exists: page 3 of a
    million events reads 201 rows, not 601. A page past the end (a stale link) is counted back to the last
    page there is; only then are the matching events counted.
    """
    page = max(1, page)

    def read(number: int) -> list[dict[str, Any]]:
        return registry.events(session, kind=kind, actor=actor, status=status, limit=page_size + 1,
                               offset=(number - 1) * page_size)

    rows = read(page)
    if not rows and page > 1:
        total = registry.count_events(session, kind=kind, actor=actor, status=status)
        page = max(1, -(-total // page_size))
        rows = read(page)
    return AuditPage(page=page, page_size=page_size, events=rows[:page_size], has_older=len(rows) > page_size)
