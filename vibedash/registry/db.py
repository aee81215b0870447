"""Opening the registry: engine, SQLite pragmas, and Alembic migrations at start."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlalchemy.orm import Session, sessionmaker

from vibedash.registry import generation
from vibedash.registry.statistics import (
    refresh_statistics,  # re-exported: callers refresh through db
)

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# How long a writer waits for another one before giving up with "registry busy, retry" (SQLite's busy_timeout,
# PostgreSQL's lock_timeout).
SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseError(RuntimeError):
    """The registry database cannot be opened or migrated because of a setting or file the user chose (a URL
    that does not parse, a file that is not a database, a newer schema); the message says what to do."""


class DatabaseUnavailable(DatabaseError):
    """The registry is there but cannot be used now: the server is unreachable, the file is damaged or
    truncated, a migration failed. (CLI exit code 3, like an unreachable Netlify.)"""


class RegistryBusy(DatabaseUnavailable):
    """Another writer held the registry past the busy timeout; running the same thing again is safe."""


BUSY_MESSAGE = ("registry busy, retry: another process kept the registry locked for more than {seconds:g} s "
                "(nothing was written)")


def explain_database_failure(exc: BaseException, url: str | None = None) -> DatabaseError | None:
    """The DatabaseError (with its one-line message) for a driver error met while using the registry, or
    None when ``exc`` is not a database failure vibedash knows how to explain."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DatabaseError):
        return exc
    if not isinstance(exc, DBAPIError):
        return None
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    lowered = detail.lower()
    where = f" ({_hide_password(url)})" if url else ""
    if any(phrase in lowered for phrase in ("database is locked", "database is busy", "database table is locked",
                                            "lock timeout")):
        return RegistryBusy(BUSY_MESSAGE.format(seconds=SQLITE_BUSY_TIMEOUT_MS / 1000))
    if "malformed" in lowered or "file is not a database" in lowered or "disk image" in lowered:
        from vibedash.registry.sqlite_file import damaged_message

        return DatabaseUnavailable(damaged_message(url and _hide_password(url) or "file", detail))
    if any(phrase in lowered for phrase in ("password authentication failed", "authentication failed",
                                            "does not exist", "no password supplied")):
        # The server answered: the URL names a user, password or database it does not have (a setting to fix).
        return DatabaseError(f"cannot open database{where}: {detail}. Check VIBEDASH_DB_URL")
    if exc.connection_invalidated or isinstance(exc, OperationalError):
        return DatabaseUnavailable(f"the registry database is unavailable{where}: {detail}")
    return None


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Read at every connect (not bound at import) so a test can shorten the wait.
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_registry_engine(url: str) -> Engine:
    """An engine for ``url`` with WAL, foreign keys and a busy timeout on every SQLite connection."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"cannot parse database URL {url!r}: use a SQLAlchemy URL such as "
                            "sqlite:///vibedash.db or postgresql+psycopg://user@host/db") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser().resolve()
        if not path.parent.is_dir():
            raise DatabaseError(f"cannot open database {parsed.database}: folder {path.parent} does not exist")
        check_sqlite_file(path)
    try:
        engine = create_engine(parsed)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise DatabaseError(f"cannot open database {parsed.render_as_string(hide_password=True)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _set_sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _set_postgresql_lock_timeout)
    generation.install(engine)
    return engine


def _set_postgresql_lock_timeout(dbapi_connection, _record) -> None:
    """PostgreSQL waits for a lock forever by default; like SQLite's busy timeout, give up after a while so
    a blocked writer hears "registry busy, retry" instead of hanging (a server-side setting wins if lower)."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET lock_timeout = {int(SQLITE_BUSY_TIMEOUT_MS)}")
    cursor.close()
    dbapi_connection.commit()


