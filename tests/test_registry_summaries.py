"""Derived facts cached by registry generation always agree with a recomputation.

Every page reads a few derived facts (counts, the benchmarks present, the best candidate with its gate verdict,
the Promote page's candidates, the audit log's filter choices, History's totals and choices, the retention
plan) through vibedash.registry.generation: computed once per generation, the counter every write bumps in its
own transaction. Each test warms every cached fact, changes the registry the way the product does (an action,
an import, a sync, a migration, demo data, retention), and checks that what the caches now give equals a
recomputation from scratch. A stale cache would show the old value.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from test_postgres import pg_url, postgres_server  # noqa: F401  (the real PostgreSQL fixtures)

from vibedash.actions import deploys as actions
from vibedash.actions.retention_apply import apply_plan, current_plan
from vibedash.cli import main
from vibedash.config import load_settings
from vibedash.decisions.facts import DeployFacts
from vibedash.decisions.gate import policy_from_strings
from vibedash.decisions.retention import (
    DEFAULT_RETENTION_POLICY,
    RetentionPolicy,
    plan_retention,
    skyline,
)
from vibedash.decisions.retention.versions import score_matrix
from vibedash.netlify.sync import sync_site
from vibedash.registry import action_queries, generation, queries
from vibedash.registry import records as registry
from vibedash.registry.audit import record_event
from vibedash.registry.db import (
    alembic_config,
    open_registry,
    refresh_statistics,
    unit_of_work,
)
from vibedash.registry.demo import DEMO_SITE_ID, build_demo, load_sample_registry
from vibedash.registry.models import Event

PASSING = policy_from_strings(["aime25 >= 0"])
STRICT = policy_from_strings(["aime25 >= 74"])


def facts(engine) -> dict:
    """Every generation-cached fact, as the pages ask for it."""
    with unit_of_work(engine) as session:
        lead = queries.lead_benchmark(session)
        benchmarks = registry.benchmarks_in_registry(session)
        out = {
            "counts": registry.counts(session),
            "benchmarks": benchmarks,
            "best": queries.best_candidate(session, PASSING, lead),
            "best strict": queries.best_candidate(session, STRICT, lead),
            "history total": registry.history_page(session, benchmarks, page_size=5)[1],
            "filtered total": registry.history_page(
                session, benchmarks, registry.HistoryFilter(minimums={"aime25": 70.0}), page_size=5)[1],
            "branches": registry.branches(session),
            "contexts": queries.deploy_contexts(session),
            "states": queries.deploy_states(session),
            "headline counts": queries.headline_result_counts(session),
        }
    out["candidates"] = action_queries.candidate_verdicts(engine, PASSING)
    out["event choices"] = action_queries.event_filter_choices(engine)
    plan = current_plan(engine, load_settings(), policy=DEFAULT_RETENTION_POLICY)
    out["plan"] = (plan.decisions, plan.warnings)
    return out


def recomputed(engine) -> dict:
    generation.CACHE.clear()
    action_queries.PLANS.clear()
    return facts(engine)


def assert_caches_agree(engine) -> None:
    cached = facts(engine)
    assert cached == recomputed(engine)


def current_generation(engine) -> int:
    with unit_of_work(engine) as session:
        return generation.current(session)[1]


# --- the counter ----------------------------------------------------------------------------------------------

def test_every_write_bumps_the_generation_and_reads_do_not(engine) -> None:
    start = current_generation(engine)
    assert start >= 1  # the migration that made the counter already counted itself
    facts(engine)
    assert current_generation(engine) == start
    with unit_of_work(engine) as session:
        registry.record_version(session, "a" * 40, branch="main")
    assert current_generation(engine) > start


def test_a_rolled_back_write_leaves_the_generation_and_its_cached_facts_alone(engine) -> None:
    with unit_of_work(engine) as session:
        registry.record_version(session, "b" * 40, branch="main")
    before = current_generation(engine)
    cached_counts = facts(engine)["counts"]
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        registry.record_version(session, "c" * 40, branch="main")
        # a read inside the writing transaction sees the new version but must not cache it for others
        assert registry.counts(session).versions == 2
        raise RuntimeError("abandon")
    assert current_generation(engine) == before
    assert facts(engine)["counts"] == cached_counts
    assert_caches_agree(engine)


def state_generation(engine) -> int:
    with unit_of_work(engine) as session:
        return generation.current(session, "state")[1]


def test_a_transaction_bumps_once_and_audit_lines_leave_the_state_generation_alone(engine) -> None:
    start, state = current_generation(engine), state_generation(engine)
    with unit_of_work(engine) as session:
        for i in range(3):
            registry.record_version(session, f"{i}" * 40, branch="main")
    assert (current_generation(engine), state_generation(engine)) == (start + 1, state + 1)
    record_event(engine, kind="note", actor="tester", reason="an audit line only")
    assert (current_generation(engine), state_generation(engine)) == (start + 2, state + 1)
    with unit_of_work(engine) as session:  # an audit line first, then the registry: both counters move
        session.add(Event(kind="note", actor="tester", status="succeeded"))
        session.flush()
        registry.record_version(session, "d" * 40, branch="main")
    assert (current_generation(engine), state_generation(engine)) == (start + 3, state + 2)


def test_a_write_in_a_rolled_back_savepoint_does_not_swallow_the_next_bump(engine) -> None:
    start = state_generation(engine)
    with unit_of_work(engine) as session:
        savepoint = session.begin_nested()
        registry.record_version(session, "e" * 40, branch="main")
        savepoint.rollback()
        registry.record_version(session, "f" * 40, branch="main")
    assert state_generation(engine) == start + 1


def test_the_best_candidate_survives_audit_lines_and_follows_every_other_write(demo) -> None:
    lead_of = queries.lead_benchmark

    def best():
        with unit_of_work(demo) as session:
            return queries.best_candidate(session, PASSING, lead_of(session))

    first = best()
    hits = generation.CACHE.hits
    record_event(demo, kind="note", actor="tester", reason="an audit line only")
    assert best() == first and generation.CACHE.hits > hits  # read, not recomputed
    assert_caches_agree(demo)
    with unit_of_work(demo) as session:  # a write the choice reads: recomputed, and right
        registry.import_results(session, registry.find_version(session, first.sha), [])
        registry.upsert_deploy(session, first.deploy_id, state="error")
    assert best() != first
    assert_caches_agree(demo)


def test_core_bulk_writes_bump_it_too(engine) -> None:
    from sqlalchemy import insert

    from vibedash.registry.models import Version

    facts(engine)
    before = current_generation(engine)
    with engine.begin() as conn:
        conn.execute(insert(Version.__table__), [
            {"sha": f"{i:040x}", "branch": "bulk", "synthetic": True, "created_at": datetime.now(timezone.utc)}
            for i in range(1, 6)])
    assert current_generation(engine) > before
    assert facts(engine)["counts"].versions == 5
    assert_caches_agree(engine)


def test_writes_behind_the_engines_back_are_announced_by_a_bump(registry_url: str, engine) -> None:
    import sqlite3

    facts(engine)
    path = registry_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO version (sha, branch, synthetic, created_at) VALUES (?, 'raw', 1, ?)",
                    ("d" * 40, "2026-01-01 00:00:00.000000"))
    generation.rebuild_after_bulk_load(engine)
    assert facts(engine)["counts"].versions == 1
    assert_caches_agree(engine)


# --- the product's writes ---------------------------------------------------------------------------------------

def test_caches_agree_after_demo_data_and_every_deploy_action(demo, sim, client) -> None:
    assert_caches_agree(demo)
    best = facts(demo)["best"]
    assert best is not None
    actions.promote(demo, client, DEMO_SITE_ID, best.deploy_id, actor="tester", reason="better", policy=PASSING)
    assert_caches_agree(demo)
    assert facts(demo)["best"].sha != best.sha  # promoted: no longer a candidate
    actions.rollback(demo, client, DEMO_SITE_ID, actor="tester", reason="regression")
    assert_caches_agree(demo)
    actions.set_lock(demo, client, DEMO_SITE_ID, locked=False, actor="tester")
    assert_caches_agree(demo)
    doomed = current_plan(demo, load_settings(), policy=DEFAULT_RETENTION_POLICY).prune[0].netlify_id
    actions.set_pin(demo, doomed, pinned=True, actor="tester", reason="the paper's version")
    assert_caches_agree(demo)
    plan = current_plan(demo, load_settings(), policy=DEFAULT_RETENTION_POLICY)
    assert plan.decision(doomed).action == "keep"
    actions.set_pin(demo, doomed, pinned=False, actor="tester")
    assert_caches_agree(demo)
    target = current_plan(demo, load_settings(), policy=DEFAULT_RETENTION_POLICY).prune[0].netlify_id
    actions.delete_deploy(demo, client, DEMO_SITE_ID, target, actor="tester", reason="test")
    assert_caches_agree(demo)
    assert current_plan(demo, load_settings(), policy=DEFAULT_RETENTION_POLICY).decision(target).action == "expired"


def test_caches_agree_after_applying_retention(demo, sim, client) -> None:
    plan = current_plan(demo, load_settings(), policy=DEFAULT_RETENTION_POLICY)
    assert plan.prune
    assert_caches_agree(demo)
    report = apply_plan(demo, client, DEMO_SITE_ID, plan, actor="tester")
    assert report.complete
    assert_caches_agree(demo)
    assert not current_plan(demo, load_settings(), policy=DEFAULT_RETENTION_POLICY).prune


def test_caches_agree_after_imports_and_gates_from_the_cli(registry_url: str, engine, tmp_path: Path,
                                                            monkeypatch) -> None:
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    facts(engine)
    for n, (sha, scores) in enumerate((("1" * 40, {"aime25": 70.0, "hmmt25": 40.0}),
                                       ("2" * 40, {"aime25": 75.0, "hmmt25": 45.0}))):
        results = tmp_path / f"scores{n}.json"
        results.write_text(json.dumps(scores))
        assert main(["import", "--commit", sha, "--create", str(results)]) == 0
        assert_caches_agree(engine)
    assert main(["record", "--commit", "2" * 40, "--deploy-id", "dep-two", "--branch", "main"]) == 0
    assert_caches_agree(engine)
    assert facts(engine)["best"].sha == "2" * 40
    # a re-import replaces the headline score: the best candidate's scores follow
    results = tmp_path / "again.json"
    results.write_text(json.dumps({"aime25": 71.0}))
    assert main(["import", "--commit", "2" * 40, str(results)]) == 0
    assert_caches_agree(engine)
    assert facts(engine)["best"].scores["aime25"] == 71.0
    assert main(["gate", "--commit", "2" * 40, "--rule", "aime25 >= 70"]) == 0
    assert_caches_agree(engine)


def test_caches_agree_after_syncs(engine, sim, client) -> None:
    sim.create_site("s", site_id="site-s")
    sim.seed(30, "site-s")
    facts(engine)
    sync_site(engine, client, "site-s", actor="tester")
    assert_caches_agree(engine)
    assert facts(engine)["counts"].deploys == 30
    building = sim.add_deploy("site-s", commit_ref="b" * 40, state="building")
    sync_site(engine, client, "site-s", actor="tester")
    assert_caches_agree(engine)
    assert facts(engine)["counts"].deploys == 31
    assert building["id"] in {d.netlify_id for d in facts(engine)["plan"][0]}
    sim.add_deploy("site-s", commit_ref="c" * 40)
    sync_site(engine, client, "site-s", actor="tester")
    assert_caches_agree(engine)


def test_caches_agree_after_migrating_down_and_up(demo_engine) -> None:
    assert_caches_agree(demo_engine)
    before = current_generation(demo_engine)
    cfg = alembic_config(demo_engine)
    command.downgrade(cfg, "-1")
    command.upgrade(cfg, "head")
    # the counter starts again in a new table with a new instance id: nothing cached before can match
    with unit_of_work(demo_engine) as session:
        instance, _ = generation.current(session)
    assert instance and current_generation(demo_engine) >= 1
    assert before >= 1
    assert_caches_agree(demo_engine)


def test_the_sample_registry_button_bumps_it(engine) -> None:
    facts(engine)
    load_sample_registry(engine, actor="tester")
    assert facts(engine)["counts"].versions == 40
    assert_caches_agree(engine)


def test_planner_statistics_are_made_when_missing_and_refreshed_when_stale(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS sqlite_stat1")
    assert refresh_statistics(engine)  # missing: made
    assert not refresh_statistics(engine)  # fresh: left alone
    with unit_of_work(engine) as session:
        build_demo(session)  # the tables grow far past what the statistics describe
    assert refresh_statistics(engine)
    with engine.connect() as conn:
        tables = {row[0] for row in conn.execute(text("SELECT tbl FROM sqlite_stat1"))}
    assert {"version", "deploy", "benchmark_result"} <= tables


# --- retention: a plan reused within its generation and grace period, a skyline frontier ------------------

def test_a_cached_plan_is_recomputed_once_a_deploy_leaves_its_grace_period(engine) -> None:
    now = datetime.now(timezone.utc)
    with unit_of_work(engine) as session:
        registry.upsert_deploy(session, "young", commit_ref="e" * 40, state="ready", branch="exp",
                               created_at=now - timedelta(days=13, hours=23))
        registry.upsert_deploy(session, "newer", commit_ref="f" * 40, state="ready", branch="exp",
                               created_at=now - timedelta(days=1))
    policy = RetentionPolicy(keep_newest_per_branch=0, keep_gate_passed=False, keep_new_bests=False,
                             keep_frontier=False)
    first = action_queries.cached_plan
    with unit_of_work(engine) as session:
        facts_now = registry.deploy_facts(session)
        plan = first(session, policy, now, lambda: facts_now)
        assert plan.decision("young").action == "keep"
        later = now + timedelta(hours=2)  # "young" is past its 14 days now
        replanned = first(session, policy, later, lambda: facts_now)
    assert replanned.decision("young").action == "prune"
    assert replanned.decisions == plan_retention(facts_now, policy, later).decisions


def _dominates(a: dict[str, float], b: dict[str, float], chosen: tuple[str, ...]) -> bool:
    """The definition: at least as good on every chosen benchmark and better on one; missing is worse than any."""
    better = False
    for bench in chosen:
        sa, sb = a.get(bench), b.get(bench)
        if sb is not None and (sa is None or sa < sb):
            return False
        if sa is not None and (sb is None or sa > sb):
            better = True
    return better


score_or_missing = st.one_of(st.none(), st.integers(0, 5).map(float))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(score_or_missing, score_or_missing, score_or_missing), max_size=40))
def test_the_skyline_is_exactly_the_versions_no_other_dominates(points) -> None:
    chosen = ("b0", "b1", "b2")
    versions = [{f"b{j}": s for j, s in enumerate(row) if s is not None} for row in points]
    versions = [v for v in versions if v]
    expected = {i for i, v in enumerate(versions)
                if not any(_dominates(o, v, chosen) for j, o in enumerate(versions) if j != i)}
    if not versions:
        return
    matrix = np.array([[v.get(b, np.nan) for b in chosen] for v in versions])
    assert set(skyline(score_matrix(matrix)).tolist()) == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4).map(float), st.integers(0, 4).map(float), st.booleans(),
                          st.integers(0, 30)), min_size=1, max_size=30))
def test_frontier_reasons_name_the_most_recent_dominating_frontier_version(rows) -> None:
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    deploys = []
    for i, (a, b, has_b, age) in enumerate(rows):
        scores = {"aime25": a, **({"hmmt25": b} if has_b else {})}
        deploys.append(DeployFacts(netlify_id=f"d{i:02d}", sha=f"{i:02x}" + "0" * 38, branch="main",
                                   created_at=now - timedelta(days=40 + age), scores=scores))
    policy = RetentionPolicy(keep_newest_per_branch=0, keep_gate_passed=False, keep_new_bests=False)
    plan = plan_retention(deploys, policy, now)
    by_sha = {d.sha: d for d in deploys}

    def dominates(x: DeployFacts, y: DeployFacts) -> bool:
        better = False
        for bench in ("aime25", "hmmt25"):
            sx, sy = x.scores.get(bench), y.scores.get(bench)
            if sy is not None and (sx is None or sx < sy):
                return False
            if sx is not None and (sy is None or sx > sy):
                better = True
        return better

    frontier = {d.sha for d in deploys if not any(dominates(o, d) for o in deploys if o is not d)}
    for decision in plan.decisions:
        assert ("frontier" in decision.tags) == (decision.sha in frontier)
        if decision.sha not in frontier:
            dominators = [o for o in deploys if o.sha in frontier and dominates(o, by_sha[decision.sha])]
            newest = max(dominators, key=lambda o: (o.created_at, "sha:" + o.sha))
            assert any(r.startswith(f"dominated by {newest.sha[:7]} ") for r in decision.reasons)


def test_skyline_handles_a_large_registry_in_a_blink() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(50_000, 4))
    kept = skyline(matrix)
    sample = rng.choice(50_000, 300, replace=False)
    for i in sample:  # spot check against the definition
        dominated = ((matrix >= matrix[i]).all(axis=1) & (matrix > matrix[i]).any(axis=1)).any()
        assert (i in set(kept.tolist())) == (not dominated)


# --- PostgreSQL ---------------------------------------------------------------------------------------------------

def test_caches_agree_on_postgres(pg_url: str) -> None:  # noqa: F811  (the fixture imported above)
    engine = open_registry(pg_url)
    try:
        with unit_of_work(engine) as session:
            build_demo(session)
        assert_caches_agree(engine)
        before = current_generation(engine)
        record_event(engine, kind="note", actor="tester", reason="a change")
        assert current_generation(engine) > before
        with unit_of_work(engine) as session:
            registry.import_results(session, registry.find_version(session, facts(engine)["best"].sha), [])
            registry.record_version(session, "9" * 40, branch="main")
        assert_caches_agree(engine)
        with pytest.raises(RuntimeError), unit_of_work(engine) as session:
            registry.record_version(session, "8" * 40, branch="main")
            raise RuntimeError("abandon")
        assert_caches_agree(engine)
        cfg = alembic_config(engine)
        command.downgrade(cfg, "-1")
        command.upgrade(cfg, "head")
        assert_caches_agree(engine)
    finally:
        engine.dispose()


def test_the_best_candidate_walk_picks_what_one_sorted_query_picks(demo_engine) -> None:
    from sqlalchemy import and_, select

    from vibedash.registry.models import BenchmarkResult, Deploy, Version

    with unit_of_work(demo_engine) as session:
        live = registry.live_deploy(session)
        for benchmark in registry.benchmarks_in_registry(session):
            expected = session.execute(
                select(Version.sha, Deploy.netlify_id).join(Deploy, Deploy.version_id == Version.id)
                .join(BenchmarkResult, and_(BenchmarkResult.version_id == Version.id,
                                            BenchmarkResult.benchmark == benchmark,
                                            BenchmarkResult.is_primary.is_(True)))
                .where(Deploy.state == "ready", Deploy.expired_at.is_(None), Deploy.is_live.is_(False),
                       Version.id != live.version_id)
                .order_by(BenchmarkResult.score.desc(), Deploy.created_at.desc()).limit(1)).first()
            version, deploy = registry.best_candidate(session, benchmark)
            assert (version.sha, deploy.netlify_id) == tuple(expected)
