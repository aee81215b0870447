"""The per-version deploy summary and branch heads the database keeps (migration 0011, triggers) always equal a
recomputation from the deploys, versions and audit log: after imports, syncs from the loopback Netlify
simulator, promotions, rollbacks, pins, deletes, retention apply, gate verdicts of every shape, raw SQL writes,
a migration from 0010 over existing rows and a bulk load. Real SQLite files throughout (PostgreSQL:
tests/test_postgres.py)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from retention_summary_check import assert_retention_summary_matches
from sqlalchemy import select, text

from vibedash.actions import deploys as actions
from vibedash.actions.retention_apply import apply_plan, current_plan
from vibedash.cli import main
from vibedash.config import load_settings
from vibedash.decisions.gate import policy_from_strings
from vibedash.decisions.retention import RetentionPolicy
from vibedash.netlify.sync import sync_site
from vibedash.registry import records as registry
from vibedash.registry.audit import record_event, record_event_in
from vibedash.registry.db import alembic_config, open_registry, unit_of_work
from vibedash.registry.demo import DEMO_SITE_ID, build_demo
from vibedash.registry.models import Deploy, Version, VersionDeploySummary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

FIXTURES = Path(__file__).parent / "fixtures"
PASSING = policy_from_strings(["aime25 >= 0"])
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _gate_of(engine, sha: str) -> int | None:
    with unit_of_work(engine) as session:
        version = registry.find_version(session, sha)
        return session.get(VersionDeploySummary, version.id).gate


def test_the_summary_follows_every_action_sync_and_import(demo, sim, client, registry_url, capsys) -> None:
    assert assert_retention_summary_matches(demo) == 40
    # an import creates a version (and its row) with no deploy yet
    result = FIXTURES / "results" / "lm_eval" / "results_2025-11-20T10-31-07.412399.json"
    assert main(["--db", registry_url, "import", "--commit", "feedface1", "--create", str(result)]) == 0
    assert_retention_summary_matches(demo)
    # promote (a verdict in its audit line, then the live deploy moves) and roll back
    with unit_of_work(demo) as session:
        target = registry.best_candidate(session)[1].netlify_id
        target_sha = registry.find_deploy(session, target).version.sha
    actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="better", policy=PASSING)
    assert assert_retention_summary_matches(demo) == 40 and _gate_of(demo, target_sha) == 1
    actions.rollback(demo, client, DEMO_SITE_ID, actor="t", reason="regression")
    assert_retention_summary_matches(demo)
    # pins, and gate verdicts of every shape the audit log can hold
    plan = current_plan(demo, load_settings(), policy=RetentionPolicy())
    victim = plan.prune[0].netlify_id
    actions.set_pin(demo, victim, pinned=True, actor="t", reason="baseline")
    actions.set_pin(demo, victim, pinned=False, actor="t")
    for verdict, gate in (({"passed": False}, 0), ({"summary": "no verdict"}, 0), ({"passed": 1}, 1),
                          ({"passed": ""}, 0), ({"passed": []}, 0), ({"passed": {"a": 1}}, 1), ({"passed": None}, 0)):
        record_event(demo, kind="gate", actor="t", target=target_sha, version_sha=target_sha, verdict=verdict)
        assert_retention_summary_matches(demo)
        assert _gate_of(demo, target_sha) == gate, verdict
    assert main(["--db", registry_url, "gate", "--commit", target_sha[:12]]) in (0, 1)
    assert_retention_summary_matches(demo)
    # a sync picks up new deploys (one of a new commit, one building, one failed) and expires the deleted
    sim.add_deploy(DEMO_SITE_ID, commit_ref=target_sha, branch="exp/new", context="branch-deploy")
    sim.add_deploy(DEMO_SITE_ID, commit_ref="c0ffee" * 6 + "0000", state="building")
    sim.add_deploy(DEMO_SITE_ID, commit_ref=target_sha, state="error", publish=False)
    sync_site(demo, client, DEMO_SITE_ID, actor="t", full=True)
    assert assert_retention_summary_matches(demo) == 41
    # retention apply deletes what the plan prunes (each an audited action that marks the deploy expired)
    plan = current_plan(demo, load_settings(), policy=RetentionPolicy())
    assert apply_plan(demo, client, DEMO_SITE_ID, plan, actor="t").complete
    assert_retention_summary_matches(demo)
    capsys.readouterr()


def test_the_summary_follows_raw_writes_moves_and_deletes(demo_engine) -> None:
    engine = demo_engine
    with unit_of_work(engine) as session:
        first, second = session.scalars(select(Version).order_by(Version.id).limit(2)).all()
        deploy = session.scalars(select(Deploy).where(Deploy.version_id == first.id)).first()
        deploy.version_id = second.id  # a deploy moves to another version: both rows change
    assert_retention_summary_matches(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE version SET branch = 'renamed' WHERE id = :id"), {"id": second.id})
        conn.execute(text("UPDATE deploy SET branch = '' WHERE version_id = :id"), {"id": second.id})
        conn.execute(text("UPDATE deploy SET state = 'error' WHERE id = (SELECT min(id) FROM deploy)"))
        conn.execute(text("UPDATE deploy SET expired_at = created_at WHERE id % 3 = 0"))
        conn.execute(text("INSERT INTO event (kind, actor, status, version_sha, verdict, override, started_at) "
                          "VALUES ('gate', 't', 'succeeded', :sha, '{\"passed\": true}', 0, "
                          "'2030-01-01 00:00:00.000000')"),
                     {"sha": second.sha})
    assert_retention_summary_matches(engine)
    assert _gate_of(engine, second.sha) == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE event SET started_at = '2000-01-01 00:00:00.000000' WHERE version_sha = :sha"),
                     {"sha": second.sha})
        conn.execute(text("DELETE FROM event WHERE version_sha = :sha AND verdict IS NOT NULL"), {"sha": second.sha})
        conn.execute(text("UPDATE deploy SET version_id = NULL WHERE id = (SELECT max(id) FROM deploy)"))
    assert_retention_summary_matches(engine)
    assert _gate_of(engine, second.sha) is None
    with unit_of_work(engine) as session:  # its deploys lose their version, its row goes with it
        session.delete(session.get(Version, second.id))
    assert_retention_summary_matches(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM deploy WHERE id % 2 = 0"))
    assert_retention_summary_matches(engine)


verdicts = st.sampled_from([None, {"passed": True}, {"passed": False}, {"x": 1}, {"passed": 0}, {"passed": "no"},
                            {"nested": {"passed": True}}, [1, 2], "passed", {"passed": None}])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["deploy", "state", "expire", "move", "gate",
                                                                     "delete", "branch", "live"]),
                                 st.integers(0, 30), verdicts), min_size=1, max_size=25))
def test_random_writes_keep_the_summary_equal_to_a_recomputation(engine, writes) -> None:
    with engine.begin() as conn:
        for table in ("event", "deploy", "version"):
            conn.execute(text(f"DELETE FROM {table}"))
    with unit_of_work(engine) as session:
        versions = [Version(sha=f"{i:x}" * 40, branch=("main", "exp", None)[i % 3], created_at=NOW) for i in range(5)]
        session.add_all(versions)
    for k, (v, what, n, verdict) in enumerate(writes):
        with unit_of_work(engine) as session:
            version = session.scalars(select(Version).order_by(Version.id).offset(v).limit(1)).one()
            deploys = session.scalars(select(Deploy).order_by(Deploy.id)).all()
            pick = deploys[n % len(deploys)] if deploys else None
            if what == "deploy" or pick is None:
                session.add(Deploy(netlify_id=f"d{k:04d}", version_id=version.id,
                                   created_at=NOW - timedelta(hours=n % 4),
                                   state=("ready", "old", "error", "building")[n % 4], branch=(None, "", "exp")[n % 3]))
            elif what == "state":
                pick.state = ("ready", "error", "current", "uploading")[n % 4]
            elif what == "expire":
                pick.expired_at = None if pick.expired_at else NOW
            elif what == "move":
                pick.version_id = None if n % 5 == 0 else version.id
            elif what == "delete":
                session.delete(pick)
            elif what == "branch":
                version.branch = (None, "main", "exp", "")[n % 4]
            elif what == "live":
                pick.is_live = not pick.is_live
            else:
                record_event_in(session, kind="gate", actor="t", version_sha=version.sha, verdict=verdict)
        assert_retention_summary_matches(engine)


def test_migrating_from_0010_fills_the_summary_from_existing_rows(registry_url: str) -> None:
    engine = open_registry(registry_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    for sha_index, verdict in ((0, '{"passed": false}'), (1, '{"passed": true}'), (2, '{"other": 1}')):
        with unit_of_work(engine) as session:
            sha = session.scalars(select(Version.sha).order_by(Version.id).offset(sha_index).limit(1)).one()
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO event (kind, actor, status, version_sha, verdict, override, started_at) "
                              "VALUES ('gate', 't', 'succeeded', :sha, :v, 0, '2026-01-01 00:00:00.000000')"),
                         {"sha": sha, "v": verdict})
    cfg = alembic_config(engine)
    command.downgrade(cfg, "0010")
    with engine.begin() as conn:  # rows written at 0010, with no triggers to see them
        assert not conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'version_deploy_summary'")).all()
        conn.execute(text("UPDATE deploy SET expired_at = created_at WHERE id % 4 = 0"))
        conn.execute(text("UPDATE deploy SET state = 'error' WHERE id % 5 = 0"))
    command.upgrade(cfg, "head")
    assert assert_retention_summary_matches(engine) == 40
    with unit_of_work(engine) as session:
        gates = [g for (g,) in session.execute(select(VersionDeploySummary.gate)
                                               .order_by(VersionDeploySummary.version_id).limit(3))]
    assert gates == [0, 1, None]
    engine.dispose()


def test_a_bulk_load_refills_the_summary_and_keeps_the_triggers(tmp_path: Path) -> None:
    from scale_data import Shape, build_registry

    path = tmp_path / "bulk.db"
    timings = build_registry(path, Shape(versions=300, deploys=1500, events=3000))
    assert "summaries" in timings
    engine = open_registry(f"sqlite:///{path}")
    assert assert_retention_summary_matches(engine) == 300
    with unit_of_work(engine) as session:
        assert session.scalar(select(VersionDeploySummary.gate).where(VersionDeploySummary.gate.is_not(None))) \
            is not None
    with engine.begin() as conn:  # the triggers are back after the load
        conn.execute(text("UPDATE deploy SET expired_at = NULL WHERE id % 7 = 0"))
    assert_retention_summary_matches(engine)
    engine.dispose()
