"""The registry's generation: a change counter bumped by every write, and values cached by it.

Every page needs a few derived facts (the counts, the benchmarks present, the best candidate with its gate
verdict, the retention plan) that cost a scan of the registry to compute. Each is computed once per
*generation*: ``registry_state.generation`` goes up inside the same transaction as every INSERT, UPDATE or
DELETE issued through a registry engine (imports, syncs, actions, demo data, migrations, bulk Core inserts),
so when a reader sees generation G, the value it cached at G is exactly what recomputing it would give. A
rolled-back write rolls its bump back with it. Reading the generation is one primary-key lookup.

Writes that bypass the engine (a raw sqlite3 connection, another tool) must call :func:`bump` themselves;
``bench/scale_data.py`` does, through :func:`rebuild_after_bulk_load`.

The cache lives in the process (each server process, each CLI run), holds a bounded number of small values
keyed by the database's ``instance`` id and the generation, and never needs invalidating: a new generation
simply misses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session

T = TypeVar("T")

TABLE = "registry_state"
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_BUMP = f"UPDATE {TABLE} SET generation = generation + 1 WHERE id = 1"
_CACHE_SIZE = 64
_WROTE = "vibedash_wrote"  # on a connection: this transaction has written (its values must not be cached)


def _exists(dbapi_connection: Any, dialect_name: str) -> bool:
    cursor = dbapi_connection.cursor()
    try:
        if dialect_name == "sqlite":
            cursor.execute(f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{TABLE}'")
        else:
            cursor.execute(f"SELECT to_regclass('{TABLE}')")
        row = cursor.fetchone()
        return bool(row and row[0])
    finally:
        cursor.close()


def _before_cursor_execute(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                           executemany: bool) -> None:
    head = statement.lstrip()[:7].upper()
    if not head.startswith(_DML) or TABLE in statement:
        return
    conn.info[_WROTE] = True
    engine = conn.engine
    known = engine.__dict__.get("_vibedash_generation_table")
    dbapi_connection = conn.connection.dbapi_connection
    migrating = "alembic_version" in statement
    if not known or migrating:
        # Before migration 0007 (or after downgrading past it) the table does not exist: writes then bump
        # nothing. A migration may have just created or dropped it, so a migration always looks.
        if not _exists(dbapi_connection, conn.dialect.name):
            engine.__dict__["_vibedash_generation_table"] = False
            return
        engine.__dict__["_vibedash_generation_table"] = True
    # A cursor of its own: the statement about to run may return rows (INSERT ... RETURNING) on ``cursor``.
    bump_cursor = dbapi_connection.cursor()
    try:
        bump_cursor.execute(_BUMP)
    finally:
        bump_cursor.close()


def _transaction_ended(conn: Connection) -> None:
    conn.info.pop(_WROTE, None)


def install(engine: Engine) -> None:
    """Make every write through ``engine`` bump the generation in its own transaction (idempotent)."""
    if not event.contains(engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(engine, "commit", _transaction_ended)
        event.listen(engine, "rollback", _transaction_ended)


def current(session_or_connection: Session | Connection) -> tuple[str, int]:
    """(this database's instance id, its generation), read in the caller's transaction."""
    row = session_or_connection.execute(text(f"SELECT instance, generation FROM {TABLE} WHERE id = 1")).first()
    if row is None:  # a registry opened without migrations: nothing can be cached safely
        return "", -1
    return row[0], int(row[1])


def bump(engine: Engine) -> int:
    """Bump the generation for writes made behind the engine's back (a bulk load). Returns the new one."""
    with engine.begin() as conn:
        conn.execute(text(_BUMP))
        return current(conn)[1]


class GenerationCache:
    """Small values computed once per (database, generation, key); thread-safe, least recently used out."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, session: Session, name: str, key: Hashable, compute: Callable[[], T],
            still_valid: Callable[[T], bool] | None = None) -> T:
        instance, generation = current(session)
        if generation < 0:
            return compute()
        full_key = (instance, generation, name, key)
        with self._lock:
            if full_key in self._values and (still_valid is None or still_valid(self._values[full_key])):
                self._values.move_to_end(full_key)
                self.hits += 1
                return self._values[full_key]
        value = compute()
        with self._lock:
            self.misses += 1
            self._values[full_key] = value
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


CACHE = GenerationCache()


def cached(session: Session, name: str, key: Hashable, compute: Callable[[], T], *,
           still_valid: Callable[[T], bool] | None = None, cache: GenerationCache | None = None) -> T:
    """``compute()`` once per registry generation and ``key``; later calls at the same generation reuse it.

    Only for values that depend on nothing but the registry's rows and ``key`` (pass the policy's
    fingerprint, the benchmark, ... in ``key``); ``still_valid`` can refuse a cached value that time alone
    has made wrong (a retention plan after a grace period ends). Never caches inside a transaction that wrote.
    """
    if session.new or session.dirty or session.deleted or session.connection().info.get(_WROTE):
        # A transaction that wrote may still roll back: what it computes is nobody else's truth.
        return compute()
    return (cache or CACHE).get(session, name, key, compute, still_valid)


def rebuild_after_bulk_load(engine: Engine) -> None:
    """After rows went in behind the engine's back: a new generation, and fresh planner statistics."""
    from vibedash.registry.statistics import refresh_statistics

    bump(engine)
    refresh_statistics(engine, force=True)
