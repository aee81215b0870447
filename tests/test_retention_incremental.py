"""A retention plan patched from an earlier one (the versions changed since, read from the summary's
``changed_generation``) is exactly the plan made from scratch: random sequences of writes of every kind (deploys
added, moved, expired, failing, pinned, going live; gate verdicts; headline scores added, changed, removed;
versions added, renamed and deleted; deploys without a commit), each followed by both plans, compared in full.
Real SQLite file, real migrations and triggers. And what the page derives from each new plan, chosen as arrays
(the chart's frontier and points), is what the one-by-one choice gave."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from retention_summary_check import assert_retention_summary_matches
from sqlalchemy import delete, select

from vibedash.actions.retention_apply import gate_results
from vibedash.decisions.retention import (
    DEFAULT_RETENTION_POLICY,
    RetentionPolicy,
    plan_retention,
)
from vibedash.registry import records as registry
from vibedash.registry.action_queries import (
    PLANS,
    VersionPoint,
    _thin,
    pareto_frontier,
    registry_plan,
    version_points,
)
from vibedash.registry.audit import record_event_in
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.demo import build_demo
from vibedash.registry.models import BenchmarkResult, Deploy, Event, Site, Version
from vibedash.registry.retention.chart import pareto_mask
from vibedash.registry.retention.plan import RegistryPlan

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
POLICIES = [DEFAULT_RETENTION_POLICY,
            RetentionPolicy(benchmarks=("aime25",), keep_newest_per_branch=2, keep_last_live=1, grace_days=0),
            RetentionPolicy(keep_gate_passed=False, keep_frontier=False, grace_days=3)]
WRITES = ["deploy", "loose", "state", "expire", "move", "pin", "live", "gate", "score", "unscore", "version",
          "rename", "delete_version", "delete_deploy", "nothing", "publish", "lock", "context", "deploy_branch",
          "was_live", "later"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = open_registry(f"sqlite:///{tmp_path_factory.mktemp('incremental')}/registry.db")
    yield engine
    engine.dispose()


def assert_same(patched: RegistryPlan, fresh: RegistryPlan) -> None:
    with unit_of_work(fresh.engine) as session:  # and both are the in-memory planner's plan, every deploy decided
        reference = plan_retention(registry.deploy_facts(session, gate_passed=gate_results(fresh.engine)),
                                   fresh.policy, fresh.now)
    assert fresh.summary() == reference.summary()
    assert patched.summary() == fresh.summary()
    assert patched.warnings == fresh.warnings and patched.valid_until == fresh.valid_until
    assert patched.benchmarks() == fresh.benchmarks()
    assert patched.decisions == fresh.decisions
    assert patched.table.keys[:] == fresh.table.keys[:]
    assert np.array_equal(patched.table.scores, fresh.table.scores, equal_nan=True)
    benchmarks = fresh.benchmarks()
    if len(benchmarks) >= 2:
        assert patched.version_rows(benchmarks[0], benchmarks[1]) == fresh.version_rows(benchmarks[0], benchmarks[1])
    for i in range(len(fresh.table)):
        assert patched.version_reasons(i) == fresh.version_reasons(i)


def write(session, what: str, n: int, k: int) -> None:
    versions = session.scalars(select(Version).order_by(Version.id)).all()
    deploys = session.scalars(select(Deploy).order_by(Deploy.id)).all()
    version = versions[n % len(versions)] if versions else None
    pick = deploys[n % len(deploys)] if deploys else None
    at = NOW - timedelta(days=n % 9, hours=k)
    if what in ("deploy", "loose") or pick is None:
        session.add(Deploy(netlify_id=f"w{k:05d}-{n}", version_id=None if what == "loose" or version is None
                           else version.id, created_at=at, state=("ready", "ready", "old", "error", "building")[n % 5],
                           branch=(None, "main", "exp", "")[n % 4], context="production"))
    elif what == "state":
        pick.state = ("ready", "error", "current", "uploading")[n % 4]
    elif what == "expire":
        pick.expired_at = None if pick.expired_at else at
    elif what == "move":
        pick.version_id = None if n % 4 == 0 or version is None else version.id
    elif what == "pin":
        pick.pinned = not pick.pinned
    elif what == "publish":  # once live, by Netlify's record: a rollback target
        pick.published_at = None if pick.published_at else at
    elif what == "lock":
        pick.locked = not pick.locked
    elif what == "context":
        pick.context = ("production", "deploy-preview", "branch-deploy")[n % 3]
    elif what == "deploy_branch":
        pick.branch = ("main", "exp", None, "feature")[n % 4]
    elif what == "was_live":  # once live, by the audit log's record of a promotion
        record_event_in(session, kind=("promote", "rollback")[n % 2], actor="t", previous_live=pick.netlify_id)
    elif what == "live":
        for d in deploys:
            d.is_live = False
        pick.is_live, pick.published_at, pick.expired_at = True, at, None
    elif what == "gate" and version is not None:
        record_event_in(session, kind="gate", actor="t", version_sha=version.sha,
                        verdict=({"passed": True}, {"passed": False}, {"other": 1})[n % 3])
    elif what in ("score", "unscore") and version is not None:
        benchmark = ("aime25", "hmmt25", "gpqa")[n % 3]
        found = session.scalar(select(BenchmarkResult).where(BenchmarkResult.version_id == version.id,
                                                             BenchmarkResult.benchmark == benchmark))
        if what == "unscore":
            if found is not None:
                session.delete(found)
        elif found is not None:
            found.score = float(40 + (n * 7 + k) % 50)
        else:
            session.add(BenchmarkResult(version_id=version.id, benchmark=benchmark, metric="pass@1",
                                        score=float(40 + (n * 3) % 50), is_primary=True, source_format="test",
                                        imported_at=NOW))
    elif what == "version":
        added = Version(sha=f"{k:08x}{n:032x}", branch=("main", "exp", None)[n % 3], created_at=at)
        session.add(added)
        session.flush()
        session.add(Deploy(netlify_id=f"v{k:05d}", version_id=added.id, created_at=at, state="ready",
                           context="production"))
    elif what == "rename" and version is not None:
        version.branch = ("main", "exp", None, "renamed")[n % 4]
    elif what == "delete_version" and version is not None:
        session.delete(version)
    elif what == "delete_deploy":
        session.delete(pick)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(WRITES), st.integers(0, 50), st.sampled_from(range(len(POLICIES)))),
                      min_size=1, max_size=12))
def test_a_patched_plan_is_the_plan_made_from_scratch(engine, steps) -> None:
    with unit_of_work(engine) as session:
        for model in (Event, BenchmarkResult, Deploy, Version, Site):
            session.execute(delete(model))
    with unit_of_work(engine) as session:
        build_demo(session)
    previous = RegistryPlan(engine, POLICIES[0], NOW)
    patched_any = rules_patched_any = rules_may_patch = False
    now, policy_before = NOW, 0
    for k, (what, n, policy) in enumerate(steps):
        if what == "later":  # time passes: young deploys leave their grace period
            now += timedelta(hours=7 * n)
        else:
            with unit_of_work(engine) as session:
                write(session, what, n, k)
        patched = RegistryPlan(engine, POLICIES[policy], now, previous=previous)
        assert_same(patched, RegistryPlan(engine, POLICIES[policy], now))
        patched_any |= patched.patched
        rules_patched_any |= patched.rules_patched
        rules_may_patch |= what in ("pin", "publish", "lock", "context") and policy == policy_before
        previous, policy_before = patched, policy
    assert_retention_summary_matches(engine)
    if any(what not in ("delete_version",) for what, _, _ in steps):
        assert patched_any  # the plans above were patched, not all read whole
    if rules_may_patch:
        assert rules_patched_any  # and the deploy rules' candidates too


def test_after_a_pin_the_next_plan_patches_and_keeps_the_version_verdicts(tmp_path) -> None:
    engine = open_registry(f"sqlite:///{tmp_path / 'r.db'}")
    with unit_of_work(engine) as session:
        build_demo(session)
    now = datetime.now(timezone.utc)  # the sample registry's deploys are recent: older than its grace period
    first = registry_plan(engine, DEFAULT_RETENTION_POLICY, now)
    assert not first.patched
    victim = next(first.iter_decisions("prune")).netlify_id
    with unit_of_work(engine) as session:
        session.scalar(select(Deploy).where(Deploy.netlify_id == victim)).pinned = True
    second = registry_plan(engine, DEFAULT_RETENTION_POLICY, now)
    assert second is not first and second.patched and second.verdicts is first.verdicts
    assert second.decision(victim).action == "keep"
    assert_same(second, RegistryPlan(engine, DEFAULT_RETENTION_POLICY, now))
    # a gate verdict changes what the version rules judge: patched, judged again
    with unit_of_work(engine) as session:
        sha = session.scalar(select(Version.sha).order_by(Version.id.desc()).limit(1))
        record_event_in(session, kind="gate", actor="t", version_sha=sha, verdict={"passed": False})
    third = registry_plan(engine, DEFAULT_RETENTION_POLICY, now)
    assert third.patched and third.verdicts is not second.verdicts
    assert_same(third, RegistryPlan(engine, DEFAULT_RETENTION_POLICY, now))
    # only the newest plan of this registry and policy stays cached (a page after a write holds one plan)
    held = [plan for plan in PLANS.values() if getattr(plan, "instance", None) == third.instance]
    assert held == [third]
    engine.dispose()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6).map(float), st.integers(0, 6).map(float)), max_size=40))
def test_the_array_frontier_is_the_sweep_frontier(points) -> None:
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    mask = pareto_mask(xs, ys)
    assert {f"v{i}" for i in np.flatnonzero(mask)} == pareto_frontier({f"v{i}": p for i, p in enumerate(points)})


def _points_one_by_one(plan, x, y, limit):
    """The chart's points as they were chosen before they were chosen as arrays (the reference)."""
    rows = plan.version_rows(x, y)
    frontier = pareto_frontier({sha: (x_, y_) for sha, _, x_, y_, _, _ in rows})
    recency = {sha: rank for rank, (sha, *_) in enumerate(rows)}
    index = {sha: i for sha, _, _, _, _, i in rows}
    points = _thin([VersionPoint(sha=sha, branch=branch, x=x_, y=y_, status="kept" if kept else "pruned",
                                 on_frontier=sha in frontier) for sha, branch, x_, y_, kept, _ in rows], recency, limit)
    return [VersionPoint(sha=p.sha, branch=p.branch, x=p.x, y=p.y, status=p.status, on_frontier=p.on_frontier,
                         tags=plan.version_reasons(index[p.sha])[0], reasons=plan.version_reasons(index[p.sha])[1])
            for p in points]


