"""What the retention plan reads from the registry, in narrow queries that never hold every deploy in memory.

The plan needs one row per version (its headline scores, its gate verdict, when it first appeared, how many of its
deploys are expired, failed or restorable, and its newest restorable deploy), the few deploys a deploy rule can
keep (live, pinned, building, rollback targets, young ones, the newest per branch), and then a page of deploys at
a time. Per-version figures come from GROUP BY and window queries the database answers in one pass; nothing here
decides anything (that is :mod:`vibedash.decisions.retention`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import String, and_, bindparam, cast, func, or_, select, text, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from vibedash.decisions.facts import DeployFacts
from vibedash.decisions.retention_terms import FAILED_STATES, RESTORABLE_STATES
from vibedash.registry.models import BenchmarkResult, Deploy, Event, Version

_RESTORABLE = sorted(RESTORABLE_STATES)
CHUNK = 20_000  # rows read at a time from the registry's big reads


def stream(session: Session, query, chunk: int = CHUNK) -> Iterator[Sequence[Any]]:
    """The query's rows a chunk at a time (a server-side cursor where the database has one)."""
    result = session.execute(query, execution_options={"yield_per": chunk})
    for part in result.partitions(chunk):
        yield part

_FAILED = sorted(FAILED_STATES)


def as_utc(raw: Any) -> datetime:
    """A stored moment as an aware UTC datetime (SQLite returns text for untyped columns, PostgreSQL datetimes)."""
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=timezone.utc) if raw.tzinfo is None else raw.astimezone(timezone.utc)
    return datetime.fromisoformat(str(raw)).replace(tzinfo=timezone.utc)


def as_datetime64(values: Sequence[Any]) -> np.ndarray:
    """Stored moments as numpy UTC datetimes (microseconds), for sorting a hundred thousand of them at once."""
    if values and isinstance(values[0], datetime):
        values = [as_utc(v).replace(tzinfo=None) for v in values]
    return np.array(values, dtype="datetime64[us]")


@dataclass(frozen=True)
class VersionDeployFigures:
    """Per version with at least one deploy, ordered by version id (arrays of equal length)."""

    version_ids: np.ndarray  # int64, ascending
    shas: list[str]
    branches: list[str | None]
    first_deploy: np.ndarray  # datetime64[us]: when it appeared
    newest_deploy: np.ndarray  # datetime64[us]
    deploys: np.ndarray  # every deploy
    expired: np.ndarray  # expired and not live (the plan's "expired" unless a rule keeps them: none does)
    failed_open: np.ndarray  # failed builds Netlify still has
    restorable_open: np.ndarray  # restorable deploys Netlify still has


def version_deploy_figures(session: Session) -> VersionDeployFigures:
    """One GROUP BY over the deploys: the figures of every version that has a deploy."""
    expired = and_(Deploy.expired_at.is_not(None), Deploy.is_live.is_(False))
    failed_open = and_(Deploy.expired_at.is_(None), Deploy.state.in_(_FAILED))
    restorable_open = and_(Deploy.expired_at.is_(None), Deploy.state.in_(_RESTORABLE))

    def count(condition: ColumnElement) -> ColumnElement:
        return func.count().filter(condition)

    first = func.min(cast(Deploy.created_at, String)) if session.bind.dialect.name == "sqlite" else \
        func.min(Deploy.created_at)
    newest = func.max(cast(Deploy.created_at, String)) if session.bind.dialect.name == "sqlite" else \
        func.max(Deploy.created_at)
    query = (select(Deploy.version_id, first, newest, func.count(), count(expired), count(failed_open),
                    count(restorable_open)).group_by(Deploy.version_id).order_by(Deploy.version_id)
             .where(Deploy.version_id.is_not(None)))
    # streamed a chunk at a time into arrays: a hundred thousand rows of tuples would briefly cost far more
    int_parts: list[np.ndarray] = []
    first_parts: list[np.ndarray] = []
    newest_parts: list[np.ndarray] = []
    for part in stream(session, query):
        columns = list(zip(*part))
        int_parts.append(np.array([columns[0], *columns[3:]], dtype=np.int64))
        first_parts.append(as_datetime64(columns[1]))
        newest_parts.append(as_datetime64(columns[2]))
    ints = list(np.concatenate(int_parts, axis=1)) if int_parts else [np.zeros(0, dtype=np.int64)] * 5
    firsts = np.concatenate(first_parts) if first_parts else np.zeros(0, dtype="datetime64[us]")
    newests = np.concatenate(newest_parts) if newest_parts else np.zeros(0, dtype="datetime64[us]")
    # the versions' own columns, read by primary key order alongside (a join in the GROUP BY would sort)
    shas: list[str] = []
    branches: list[str | None] = []
    ids = ints[0].tolist()
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        found = dict((vid, (sha, branch)) for vid, sha, branch in session.execute(
            select(Version.id, Version.sha, Version.branch).where(Version.id.between(part[0], part[-1]))))
        for vid in part:
            sha, branch = found[vid]
            shas.append(sha)
            branches.append(branch)
    return VersionDeployFigures(version_ids=ints[0], shas=shas, branches=branches,
                                first_deploy=firsts, newest_deploy=newests,
                                deploys=ints[1], expired=ints[2], failed_open=ints[3], restorable_open=ints[4])


