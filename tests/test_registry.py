"""Registry writes and the queries the pages run, on real SQLite files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from vibedash.decisions.stats import flipped_problems, paired_diff_ci
from vibedash.importers import load_results
from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import BenchmarkResult, ProblemResult

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "results"
A, B = "a" * 40, "b" * 40


def test_short_and_full_shas_resolve_to_one_version(engine) -> None:
    with unit_of_work(engine) as session:
        registry.record_version(session, A, branch="main")
        assert registry.record_version(session, A[:8]).sha == A  # no duplicate from a short sha
        assert registry.find_version(session, "AAAAAAA").sha == A
        registry.record_version(session, "aaaaaaab" + "0" * 32)
        with pytest.raises(registry.RegistryError, match="matches several versions"):
            registry.find_version(session, "aaaaaaa")
        with pytest.raises(registry.NotFound, match="record it first"):
            registry.find_version(session, "1234567")


def test_vibethinker_per_problem_results_give_a_paired_interval(engine) -> None:
    with unit_of_work(engine) as session:
        for sha, folder in ((A, "v1"), (B, "v2")):
            version = registry.record_version(session, sha)
            registry.import_results(session, version, load_results(FIXTURES / "vibethinker" / folder / "aime25.json"))
        facts_a = registry.version_facts(session, registry.find_version(session, A)).scores["aime25"]
        facts_b = registry.version_facts(session, registry.find_version(session, B)).scores["aime25"]
        assert session.scalar(select(BenchmarkResult.problems).where(BenchmarkResult.version_id == 1)) == 30
        assert len(session.scalars(select(ProblemResult)).all()) == 60
    assert (facts_a.score, facts_b.score) == (70.0, 75.0)
    diff = paired_diff_ci(facts_a.per_problem, facts_b.per_problem)
    assert diff.delta == pytest.approx(5.0) and diff.n_common == 30 and diff.low < diff.high
    flips = flipped_problems(facts_a.per_problem, facts_b.per_problem)
    assert len(flips.gained) + len(flips.lost) > 0


def test_scores_outside_0_to_100_are_refused(engine) -> None:
    from vibedash.importers.base import ParsedResult

    with unit_of_work(engine) as session:
        version = registry.record_version(session, A)
        with pytest.raises(registry.RegistryError, match="outside 0-100"):
            registry.import_results(session, version, [ParsedResult(benchmark="aime25", score=101.0)])


def test_history_page_filters_and_pages_in_sql(demo_engine) -> None:
    with unit_of_work(demo_engine) as session:
        benchmarks = registry.benchmarks_in_registry(session)
        assert benchmarks[:2] == ["aime24", "aime25"]
        rows, total = registry.history_page(session, benchmarks, page=1, page_size=10)
        assert total == 40 and len(rows) == 10
        assert rows[0]["created_at"] >= rows[-1]["created_at"]
        second, _ = registry.history_page(session, benchmarks, page=2, page_size=10)
        assert {r["sha"] for r in rows}.isdisjoint(r["sha"] for r in second)
        main_rows, main_total = registry.history_page(session, benchmarks, registry.HistoryFilter(branch="main"),
                                                      page_size=100)
        assert 0 < main_total < 40 and all(r["branch"] == "main" for r in main_rows)
        strong, strong_total = registry.history_page(
            session, benchmarks, registry.HistoryFilter(minimums={"aime25": 70.0}), page_size=100)
        assert strong_total < 40 and all(r["aime25"] >= 70.0 for r in strong)
        live = [r for r in registry.history_page(session, benchmarks, page_size=100)[0] if r["live"]]
        assert len(live) == 1 and live[0]["locked"]


def test_overview_queries_on_the_sample_registry(demo_engine) -> None:
    with unit_of_work(demo_engine) as session:
        counts = registry.counts(session)
        assert (counts.versions, counts.deploys) == (40, 40)
        live = registry.live_deploy(session)
        version, deploy = registry.best_candidate(session)
        assert deploy.netlify_id != live.netlify_id and deploy.state == "ready"
        assert "aime25" in registry.version_facts(session, version).scores
        timeline = registry.score_timeline(session, ["aime25"], limit=30)
        assert len({r["sha"] for r in timeline}) <= 30
        periods = registry.live_periods(session)
        assert periods[-1]["deploy_id"] == live.netlify_id and periods[-1]["end"] is None
        facts = registry.deploy_facts(session)
        assert sum(f.is_live for f in facts) == 1 and len(facts) == 40
        assert [e["kind"] for e in registry.events(session, kind="promote", limit=3)] == ["promote"] * 3


def test_upsert_deploy_links_the_version_by_commit_and_rejects_bad_ids(engine) -> None:
    created = datetime(2026, 5, 1, tzinfo=timezone.utc)
    with unit_of_work(engine) as session:
        deploy = registry.upsert_deploy(session, "6655aa00bb11cc22dd33ee44", commit_ref=A.upper(), state="ready",
                                        created_at=created)
        assert deploy.version.sha == A and deploy.created_at == created
        registry.upsert_deploy(session, "6655aa00bb11cc22dd33ee44", state="error",
                               updated_at=created + timedelta(minutes=1))
        assert registry.find_deploy(session, A).state == "error"
        with pytest.raises(registry.RegistryError, match="not a Netlify deploy id"):
            registry.upsert_deploy(session, "../../etc")


def test_two_imports_into_a_version_made_in_the_same_transaction_replace_and_demote(engine) -> None:
    from vibedash.importers.base import ParsedResult

    with unit_of_work(engine) as session:
        version = registry.record_version(session, "ab" * 20, branch="main")
        registry.import_results(session, version, [ParsedResult(benchmark="aime25", score=60.0, source_format="t")])
        registry.import_results(session, version, [ParsedResult(benchmark="aime25", score=61.0, source_format="t"),
                                                   ParsedResult(benchmark="aime25", metric="avg@n", score=59.0,
                                                                source_format="t")])
    with unit_of_work(engine) as session:
        rows = session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version.id)).all()
        by_metric = {r.metric: (r.score, r.is_primary) for r in rows}
    assert len(rows) == 2  # the first pass@1 was replaced, not kept beside the new one
    assert by_metric == {"pass@1": (61.0, True), "avg@n": (59.0, False)}
    with unit_of_work(engine) as session:  # a later transaction reads what is there
        version = registry.find_version(session, "ab" * 20)
        registry.import_results(session, version, [ParsedResult(benchmark="aime25", score=62.0, source_format="t")])
    with unit_of_work(engine) as session:
        rows = session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version.id)).all()
        assert sorted((r.metric, r.score, r.is_primary) for r in rows) == [("avg@n", 59.0, False),
                                                                            ("pass@1", 62.0, True)]


def test_facts_read_together_equal_facts_read_one_version_at_a_time(demo_engine):
    from vibedash.registry.models import Version

    with unit_of_work(demo_engine) as session:
        versions = list(session.scalars(select(Version).order_by(Version.created_at.desc())))
        assert len(versions) > 3
        registry.record_version(session, "f" * 40)  # one without results
        versions.append(registry.find_version(session, "f" * 40))
        versions.append(versions[0])  # a version asked for twice (two deploys of it) gets its facts twice
        one_by_one = [registry.versions_facts(session, [v])[0] for v in versions]
        together = registry.versions_facts(session, versions)
        assert together == one_by_one
        assert together[-2].scores == {} and sum(bool(f.scores) for f in together) > 3
        assert any(fact.per_problem for facts in together for fact in facts.scores.values())
        light = registry.versions_facts(session, versions, with_problems=False)
        assert [f.scores.keys() for f in light] == [f.scores.keys() for f in one_by_one]
        assert all(not fact.per_problem for facts in light for fact in facts.scores.values())


def test_recent_headline_counts_count_the_newest_versions_only(demo_engine):
    from vibedash.registry import queries
    from vibedash.registry.models import Version

    with unit_of_work(demo_engine) as session:
        versions = list(session.scalars(select(Version).order_by(Version.created_at.desc())))
        for n in (1, 5, len(versions), len(versions) + 10):
            newest = {v.id for v in versions[:n]}
            expected: dict[str, int] = {}
            for result in session.scalars(select(BenchmarkResult).where(BenchmarkResult.is_primary.is_(True))):
                if result.version_id in newest:
                    expected[result.benchmark] = expected.get(result.benchmark, 0) + 1
            assert queries.recent_headline_counts(session, n) == expected
        assert queries.recent_headline_counts(session, len(versions)) == queries.headline_result_counts(session)
