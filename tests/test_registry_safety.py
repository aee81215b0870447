"""Nothing lost: failed migrations leave the database as it was, damage is found at open, a busy registry
says so, and backup/restore round-trip a registry that is being written to. SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from test_postgres import pg_url, postgres_server  # noqa: F401  (the throwaway PostgreSQL cluster)

from vibedash.cli import main
from vibedash.registry import db as registry_db
from vibedash.registry.audit import record_event
from vibedash.registry.db import (
    DatabaseError,
    DatabaseUnavailable,
    alembic_config,
    open_registry,
    schema_revisions,
    unit_of_work,
)
from vibedash.registry.demo import build_demo


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request, registry_url: str) -> str:
    if request.param == "sqlite":
        return registry_url
    return request.getfixturevalue("pg_url")


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def at_previous_revision(url: str) -> tuple[str, str]:
    """A registry with data, one revision behind the code: (its revision, the head)."""
    engine = open_registry(url)
    with unit_of_work(engine) as session:
        build_demo(session)
    command.downgrade(alembic_config(engine), "-1")
    revisions = schema_revisions(engine)
    engine.dispose()
    return revisions


def solve_run_columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("solve_run")}
    finally:
        engine.dispose()


def revision_of(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


# --- migrations ------------------------------------------------------------------------------------------

def test_a_failed_post_check_leaves_the_database_as_it_was_and_the_next_open_fails_too(
        registry_url: str, capsys) -> None:
    previous, head = at_previous_revision(registry_url)
    with sqlite3.connect(sqlite_path(registry_url)) as conn:  # foreign keys off: an orphan slips in
        conn.execute("INSERT INTO deploy (netlify_id, site_id, version_id, state, created_at, locked, is_live, "
                     "pinned) VALUES ('orphan', NULL, 987654, 'ready', '2026-01-01', 0, 0, 0)")
    before = solve_run_columns(registry_url)

    with pytest.raises(DatabaseUnavailable, match=rf"from {previous} to {head} failed and was undone.*"
                                                   r"deploy row \d+ points to a missing version"):
        open_registry(registry_url)
    assert revision_of(registry_url) == previous
    assert solve_run_columns(registry_url) == before  # the rebuilt table was rolled back too

    # The next open does not find a schema marked upgraded: it tries again and says why it cannot.
    assert main(["--db", registry_url, "list"]) == 3
    assert "points to a missing version" in one_line_error(capsys)
    assert revision_of(registry_url) == previous

    with sqlite3.connect(sqlite_path(registry_url)) as conn:  # once the orphan is dealt with, it upgrades
        conn.execute("DELETE FROM deploy WHERE netlify_id = 'orphan'")
    open_registry(registry_url).dispose()
    assert revision_of(registry_url) == head


def solve_run_columns_the_head_adds(url: str) -> list[str]:
    """Columns of solve_run in the models that a registry one revision behind does not have yet."""
    from vibedash.registry.models import SolveRun

    present = solve_run_columns(url)
    return [column.name for column in SolveRun.__table__.columns if column.name not in present]


def test_a_migration_failing_halfway_is_undone(any_url: str, capsys) -> None:
    previous, head = at_previous_revision(any_url)
    added = solve_run_columns_the_head_adds(any_url)
    assert len(added) >= 2, "the head migration is expected to add solve_run columns"
    engine = create_engine(any_url)
    with engine.begin() as conn:  # what the next migration adds is already there: it fails halfway
        conn.execute(text(f"ALTER TABLE solve_run ADD COLUMN {added[0]} INTEGER"))
    engine.dispose()
    before = solve_run_columns(any_url)

    assert main(["--db", any_url, "list"]) == 3
    assert f"from {previous} to {head} failed and was undone (the database is unchanged)" in one_line_error(capsys)
    assert revision_of(any_url) == previous
    assert solve_run_columns(any_url) == before and added[-1] not in before
    with pytest.raises(DatabaseUnavailable):
        open_registry(any_url)


# --- damage found at open ----------------------------------------------------------------------------------

def overwrite_pages(path: Path, first: int, last: int) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for number in range(first, last):
        data[number * page + 8:(number + 1) * page] = bytes([0xA5]) * (page - 8)
    path.write_bytes(bytes(data))


def test_overwritten_pages_are_reported_at_open_and_restore_repairs(registry_url: str, tmp_path: Path,
                                                                    capsys) -> None:
    engine = open_registry(registry_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    engine.dispose()
    backup = tmp_path / "good.db"
    assert main(["--db", registry_url, "backup", str(backup)]) == 0
    capsys.readouterr()
    path = sqlite_path(registry_url)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    overwrite_pages(path, 3, 8)
    damaged = path.read_bytes()

    with pytest.raises(DatabaseUnavailable, match="is damaged"):
        open_registry(registry_url)
    for verb in (["list"], ["show", "a" * 8], ["export"]):
        assert main(["--db", registry_url, *verb]) == 3
        assert "is damaged" in one_line_error(capsys)

    assert main(["--db", registry_url, "restore", str(backup)]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "kept at" in out
    kept = next(p for p in tmp_path.glob("registry.db.replaced-*") if not p.name.endswith(("-wal", "-shm")))
    assert kept.read_bytes() == damaged  # the damaged file is kept as it was, for forensics
    assert main(["--db", registry_url, "list", "--json"]) == 0
    assert '"total": 40' in capsys.readouterr().out


def test_damage_met_after_opening_a_large_registry_is_one_line_too(registry_url: str, monkeypatch,
                                                                  capsys) -> None:
    from vibedash.registry import sqlite_file

    engine = open_registry(registry_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    engine.dispose()
    path = sqlite_path(registry_url)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    overwrite_pages(path, 3, 8)
    monkeypatch.setattr(sqlite_file, "QUICK_CHECK_MAX_BYTES", 0)  # as if too big to check at every open
    codes = [main(["--db", registry_url, *verb]) for verb in (["show", "a" * 8], ["export"], ["list"])]
    errors = capsys.readouterr().err
    assert "Traceback" not in errors
    assert 3 in codes and "is damaged (database disk image is malformed)" in errors
    assert set(codes) <= {0, 1, 3}


def test_a_zero_length_file_is_not_silently_a_new_registry(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "vibedash.db"
    empty.touch()
    url = f"sqlite:///{empty}"
    with pytest.raises(DatabaseUnavailable, match="empty file"):
        open_registry(url)
    assert main(["--db", url, "init"]) == 3
    assert "empty file (0 bytes)" in one_line_error(capsys)
    assert empty.stat().st_size == 0


def test_a_file_that_is_not_a_database_is_bad_input(tmp_path: Path, capsys) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("not a database\n" * 50)
    with pytest.raises(DatabaseError) as caught:
        open_registry(f"sqlite:///{other}")
    assert not isinstance(caught.value, DatabaseUnavailable)
    assert main(["--db", f"sqlite:///{other}", "list"]) == 2
    assert "not a SQLite database" in one_line_error(capsys)


# --- busy and unreachable ------------------------------------------------------------------------------------

def test_a_writer_blocked_past_the_busy_timeout_is_told_to_retry(registry_url: str, monkeypatch, capsys) -> None:
    open_registry(registry_url).dispose()
    monkeypatch.setattr(registry_db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    holder = sqlite3.connect(sqlite_path(registry_url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        started = time.monotonic()
        assert main(["--db", registry_url, "record", "--commit", "b" * 40]) == 3
        assert "registry busy, retry" in one_line_error(capsys)
        assert time.monotonic() - started < 10
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert main(["--db", registry_url, "record", "--commit", "b" * 40]) == 0


def test_a_writer_blocked_on_postgresql_is_told_to_retry(pg_url: str, monkeypatch, capsys) -> None:  # noqa: F811
    open_registry(pg_url).dispose()
    monkeypatch.setattr(registry_db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    holder = create_engine(pg_url)
    with holder.connect() as conn:
        conn.execute(text("LOCK TABLE version IN ACCESS EXCLUSIVE MODE"))  # a long migration or bulk import
        started = time.monotonic()
        assert main(["--db", pg_url, "record", "--commit", "b" * 40]) == 3
        assert "registry busy, retry" in one_line_error(capsys)
        assert time.monotonic() - started < 10
        conn.rollback()
    holder.dispose()
    assert main(["--db", pg_url, "record", "--commit", "b" * 40]) == 0


def test_an_unreachable_postgresql_is_unavailable_and_its_password_never_shown(capsys) -> None:
    url = "postgresql+psycopg://vibedash:hunter2-secret@127.0.0.1:1/vibedash"
    assert main(["--db", url, "list"]) == 3
    err = one_line_error(capsys)
    assert "unavailable" in err and "hunter2-secret" not in err
    assert main(["--db", url, "settings"]) == 0
    out = capsys.readouterr().out
    assert "vibedash:***@127.0.0.1" in out and "hunter2-secret" not in out


# --- backup and restore ----------------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Another user of the registry, writing an audit event every few milliseconds until stopped."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.engine = open_registry(url)
        self.written = 0
        self.errors: list[BaseException] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                record_event(self.engine, kind="import", actor="writer", target=str(self.written + 1))
                self.written += 1
            except BaseException as exc:  # noqa: BLE001  (reported by the test)
                self.errors.append(exc)
                return
            time.sleep(0.002)

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
        self.engine.dispose()


def written_targets(url: str) -> set[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {int(t) for t in conn.execute(text("SELECT target FROM event WHERE actor = 'writer'")).scalars()}
    finally:
        engine.dispose()


def test_backup_and_restore_round_trip_while_a_writer_is_active(registry_url: str, tmp_path: Path, capsys) -> None:
    engine = open_registry(registry_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    engine.dispose()
    writer = Writer(registry_url)
    writer.start()
    try:
        time.sleep(0.3)
        backup = tmp_path / "backup.db"
        assert main(["--db", registry_url, "backup", str(backup)]) == 0
        assert f"to {backup} (schema " in capsys.readouterr().out
        in_backup = written_targets(f"sqlite:///{backup}")
        time.sleep(0.3)  # the writer goes on: these events are not in the backup
        before_restore = writer.written
        assert main(["--db", registry_url, "restore", str(backup)]) == 0
        time.sleep(0.2)  # and writes on into the restored registry
    finally:
        writer.stop()
    assert writer.errors == []
    assert in_backup and in_backup == set(range(1, max(in_backup) + 1))  # a consistent snapshot
    restored = written_targets(registry_url)
    assert in_backup <= restored
    lost_on_purpose = set(range(max(in_backup) + 1, before_restore + 1)) - restored
    assert lost_on_purpose, "restore put the backup's state back, so events after the backup are gone"
    assert max(restored) > before_restore  # the writer's later events landed in the restored registry
    with sqlite3.connect(sqlite_path(registry_url)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM version").fetchone() == (40,)
    kept = next(p for p in tmp_path.glob("registry.db.replaced-*") if not p.name.endswith(("-wal", "-shm")))
    assert max(written_targets(f"sqlite:///{kept}")) >= before_restore - 1  # what it replaced is kept whole


def test_restore_checks_the_file_first(registry_url: str, tmp_path: Path, capsys) -> None:
    open_registry(registry_url).dispose()
    newer = tmp_path / "newer.db"
    assert main(["--db", registry_url, "backup", str(newer)]) == 0
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    broken = tmp_path / "broken.db"
    broken.write_bytes(newer.read_bytes()[:4096] + b"\0" * 100)
    capsys.readouterr()

    assert main(["--db", registry_url, "restore", str(newer)]) == 2
    assert "newer vibedash" in one_line_error(capsys)
    assert main(["--db", registry_url, "restore", str(broken)]) == 2
    assert "not restored" in one_line_error(capsys)
    assert main(["--db", registry_url, "restore", str(tmp_path / "missing.db")]) == 2
    assert "no such file" in one_line_error(capsys)
    assert list(tmp_path.glob("registry.db.replaced-*")) == []  # nothing was touched


def test_restoring_an_older_backup_upgrades_it(registry_url: str, tmp_path: Path, capsys) -> None:
    previous, head = at_previous_revision(registry_url)
    old = tmp_path / "old.db"
    assert main(["--db", registry_url, "backup", str(old)]) == 0
    assert f"schema {previous}" in capsys.readouterr().out
    open_registry(registry_url).dispose()
    assert main(["--db", registry_url, "restore", str(old)]) == 0
    assert f"upgraded to schema {head}" in capsys.readouterr().out
    assert revision_of(registry_url) == head


def test_backup_refuses_to_overwrite_and_explains_postgresql(registry_url: str, tmp_path: Path, capsys,
                                                              pg_url: str) -> None:  # noqa: F811
    open_registry(registry_url).dispose()
    target = tmp_path / "b.db"
    target.write_text("keep me")
    assert main(["--db", registry_url, "backup", str(target)]) == 2
    assert "already exists" in one_line_error(capsys) and target.read_text() == "keep me"
    assert main(["--db", registry_url, "backup", str(tmp_path)]) == 2
    assert "is a folder" in one_line_error(capsys)

    secret_url = pg_url.replace("vibedash@", "vibedash:pw-not-shown@")
    for verb in ("backup", "restore"):
        assert main(["--db", secret_url, verb, str(tmp_path / "x.dump")]) == 2
        err = one_line_error(capsys)
        assert ("pg_dump" if verb == "backup" else "pg_restore") in err and "pw-not-shown" not in err


def test_the_dashboard_says_a_damaged_registry_needs_a_restore(tmp_path: Path, monkeypatch) -> None:
    from pagetest import clear_streamlit_caches, page_test

    from vibedash.ui import frame

    empty = tmp_path / "vibedash.db"
    empty.touch()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    at = page_test(frame.HISTORY, f"sqlite:///{empty}", monkeypatch, scratch).run()
    clear_streamlit_caches()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("The registry cannot be used now:") and "python -m vibedash restore" in error
    assert empty.stat().st_size == 0


def test_a_postgresql_url_naming_a_missing_database_is_a_setting_to_fix(postgres_server: str,  # noqa: F811
                                                                        capsys) -> None:
    assert main(["--db", f"{postgres_server}/no_such_registry", "list"]) == 2
    assert 'database "no_such_registry" does not exist' in one_line_error(capsys)
