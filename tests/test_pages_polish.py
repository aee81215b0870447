"""What a newcomer saw as unfinished (issue 14), page by page: facts that contradicted each other, tables and
charts that did not fit or could not be read, emoji, deep links that kept stale parameters, user text shown as
Markdown. Each test failed before its fix."""

from __future__ import annotations

import colorsys
import json
import re
from datetime import timedelta

import pytest
from pagetest import REPO, page_test, run_clean, texts
from sqlalchemy import func, select

from vibedash.decisions.gate import DEFAULT_POLICY
from vibedash.registry import queries
from vibedash.registry import records as registry
from vibedash.registry.action_queries import candidate_verdicts
from vibedash.registry.audit import record_event
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import BenchmarkResult, Deploy, Site, SolveRun, Version, utcnow
from vibedash.ui import charts, frame, tables

# Characters a browser draws as colour emoji (Unicode Emoji_Presentation) and the emoji variation selector:
# without an emoji font (stock Debian chromium) they are all the same empty box.
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u231A\u231B\u23E9-\u23EC\u23F0\u23F3\u25FD\u25FE\u2614\u2615"
                   "\u2648-\u2653\u267F\u2693\u26A1\u26AA\u26AB\u26BD\u26BE\u26C4\u26C5\u26CE\u26D4\u26EA"
                   "\u26F2\u26F3\u26F5\u26FA\u26FD\u2705\u270A\u270B\u2728\u274C\u274E\u2753-\u2755\u2757"
                   "\u2795-\u2797\u27B0\u27BF\u2B1B\u2B1C\u2B50\u2B55\uFE0F]")
RAW_KEYS = re.compile(r"\b(lcb_v\d|gpqa_diamond|math500)\b")


def every_text(at) -> str:
    """What a person reads, tables included: their cells and their headers as labelled (a column's key is not
    shown when its configuration gives a label)."""
    parts = [texts(at)]
    for frame_ in at.dataframe:
        value = frame_.value
        config = json.loads(frame_.proto.columns or "{}")
        parts.append(" ".join(str((config.get(str(c)) or {}).get("label") or c) for c in value.columns))
        parts.append(value.astype(str).to_string(header=False, index=False))
    return "\n".join(parts)


# --- wrong or contradictory -------------------------------------------------------------------------------

def test_after_a_rollback_to_an_old_deploy_it_has_just_gone_live(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        live = registry.live_deploy(session)
        older = session.scalar(select(Deploy).where(Deploy.published_at.is_not(None), Deploy.id != live.id)
                               .order_by(Deploy.published_at.desc()).limit(1))
        assert utcnow() - older.published_at > timedelta(days=1)  # first published days ago
        registry.set_live(session, older.netlify_id, locked=True)
        older_id = older.netlify_id
    record_event(demo_engine, kind="rollback", actor="tester", target=older_id)
    at = run_clean(page_test(frame.OVERVIEW, registry_url, monkeypatch, scratch))
    assert "just went live" in texts(at) and "live for" not in texts(at)
    at = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch))
    assert "just went live" in texts(at) and "live for" not in texts(at)
    with unit_of_work(demo_engine) as session:
        periods = registry.live_periods(session)
    assert periods[-1]["deploy_id"] == older_id and periods[-1]["end"] is None  # a second period of its own
    assert [p["deploy_id"] for p in periods].count(older_id) == 2