def test_the_chart_points_chosen_as_arrays_are_the_points_chosen_one_by_one(demo_engine) -> None:
    plan = registry_plan(demo_engine, DEFAULT_RETENTION_POLICY, datetime.now(timezone.utc))
    benchmarks = plan.benchmarks()
    assert len(benchmarks) >= 2
    for x, y in ((benchmarks[0], benchmarks[1]), (benchmarks[-1], benchmarks[0])):
        for limit in (None, 1, 3, 10):
            assert version_points(plan, x, y, limit=limit) == _points_one_by_one(plan, x, y, limit)


def test_a_deploy_once_live_keeps_its_rollback_target_when_it_moves_into_a_version(tmp_path) -> None:
    """A deploy without a version that the audit log saw live (a rollback target), then given a version: the
    patched plan still finds it among the deploy rules' candidates."""
    engine = open_registry(f"sqlite:///{tmp_path / 'r.db'}")
    with unit_of_work(engine) as session:
        build_demo(session)
        session.add(Deploy(netlify_id="manual-upload", version_id=None, created_at=NOW - timedelta(days=30),
                           state="ready", context="production"))
    with unit_of_work(engine) as session:
        record_event_in(session, kind="rollback", actor="t", previous_live="manual-upload")
    policy = RetentionPolicy(keep_last_live=1, grace_days=0)
    before = RegistryPlan(engine, policy, NOW)
    assert before.decision("manual-upload").action == "keep"
    with unit_of_work(engine) as session:
        version_id = session.scalar(select(Version.id).order_by(Version.id).limit(1))
        session.scalar(select(Deploy).where(Deploy.netlify_id == "manual-upload")).version_id = version_id
    after = RegistryPlan(engine, policy, NOW, previous=before)
    assert after.patched and after.rules_patched
    assert after.decision("manual-upload").action == "keep"
    assert_same(after, RegistryPlan(engine, policy, NOW))
    engine.dispose()
