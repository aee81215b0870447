"""SQLite's planner statistics: ANALYZE when they are missing or stale.

Apart from db.py so that the registry generation (which refreshes them after bulk writes) and db.py (which
refreshes them at open) both use it without importing each other.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

# SQLite's planner chooses among the read indexes by their statistics (sqlite_stat1); without them, or with
# ones from when a table was a hundredth of its size, it picks scans. A full ANALYZE (about half a second per
# million deploys and events): a sampled one (analysis_limit) guesses "1,000 rows per value" for every index
# and misleads the planner as badly as none.
STALE_GROWTH = 2.0  # statistics are stale once a table has grown past this factor of what they describe


def refresh_statistics(engine: Engine, *, force: bool = False) -> bool:
    """ANALYZE the SQLite registry when its statistics are missing or stale (or ``force``); True if it ran.

    Stale: a table's newest rowid is past STALE_GROWTH times the row count its statistics recorded, a cheap
    test (no count). PostgreSQL's autovacuum keeps its own statistics; nothing to do there.
    """
    if engine.dialect.name != "sqlite":
        return False
    try:
        with engine.connect() as conn:
            if not force and not _statistics_stale(conn):
                return False
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA optimize")
            conn.commit()
    except (OperationalError, SQLAlchemyDatabaseError) as exc:  # a read-only or busy file: plan without them
        log.warning("could not refresh the registry's planner statistics: %s", exc)
        return False
    return True


def _statistics_stale(conn) -> bool:
    has_stats = conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
    if not has_stats:
        return True
    recorded: dict[str, int] = {}
    for table, stat in conn.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1"):
        recorded[table] = max(recorded.get(table, 0), int(str(stat).split()[0]))
    for table in ("version", "deploy", "benchmark_result", "event"):
        newest = conn.exec_driver_sql(f"SELECT max(rowid) FROM {table}").scalar() or 0
        if newest > STALE_GROWTH * recorded.get(table, 0) + 100:
            return True
    return False
