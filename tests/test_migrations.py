"""The schema is built only through migrations; they round-trip with data, and agree with the models."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from vibedash.registry.db import (
    DatabaseError,
    alembic_config,
    create_registry_engine,
    open_registry,
    schema_revisions,
)
from vibedash.registry.models import Base

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
TABLES = ["version", "site", "deploy", "benchmark_result", "problem_result", "event", "solve_run"]


def _insert_rows(conn) -> None:
    conn.execute(text("INSERT INTO version (id, sha, branch, synthetic, created_at) VALUES "
                      "(1, 'a' || printf('%039d', 1), 'main', 0, :t)"), {"t": NOW})
    conn.execute(text("INSERT INTO site (id, name) VALUES ('site-1', 'demo')"))
    conn.execute(text("INSERT INTO deploy (id, netlify_id, site_id, version_id, state, created_at, locked, is_live, "
                      "pinned) VALUES (1, 'd1', 'site-1', 1, 'ready', :t, 1, 1, 0)"), {"t": NOW})
    conn.execute(text("INSERT INTO benchmark_result (id, version_id, benchmark, metric, score, is_primary, "
                      "source_format, imported_at) VALUES (1, 1, 'aime25', 'pass@1', 74.4, 1, 'plain', :t)"),
                 {"t": NOW})
    conn.execute(text("INSERT INTO problem_result (id, result_id, problem_id, samples, correct) "
                      "VALUES (1, 1, 'p0', 8, 6)"))
    conn.execute(text("INSERT INTO event (id, kind, actor, status, override, started_at) "
                      "VALUES (1, 'promote', 'me', 'succeeded', 0, :t)"), {"t": NOW})
    conn.execute(text("INSERT INTO solve_run (id, cache_key, version_id, prompt, mode, backend, output, stopped, "
                      "created_at) VALUES (1, 'k1', 1, 'What is 2+2?', 'single', 'local', '4', 0, :t)"), {"t": NOW})


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def test_round_trip_keeps_rows_in_every_table(registry_url: str) -> None:
    engine = open_registry(registry_url)
    with engine.begin() as conn:
        _insert_rows(conn)
    assert _counts(engine) == {t: 1 for t in TABLES}

    cfg = alembic_config(engine)
    command.downgrade(cfg, "-1")
    assert _counts(engine) == {t: 1 for t in TABLES}
    command.upgrade(cfg, "head")
    assert _counts(engine) == {t: 1 for t in TABLES}
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
        assert conn.execute(text("SELECT score FROM benchmark_result")).scalar_one() == 74.4
    assert schema_revisions(engine)[0] == schema_revisions(engine)[1]


def test_downgrade_to_base_and_back(registry_url: str) -> None:
    engine = open_registry(registry_url)
    cfg = alembic_config(engine)
    command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert set(TABLES) <= set(inspect(engine).get_table_names())


def test_models_and_migrations_agree(registry_url: str) -> None:
    engine = open_registry(registry_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_sqlite_connections_have_wal_foreign_keys_and_busy_timeout(registry_url: str) -> None:
    engine = open_registry(registry_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() >= 5000


def test_pending_upgrade_backs_up_the_file_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = open_registry(url)
    with engine.begin() as conn:
        _insert_rows(conn)
    command.downgrade(alembic_config(engine), "-1")
    previous = schema_revisions(engine)[0]
    engine.dispose()
    open_registry(url)
    backups = list(tmp_path.glob(f"r.db.bak-{previous}-*"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as db:
        assert db.execute("SELECT count(*) FROM version").fetchone() == (1,)
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (previous,)


def test_database_from_a_newer_schema_is_refused_clearly(registry_url: str) -> None:
    engine = open_registry(registry_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseError, match="newer vibedash"):
        open_registry(registry_url)


def test_unopenable_urls_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        open_registry(f"sqlite:///{tmp_path / 'missing' / 'r.db'}")
    with pytest.raises(DatabaseError, match="cannot parse database URL"):
        create_registry_engine("not a url")
    not_a_db = tmp_path / "garbage.db"
    not_a_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseError, match="cannot open database"):
        open_registry(f"sqlite:///{not_a_db}")


# --- opening without Alembic ----------------------------------------------------------------------------------

def test_the_head_read_from_the_revision_files_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from vibedash.registry.db import MIGRATIONS_DIR, code_head_revision

    assert code_head_revision() == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_opening_a_registry_at_head_does_not_load_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    open_registry(url).dispose()  # created and migrated (Alembic loaded here, in this process)
    probe = ("import sys; from vibedash.registry.db import open_registry; open_registry(sys.argv[1]).dispose(); "
             "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))")
    done = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == "[]"


def test_a_registry_behind_head_is_still_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = open_registry(url)
    command.downgrade(alembic_config(engine), "-1")
    engine.dispose()
    engine = open_registry(url)
    try:
        current, head = schema_revisions(engine)
        assert current == head
    finally:
        engine.dispose()
