"""The registry's generation: a change counter bumped by every write, and values cached by it.

Every page needs a few derived facts (the counts, the benchmarks present, the best candidate with its gate
verdict, the retention plan) that cost a scan of the registry to compute. Each is computed once per
*generation*: ``registry_state.generation`` goes up inside the same transaction as every INSERT, UPDATE or
DELETE issued through a registry engine (imports, syncs, actions, demo data, migrations, bulk Core inserts),
so when a reader sees generation G, the value it cached at G is exactly what recomputing it would give. A
rolled-back write rolls its bump back with it. One bump per transaction (its first write) is enough, since no
reader sees a transaction's writes before it commits; a savepoint rolled back forgets it had bumped. Reading the generation is one primary-key lookup.

Writes that bypass the engine (a raw sqlite3 connection, another tool) must call :func:`bump` themselves;
``bench/scale_data.py`` does, through :func:`rebuild_after_bulk_load` (which also refills the retention summary
its load left empty).

The cache lives in the process (each server process, each CLI run), holds a bounded number of small values
keyed by the database's ``instance`` id and the generation, and never needs invalidating: a new generation
simply misses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session

from vibedash.bounded_cache import BoundedCache

T = TypeVar("T")

TABLE = "registry_state"
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_BUMP = f"UPDATE {TABLE} SET generation = generation + 1 WHERE id = 1"
_BUMP_BOTH = f"UPDATE {TABLE} SET generation = generation + 1, state_generation = state_generation + 1 WHERE id = 1"
_BUMP_STATE = f"UPDATE {TABLE} SET state_generation = state_generation + 1 WHERE id = 1"
# The audit log: written by every action and import, read by none of the facts keyed by the state generation.
AUDIT_TABLES = frozenset({"event"})
_TABLE_OF = re.compile(r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)'
                       r'\s+"?(\w+)"?', re.IGNORECASE)
_CACHE_SIZE = 64
_WROTE = "vibedash_wrote"  # on a connection: this transaction has written (its values must not be cached)
_BUMPED = "vibedash_bumped"  # on a connection: this transaction has bumped the generation already
_BUMPED_STATE = "vibedash_bumped_state"  # ... and the state generation
_MEMO = "vibedash_generation_memo"  # on a session: (its transaction, the counters read in it)
_LAYOUT = "_vibedash_generation_layout"  # on an engine: NONE, GENERATION (0007) or STATE (0010 on)
NONE, GENERATION, STATE = "none", "generation", "state"


def _layout_of(dbapi_connection: Any, dialect_name: str) -> str:
    cursor = dbapi_connection.cursor()
    try:
        if dialect_name == "sqlite":
            cursor.execute(f"SELECT name FROM pragma_table_info('{TABLE}')")
        else:
            cursor.execute(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{TABLE}' "
                           "AND table_schema = current_schema()")
        columns = {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()
    return STATE if "state_generation" in columns else GENERATION if "generation" in columns else NONE


def layout(conn: Connection) -> str:
    """Which counters this registry has (checked once per engine; a migration through it checks again)."""
    engine = conn.engine
    known = engine.__dict__.get(_LAYOUT)
    if known is None:
        known = engine.__dict__[_LAYOUT] = _layout_of(conn.connection.dbapi_connection, conn.dialect.name)
    return known


def _before_cursor_execute(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                           executemany: bool) -> None:
    head = statement.lstrip()[:7].upper()
    if not head.startswith(_DML) or TABLE in statement:
        return
    info = conn.info
    info[_WROTE] = True
    if "alembic_version" in statement:
        # A migration may have just created, changed or dropped the table: look again.
        conn.engine.__dict__.pop(_LAYOUT, None)
    if info.get(_BUMPED_STATE):
        return  # one bump per transaction is enough: no reader sees the transaction before it commits
    table = _TABLE_OF.match(statement)
    audit_only = table is not None and table.group(1).lower() in AUDIT_TABLES
    if audit_only and info.get(_BUMPED):
        return
    kind = layout(conn)
    if kind == NONE:  # before migration 0007 (or after downgrading past it): writes bump nothing
        return
    if kind == GENERATION:
        sql, done = _BUMP, (_BUMPED, _BUMPED_STATE)
    elif audit_only:
        sql, done = _BUMP, (_BUMPED,)
    elif info.get(_BUMPED):
        sql, done = _BUMP_STATE, (_BUMPED_STATE,)
    else:
        sql, done = _BUMP_BOTH, (_BUMPED, _BUMPED_STATE)
    # A cursor of its own: the statement about to run may return rows (INSERT ... RETURNING) on ``cursor``.
    bump_cursor = conn.connection.dbapi_connection.cursor()
    try:
        bump_cursor.execute(sql)
    finally:
        bump_cursor.close()
    for flag in done:
        info[flag] = True


def _transaction_ended(conn: Connection) -> None:
    for flag in (_WROTE, _BUMPED, _BUMPED_STATE):
        conn.info.pop(flag, None)


def _savepoint_rolled_back(conn: Connection, name: str, context: Any) -> None:
    # The bumps may have been made inside the savepoint and undone with it: the next write bumps again.
    conn.info.pop(_BUMPED, None)
    conn.info.pop(_BUMPED_STATE, None)


def install(engine: Engine) -> None:
    """Make every write through ``engine`` bump the generation in its own transaction (idempotent)."""
    if not event.contains(engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(engine, "commit", _transaction_ended)
        event.listen(engine, "rollback", _transaction_ended)
        event.listen(engine, "rollback_savepoint", _savepoint_rolled_back)


def current(session_or_connection: Session | Connection, scope: str = "all") -> tuple[str, int]:
    """(this database's instance id, its generation), read in the caller's transaction. ``scope`` "state": the
    state generation (writes to the audit log leave it alone), where the registry has one. A session reads
    both once per transaction (a page asks for several cached values in one)."""
    session = session_or_connection if isinstance(session_or_connection, Session) else None
    memo = session.info.get(_MEMO) if session is not None else None
    transaction = session.get_transaction() if session is not None else None
    if memo is not None and memo[0] is transaction:
        counters = memo[1]
    else:
        conn = session.connection() if session is not None else session_or_connection
        state_column = "state_generation" if layout(conn) == STATE else "generation"
        row = conn.execute(text(f"SELECT instance, generation, {state_column} FROM {TABLE} WHERE id = 1")).first()
        counters = None if row is None else (row[0], int(row[1]), int(row[2]))
        if session is not None:
            session.info[_MEMO] = (transaction, counters)
    if counters is None:  # a registry opened without migrations: nothing can be cached safely
        return "", -1
    return counters[0], counters[2] if scope == "state" else counters[1]


def bump(engine: Engine) -> int:
    """Bump the generation for writes made behind the engine's back (a bulk load). Returns the new one."""
    with engine.begin() as conn:
        conn.execute(text(_BUMP))
        return current(conn)[1]


class GenerationCache:
    """Small values computed once per (database, generation, key); thread-safe, least recently used out."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._cache = BoundedCache(size)

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def get(self, session: Session, name: str, key: Hashable, compute: Callable[[], T],
            still_valid: Callable[[T], bool] | None = None, scope: str = "all") -> T:
        instance, generation = current(session, scope)
        if generation < 0:
            return compute()
        return self._cache.get((instance, scope, generation, name, key), compute, still_valid)

    def values(self) -> list[Any]:
        """The values kept now (every database and generation), least recently used first."""
        return self._cache.values()

    def clear(self) -> None:
        self._cache.clear()

    def forget_others(self, instance: str, name: str, key: Hashable, keep: Any) -> None:
        """Drop the values of ``name`` and ``key`` in database ``instance`` other than ``keep`` (the newest
        replaces them: big values, such as retention plans, need not wait for the least recently used to go)."""
        self._cache.drop(lambda full_key, value: full_key[0] == instance and full_key[3:] == (name, key)
                         and value is not keep)


CACHE = GenerationCache()


def cached(session: Session, name: str, key: Hashable, compute: Callable[[], T], *,
           still_valid: Callable[[T], bool] | None = None, cache: GenerationCache | None = None,
           reads_audit_log: bool = True) -> T:
    """``compute()`` once per registry generation and ``key``; later calls at the same generation reuse it.

    Only for values that depend on nothing but the registry's rows and ``key`` (pass the policy's
    fingerprint, the benchmark, ... in ``key``); ``still_valid`` can refuse a cached value that time alone
    has made wrong (a retention plan after a grace period ends). Never caches inside a transaction that wrote.
    ``reads_audit_log=False``: the value never reads the ``event`` table, so it is keyed by the state generation
    and survives the audit lines every action and import writes (say so only when true: a test compares every
    cached value with a recomputation after audit-only writes).
    """
    if session.new or session.dirty or session.deleted or session.connection().info.get(_WROTE):
        # A transaction that wrote may still roll back: what it computes is nobody else's truth.
        return compute()
    return (cache or CACHE).get(session, name, key, compute, still_valid,
                                scope="all" if reads_audit_log else "state")


def rebuild_after_bulk_load(engine: Engine) -> None:
    """After rows went in behind the engine's back (with the summary triggers dropped for the load): the
    retention summary refilled, a new generation, and fresh planner statistics."""
    from vibedash.registry.retention.summary import refill
    from vibedash.registry.statistics import refresh_statistics

    refill(engine)
    bump(engine)
    refresh_statistics(engine, force=True)
