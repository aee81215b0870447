"""The read-side pages (Overview, History, Version, Compare, Settings) through the real router, with AppTest,
on the sample registry and on an empty one. Netlify is the real loopback simulator where a test needs it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from datetime import timedelta

import pyarrow
import pytest
from pagetest import REPO, page_test, run_clean, texts
from sqlalchemy import func, select

from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.gate import DEFAULT_POLICY
from vibedash.netlify.simulator import NetlifySimulator
from vibedash.registry import queries
from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import BenchmarkResult, Deploy, Event, SolveRun, Version
from vibedash.ui import charts, frame, tables
from vibedash.ui import format as fmt

MY_PAGES = (frame.OVERVIEW, frame.HISTORY, frame.VERSION, frame.COMPARE, frame.SETTINGS)
NOT_CONNECTED = "Netlify is not connected"


def facts(engine):
    """What is live and the best candidate, as the domain computes them: what the pages must show."""
    with unit_of_work(engine) as session:
        live = queries.live_now(session)
        candidate = queries.best_candidate(session, DEFAULT_POLICY, queries.lead_benchmark(session))
    return live, candidate


# --- every page renders ---------------------------------------------------------------------------------

@pytest.mark.parametrize("page", MY_PAGES)
def test_every_page_renders_on_the_sample_registry(page, demo_engine, registry_url, monkeypatch, scratch):
    live, candidate = facts(demo_engine)
    params = {frame.VERSION: {"commit": live.sha}, frame.COMPARE: {"commits": f"{live.sha},{candidate.sha}"}}
    at = run_clean(page_test(page, registry_url, monkeypatch, scratch, query_params=params.get(page)))
    assert not at.error, [e.value for e in at.error]
    assert at.title


@pytest.mark.parametrize(("page", "says"), [
    (frame.OVERVIEW, "The registry is empty"),
    (frame.HISTORY, "The registry has no versions yet"),
    (frame.VERSION, "Open a version from History"),
    (frame.COMPARE, "The registry has no versions yet"),
    (frame.SETTINGS, "Schema revision"),
])
def test_every_page_renders_on_an_empty_registry(page, says, engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(page, registry_url, monkeypatch, scratch))
    assert not at.error, [e.value for e in at.error]
    assert says in texts(at)


def test_a_registry_that_cannot_be_opened_explains_itself_and_settings_still_opens(tmp_path, monkeypatch, scratch):
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'registry.db'}"
    at = run_clean(page_test(frame.OVERVIEW, url, monkeypatch, scratch))
    assert len(at.error) == 1
    message = at.error[0].value
    assert "The registry cannot be opened" in message and "VIBEDASH_DB_URL" in message
    assert not at.title  # the page itself did not run
    settings = run_clean(page_test(frame.SETTINGS, url, monkeypatch, scratch))
    assert settings.title[0].value == "Settings"
    assert "no-such-folder" in texts(settings)
    for page in (frame.HISTORY, frame.VERSION, frame.COMPARE):  # also when Streamlit runs a page on its own
        at = run_clean(page_test(page, url, monkeypatch, scratch))
        assert "The registry cannot be opened" in at.error[0].value


# --- overview ---------------------------------------------------------------------------------------------

def test_overview_shows_live_the_best_candidate_with_its_gate_and_recent_activity(demo_engine, registry_url,
                                                                                   monkeypatch, scratch):
    live, candidate = facts(demo_engine)
    at = run_clean(page_test(frame.OVERVIEW, registry_url, monkeypatch, scratch))
    shown = texts(at)
    assert f"`{live.sha[:7]}`" in shown and "locked" in shown
    assert f"`{candidate.sha[:7]}`" in shown
    assert f"gate {candidate.verdict.summary()}" in shown
    for check in candidate.verdict.checks:
        # Material icons (no emoji font needed) and benchmarks by their display names, as on Promote.
        assert (f"{fmt.mark_icon(check.mark)} **{fmt.benchmark_words(check.rule)}**: "
                f"{fmt.benchmark_words(check.detail)}") in shown
    assert candidate.selection_note and candidate.selection_note in shown  # how many were considered
    # A change is coloured only when it is beyond noise: here AIME25 is, HMMT25 is not (issue 9).
    assert candidate.beyond_noise("aime25") and not candidate.beyond_noise("hmmt25")
    by_label = {(m.label, m.value): m for m in at.metric}
    assert by_label[("AIME25", f"{candidate.scores['aime25']:.1f}")].proto.color != \
        by_label[("HMMT25", f"{candidate.scores['hmmt25']:.1f}")].proto.color
    assert "within noise" in by_label[("HMMT25", f"{candidate.scores['hmmt25']:.1f}")].delta
    metrics = {(m.label, m.value) for m in at.metric}
    assert ("AIME25", f"{live.scores['aime25']:.1f}") in metrics
    assert ("AIME25", f"{candidate.scores['aime25']:.1f}") in metrics
    with unit_of_work(demo_engine) as session:
        n_events = session.scalar(select(func.count()).select_from(Event))
        n_versions = session.scalar(select(func.count()).select_from(Version))
    activity = at.dataframe[0].value
    assert len(activity) == min(10, n_events)
    assert set(activity["action"]) == {"promote"}
    assert f"{n_versions} versions" in shown and "never synced with Netlify" in shown
    trend = (at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))[0].proto  # the AIME25 trend
    spec = json.loads(trend.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point"]
    assert spec["layer"][1]["transform"] == [{"filter": "datum.went_live"}]  # dots: versions that went live
    assert spec["layer"][0]["encoding"]["y"]["title"] == "AIME25"
    rows = pyarrow.ipc.open_stream(io.BytesIO(trend.data.data)).read_pandas()
    with unit_of_work(demo_engine) as session:
        expected = queries.trend(session, "aime25", limit=30)
    assert list(rows["short"]) == [row["short"] for row in expected]
    assert list(rows["went_live"]) == [row["went_live"] for row in expected] and rows["went_live"].any()


def test_a_gate_policy_file_that_cannot_be_read_is_named_where_the_gate_is_shown(demo_engine, registry_url,
                                                                                 monkeypatch, scratch):
    (scratch / "vibedash-gate.toml").write_text('[gate]\nrules = ["aime25 is great"]\n', encoding="utf-8")
    overview = run_clean(page_test(frame.OVERVIEW, registry_url, monkeypatch, scratch))
    assert "The gate policy cannot be read" in overview.error[0].value
    assert "Live now" in texts(overview)  # the rest of the page still works
    settings = run_clean(page_test(frame.SETTINGS, registry_url, monkeypatch, scratch))
    assert "The gate policy cannot be read" in settings.error[0].value
    assert "Gate policy from `vibedash-gate.toml`." in texts(settings)


def test_the_first_run_button_fills_an_empty_registry(engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.OVERVIEW, registry_url, monkeypatch, scratch))
    at.button(key="load_sample").click()
    run_clean(at)
    with unit_of_work(engine) as session:
        counts = registry.counts(session)
        demo_events = session.scalars(select(Event).where(Event.kind == "demo-data")).all()
    assert counts.versions == 40 and counts.deploys == 40
    assert len(demo_events) == 1 and demo_events[0].actor == "tester"
    assert "Loaded the sample registry" in at.success[0].value
    assert "Live now" in texts(at) and "The registry is empty" not in texts(at)


@pytest.mark.parametrize(("page", "keys"), [(frame.OVERVIEW, ["overview_sync"]),
                                            (frame.SETTINGS, ["settings_sync", "settings_test"])])
def test_netlify_buttons_are_disabled_with_the_reason_when_not_connected(page, keys, demo_engine, registry_url,
                                                                         monkeypatch, scratch):
    at = run_clean(page_test(page, registry_url, monkeypatch, scratch))
    for key in keys:
        assert at.button(key=key).disabled
        assert NOT_CONNECTED in at.button(key=key).help


def test_the_frame_names_the_database_and_the_netlify_state_in_the_sidebar(demo_engine, registry_url,
                                                                          monkeypatch, scratch):
    at = run_clean(page_test(frame.OVERVIEW, registry_url, monkeypatch, scratch))
    database, netlify = (c for c in at.sidebar.caption)
    assert registry_url.split("///")[1] in database.value
    assert "Netlify not connected" in netlify.value and NOT_CONNECTED in netlify.help


def test_the_first_run_screen_says_how_to_start(engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.OVERVIEW, registry_url, monkeypatch, scratch))
    assert at.button(key="first_run_sync").disabled and NOT_CONNECTED in at.button(key="first_run_sync").help
    commands = "\n".join(c.value for c in at.code)
    assert "python -m vibedash import --commit" in commands and "netlify-sim --seed-demo" in commands


def simulated_netlify(sim: NetlifySimulator, deploys: int) -> dict[str, str]:
    """A site on the simulator with ``deploys`` ready deploys; the settings that point vibedash at it."""
    site = sim.create_site(name="vibethinker-sim")
    sim.seed(deploys, site["id"])
    return {"NETLIFY_AUTH_TOKEN": sim.token, "NETLIFY_SITE_ID": site["id"], "VIBEDASH_NETLIFY_API_URL": sim.api_url}


def test_the_first_run_screen_syncs_from_netlify_once_connected(engine, registry_url, monkeypatch, scratch):
    with NetlifySimulator(token="secret-token-value") as sim:
        env = simulated_netlify(sim, deploys=4)
        at = run_clean(page_test(frame.OVERVIEW, registry_url, monkeypatch, scratch, env=env))
        at.button(key="first_run_sync").click()
        run_clean(at)
    assert at.success[0].value.startswith("Synced: full sync of site")
    assert "Live now" in texts(at) and "4 versions · 4 deploys" in texts(at)
    assert "synced just now" in texts(at)


# --- settings with a real (simulated) Netlify -------------------------------------------------------------

def test_settings_tests_the_connection_and_syncs_from_netlify(engine, registry_url, monkeypatch, scratch):
    with NetlifySimulator(token="secret-token-value") as sim:
        env = simulated_netlify(sim, deploys=3)
        at = run_clean(page_test(frame.SETTINGS, registry_url, monkeypatch, scratch, env=env))
        assert "secret-token-value" not in texts(at)
        assert "token: set" in texts(at)
        at.button(key="settings_test").click()
        run_clean(at)
        assert "vibethinker-sim" in at.success[0].value and "live deploy" in at.success[0].value
        at.button(key="settings_sync").click()
        run_clean(at)
        assert at.success[0].value.startswith("Synced: full sync of site")
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Deploy)) == 3
        assert session.scalar(select(func.count()).select_from(Deploy).where(Deploy.is_live.is_(True))) == 1
        assert registry.counts(session).last_synced_at is not None


# --- history ----------------------------------------------------------------------------------------------

def history_rows(at):
    return at.dataframe[0].value


def test_history_filters_change_what_is_shown(demo_engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch))
    assert len(history_rows(at)) == 40
    assert "page 1 of 1 · 40 versions" in texts(at)
    with unit_of_work(demo_engine) as session:
        on_main = session.scalar(select(func.count()).select_from(Version).where(Version.branch == "main"))
        live = queries.live_now(session)

    at.selectbox(key="history_branch").select("main")
    run_clean(at)
    assert len(history_rows(at)) == on_main < 40
    assert set(history_rows(at)["branch"]) == {"main"}

    at.number_input(key="history_min_aime25").set_value(78.0)
    run_clean(at)
    rows = history_rows(at)
    assert 0 < len(rows) < on_main and (rows["aime25"] >= 78.0).all()

    assert at.button(key="history_next").disabled  # one page only
    at.selectbox(key="history_branch").select("all")
    at.number_input(key="history_min_aime25").set_value(None)
    at.text_input(key="history_text").input(live.sha[:9])
    run_clean(at)
    rows = history_rows(at)
    assert list(rows["version"]) == [f"version?commit={live.sha}"] and list(rows["live"]) == ["● live"]

    at.text_input(key="history_text").input("no such words anywhere")
    run_clean(at)
    assert "No version matches these filters" in texts(at)
    at.button(key="history_clear").click()
    run_clean(at)
    assert len(history_rows(at)) == 40


def test_history_pages_in_sql_with_previous_and_next(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        oldest = session.scalar(select(func.min(Version.created_at)))
        for i in range(35):  # 75 versions: two pages of 50
            registry.record_version(session, f"{i:040x}", branch="old", created_at=oldest - timedelta(days=i + 1))
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch))
    first = history_rows(at)
    assert len(first) == 50 and "page 1 of 2 · 75 versions" in texts(at)
    assert at.button(key="history_previous").disabled and not at.button(key="history_next").disabled
    at.button(key="history_next").click()
    run_clean(at)
    second = history_rows(at)
    assert len(second) == 25 and "page 2 of 2" in texts(at)
    assert not set(first["version"]) & set(second["version"])
    assert list(second["branch"]).count("old") == 35 - 10  # the oldest ones, newest first
    assert at.button(key="history_next").disabled
    at.button(key="history_previous").click()
    run_clean(at)
    assert list(history_rows(at)["version"]) == list(first["version"])


def test_history_links_versions_and_deploys_and_a_selected_row_opens_the_version(demo_engine, registry_url,
                                                                                  monkeypatch, scratch):
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch))
    table = at.dataframe[0]
    columns = json.loads(table.proto.columns)
    assert columns["version"]["type_config"]["type"] == "link"
    assert columns["deploy"]["type_config"]["type"] == "link"
    assert columns["aime25"]["label"] == "AIME25"
    assert table.value["deploy"].str.startswith("https://").all()
    at.selectbox(key="history_branch").select("main")
    run_clean(at)
    sha = at.dataframe[0].value["version"][3].split("=", 1)[1]
    at.session_state["history_table_0"] = {"selection": {"rows": [3], "columns": [], "cells": []}}
    run_clean(at)
    assert at.title[0].value == f"Version {sha[:7]}"
    assert at.query_params["commit"] == sha
    # Back on History: the filter is still set, and the row that was selected does not reopen the version.
    at.switch_page(frame.HISTORY)
    run_clean(at)
    assert at.title[0].value == "History"
    assert at.selectbox(key="history_branch").value == "main"
    assert set(history_rows(at)["branch"]) == {"main"}


def test_history_timeline_has_scores_live_periods_and_promotions(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        rows = registry.score_timeline(session, ["aime25", "hmmt25"], limit=200)
        periods = registry.live_periods(session)
        changes = queries.live_changes(session)
    spec = charts.timeline_chart(rows, periods, changes).to_dict()
    layers = {layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]: layer
              for layer in spec["layer"]}
    assert {"rect", "line", "rule", "text"} <= set(layers)
    datasets = spec["datasets"]
    sizes = sorted(len(v) for v in datasets.values())
    assert len(rows) in sizes and len(changes) in sizes  # every score, every promotion is drawn
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch))
    assert "Shaded: when a deploy was live" in texts(at)


# --- version ----------------------------------------------------------------------------------------------

def test_version_deep_link_shows_deploys_results_with_intervals_problems_and_events(demo_engine, registry_url,
                                                                                     monkeypatch, scratch):
    live, _ = facts(demo_engine)
    with unit_of_work(demo_engine) as session:
        version = registry.find_version(session, live.sha)
        session.add(SolveRun(cache_key="k" * 64, version_id=version.id, problem_id="aime25-003", prompt="p",
                             backend="transformers", device="cpu", output="... 204", answer="204", correct=True,
                             time_to_first_token_s=1.2, tokens=3104, tokens_per_second=212.0))
    at = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch,
                             query_params={"commit": live.sha[:10]}))
    assert at.title[0].value == f"Version {live.sha[:7]}"
    shown = texts(at)
    assert "live" in shown and "synthetic" in shown
    deploys, results, *rest = [d.value for d in at.dataframe]
    assert list(deploys["deploy id"]) == [live.deploy_id] and list(deploys["live"]) == ["● live"]
    assert list(deploys["locked"]) == ["locked"]
    assert list(results["benchmark"]) == ["AIME24", "AIME25", "HMMT25", "LCB v6"]
    for ci, score in zip(results["95% CI"], results["score"]):
        low, high = (float(x) for x in ci.split(" – "))
        assert low <= round(score, 1) <= high
    assert (results["per-problem"] != "no per-problem results").all()
    problems = rest[0]
    assert len(problems) == 30 and set(problems.columns) >= {"problem", "correct", "samples"}
    events = next(d for d in rest if "action" in d.columns)
    assert "promote" in set(events["action"])
    solve = next(d for d in rest if "answer" in d.columns)
    assert list(solve["answer"]) == ["204"] and list(solve["grade"]) == ["✓"]  # the same marks as the solve log


def test_version_without_per_problem_results_says_so(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        published = session.scalar(select(Version).where(Version.synthetic.is_(False)))
        sha = published.sha
    at = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch, query_params={"commit": sha}))
    results = at.dataframe[1].value
    assert (results["per-problem"] == "no per-problem results").all()
    assert "64 samples" in " ".join(results["protocol"])
    assert "No per-problem results for this version." in texts(at)


@pytest.mark.parametrize(("commit", "says"), [("not-a-sha", "is not a git commit sha"),
                                              ("abcdef1234", "no version abcdef1234")])
def test_version_with_a_bad_or_unknown_sha_is_friendly(commit, says, demo_engine, registry_url, monkeypatch,
                                                       scratch):
    at = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch, query_params={"commit": commit}))
    assert says in at.warning[0].value
    back = at.get("page_link")[0].proto
    assert (back.page, back.label) == ("history", "Back to History")


# --- compare ----------------------------------------------------------------------------------------------

def test_compare_two_commits_shows_deltas_with_intervals_and_within_noise(demo_engine, registry_url, monkeypatch,
                                                                          scratch):
    live, candidate = facts(demo_engine)
    with unit_of_work(demo_engine) as session:
        expected = queries.compare_versions(queries.facts_of(session, [live.sha, candidate.sha]))
    verdicts = [d.verdict for d in expected.diffs]
    assert "within noise" in verdicts  # the sample pair has both kinds of difference
    at = run_clean(page_test(frame.COMPARE, registry_url, monkeypatch, scratch,
                             query_params={"commits": f"{live.sha[:7]},{candidate.sha[:7]}"}))
    table = at.dataframe[0].value
    assert list(table["verdict"]) == [tables.verdict_label(v) for v in verdicts]
    assert "≈ within noise" in set(table["verdict"])
    assert list(table["Δ"]) == [f"{d.delta:+.1f}" for d in expected.diffs]
    assert all(ci.startswith("[") for ci in table["95% CI of Δ"])
    assert at.multiselect(key="compare_versions").value == [live.sha, candidate.sha]
    shown = texts(at)
    for (_, bench), flips in expected.flips.items():
        assert f"{len(flips.gained)} gained, {len(flips.lost)} lost" in shown
    assert not at.warning  # same protocol on both sides


def test_compare_warns_about_different_protocols_and_unknown_commits(demo_engine, registry_url, monkeypatch,
                                                                     scratch):
    live, _ = facts(demo_engine)
    with unit_of_work(demo_engine) as session:
        published = session.scalar(select(Version.sha).where(Version.synthetic.is_(False)))
    at = run_clean(page_test(frame.COMPARE, registry_url, monkeypatch, scratch,
                             query_params={"commits": f"{published},{live.sha},1234567"}))
    warnings = " ".join(w.value for w in at.warning)
    assert "no version 1234567" in warnings
    assert "64 vs 8 samples per problem" in warnings
    table = at.dataframe[0].value
    # The published version has headline scores only; the known benchmark sizes (AIME 30 problems...) give an
    # approximate, unpaired interval rather than "no interval" (issue 9).
    assert "noise unknown" not in set(table["verdict"])
    assert any(str(method).startswith("normal approximation") for method in table["CI method"])


def test_compare_selection_changes_the_comparison_and_the_url(demo_engine, registry_url, monkeypatch, scratch):
    live, candidate = facts(demo_engine)
    at = run_clean(page_test(frame.COMPARE, registry_url, monkeypatch, scratch))
    assert at.multiselect(key="compare_versions").value[0] == live.sha  # live first, as the baseline
    at.multiselect(key="compare_versions").set_value([live.sha])
    run_clean(at)
    assert "Pick at least two versions" in texts(at) and not at.dataframe
    at.multiselect(key="compare_versions").set_value([candidate.sha, live.sha])
    run_clean(at)
    assert list(at.dataframe[0].value.columns)[1:3] == [candidate.sha[:7], live.sha[:7]]
    assert at.query_params["commits"] == f"{candidate.sha},{live.sha}"


# --- what the pages read through (checked independently of the pages) -------------------------------------

def test_compare_versions_judges_each_benchmark_against_the_baseline():
    same = {f"p{i}": (4, 8) for i in range(30)}
    better = {f"p{i}": (8, 8) for i in range(30)}
    baseline = VersionFacts("a" * 40, {
        "aime25": ScoreFact("aime25", 50.0, problems=30, samples_per_problem=8, temperature=0.6, per_problem=same),
        "hmmt25": ScoreFact("hmmt25", 50.0, problems=30, samples_per_problem=64, temperature=0.6, per_problem=same),
        "gpqa_diamond": ScoreFact("gpqa_diamond", 40.0)})
    other = VersionFacts("b" * 40, {
        "aime25": ScoreFact("aime25", 100.0, problems=30, samples_per_problem=8, temperature=0.6,
                            per_problem=better),
        "hmmt25": ScoreFact("hmmt25", 50.0, problems=30, samples_per_problem=8, temperature=1.0, per_problem=same)})
    comparison = queries.compare_versions([baseline, other])
    assert comparison.benchmarks == ["aime25", "hmmt25", "gpqa_diamond"]  # the dashboard's benchmark order
    verdicts = {d.benchmark: d.verdict for d in comparison.diffs}
    assert verdicts == {"aime25": "better", "hmmt25": "within noise", "gpqa_diamond": "no result"}
    aime = comparison.diffs[0]
    # every problem gained; still not a zero-width interval (the within-problem variance floors it)
    assert aime.delta == 50.0 and 40.0 < aime.interval.low < 50.0 < aime.interval.high < 60.0
    assert comparison.flips[("b" * 40, "aime25")].gained == [f"p{i}" for i in range(30)]
    assert comparison.protocol_warnings() == [
        "HMMT25 (aaaaaaa vs bbbbbbb): 64 vs 8 samples per problem; temperature 0.6 vs 1"]


def test_the_database_is_named_without_its_password():
    assert frame.database_label("postgresql+psycopg://vibe:s3cret@db.internal/registry") == \
        "postgresql+psycopg://vibe:***@db.internal/registry"
    assert frame.database_label("sqlite:///vibedash.db") == "sqlite:///vibedash.db"


def test_the_best_candidate_is_the_highest_scoring_ready_deploy_that_is_not_live(demo_engine):
    with unit_of_work(demo_engine) as session:
        live = registry.live_deploy(session)
        rows = session.execute(
            select(Version.sha, BenchmarkResult.score).join(Deploy, Deploy.version_id == Version.id)
            .join(BenchmarkResult, BenchmarkResult.version_id == Version.id)
            .where(Deploy.state == "ready", Deploy.is_live.is_(False), Version.id != live.version_id,
                   BenchmarkResult.benchmark == "aime25", BenchmarkResult.is_primary.is_(True))).all()
        best = queries.best_candidate(session, DEFAULT_POLICY, "aime25")
    top = max(score for _, score in rows)
    assert best.scores["aime25"] == top and best.sha in {sha for sha, score in rows if score == top}
    assert best.lead_diff is not None and best.lead_diff.n_common == 30  # paired over the 30 problems


# --- heavy imports stay on the solve path -----------------------------------------------------------------

def test_rendering_the_read_pages_never_imports_torch_or_transformers(demo_engine, registry_url, tmp_path):
    script = textwrap.dedent(f"""
        import os, sys
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]
        os.environ["VIBEDASH_DB_URL"] = {registry_url!r}
        os.chdir({str(tmp_path)!r})
        from streamlit.testing.v1 import AppTest
        import pagetest
        for page in {list(MY_PAGES)!r}:
            at = AppTest.from_file(str(pagetest.APP), default_timeout=60)
            at.switch_page(page).run()
            assert not at.exception, (page, [e.value for e in at.exception])
        print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
