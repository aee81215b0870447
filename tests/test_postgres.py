"""The registry on a real PostgreSQL server (the team setup): migrations, queries, CLI and sync.

A throwaway cluster is started in a temp folder on a loopback port for this module and stopped after it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from vibedash.cli import main
from vibedash.netlify.sync import sync_site
from vibedash.registry import records as registry
from vibedash.registry.db import alembic_config, open_registry, unit_of_work
from vibedash.registry.demo import build_demo
from vibedash.registry.models import Base


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_server():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql; .ci/run does)")
    pytest.importorskip("psycopg", reason="pip install -r requirements-dev.txt (psycopg)")
    # PostgreSQL refuses to run as root: run it as the postgres user the package creates, in a folder that
    # user can reach (pytest's own temp folders are private to root).
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="vibedash-pg-"))
    if as_user:
        shutil.chown(folder, user="postgres")
    port = _free_port()
    data = folder / "data"
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "vibedash", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "server.log"), "-w", "-o",
                    f"-k {folder} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://vibedash@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: str) -> str:
    """A fresh, empty database on the server for each test."""
    from sqlalchemy import create_engine

    name = f"reg_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"{postgres_server}/{name}"


def test_migrations_round_trip_and_agree_with_the_models_on_postgres(pg_url: str) -> None:
    engine = open_registry(pg_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    cfg = alembic_config(engine)
    command.downgrade(cfg, "-1")
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("SELECT count(*) FROM version")).scalar_one() == 40
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    engine.dispose()


def test_history_queries_and_timezones_on_postgres(pg_url: str) -> None:
    engine = open_registry(pg_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    with unit_of_work(engine) as session:
        benchmarks = registry.benchmarks_in_registry(session)
        rows, total = registry.history_page(session, benchmarks, registry.HistoryFilter(minimums={"aime25": 60}),
                                            page=1, page_size=10)
        assert 0 < total <= 40 and all(r["aime25"] >= 60 for r in rows)
        assert rows[0]["created_at"].tzinfo is not None
        assert registry.best_candidate(session) is not None
        assert registry.live_deploy(session).locked
    engine.dispose()


def test_cli_import_gate_and_export_on_postgres(pg_url: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VIBEDASH_DB_URL", pg_url)
    sha = "9be11d0c" + "1" * 32
    results = tmp_path / "scores.json"
    results.write_text(json.dumps({"aime25": 76.0, "hmmt25": 49.8}))
    assert main(["import", "--commit", sha, "--create", str(results)]) == 0
    assert main(["gate", "--commit", sha, "--rule", "aime25 >= 75"]) == 0
    assert main(["gate", "--commit", sha, "--rule", "aime25 >= 80"]) == 1
    capsys.readouterr()
    assert main(["export", "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert [r["score"] for r in exported["results"]] == [76.0, 49.8]
    assert [e["kind"] for e in exported["events"]] == ["import", "gate", "gate"]


def test_sync_into_postgres(pg_url: str, sim, client) -> None:
    sim.create_site("pg", site_id="site-pg")
    sim.seed(150, "site-pg")
    engine = open_registry(pg_url)
    first = sync_site(engine, client, "site-pg", actor="tester")
    again = sync_site(engine, client, "site-pg", actor="tester")
    assert (first.created, first.requests, again.requests) == (150, 3, 2)
    engine.dispose()


def test_sample_summaries_follow_every_write_on_postgres(pg_url: str, capsys) -> None:
    """Importers, a resumed eval run and cascading deletes keep the per-problem summaries equal to the samples."""
    from sample_summaries_check import assert_summaries_match

    from vibedash.importers.base import SampleOutcome
    from vibedash.registry import eval_runs

    engine = open_registry(pg_url)
    samples = Path(__file__).parent / "fixtures" / "samples"
    for sha, name in (("abcdef1", "2026-11-20T10-31-07+00-00_aime25_Yx9kq2mTz4.eval"),
                      ("abcdef2", "details_lighteval|aime25|0_2026-11-20T10-31-07.parquet")):
        assert main(["--db", pg_url, "import", "--commit", sha, "--create", str(samples / name)]) == 0
    assert assert_summaries_match(engine) == 6
    with unit_of_work(engine) as session:
        version_id = registry.find_version(session, "abcdef1").id
    start = dict(version_id=version_id, benchmark="toy", metric="pass@1", protocol_key="k" * 64, protocol={},
                 problems_file=None, problems=1, samples_total=2, actor="test")
    run_id, _, _ = eval_runs.start_or_resume(engine, **start)
    eval_runs.record_samples(engine, run_id, [SampleOutcome("p", 0, True, "4", 5, 2, 0.5, "stop")], elapsed_s=1.0)
    eval_runs.end_run(engine, run_id, eval_runs.CANCELLED)
    assert eval_runs.start_or_resume(engine, **start)[1] == {("p", 0)}
    eval_runs.record_samples(engine, run_id, [SampleOutcome("p", 1, False, "5", 9, None, None, "length")],
                             elapsed_s=2.0)
    eval_runs.finalize(engine, run_id, settings={}, temperature=0.6, top_p=1.0, max_tokens=9, k=2, source_file=None)
    assert assert_summaries_match(engine) == 7
    with unit_of_work(engine) as session:
        session.delete(registry.find_version(session, "abcdef1"))
    assert assert_summaries_match(engine) == 3
    capsys.readouterr()


def test_retention_summary_follows_every_write_on_postgres(pg_url: str, sim, client) -> None:
    """The triggers of migration 0011 on PostgreSQL: sync, gate verdicts of every shape, moves, deletes, and a
    downgrade to 0010 and back over the rows, each leaving the summary equal to a recomputation."""
    from retention_summary_check import assert_retention_summary_matches

    from vibedash.registry.audit import record_event
    from vibedash.registry.models import Deploy, Version

    engine = open_registry(pg_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    assert assert_retention_summary_matches(engine) == 40
    with unit_of_work(engine) as session:
        first, second = session.scalars(select(Version).order_by(Version.id).limit(2)).all()
        shas = (first.sha, second.sha)
    for verdict in ({"passed": True}, {"passed": 0}, {"x": 1}, {"passed": "yes"}, {"passed": {}}, [1], None):
        record_event(engine, kind="gate", actor="t", version_sha=shas[0], verdict=verdict)
        assert_retention_summary_matches(engine)
    sim.create_site("pg", site_id="site-pg")
    sim.seed(30, "site-pg")
    sync_site(engine, client, "site-pg", actor="t")
    assert assert_retention_summary_matches(engine) == 70
    with engine.begin() as conn:
        conn.execute(text("UPDATE deploy SET version_id = (SELECT id FROM version WHERE sha = :sha) "
                          "WHERE id % 4 = 0"), {"sha": shas[1]})
        conn.execute(text("UPDATE deploy SET expired_at = created_at, branch = '' WHERE id % 3 = 0"))
        conn.execute(text("UPDATE version SET branch = 'renamed' WHERE sha = :sha"), {"sha": shas[1]})
        conn.execute(text("DELETE FROM event WHERE version_sha = :sha"), {"sha": shas[0]})
    assert_retention_summary_matches(engine)
    with unit_of_work(engine) as session:
        session.delete(session.get(Version, second.id))
        session.query(Deploy).filter(Deploy.id % 5 == 0).delete()
    assert_retention_summary_matches(engine)
    cfg = alembic_config(engine)
    command.downgrade(cfg, "0010")
    with engine.begin() as conn:
        conn.execute(text("UPDATE deploy SET state = 'error' WHERE id % 2 = 0"))
    command.upgrade(cfg, "head")
    assert_retention_summary_matches(engine)
    engine.dispose()


def test_the_server_warm_up_reads_a_postgres_registry(pg_url: str, scratch) -> None:
    """The dashboard's warm-up (vibedash.ui.warm_up) reads the overview's facts from PostgreSQL as from SQLite,
    in a fresh process as a new server would."""
    engine = open_registry(pg_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    engine.dispose()
    repo = Path(__file__).resolve().parents[1]
    probe = ("import json; from pathlib import Path; from vibedash.ui import warm_up; "
             "from vibedash.registry import generation; "
             f"warm_up.warm_up(Path({str(repo)!r})); print(json.dumps(generation.CACHE.misses))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=scratch, timeout=120,
                          env={**os.environ, "VIBEDASH_DB_URL": pg_url, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) > 0
    assert "warm-up stopped early" not in done.stderr


def test_patched_retention_plans_on_postgres(pg_url: str) -> None:
    """Migration 0012 on PostgreSQL: pins, locks, publishes and contexts mark their version, a removed version is
    counted, and every plan patched from the one before (its versions and its deploy rules' candidates) is the
    plan made from scratch."""
    from test_retention_incremental import NOW, POLICIES, WRITES, assert_same, write

    from vibedash.registry.retention.plan import RegistryPlan

    engine = open_registry(pg_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    previous = RegistryPlan(engine, POLICIES[0], NOW)
    rules_patched = 0
    for k, what in enumerate(w for w in WRITES if w != "later"):
        with unit_of_work(engine) as session:
            write(session, what, 3 * k + 1, k)
        patched = RegistryPlan(engine, POLICIES[0], NOW, previous=previous)
        assert_same(patched, RegistryPlan(engine, POLICIES[0], NOW))
        rules_patched += patched.rules_patched
        if what in ("pin", "lock", "publish", "context"):
            assert patched.patched and patched.rules_patched, what
        previous = patched
    assert rules_patched >= 10
    with engine.connect() as conn:
        assert conn.execute(text("SELECT summary_removals FROM registry_state")).scalar() >= 1
    engine.dispose()
