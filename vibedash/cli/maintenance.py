"""`backup FILE` and `restore FILE`: keep a copy of the registry, and put one back, safely while it is in use.

SQLite registries are copied with SQLite's online backup API (a consistent snapshot while other processes
keep writing). A PostgreSQL registry is backed up with the server's own tools (pg_dump / pg_restore); these
verbs say exactly which command to run instead.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from vibedash.cli.output import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNAVAILABLE, CliError
from vibedash.config import Settings, mask_url_password


def _sqlite_registry(settings: Settings, verb: str) -> Path:
    """The registry file, or a CliError with the PostgreSQL advice when the registry is not SQLite."""
    url = make_url(settings.db_url)
    if url.get_backend_name() != "sqlite":
        libpq = mask_url_password(url.set(drivername=url.get_backend_name()).render_as_string(hide_password=False))
        advice = (f"pg_dump --format=custom --file FILE '{libpq}'" if verb == "backup"
                  else f"pg_restore --clean --if-exists --dbname '{libpq}' FILE")
        raise CliError(f"{verb} copies SQLite registries; this registry is on {url.get_backend_name()}: "
                       f"use {advice} (add the password through PGPASSWORD or ~/.pgpass)", EXIT_BAD_INPUT)
    if not url.database or url.database == ":memory:":
        raise CliError(f"{verb} needs a registry file; VIBEDASH_DB_URL names an in-memory database")
    return Path(url.database).expanduser().resolve()


def cmd_backup(args: argparse.Namespace, settings: Settings, engine) -> int:
    from vibedash.registry.sqlite_file import FileProblem, check_header, inspect_file, online_copy

    registry = _sqlite_registry(settings, "backup")
    target = Path(args.file).expanduser().resolve()
    if not registry.is_file():
        raise CliError(f"there is no registry at {registry} to back up (VIBEDASH_DB_URL or --db names it)")
    if target == registry:
        raise CliError(f"{target} is the registry itself: name another file")
    if target.is_dir():
        raise CliError(f"{args.file} is a folder: name the backup file, e.g. {target / 'vibedash-backup.db'}")
    if not target.parent.is_dir():
        raise CliError(f"folder {target.parent} does not exist: create it first")
    if target.exists() and not args.force:
        raise CliError(f"{args.file} already exists: name a new file, or pass --force to replace it")
    try:
        check_header(registry)
    except FileProblem as problem:
        raise CliError(str(problem), EXIT_UNAVAILABLE if problem.damaged else EXIT_BAD_INPUT) from None
    try:
        online_copy(registry, target)
        snapshot = inspect_file(target)  # proves the copy is whole before anyone relies on it
    except FileProblem as problem:
        target.unlink(missing_ok=True)  # a copy of a damaged registry is no backup
        raise CliError(f"no backup written: {problem}", EXIT_UNAVAILABLE) from None
    except sqlite3.OperationalError as exc:
        raise _busy_or_unavailable(exc) from None
    except OSError as exc:
        raise CliError(f"cannot write {args.file}: {exc.strerror or exc}", EXIT_BAD_INPUT) from None
    print(f"backed up {registry} to {target} ({snapshot.summary()})")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace, settings: Settings, engine) -> int:
    from vibedash.registry.db import SQLITE_BUSY_TIMEOUT_MS, DatabaseUnavailable, open_registry, schema_revisions
    from vibedash.registry.sqlite_file import (
        FileProblem,
        check_file,
        inspect_file,
        keep_aside,
        replace_damaged,
        restore_into,
    )

    registry = _sqlite_registry(settings, "restore")
    source = Path(args.file).expanduser().resolve()
    if source == registry:
        raise CliError(f"{args.file} is the registry itself: name the backup file to restore")
    try:
        snapshot = inspect_file(source)
    except FileProblem as problem:
        raise CliError(f"not restored: {problem}", EXIT_BAD_INPUT) from None
    head = _head_revision()
    if snapshot.revision is not None and not _known_revision(snapshot.revision):
        raise CliError(f"not restored: {args.file} is at schema revision {snapshot.revision}, written by a newer "
                       f"vibedash (this one knows up to {head}); upgrade vibedash first", EXIT_BAD_INPUT)
    try:
        check_file(registry)
        healthy = True
    except FileProblem:
        healthy = False
    kept = None
    if registry.exists() and registry.stat().st_size > 0:
        kept = keep_aside(registry, "replaced", damaged=not healthy)
    try:
        if healthy:
            restore_into(source, registry, timeout_s=SQLITE_BUSY_TIMEOUT_MS / 1000)
        else:
            replace_damaged(source, registry)
    except sqlite3.OperationalError as exc:
        raise _busy_or_unavailable(exc) from None
    try:
        engine = open_registry(settings.db_url)  # migrates an older backup to this schema
    except DatabaseUnavailable as exc:
        raise CliError(f"restored {args.file}, but it cannot be opened: {exc}", EXIT_UNAVAILABLE) from None
    current, _ = schema_revisions(engine)
    engine.dispose()
    print(f"restored {registry} from {source} ({snapshot.summary()}"
          + (f", upgraded to schema {current}" if current != snapshot.revision else "") + ")")
    if kept:
        print(f"the registry it replaced is kept at {kept}")
    return EXIT_OK


def _busy_or_unavailable(exc: sqlite3.OperationalError) -> CliError:
    from vibedash.registry.db import BUSY_MESSAGE, SQLITE_BUSY_TIMEOUT_MS

    if "locked" in str(exc) or "busy" in str(exc):
        return CliError(BUSY_MESSAGE.format(seconds=SQLITE_BUSY_TIMEOUT_MS / 1000), EXIT_UNAVAILABLE)
    return CliError(f"the registry file cannot be used: {exc}", EXIT_UNAVAILABLE)


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from vibedash.registry.db import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    from vibedash.registry.db import MIGRATIONS_DIR

    try:
        return ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision) is not None
    except Exception:  # alembic raises several types for unknown ids
        return False


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="Copy the registry to FILE while it is in use (SQLite; pg_dump advice "
                       "for PostgreSQL).", description="Copy the registry to FILE with SQLite's online backup "
                       "API: a consistent snapshot even while others write. The copy is checked before it is "
                       "reported done.")
    p.set_defaults(handler=cmd_backup, needs_db=False)
    p.add_argument("file", metavar="FILE", help="the backup file to write (must not exist, unless --force)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")

    p = sub.add_parser("restore", help="Put a backup FILE back as the registry (checked first; the replaced "
                       "registry is kept beside it).", description="Check FILE (integrity, schema revision), "
                       "keep the current registry as <name>.replaced-<time>, then copy FILE in; an older "
                       "schema is upgraded, a newer one refused.")
    p.set_defaults(handler=cmd_restore, needs_db=False)
    p.add_argument("file", metavar="FILE", help="a file written by `backup` (or any vibedash SQLite registry)")
