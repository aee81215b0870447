"""What the retention plan reads from the registry, in narrow queries that never hold every deploy in memory.

The plan needs one row per version (its headline scores, its gate verdict, when it first appeared, how many of its
deploys are expired, failed or restorable, and its newest restorable deploy), the few deploys a deploy rule can
keep (live, pinned, building, rollback targets, young ones, the newest per branch), and then a page of deploys at
a time. Per-version figures come from the summary the database keeps with every write (``version_deploy_summary``
and ``version_branch_head``, migration 0011: triggers), read as plain tuples straight into arrays, so a plan of a
million deploys reads a hundred thousand rows; nothing here decides anything (that is
:mod:`vibedash.decisions.retention`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from vibedash.decisions.facts import DeployFacts
from vibedash.registry.deploys import last_live_times  # noqa: F401  (the plan reads it from here)
from vibedash.registry.models import Deploy, Version

CHUNK = 20_000  # rows read at a time from the registry's big reads


def as_utc(raw: Any) -> datetime:
    """A stored moment as an aware UTC datetime (SQLite returns text for untyped columns, PostgreSQL datetimes;
    the plan's arrays hold numpy datetimes)."""
    if isinstance(raw, np.datetime64):
        raw = raw.astype("datetime64[us]").item()
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=timezone.utc) if raw.tzinfo is None else raw.astimezone(timezone.utc)
    return datetime.fromisoformat(str(raw)).replace(tzinfo=timezone.utc)


def as_datetime64(values: Sequence[Any]) -> np.ndarray:
    """Stored moments as numpy UTC datetimes (microseconds; None: NaT), for sorting a hundred thousand of them at
    once."""
    if any(isinstance(v, datetime) for v in values):
        values = [None if v is None else as_utc(v).replace(tzinfo=None) for v in values]
    return np.array(values, dtype="datetime64[us]")


_CURSORS = itertools.count()


def raw_rows(session: Session, sql: str, params: Sequence[Any] = (), chunk: int = CHUNK,
             first: int | None = None) -> Iterator[list[tuple]]:
    """``sql``'s rows a chunk at a time as plain tuples, straight from the DBAPI cursor: a hundred thousand rows
    through the ORM's result machinery cost seconds; these reads need no types (the callers parse the few
    columns that are moments, see :func:`as_datetime64`). ``first``: a smaller first chunk, the next ones four
    times larger each up to ``chunk`` (a reader that usually stops early reads little)."""
    connection = session.connection()
    if params:  # "?" in ``sql`` stands for a parameter: the driver's own placeholder
        sql = sql.replace("?", "?" if connection.dialect.paramstyle == "qmark" else "%s")
    dbapi_connection = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":  # a server-side cursor: the rows come a chunk at a time
        cursor = dbapi_connection.cursor(name=f"vibedash_rows_{next(_CURSORS)}")
    else:  # SQLite steps through the rows as they are fetched
        cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql, tuple(params)) if params else cursor.execute(sql)
        size = min(first or chunk, chunk)
        while True:
            part = cursor.fetchmany(size)
            if not part:
                return
            yield part
            size = min(size * 4, chunk)
    finally:
        try:
            cursor.close()
        except Exception:  # noqa: BLE001  (a reader that stopped early, after its transaction ended: nothing to free)
            pass


# the summary's gate column: NULL none, 1 passed, 0 failed
GATE_NONE, GATE_YES, GATE_NO = -1, 1, 0


@dataclass(frozen=True)
class VersionFigures:
    """Per version with at least one deploy, ordered by version id (arrays and lists of equal length), read
    from the summary the database keeps (``version_deploy_summary``, migration 0011)."""

    version_ids: np.ndarray  # int64, ascending
    shas: list[str]
    branches: list[str | None]
    first_deploy: np.ndarray  # datetime64[us]: when it appeared
    newest_deploy: np.ndarray  # datetime64[us]
    deploys: np.ndarray  # every deploy
    expired: np.ndarray  # expired and not live (the plan's "expired" unless a rule keeps them: none does)
    failed_open: np.ndarray  # failed builds Netlify still has
    restorable_open: np.ndarray  # restorable deploys Netlify still has
    representative: list[str | None]  # Netlify id of its newest restorable deploy (None: none)
    representative_at: np.ndarray  # datetime64[us]: its created_at (NaT: none)
    gate: np.ndarray  # int8: GATE_YES, GATE_NO or GATE_NONE (its newest gate verdict)


