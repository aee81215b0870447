"""A SQLite registry file as a file: is it a database at all, is it intact, and copying it safely while in use.

Everything here works on the file through the standard ``sqlite3`` module, without migrating or opening the
registry, so it also works on a file that vibedash cannot open (damaged, or written by a newer vibedash): that
is when ``restore`` is needed most.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
# PRAGMA quick_check reads every page: about 0.85 s for an 80 MB registry of 100,000 versions on a busy
# 2-core machine (bench/bench_open.py). Opening checks files up to this size (tens of thousands of versions,
# at most a few hundred ms) every time; a larger file is checked by `backup` and `restore`, and damage met later
# still ends in the one-line "damaged" error.
QUICK_CHECK_MAX_BYTES = 32 * 1024 * 1024


class FileProblem(Exception):
    """The file is not a usable registry. ``damaged`` tells a broken registry from a file that never was one."""

    def __init__(self, message: str, *, damaged: bool):
        super().__init__(message)
        self.damaged = damaged


@dataclass(frozen=True)
class Snapshot:
    """What a registry file holds, as read by :func:`inspect_file`."""

    path: Path
    size_bytes: int
    revision: str | None
    counts: dict[str, int]

    def summary(self) -> str:
        parts = [f"{self.counts.get(t, 0)} {t}s" for t in ("version", "deploy", "event") if t in self.counts]
        return (f"schema {self.revision or 'none'}, " + ", ".join(parts)
                + f", {self.size_bytes / 1_048_576:.1f} MB")


def check_header(path: Path) -> None:
    """Raise FileProblem when an existing file is empty or not a SQLite database (cheap: 16 bytes)."""
    size = path.stat().st_size
    if size == 0:
        raise FileProblem(f"{path} is an empty file (0 bytes), not a registry: it was truncated or never "
                          "written. Restore it from a backup (python -m vibedash restore BACKUP) or delete it "
                          "to start an empty registry", damaged=True)
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise FileProblem(f"cannot open database {path}: it is not a SQLite database (file is not a database). "
                          "Point VIBEDASH_DB_URL at the registry file", damaged=False)


def quick_check(conn: sqlite3.Connection, path: Path, *, full: bool = False) -> None:
    """Raise FileProblem(damaged) unless SQLite finds the file intact (``full``: integrity_check, slower)."""
    pragma = "integrity_check" if full else "quick_check"
    try:
        rows = conn.execute(f"PRAGMA {pragma}(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        raise FileProblem(damaged_message(path, str(exc)), damaged=True) from None
    findings = [r[0] for r in rows]
    if findings != ["ok"]:
        # SQLite's report is several lines ("*** in database main ***", "On tree page 12 cell 3: ..."): one
        # line of it is enough to say what broke.
        lines = [" ".join(line.split()) for f in findings for line in str(f).splitlines()]
        detail = next((line for line in lines if line and not line.startswith("***")), "integrity check failed")
        raise FileProblem(damaged_message(path, detail[:200]), damaged=True)


def damaged_message(path: Path | str, detail: str) -> str:
    return (f"the registry {path} is damaged ({detail}). Restore the latest backup with "
            "`python -m vibedash restore BACKUP` (the damaged file is kept beside it)")


def check_file(path: Path) -> None:
    """The checks made when a SQLite registry is opened: header always, quick_check when the file is small."""
    if not path.exists():
        return
    check_header(path)
    if path.stat().st_size > QUICK_CHECK_MAX_BYTES:
        return
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        quick_check(conn, path)
    finally:
        conn.close()


def inspect_file(path: Path, *, full: bool = True) -> Snapshot:
    """Check a registry file (header, integrity) and read its schema revision and row counts."""
    if not path.is_file():
        raise FileProblem(f"{path}: no such file", damaged=False)
    check_header(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        quick_check(conn, path, full=full)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" not in tables:
            raise FileProblem(f"{path} is a SQLite database but not a vibedash registry (no schema revision)",
                              damaged=False)
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                  for t in ("version", "deploy", "event") if t in tables}
    except sqlite3.DatabaseError as exc:
        raise FileProblem(damaged_message(path, str(exc)), damaged=True) from None
    finally:
        conn.close()
    return Snapshot(path=path, size_bytes=path.stat().st_size, revision=row[0] if row else None, counts=counts)


def online_copy(source: Path | sqlite3.Connection, target: Path) -> None:
    """Copy a registry with SQLite's online backup API (a consistent snapshot, WAL included, while other
    connections keep writing) to a new file ``target``, written beside it first and renamed into place."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    own = not isinstance(source, sqlite3.Connection)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10) if own else source
    try:
        with sqlite3.connect(partial) as dst:
            src.backup(dst)
            # A self-contained file: no -wal beside it that a later copy could forget.
            dst.execute("PRAGMA journal_mode=DELETE")
        dst.close()
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
        if own:
            src.close()


def restore_into(backup: Path, registry: Path, *, timeout_s: float = 10.0) -> None:
    """Write ``backup`` over the live ``registry`` through the backup API: connections other processes have
    open see the restored content at their next transaction (replacing the file under them would corrupt
    it through its WAL)."""
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(registry, timeout=timeout_s)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def replace_damaged(backup: Path, registry: Path) -> None:
    """Put a copy of ``backup`` in place of a damaged registry file (nobody can be using a damaged file
    successfully, and the backup API cannot write into one); stale -wal/-shm files go with it."""
    online_copy(backup, registry.with_name(f".{registry.name}.restoring"))
    for suffix in ("-wal", "-shm"):
        Path(f"{registry}{suffix}").unlink(missing_ok=True)
    os.replace(registry.with_name(f".{registry.name}.restoring"), registry)


def keep_aside(registry: Path, label: str, *, damaged: bool = False) -> Path:
    """Keep a copy of the registry beside it (``<name>.<label>-<time>``) before it is replaced: a consistent
    snapshot of a healthy one, the exact bytes (and WAL) of a damaged one, for whoever investigates."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = registry.with_name(f"{registry.name}.{label}-{stamp}")
    if not damaged:
        try:
            online_copy(registry, kept)
            return kept
        except sqlite3.DatabaseError:  # damaged after all: keep the bytes
            pass
    shutil.copy2(registry, kept)
    if Path(f"{registry}-wal").exists():
        shutil.copy2(f"{registry}-wal", f"{kept}-wal")
    return kept