def check_sqlite_file(path: Path) -> None:
    """Header check (a zero-length or foreign file) and, for files of ordinary size, PRAGMA quick_check, so a
    damaged registry is reported when it is opened, not halfway through a command."""
    from vibedash.registry.sqlite_file import FileProblem, check_file

    try:
        check_file(path)
    except FileProblem as problem:
        raise (DatabaseUnavailable if problem.damaged else DatabaseError)(str(problem)) from None
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise RegistryBusy(BUSY_MESSAGE.format(seconds=SQLITE_BUSY_TIMEOUT_MS / 1000)) from None
        raise DatabaseError(f"cannot open database {path}: {exc}") from None


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def schema_revisions(engine: Engine) -> tuple[str | None, str]:
    """(the database's current revision, the code's head revision)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head


_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


@lru_cache(maxsize=1)
def code_head_revision() -> str | None:
    """The head of the migration chain, read from the revision files' ``revision`` and ``down_revision`` lines
    without loading Alembic (which costs about half a second at every start). None when the chain is not a
    single line (a merge, a branch, a file it cannot read): then Alembic itself decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if not found:
            return None
        revisions.add(found.group(1))
        down = _DOWN_REVISION.search(source)
        if down:
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def stored_revision(engine: Engine) -> str | None:
    """The revision the database says it is at (None: no version table, or no row), in one query."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except (OperationalError, SQLAlchemyDatabaseError):
        return None  # no alembic_version table yet (a new registry), or unreadable: Alembic will say which
    return rows[0][0] if len(rows) == 1 else None


def _backup_sqlite(engine: Engine, current: str | None) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or current is None:
        return None
    source = Path(database)
    if not source.exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    backup = source.with_name(f"{source.name}.bak-{current}-{stamp}")
    # The SQLite backup API copies a consistent snapshot, WAL included.
    raw = engine.raw_connection()
    try:
        with sqlite3.connect(backup) as target:
            raw.driver_connection.backup(target)
        target.close()
    finally:
        raw.close()
    return backup


def migrate(engine: Engine) -> str | None:
    """Bring the schema to head. Returns the backup path (SQLite, upgrade pending) or None.

    At head already (every start but the first after an upgrade), one query says so and Alembic is not loaded.
    """
    head = code_head_revision()
    if head is not None and stored_revision(engine) == head:
        return None
    from alembic import command
    from alembic.script import ScriptDirectory

    try:
        current, head = schema_revisions(engine)
    except (OperationalError, SQLAlchemyDatabaseError) as exc:
        explained = explain_database_failure(exc, engine.url.render_as_string(hide_password=True))
        if isinstance(explained, DatabaseUnavailable):
            raise explained from None
        raise DatabaseError(f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
                            f"{exc.orig}") from None
    script = ScriptDirectory.from_config(alembic_config(engine))
    if current is not None and not _known(script, current):
        raise DatabaseError(f"the database is at schema revision {current}, which this vibedash does not know: "
                            "it was written by a newer vibedash. Upgrade vibedash (git pull; pip install -r "
                            "requirements.txt) or point VIBEDASH_DB_URL at another database.")
    if current == head:
        return None
    backup = _backup_sqlite(engine, current)
    if backup:
        log.info("backed up %s to %s before migrating", engine.url.database, backup)
    try:
        # env.py runs every pending migration and its checks in one transaction: a failure anywhere leaves
        # the database exactly as it was, still at ``current``, so the next open tries again (and says so).
        command.upgrade(alembic_config(engine), "head")
    except Exception as exc:  # a migration or its post-check failed; the transaction was rolled back
        explained = explain_database_failure(exc, engine.url.render_as_string(hide_password=True))
        if isinstance(explained, RegistryBusy):
            raise explained from None
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnavailable(
            f"upgrading the registry schema from {current or 'empty'} to {head} failed and was undone "
            f"(the database is unchanged): {detail}"
            + (f". A copy made before the attempt is at {backup}" if backup else "")) from None
    return str(backup) if backup else None


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several types for unknown ids
        return False


def open_registry(url: str) -> Engine:
    """Open (and create or upgrade) the registry at ``url``."""
    engine = create_registry_engine(url)
    migrate(engine)
    refresh_statistics(engine)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commits on success, rolls back everything on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