_VERSION_FIGURES = """
SELECT s.version_id, v.sha, v.branch, s.first_deploy_at, s.newest_deploy_at, s.deploys, s.expired, s.failed_open,
       s.restorable_open, s.restorable_netlify_id, s.restorable_created_at, s.gate
FROM version_deploy_summary s {indexed} JOIN version v ON v.id = s.version_id
WHERE {where} ORDER BY s.version_id"""
# Most rows share the generation of the last refill, so SQLite's statistics call the index on
# changed_generation useless and it scans every row for the few changed ones; told to, it seeks.
_BY_CHANGE = {"sqlite": "INDEXED BY ix_version_deploy_summary_changed_generation"}


def version_figures(session: Session, changed_since: int | None = None) -> VersionFigures:
    """Every version with a deploy: one row each from the summary, streamed into arrays. ``changed_since``:
    instead, every row changed at or after that registry generation (those left without a deploy too)."""
    where = "s.deploys > 0" if changed_since is None else f"s.changed_generation >= {int(changed_since)}"
    indexed = "" if changed_since is None else _BY_CHANGE.get(session.get_bind().dialect.name, "")
    ints: list[np.ndarray] = []
    firsts: list[np.ndarray] = []
    newests: list[np.ndarray] = []
    gates: list[np.ndarray] = []
    shas: list[str] = []
    branches: list[str | None] = []
    reps: list[str | None] = []
    rep_at: list[np.ndarray] = []
    names: dict[str, str] = {}  # one string per branch name, not one per version
    for part in raw_rows(session, _VERSION_FIGURES.format(where=where, indexed=indexed), chunk=5000):
        columns = list(zip(*part))
        ints.append(np.array([columns[0], *columns[5:9]], dtype=np.int64))
        firsts.append(as_datetime64(columns[3]))
        newests.append(as_datetime64(columns[4]))
        gates.append(np.array([GATE_NONE if g is None else GATE_YES if g else GATE_NO for g in columns[11]],
                              dtype=np.int8))
        shas += columns[1]
        branches += [names.setdefault(b, b) if b is not None else None for b in columns[2]]
        reps += columns[9]
        rep_at.append(as_datetime64(columns[10]))
    joined = list(np.concatenate(ints, axis=1)) if ints else [np.zeros(0, dtype=np.int64)] * 5
    empty_moments = np.zeros(0, dtype="datetime64[us]")
    return VersionFigures(
        version_ids=joined[0], shas=shas, branches=branches,
        first_deploy=np.concatenate(firsts) if firsts else empty_moments,
        newest_deploy=np.concatenate(newests) if newests else empty_moments,
        deploys=joined[1], expired=joined[2], failed_open=joined[3], restorable_open=joined[4],
        representative=reps, representative_at=np.concatenate(rep_at) if rep_at else empty_moments,
        gate=np.concatenate(gates) if gates else np.zeros(0, dtype=np.int8))