def test_history_sorts_every_version_across_pages(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        oldest = session.scalar(select(func.min(Version.created_at)))
        for i in range(20):  # 60 versions: two pages, the lowest AIME25 scores among the oldest versions
            version = registry.record_version(session, f"{i:040x}", branch="old",
                                              created_at=oldest - timedelta(days=i + 1))
            session.add(BenchmarkResult(version_id=version.id, benchmark="aime25", metric="pass@1",
                                        score=40.0 + i / 2, is_primary=True, source_format="plain_json"))
        scores = sorted(session.scalars(select(BenchmarkResult.score).where(BenchmarkResult.benchmark == "aime25",
                                                                            BenchmarkResult.is_primary.is_(True))))
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch))
    at.selectbox(key="history_sort").select("aime25:asc")
    run_clean(at)
    first = at.dataframe[0].value
    assert list(first["aime25"]) == scores[:50]
    at.button(key="history_next").click()
    run_clean(at)
    second = at.dataframe[0].value["aime25"].dropna()
    assert list(second) == scores[50:] and second.min() >= first["aime25"].max()
    assert "sorts this page only" in texts(at)


def test_history_table_is_as_tall_as_its_rows_and_scores_have_room_for_the_sort_arrow(
        demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        live = queries.live_now(session)
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch))
    at.text_input(key="history_text").input(live.sha[:9])
    run_clean(at)
    table = at.dataframe[0]
    assert len(table.value) == 1
    # The height itself is layout, which AppTest does not expose: the browser test measures it on the page.
    assert tables.fitted_height(1, 15) == 35 * 2 + 3 and tables.fitted_height(4, 15) == 35 * 5 + 3
    assert tables.fitted_height(50, 15) == 35 * 16 + 3
    columns = json.loads(table.proto.columns)
    assert columns["aime25"]["width"] >= tables.SCORE_WIDTH_PX


def test_retention_on_an_empty_registry_says_there_is_nothing_yet(engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.RETENTION, registry_url, monkeypatch, scratch))
    shown = texts(at)
    assert "No deploy is marked all" not in shown and "Every deploy still on Netlify is pinned" not in shown
    assert "No deploys in the registry yet" in shown and "No deploy to pin yet" in shown


def test_compare_caption_counts_only_differences_it_could_judge(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        live = queries.live_now(session)
        published = session.scalar(select(Version.sha).where(Version.synthetic.is_(False)))
        comparison = queries.compare_versions(queries.facts_of(session, [published, live.sha]))
    judged = [d for d in comparison.diffs if d.interval is not None]
    assert len(judged) < len(comparison.diffs)  # the published version lacks some results and problem counts
    at = run_clean(page_test(frame.COMPARE, registry_url, monkeypatch, scratch,
                             query_params={"commits": f"{published},{live.sha}"}))
    noisy = sum(d.verdict == "within noise" for d in judged)
    assert f"({noisy} of {len(judged)} differences here;" in texts(at)


def test_history_timeline_on_a_branch_shows_only_that_branch_live_and_dates_with_months(
        demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        periods = registry.live_periods(session)
        changes = queries.live_changes(session)
        branches = {p["branch"] for p in periods}
        branch = "main"
        rows = registry.score_timeline(session, ["aime25"], branch=branch)
    assert len(branches) > 1 and branch in branches, "the sample registry is live on more than one branch"
    shown_periods, shown_changes = charts.on_branch(periods, changes, branch)
    assert shown_periods and {p["branch"] for p in shown_periods} == {branch}
    assert {c["sha"] for c in shown_changes} <= {p["sha"] for p in shown_periods}
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch))
    at.selectbox(key="history_branch").select(branch)
    run_clean(at)
    assert f"Shaded: when a deploy of {branch} was live" in texts(at)
    spec = charts.timeline_chart(rows, shown_periods, shown_changes).to_dict()
    line = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "line")
    assert "%b" in line["encoding"]["x"]["axis"]["format"]  # "3 Jan", never "Sat 03"


def test_timeline_labels_of_close_changes_do_not_overlap_and_colours_differ(demo_engine):
    now = utcnow()
    moments = [now - timedelta(hours=h) for h in (50, 49.5, 49, 10)]
    rows = charts.label_rows(moments, now - timedelta(days=3), now)
    assert rows[:3] == [0, 1, 2] and rows[3] == 0
    hues = [colorsys.rgb_to_hls(*(int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)))[0] * 360
            for c in charts.SERIES_COLORS[:4]]
    assert min(abs(a - b) % 360 for i, a in enumerate(hues) for b in hues[i + 1:]) > 30