def headline_scores(session: Session, version_ids: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """(benchmarks, matrix): every version's headline score per benchmark (NaN: none), rows as ``version_ids``."""
    query = (select(BenchmarkResult.version_id, BenchmarkResult.benchmark, BenchmarkResult.score)
             .where(BenchmarkResult.is_primary.is_(True)))
    columns: dict[str, np.ndarray] = {}  # benchmark -> its column of scores
    for part in stream(session, query):
        if not len(version_ids):
            break
        ids, names, scores = zip(*part)
        ids_array = np.array(ids, dtype=np.int64)
        where = np.clip(np.searchsorted(version_ids, ids_array), 0, len(version_ids) - 1)
        present = version_ids[where] == ids_array
        names_array = np.array(names, dtype=object)
        values = np.array(scores, dtype=float)
        for name in set(names):
            mask = present & (names_array == name)
            column = columns.setdefault(name, np.full(len(version_ids), np.nan))
            column[where[mask]] = values[mask]
    benchmarks = tuple(sorted(columns))
    matrix = (np.column_stack([columns[b] for b in benchmarks]) if benchmarks
              else np.zeros((len(version_ids), 0)))
    # only benchmarks some version with a deploy has (the plan judges those)
    keep = ~np.isnan(matrix).all(axis=0) if len(version_ids) else np.zeros(len(benchmarks), dtype=bool)
    return tuple(b for b, k in zip(benchmarks, keep) if k), matrix[:, keep]


def gate_verdicts(session: Session) -> dict[str, bool]:
    """The latest recorded gate verdict of each version (from `gate` runs and promotions): one row per version
    from the database, newest first, parsed here; a version whose newest verdict has no "passed" falls back to
    its whole history (rare)."""
    has_verdict = and_(Event.version_sha.is_not(None), Event.verdict.is_not(None),
                       cast(Event.verdict, String).like('%"passed"%'))
    rank = func.row_number().over(partition_by=Event.version_sha,
                                  order_by=(Event.started_at.desc(), Event.id.desc())).label("rank")
    newest = select(Event.version_sha, Event.verdict, rank).where(has_verdict).subquery()
    passed: dict[str, bool] = {}
    unsure: list[str] = []
    newest_first = select(newest.c.version_sha, newest.c.verdict).where(newest.c.rank == 1)
    for sha, verdict in (row for part in stream(session, newest_first) for row in part):
        verdict = json.loads(verdict) if isinstance(verdict, str) else verdict
        if isinstance(verdict, dict) and "passed" in verdict:
            passed[sha] = bool(verdict["passed"])
        else:
            unsure.append(sha)
    for start in range(0, len(unsure), 500):
        rows = session.execute(select(Event.version_sha, Event.verdict).where(
            has_verdict, Event.version_sha.in_(unsure[start:start + 500])).order_by(Event.started_at, Event.id))
        for sha, verdict in rows:
            if isinstance(verdict, dict) and "passed" in verdict:
                passed[sha] = bool(verdict["passed"])
    return passed


def last_live_times(session: Session) -> dict[str, datetime]:
    """When each deploy last stopped being live, from the audit log's succeeded promotions and rollbacks."""
    last_live: dict[str, datetime] = {}
    for kind in ("promote", "rollback"):  # one seek each on (kind, status, started_at)
        for previous, finished in session.execute(
                select(Event.previous_live, Event.finished_at).where(Event.kind == kind, Event.status == "succeeded")):
            if previous and finished:
                last_live[previous] = max(finished, last_live.get(previous, finished))
    return last_live


@dataclass(frozen=True)
class Representative:
    """A version's newest restorable deploy."""

    version_id: int | None  # None: a deploy without a version (a version of its own)
    deploy_pk: int
    netlify_id: str
    created_at: Any  # as stored (see as_utc)


_NEWEST_RESTORABLE = """
WITH open_deploys AS (
  SELECT d.id AS id, d.version_id AS version_id, d.netlify_id AS netlify_id, d.created_at AS created_at,
         CASE WHEN d.branch IS NULL OR d.branch = '' THEN v.branch ELSE d.branch END AS b
  FROM deploy d LEFT JOIN version v ON v.id = d.version_id
  WHERE d.expired_at IS NULL AND d.state IN :restorable),
ranked AS (
  SELECT id, version_id, netlify_id, created_at, b,
         ROW_NUMBER() OVER (PARTITION BY COALESCE(version_id, -id) ORDER BY created_at DESC, netlify_id) AS in_version,
         ROW_NUMBER() OVER (PARTITION BY b, COALESCE(version_id, -id) ORDER BY created_at DESC, netlify_id) AS in_branch
  FROM open_deploys),
heads AS (
  SELECT id, b, ROW_NUMBER() OVER (PARTITION BY b ORDER BY created_at DESC, netlify_id) AS branch_rank
  FROM ranked WHERE in_branch = 1 AND b IS NOT NULL AND b <> '')
SELECT r.version_id, r.id, r.netlify_id, r.created_at, r.in_version, h.b
FROM ranked r LEFT JOIN heads h ON h.id = r.id AND h.branch_rank <= :heads
WHERE r.in_version = 1 OR h.id IS NOT NULL
"""


def newest_restorable(session: Session, heads_per_branch: int) -> tuple[list[Representative], list[int]]:
    """(each version's newest restorable deploy, the deploy ids of the ``heads_per_branch`` newest versions'
    newest restorable deploy on every branch), in one pass of window functions over the restorable deploys."""
    query = text(_NEWEST_RESTORABLE).bindparams(bindparam("restorable", _RESTORABLE, expanding=True),
                                                bindparam("heads", max(0, heads_per_branch)))
    representatives: list[Representative] = []
    heads: list[int] = []
    for version_id, pk, netlify_id, created_at, in_version, branch in (row for part in stream(session, query)
                                                                          for row in part):
        if in_version == 1:
            representatives.append(Representative(version_id, pk, netlify_id, created_at))
        if branch is not None and heads_per_branch > 0:
            heads.append(pk)
    return representatives, heads


# --- deploy facts, a few at a time ---------------------------------------------------------------------------

_FACT_COLUMNS = (Deploy.id, Deploy.netlify_id, Deploy.created_at, Deploy.version_id, Deploy.branch, Deploy.context,
                 Deploy.state, Deploy.is_live, Deploy.locked, Deploy.pinned, Deploy.expired_at.is_not(None),
                 Deploy.published_at, Version.sha, Version.branch)


@dataclass(frozen=True)
class DeployRow:
    pk: int
    version_id: int | None
    facts: DeployFacts


def _rows(session: Session, query, last_live: dict[str, datetime]) -> list[DeployRow]:
    out = []
    for (pk, netlify_id, created_at, version_id, deploy_branch, context, state, is_live, locked, pinned, expired,
         published_at, sha, version_branch) in session.execute(query):
        seen_live = published_at
        if netlify_id in last_live:
            seen_live = max(filter(None, (seen_live, last_live[netlify_id])))
        out.append(DeployRow(pk, version_id, DeployFacts(
            netlify_id=netlify_id, created_at=created_at, sha=sha, branch=deploy_branch or version_branch,
            context=context, state=state, is_live=bool(is_live), locked=bool(locked), pinned=bool(pinned),
            expired=bool(expired), last_live_at=seen_live)))
    return out


def _facts_query(*conditions: ColumnElement):
    return select(*_FACT_COLUMNS).outerjoin(Version, Version.id == Deploy.version_id).where(*conditions)


def deploys_where(session: Session, last_live: dict[str, datetime], *conditions: ColumnElement) -> list[DeployRow]:
    return _rows(session, _facts_query(*conditions), last_live)


def deploys_by_id(session: Session, last_live: dict[str, datetime], *, pks: Iterable[int] = (),
                  netlify_ids: Iterable[str] = ()) -> list[DeployRow]:
    out: list[DeployRow] = []
    for column, values in ((Deploy.id, list(pks)), (Deploy.netlify_id, list(netlify_ids))):
        for start in range(0, len(values), 500):
            out += _rows(session, _facts_query(column.in_(values[start:start + 500])), last_live)
    return out


def candidates_for_deploy_rules(session: Session, last_live: dict[str, datetime], grace_start: datetime | None,
                                head_pks: Sequence[int]) -> list[DeployRow]:
    """Every deploy a deploy rule could keep: live, pinned, building or in an unknown state, once live (a
    rollback target), younger than the grace period, the newest on a branch. Each read through an index."""
    open_ = Deploy.expired_at.is_(None)
    states = [s for s in _distinct_states(session) if s not in RESTORABLE_STATES and s not in FAILED_STATES]
    conditions = [Deploy.is_live.is_(True), and_(Deploy.pinned == true(), open_),
                  and_(open_, Deploy.published_at.is_not(None))]
    if states:
        conditions.append(and_(open_, Deploy.state.in_(states)))
    if grace_start is not None:
        conditions.append(and_(open_, Deploy.created_at > grace_start))
    found: dict[int, DeployRow] = {}
    for condition in conditions:  # one indexed read each (an OR of them would scan)
        for row in deploys_where(session, last_live, condition):
            found[row.pk] = row
    for row in deploys_by_id(session, last_live, netlify_ids=sorted(last_live), pks=head_pks):
        found[row.pk] = row
    return list(found.values())


def _distinct_states(session: Session) -> list[str]:
    from vibedash.registry.records import distinct_values

    return [s for s in distinct_values(session, "deploy", "state") if s]


def deploys_without_version(session: Session, last_live: dict[str, datetime]) -> list[DeployRow]:
    """Deploys with no commit (manual uploads): each is a version of its own."""
    return deploys_where(session, last_live, Deploy.version_id.is_(None))


def deploy_page(session: Session, last_live: dict[str, datetime], condition: ColumnElement | None, offset: int,
                limit: int) -> list[DeployRow]:
    """Deploys newest first (then by Netlify id), from ``offset``: one indexed, limited read."""
    query = _facts_query(*(() if condition is None else (condition,)))
    query = query.order_by(Deploy.created_at.desc(), Deploy.netlify_id).offset(offset).limit(limit)
    return _rows(session, query, last_live)


def open_deploy_keys(session: Session, chunk: int = 5000) -> Iterator[list[tuple[str, Any]]]:
    """(netlify id, created_at as stored) of every deploy Netlify still has, newest first, in chunks."""
    created = cast(Deploy.created_at, String) if session.bind.dialect.name == "sqlite" else Deploy.created_at
    result = session.execute(select(Deploy.netlify_id, created).where(Deploy.expired_at.is_(None))
                             .order_by(Deploy.created_at.desc(), Deploy.netlify_id)
                             .execution_options(yield_per=chunk))
    for part in result.partitions(chunk):
        yield [tuple(row) for row in part]


EXPIRED_CONDITION = and_(Deploy.expired_at.is_not(None), Deploy.is_live.is_(False))
OPEN_CONDITION = or_(Deploy.expired_at.is_(None), Deploy.is_live.is_(True))