def scored_only(names: tuple[str, ...], matrix: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """The benchmarks (columns) some row has a score on: the ones the plan judges."""
    keep = ~np.isnan(matrix).all(axis=0) if len(matrix) else np.zeros(len(names), dtype=bool)
    return tuple(b for b, k in zip(names, keep) if k), matrix[:, keep]


def headline_matrix(session: Session, version_ids: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """(benchmarks, matrix): every version's headline score per benchmark stored (NaN: none), rows as
    ``version_ids``; where a version has two headline scores on a benchmark, the one stored last counts
    (:func:`scored_only` keeps the benchmarks some row has). One read of the covering index (benchmark,
    is_primary, version_id, score) per benchmark: no row of the table is touched."""
    names = tuple(sorted(name for part in raw_rows(session, "SELECT DISTINCT benchmark FROM benchmark_result")
                         for (name,) in part))
    matrix = np.full((len(version_ids), len(names)), np.nan)
    sql = "SELECT id, version_id, score FROM benchmark_result WHERE benchmark = ? AND is_primary"
    for column, name in enumerate(names):
        if len(version_ids):
            # a chunk at a time into a float array: a hundred thousand tuples at once would cost far more
            parts = [np.array(part, dtype=float) for part in raw_rows(session, sql, (name,), chunk=5000)]
            if parts:
                rows = np.concatenate(parts)
                _place(matrix, version_ids, np.full(len(rows), column), rows)
    return names, matrix


def headline_rows(session: Session, version_ids: np.ndarray, names: tuple[str, ...]) -> tuple[tuple[str, ...],
                                                                                             np.ndarray]:
    """The headline scores of a few versions (``version_ids``, ascending), as :func:`headline_matrix` reads
    them for all: (``names`` and any benchmark they have besides, sorted; matrix)."""
    rows: list[tuple[int, int, str, float]] = []
    ids = version_ids.tolist()
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        sql = ("SELECT id, version_id, benchmark, score FROM benchmark_result WHERE is_primary AND version_id IN "
               f"({', '.join(str(int(v)) for v in part)})")
        rows += [row for chunk in raw_rows(session, sql) for row in chunk]
    names = tuple(sorted(set(names) | {row[2] for row in rows}))
    column_of = {name: c for c, name in enumerate(names)}
    matrix = np.full((len(version_ids), len(names)), np.nan)
    if rows:
        _place(matrix, version_ids, np.array([column_of[row[2]] for row in rows], dtype=np.int64),
               np.array([(pk, vid, score) for pk, vid, _, score in rows], dtype=float))
    return names, matrix


def _place(matrix: np.ndarray, version_ids: np.ndarray, columns: np.ndarray, table: np.ndarray) -> None:
    """Put the (id, version_id, score) rows of ``table`` into ``matrix`` (rows as ``version_ids``, ``columns``
    per row): of two scores in one cell, the one stored last (the higher id) counts."""
    if not len(table) or not len(version_ids):
        return
    order = np.argsort(table[:, 0], kind="stable")
    table, columns = table[order], np.asarray(columns, dtype=np.int64)[order]
    ids = table[:, 1].astype(np.int64)
    where = np.clip(np.searchsorted(version_ids, ids), 0, len(version_ids) - 1)
    present = version_ids[where] == ids
    cells = (where * matrix.shape[1] + columns)[present]
    values = table[present, 2]
    # the last of each cell: unique over the reversed cells finds each one's last occurrence
    last, from_end = np.unique(cells[::-1], return_index=True)
    matrix.flat[last] = values[::-1][from_end]


@dataclass(frozen=True)
class BranchHead:
    """A version's newest restorable deploy on a branch."""

    deploy_pk: int
    branch: str
    netlify_id: str
    created_at: datetime


_BRANCHES = """
WITH RECURSIVE branches(name, n) AS (
  SELECT min(branch), 1 FROM version_branch_head
  UNION ALL
  SELECT (SELECT min(branch) FROM version_branch_head WHERE branch > branches.name), n + 1
  FROM branches WHERE name IS NOT NULL AND n <= {limit})
SELECT name FROM branches WHERE name IS NOT NULL"""
_HEADS_OF_BRANCH = ("SELECT deploy_id, branch, netlify_id, created_at FROM version_branch_head WHERE branch = ? "
                    "ORDER BY created_at DESC, netlify_id LIMIT {per_branch}")
_HEADS_RANKED = """
SELECT deploy_id, branch, netlify_id, created_at FROM (
  SELECT deploy_id, branch, netlify_id, created_at,
         ROW_NUMBER() OVER (PARTITION BY branch ORDER BY created_at DESC, netlify_id) AS branch_rank
  FROM version_branch_head) ranked
WHERE branch_rank <= {per_branch}"""
BRANCHES_ONE_BY_ONE = 200  # past this many branches, one ranking of every head beats a seek per branch


def branch_heads(session: Session, per_branch: int) -> list[BranchHead]:
    """The ``per_branch`` newest versions' heads on every branch (from the kept ``version_branch_head``): the
    branches by a skip scan of the (branch, created_at) index, then a seek of a few rows per branch."""
    if per_branch <= 0:
        return []
    branches = [name for part in raw_rows(session, _BRANCHES.format(limit=BRANCHES_ONE_BY_ONE)) for (name,) in part]
    if len(branches) > BRANCHES_ONE_BY_ONE:
        parts = list(raw_rows(session, _HEADS_RANKED.format(per_branch=int(per_branch))))
    else:
        parts = [part for branch in branches
                 for part in raw_rows(session, _HEADS_OF_BRANCH.format(per_branch=int(per_branch)), (branch,))]
    return [BranchHead(pk, branch, netlify_id, as_utc(created_at))
            for part in parts for pk, branch, netlify_id, created_at in part]


# --- deploy facts, a few at a time ---------------------------------------------------------------------------

_FACT_COLUMNS = (Deploy.id, Deploy.netlify_id, Deploy.created_at, Deploy.version_id, Deploy.branch, Deploy.context,
                 Deploy.state, Deploy.is_live, Deploy.locked, Deploy.pinned, Deploy.expired_at.is_not(None),
                 Deploy.published_at, Version.sha, Version.branch)


@dataclass(frozen=True)
class DeployRow:
    pk: int
    version_id: int | None
    facts: DeployFacts


def rows_of(session: Session, query, last_live: dict[str, datetime],
            params: dict[str, Any] | None = None) -> list[DeployRow]:
    """The deploys a :func:`facts_query` (with its ``params``) selects."""
    out = []
    for (pk, netlify_id, created_at, version_id, deploy_branch, context, state, is_live, locked, pinned, expired,
         published_at, sha, version_branch) in session.execute(query, params or {}):
        seen_live = published_at
        if netlify_id in last_live:
            seen_live = max(filter(None, (seen_live, last_live[netlify_id])))
        out.append(DeployRow(pk, version_id, DeployFacts(
            netlify_id=netlify_id, created_at=created_at, sha=sha, branch=deploy_branch or version_branch,
            context=context, state=state, is_live=bool(is_live), locked=bool(locked), pinned=bool(pinned),
            expired=bool(expired), last_live_at=seen_live)))
    return out


def facts_query(*conditions: ColumnElement):
    """The columns a deploy's decision reads, of the deploys that meet ``conditions``."""
    return select(*_FACT_COLUMNS).outerjoin(Version, Version.id == Deploy.version_id).where(*conditions)


def deploys_where(session: Session, last_live: dict[str, datetime], *conditions: ColumnElement) -> list[DeployRow]:
    return rows_of(session, facts_query(*conditions), last_live)


def deploys_by_id(session: Session, last_live: dict[str, datetime], *, pks: Iterable[int] = (),
                  netlify_ids: Iterable[str] = ()) -> list[DeployRow]:
    out: list[DeployRow] = []
    for column, values in ((Deploy.id, list(pks)), (Deploy.netlify_id, list(netlify_ids))):
        for start in range(0, len(values), 500):
            out += rows_of(session, facts_query(column.in_(values[start:start + 500])), last_live)
    return out


def deploys_without_version(session: Session, last_live: dict[str, datetime]) -> list[DeployRow]:
    """Deploys with no commit (manual uploads): each is a version of its own."""
    return deploys_where(session, last_live, Deploy.version_id.is_(None))


def deploy_page(session: Session, last_live: dict[str, datetime], condition: ColumnElement | None, offset: int,
                limit: int) -> list[DeployRow]:
    """Deploys newest first (then by Netlify id), from ``offset``: one indexed, limited read."""
    query = facts_query(*(() if condition is None else (condition,)))
    query = query.order_by(Deploy.created_at.desc(), Deploy.netlify_id).offset(offset).limit(limit)
    return rows_of(session, query, last_live)


def open_deploy_keys(session: Session, chunk: int = 5000, first: int | None = None) -> Iterator[list[tuple[str, Any]]]:
    """(netlify id, created_at as stored) of every deploy Netlify still has, newest first, in chunks (plain
    tuples from the cursor: a page of pruned deploys may skip tens of thousands of kept ones); ``first``: the
    size of the first chunk (see :func:`raw_rows`)."""
    yield from raw_rows(session, "SELECT netlify_id, created_at FROM deploy WHERE expired_at IS NULL "
                                 "ORDER BY created_at DESC, netlify_id", chunk=chunk, first=first)


_LABELS = "SELECT d.netlify_id, v.sha, d.branch, v.branch FROM deploy d LEFT JOIN version v ON v.id = d.version_id"


def deploy_labels(session: Session, netlify_ids: Sequence[str]) -> list[tuple[str, str | None, str | None]]:
    """(Netlify id, its version's commit, its branch) of each deploy, in the order given: a narrow read of what a
    list of deploys to choose from shows."""
    found: dict[str, tuple[str, str | None, str | None]] = {}
    for start in range(0, len(netlify_ids), 500):
        part = list(netlify_ids[start:start + 500])
        for rows in raw_rows(session, f"{_LABELS} WHERE d.netlify_id IN ({', '.join('?' * len(part))})", part):
            for netlify_id, sha, deploy_branch, version_branch in rows:
                found[netlify_id] = (netlify_id, sha, deploy_branch or version_branch)
    return [found[netlify_id] for netlify_id in netlify_ids if netlify_id in found]


def open_deploy_labels(session: Session, chunk: int = 5000,
                       first: int | None = None) -> Iterator[list[tuple[str, str | None, str | None]]]:
    """:func:`deploy_labels` of every deploy Netlify still has, newest first (as :func:`open_deploy_keys`)."""
    sql = f"{_LABELS} WHERE d.expired_at IS NULL ORDER BY d.created_at DESC, d.netlify_id"
    for rows in raw_rows(session, sql, chunk=chunk, first=first):
        yield [(netlify_id, sha, deploy_branch or version_branch)
               for netlify_id, sha, deploy_branch, version_branch in rows]


EXPIRED_CONDITION = and_(Deploy.expired_at.is_not(None), Deploy.is_live.is_(False))