def test_gate_lines_and_retention_reasons_use_display_names(demo_engine, registry_url, monkeypatch, scratch,
                                                            tmp_path):
    policy = tmp_path / "gate.toml"
    policy.write_text('[gate]\nname = "code"\nrules = ["lcb_v6 >= 99", "requires gpqa_diamond,math500"]\n')
    retention = tmp_path / "retention.toml"
    retention.write_text('benchmarks = ["aime25", "lcb_v6"]\n')
    env = {"VIBEDASH_GATE_POLICY": str(policy), "VIBEDASH_RETENTION_POLICY": str(retention)}
    for page in (frame.OVERVIEW, frame.PROMOTE, frame.RETENTION):
        at = run_clean(page_test(page, registry_url, monkeypatch, scratch, env=env))
        shown = every_text(at)
        assert not RAW_KEYS.findall(shown), (page, RAW_KEYS.findall(shown)[:5])
        assert "LCB v6" in shown


# --- cut off or hard to read ------------------------------------------------------------------------------

def test_compare_three_versions_fits_and_bars_have_error_bars(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        shas = list(session.scalars(select(Version.sha).where(Version.synthetic.is_(True))
                                    .order_by(Version.created_at.desc()).limit(3)))
    at = run_clean(page_test(frame.COMPARE, registry_url, monkeypatch, scratch,
                             query_params={"commits": ",".join(shas)}))
    table = at.dataframe[0].value
    assert len(table.columns) == 1 + 3 + 2 * 2  # benchmark, three scores, Δ with CI and verdict per other
    assert all(re.match(r"[+-]\d+\.\d \[|–", cell) for cell in table[f"Δ {shas[1][:7]} [95% CI]"])
    with unit_of_work(demo_engine) as session:
        comparison = queries.compare_versions(queries.facts_of(session, shas))
    spec = charts.comparison_bars(comparison, {shas[0]: {"aime25": (70.0, 80.0)}}).to_dict()
    def marks(layers):
        for layer in layers:
            if "layer" in layer:
                yield from marks(layer["layer"])
            else:
                yield layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]

    assert list(marks(spec["layer"])) == ["bar", "rule", "tick", "tick"]  # a whisker with caps on each bar
    whisker = spec["layer"][1]
    assert whisker["encoding"]["xOffset"]["field"] == "version" and whisker["encoding"]["y2"]["field"] == "high"
    assert "Error bars: each version's 95% CI" in texts(at)


