"""The deploys a deploy rule could keep, read whole or patched from an earlier plan's.

The deploy rules (live, pinned, building, once live, young, newest on a branch) look at a few deploys: every
one live, pinned, building or in an unknown state, once live (a rollback target), younger than the grace period,
or a version's newest on a branch. Reading them is a handful of indexed reads, a thousand rows on a big
registry, after every write. A plan made just after another one reads instead only the candidates of the
versions marked changed since (``version_deploy_summary.changed_generation``: migrations 0011 and 0012 mark a
version whenever a column these rules read changes on one of its deploys), takes the deploys without a version
from the plan's own read of them, and keeps the rest of the earlier plan's candidates that are candidates still.
It falls back to the whole read whenever something it cannot see by version changed: the audit log's record of
what was live, or time running backwards.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Select, and_, bindparam, or_, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.elements import BindParameter

from vibedash.decisions.retention.terms import FAILED_STATES, RESTORABLE_STATES
from vibedash.registry.models import Deploy
from vibedash.registry.records import distinct_values
from vibedash.registry.retention.facts import (
    DeployRow,
    deploys_by_id,
    deploys_where,
    facts_query,
    rows_of,
)

_SETTLED = sorted(RESTORABLE_STATES | FAILED_STATES)
_CHUNK = 500  # versions per read of their candidates


@dataclass(frozen=True)
class RuleCandidates:
    """The deploys a deploy rule could keep, and what they were chosen by."""

    rows: tuple[DeployRow, ...]
    last_live: dict[str, datetime]
    grace_start: datetime | None
    head_pks: frozenset[int]
    patched: bool  # read from an earlier plan's candidates and the versions changed since


def is_candidate(row: DeployRow, last_live: dict[str, datetime], grace_start: datetime | None,
                 head_pks: frozenset[int]) -> bool:
    """What the reads of :func:`read_candidates` choose, asked of one deploy already read."""
    d = row.facts
    if d.is_live or d.netlify_id in last_live or row.pk in head_pks:
        return True
    if d.expired:
        return False
    # last_live_at is the deploy's published_at unless the audit log saw it live (then it is in last_live)
    building = bool(d.state) and d.state not in RESTORABLE_STATES and d.state not in FAILED_STATES
    young = grace_start is not None and d.created_at > grace_start
    return d.pinned or d.last_live_at is not None or building or young


def read_candidates(session: Session, last_live: dict[str, datetime], grace_start: datetime | None,
                    head_pks: Sequence[int], loose: Sequence[DeployRow], previous: RuleCandidates | None = None,
                    changed_versions: np.ndarray | None = None) -> RuleCandidates:
    """Every deploy a deploy rule could keep. ``previous``: an earlier plan's candidates, and
    ``changed_versions`` the versions marked changed since they were read (None: unknown); ``loose``: every
    deploy without a version, as just read."""
    heads = frozenset(head_pks)
    # the earlier candidates hold every young deploy the grace period now covers (the young ones start no
    # earlier than before)
    young_held = grace_start is None or (previous is not None and previous.grace_start is not None
                                         and previous.grace_start <= grace_start)
    if previous is not None and changed_versions is not None and previous.last_live == last_live and young_held:
        rows = _patched(session, previous, last_live, grace_start, heads, loose, changed_versions)
        return RuleCandidates(_by_pk(rows), last_live, grace_start, heads, patched=True)
    return RuleCandidates(_by_pk(_whole(session, last_live, grace_start, heads)), last_live, grace_start, heads,
                          patched=False)


def _by_pk(rows: Iterable[DeployRow]) -> tuple[DeployRow, ...]:
    # one order however they were read: a version's reasons list its kept deploys' reasons in this order
    return tuple(sorted(rows, key=lambda row: row.pk))


def _conditions(grace_start: datetime | BindParameter | None, building: Iterable[str] | None) -> list[ColumnElement]:
    """One condition per rule, each answered by an index. ``building``: the states to read as building (None:
    every state but the settled ones)."""
    open_ = Deploy.expired_at.is_(None)
    # "= 1", not "IS 1": the partial index of live deploys (is_live = 1) then answers it
    conditions = [Deploy.is_live == true(), and_(Deploy.pinned == true(), open_),
                  and_(open_, Deploy.published_at.is_not(None))]
    if building is None:
        conditions.append(and_(open_, Deploy.state.not_in(_SETTLED), Deploy.state != ""))
    elif building:
        conditions.append(and_(open_, Deploy.state.in_(list(building))))
    if grace_start is not None:
        conditions.append(and_(open_, Deploy.created_at > grace_start))
    return conditions


@functools.cache
def _changed_versions_query(grace: bool) -> Select:
    """The candidates of some versions (parameters: ``versions``, a list, and ``grace_start``): built once, the
    statement's compiled form is then cached too (a plan after a write reads it every time)."""
    grace_start = bindparam("grace_start", type_=Deploy.created_at.type) if grace else None
    return facts_query(Deploy.version_id.in_(bindparam("versions", expanding=True)),
                       or_(*_conditions(grace_start, None)))


def _whole(session: Session, last_live: dict[str, datetime], grace_start: datetime | None,
           heads: frozenset[int]) -> tuple[DeployRow, ...]:
    building = [s for s in distinct_values(session, "deploy", "state")
                if s and s not in RESTORABLE_STATES and s not in FAILED_STATES]
    found: dict[int, DeployRow] = {}
    for condition in _conditions(grace_start, building):  # one indexed read each (an OR of them would scan)
        for row in deploys_where(session, last_live, condition):
            found[row.pk] = row
    for row in deploys_by_id(session, last_live, netlify_ids=sorted(last_live), pks=sorted(heads)):
        found[row.pk] = row
    return tuple(found.values())


def _patched(session: Session, previous: RuleCandidates, last_live: dict[str, datetime],
             grace_start: datetime | None, heads: frozenset[int], loose: Sequence[DeployRow],
             changed_versions: np.ndarray) -> tuple[DeployRow, ...]:
    changed = set(changed_versions.tolist())
    found: dict[int, DeployRow] = {}
    for row in previous.rows:  # unchanged, so a candidate still unless time or the branch heads moved on
        if row.version_id is not None and row.version_id not in changed and is_candidate(row, last_live,
                                                                                         grace_start, heads):
            found[row.pk] = row
    ids = sorted(changed)
    query = _changed_versions_query(grace_start is not None)
    for start in range(0, len(ids), _CHUNK):  # the changed versions' candidates, through deploy.version_id
        for row in rows_of(session, query, last_live, {"versions": ids[start:start + _CHUNK],
                                                        "grace_start": grace_start}):
            found[row.pk] = row
    for row in loose:
        if is_candidate(row, last_live, grace_start, heads):
            found[row.pk] = row
    # what the audit log saw live and branch heads, not found above (of a changed version, a deploy that had
    # no version before, one not in the registry): by Netlify id and by id
    found_ids = {row.facts.netlify_id for row in found.values()}
    again = [netlify_id for netlify_id in last_live if netlify_id not in found_ids]
    missing = [pk for pk in heads if pk not in found]
    if again or missing:
        for row in deploys_by_id(session, last_live, netlify_ids=sorted(again), pks=sorted(missing)):
            found[row.pk] = row
    return tuple(found.values())
