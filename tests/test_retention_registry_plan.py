"""The registry's retention plan (read in SQL, decided a page at a time) is exactly the in-memory plan.

``RegistryPlan`` counts deploys from per-version figures and decides only the rows a page shows; the reference is
``plan_retention`` over every deploy's facts. Random registries (real SQLite file, real migrations) with every
kind of deploy: several per version, without a commit, failed, building, expired, pinned, live, once live,
young, on branches or not, scores with ties and gaps, gate verdicts in the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from test_postgres import pg_url, postgres_server  # noqa: F401  (the real PostgreSQL fixtures)

from vibedash.actions.retention_apply import gate_results
from vibedash.decisions.retention import DEFAULT_RETENTION_POLICY, RetentionPolicy, plan_retention
from vibedash.registry import records as registry
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.demo import build_demo
from vibedash.registry.models import BenchmarkResult, Deploy, Event, Version
from vibedash.registry.retention.plan import RegistryPlan

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
POLICIES = [
    DEFAULT_RETENTION_POLICY,
    RetentionPolicy(benchmarks=("aime25",), keep_newest_per_branch=2, keep_last_live=1),
    RetentionPolicy(grace_days=0, keep_gate_passed=False, benchmarks=("hmmt25", "aime25", "nope")),
    RetentionPolicy(keep_last_live=0, keep_new_bests=False, keep_frontier=False, keep_gate_passed=False,
                    keep_newest_per_branch=0, grace_days=3),
]

deploy_rows = st.tuples(
    st.one_of(st.none(), st.integers(0, 6)),  # version
    st.sampled_from(["ready", "ready", "old", "current", "error", "building", "uploading"]),
    st.booleans(),  # expired
    st.integers(0, 9) .map(lambda n: n == 0),  # pinned (rarely)
    st.sampled_from([None, "main", "main", "exp", ""]),
    st.integers(0, 40),  # age in days
    st.integers(0, 3),  # seconds past the day (ties when equal)
    st.integers(0, 4).map(lambda n: n == 0),  # published once
)
version_rows = st.tuples(
    st.one_of(st.none(), st.integers(60, 63).map(float)),  # aime25
    st.one_of(st.none(), st.integers(30, 32).map(float)),  # hmmt25
    st.sampled_from([None, True, False, "no passed key"]),  # newest gate verdict
    st.sampled_from(["main", "exp", None]),
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = open_registry(f"sqlite:///{tmp_path_factory.mktemp('plan')}/registry.db")
    yield engine
    engine.dispose()


def fill(engine, versions, deploys, live_index, promotions) -> None:
    with unit_of_work(engine) as session:
        for model in (Event, BenchmarkResult, Deploy, Version):
            session.execute(delete(model))
    with unit_of_work(engine) as session:
        ids = []
        for i, (aime, hmmt, gate, branch) in enumerate(versions):
            version = Version(sha=f"{i:x}" * 40, branch=branch, created_at=NOW - timedelta(days=50))
            session.add(version)
            session.flush()
            ids.append(version.id)
            for benchmark, score in (("aime25", aime), ("hmmt25", hmmt)):
                if score is not None:
                    session.add(BenchmarkResult(version_id=version.id, benchmark=benchmark, metric="pass@1",
                                                score=score, is_primary=True, source_format="test", imported_at=NOW))
            if gate is not None:
                verdict = {"summary": "odd"} if gate == "no passed key" else {"passed": gate}
                at = NOW - timedelta(days=2)
                session.add(Event(kind="gate", actor="t", status="succeeded", version_sha=f"{i:x}" * 40,
                                  verdict={"passed": not gate} if gate != "no passed key" else {"passed": True},
                                  started_at=at - timedelta(hours=1), finished_at=at - timedelta(hours=1)))
                session.add(Event(kind="gate", actor="t", status="succeeded", version_sha=f"{i:x}" * 40,
                                  verdict=verdict, started_at=at, finished_at=at))
        for j, (version, state, expired, pinned, branch, age, second, published) in enumerate(deploys):
            created = NOW - timedelta(days=age) + timedelta(seconds=second)
            is_live = j == live_index
            session.add(Deploy(
                netlify_id=f"d{j:03d}", version_id=ids[version] if version is not None and version < len(ids)
                else None, state=state, branch=branch, created_at=created, is_live=is_live, pinned=pinned,
                expired_at=created + timedelta(days=1) if expired and (not is_live or second == 3) else None,
                published_at=created + timedelta(hours=1) if published or is_live else None))
        for k, (previous, days_ago) in enumerate(promotions):
            if previous < len(deploys):
                at = NOW - timedelta(days=days_ago)
                session.add(Event(kind="promote" if k % 2 else "rollback", actor="t", status="succeeded",
                                  previous_live=f"d{previous:03d}", started_at=at, finished_at=at))


def assert_same_plan(engine, policy) -> None:
    with unit_of_work(engine) as session:
        reference = plan_retention(registry.deploy_facts(session, gate_passed=gate_results(engine)), policy, NOW)
    plan = RegistryPlan(engine, policy, NOW)
    assert plan.summary() == reference.summary()
    assert plan.warnings == reference.warnings
    assert plan.decisions == reference.decisions
    for action in ("all", "keep", "prune", "expired"):
        expected = list(reference.iter_decisions(action))
        assert list(plan.iter_decisions(action)) == expected
        assert plan.count(action) == len(expected)
        for start in (0, 2, 5):
            assert plan.page(action, start, start + 3) == expected[start:start + 3]
    for d in reference.decisions[:5]:
        assert plan.decision(d.netlify_id) == d


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(version_rows, min_size=0, max_size=7), st.lists(deploy_rows, min_size=0, max_size=25),
       st.integers(-1, 24), st.lists(st.tuples(st.integers(0, 24), st.integers(1, 30)), max_size=4),
       st.sampled_from(range(len(POLICIES))))
def test_the_registry_plan_is_the_in_memory_plan(engine, versions, deploys, live_index, promotions, policy) -> None:
    fill(engine, versions, deploys, live_index, promotions)
    assert_same_plan(engine, POLICIES[policy])


def test_the_sample_registry_plans_the_same_both_ways(demo) -> None:
    for policy in POLICIES:
        assert_same_plan(demo, policy)


def test_the_registry_plan_is_the_in_memory_plan_on_postgres(pg_url: str) -> None:  # noqa: F811
    engine = open_registry(pg_url)
    try:
        with unit_of_work(engine) as session:
            build_demo(session)
        for policy in POLICIES:
            assert_same_plan(engine, policy)
        # and a registry with every kind of deploy (expired live, sha-less, building, ties, verdicts)
        fill(engine, [(60.0, 30.0, True, "main"), (61.0, None, "no passed key", None), (None, 31.0, False, "exp"),
                      (61.0, 30.0, None, "main")],
             [(0, "ready", False, False, "main", 30, 0, True), (0, "old", False, True, None, 20, 0, False),
              (1, "ready", True, False, "exp", 20, 0, False), (None, "ready", False, False, "", 40, 1, False),
              (2, "building", False, False, "exp", 5, 0, False), (3, "error", False, False, "main", 2, 0, False),
              (3, "current", False, False, "main", 25, 3, False), (1, "ready", True, False, "main", 10, 3, False)],
             7, [(0, 3), (1, 5)])
        for policy in POLICIES:
            assert_same_plan(engine, policy)
    finally:
        engine.dispose()