def test_no_emoji_on_any_page(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        live = queries.live_now(session)
        candidate = queries.best_candidate(session, DEFAULT_POLICY, queries.lead_benchmark(session))
        version = registry.find_version(session, live.sha)
        for i, correct in enumerate((True, False)):  # graded runs: Solve's log and Version's table mark them
            session.add(SolveRun(cache_key=f"{i}" * 64, version_id=version.id, problem_id="math-01", prompt="p",
                                 backend="transformers", device="cpu", output="<think>x</think> 204",
                                 answer="204", correct=correct, time_to_first_token_s=1.2, tokens=31,
                                 tokens_per_second=212.0, cache_hits=2, last_served_at=utcnow()))
    params = {frame.VERSION: {"commit": live.sha}, frame.COMPARE: {"commits": f"{live.sha},{candidate.sha}"}}
    for page in (frame.OVERVIEW, frame.HISTORY, frame.VERSION, frame.COMPARE, frame.SOLVE, frame.PROMOTE,
                 frame.RETENTION, frame.SETTINGS):
        at = run_clean(page_test(page, registry_url, monkeypatch, scratch, query_params=params.get(page)))
        assert not EMOJI.findall(every_text(at)), (page, EMOJI.findall(every_text(at)))


def test_the_favicon_is_a_local_file():
    source = (REPO / "app.py").read_text()
    assert ":material/monitoring:" not in source.split("set_page_config", 1)[1].split("\n", 1)[0]
    icon = REPO / "static" / "favicon.png"
    assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- settings, sync, deep links, user text ----------------------------------------------------------------

def test_sync_button_says_when_the_next_sync_is_a_full_one(demo_engine, registry_url, monkeypatch, scratch):
    env = {"NETLIFY_AUTH_TOKEN": "t", "NETLIFY_SITE_ID": "site-1", "VIBEDASH_NETLIFY_API_URL": "http://127.0.0.1:9"}
    at = run_clean(page_test(frame.SETTINGS, registry_url, monkeypatch, scratch, env=env))
    button = at.button(key="settings_sync")
    assert button.label == "Sync now (full)" and "full sync" in button.help and "incremental" not in button.help
    with unit_of_work(demo_engine) as session:
        session.merge(Site(id="site-1", last_synced_at=utcnow(), last_full_sync_at=utcnow()))
    at = run_clean(page_test(frame.SETTINGS, registry_url, monkeypatch, scratch, env=env))
    assert at.button(key="settings_sync").label == "Sync now"


def test_settings_show_unset_values_as_not_set(engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.SETTINGS, registry_url, monkeypatch, scratch))
    table = at.dataframe[-1].value.set_index("env")
    assert table.loc["NETLIFY_SITE_ID", "value"] == "not set"
    assert "" not in set(table["value"])


@pytest.mark.parametrize("page", [frame.HISTORY, frame.OVERVIEW, frame.RETENTION, frame.SETTINGS])
def test_pages_drop_a_commit_left_in_the_url_by_the_version_page(page, demo_engine, registry_url, monkeypatch,
                                                                 scratch):
    with unit_of_work(demo_engine) as session:
        live = queries.live_now(session)
    at = run_clean(page_test(page, registry_url, monkeypatch, scratch, query_params={"commit": live.sha}))
    assert "commit" not in at.query_params


def test_promote_keeps_the_chosen_candidate_in_the_url(demo_engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch))
    box = at.selectbox(key="promote_candidate")
    other = next(c for c in candidate_verdicts(demo_engine, DEFAULT_POLICY) if c.deploy_id != box.value)
    box.set_value(other.deploy_id)
    run_clean(at)
    assert at.query_params["commit"] in (other.sha, [other.sha])


@pytest.mark.parametrize("page, param", [(frame.VERSION, "commit"), (frame.COMPARE, "commits")])
def test_user_text_from_the_url_is_never_rendered_as_markdown(page, param, demo_engine, registry_url, monkeypatch,
                                                              scratch):
    typed = "[click me](https://example.com/x)"
    at = run_clean(page_test(page, registry_url, monkeypatch, scratch, query_params={param: typed}))
    warning = " ".join(w.value for w in at.warning)
    assert r"\[click me\]\(https\://example\.com/x\)" in warning
    assert "[click me](" not in warning


def test_history_link_opens_the_view_it_names_and_the_url_follows_the_page(demo_engine, registry_url, monkeypatch,
                                                                           scratch):
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch,
                             query_params={"branch": "main", "sort": "aime25:desc"}))
    assert at.selectbox(key="history_branch").value == "main"
    assert at.selectbox(key="history_sort").value == "aime25:desc"
    rows = at.dataframe[0].value
    assert set(rows["branch"]) == {"main"}
    scored = list(rows["aime25"].dropna())
    assert scored == sorted(scored, reverse=True)
    at.selectbox(key="history_branch").select("all")
    at.text_input(key="history_text").input("code")
    run_clean(at)
    assert "branch" not in at.query_params and at.query_params["q"] in ("code", ["code"])
    assert at.query_params["sort"] in ("aime25:desc", ["aime25:desc"])
