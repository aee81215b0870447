"""End to end in a real browser: `streamlit run app.py` driven by Playwright through Debian's chromium.
Run with `python -m pytest tests/test_e2e_browser.py --e2e`.

The look of the product: every page on the sample registry (a loopback Netlify simulator connected) and on an
empty one, at 1440 px and at 800 px wide, screenshot each, and fail on an exception box, a table cut off sideways,
an emoji or a favicon from elsewhere (e2e_support.walk says exactly what it checks).

The story: open the overview, look through the history, compare the live version with a candidate, promote the
candidate through the confirmation dialog, see it live on the overview and in the audit log, roll back.
A screenshot of every step goes to test-artifacts/screenshots/ (git-ignored) for a person to look at.

Deep links: a URL with parameters opens Retention, Promote and Version on the view it names; a filter changed in
the page is in the URL and survives a reload; a value a page cannot use is ignored with a notice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import (
    CHROMIUM_ARGS,
    REPO,
    TOKEN,
    WIDTHS,
    chromium_path,
    history_table_fits_its_rows,
    netlify_environment,
    screenshots_folder,
    streamlit_server,
    walk,
)
from sqlalchemy import Engine, select

from vibedash.actions import deploys as actions
from vibedash.decisions.gate import DEFAULT_POLICY
from vibedash.netlify.simulator import NetlifySimulator
from vibedash.registry import queries
from vibedash.registry import records as registry
from vibedash.registry.action_queries import candidate_verdicts, preferred_candidate
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.demo import build_demo, seed_simulator
from vibedash.registry.models import Deploy, SolveRun, Version, utcnow

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 30_000
ACTOR = "e2e-tester"


DRAWN = """() => [...document.querySelectorAll("[data-testid='stDataFrame'], [data-testid='stVegaLiteChart']")]
    .filter(el => el.checkVisibility())
    .every(el => el.getBoundingClientRect().width > 200 && el.getBoundingClientRect().height > 30)"""


def settle(page) -> None:
    """Wait until the app has finished its script run (never a fixed sleep)."""
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


def go_to(page, title: str) -> None:
    """Open a page through the navigation menu and wait for it to be drawn."""
    from playwright.sync_api import expect

    page.locator("[data-testid='stSidebarNavLink']", has_text=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    settle(page)


def screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main section, so the viewport grows to fit it first."""
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, VIEWPORT["height"]), 8000)})
    settle(page)
    # Tables and charts lay themselves out again after the resize: wait until each has its full width.
    page.wait_for_function(DRAWN, timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size(VIEWPORT)


def grid_cells(grid) -> list[str]:
    """Texts of a st.dataframe's cells (its accessible table; the grid itself is drawn on a canvas)."""
    grid.scroll_into_view_if_needed()
    cells = grid.locator("[id^='glide-cell']")
    cells.first.wait_for(state="attached", timeout=TIMEOUT_MS)
    return cells.all_inner_texts()


@pytest.mark.e2e
def test_promote_and_roll_back_in_the_browser(demo_engine: Engine, registry_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_path()
    if chromium is None:
        pytest.fail("chromium not found: install it (apt-get install -y chromium) or set CHROMIUM_PATH")
    with unit_of_work(demo_engine) as session:
        live = registry.live_deploy(session)
        live_id, live_sha = live.netlify_id, live.version.sha
    candidate = preferred_candidate(candidate_verdicts(demo_engine, DEFAULT_POLICY))
    assert candidate is not None and candidate.verdict.passed, "the sample registry should offer a passing candidate"
    short_live, short_candidate = live_sha[:7], candidate.sha[:7]

    with NetlifySimulator(token=TOKEN) as sim:
        site_id = seed_simulator(sim, demo_engine)
        env = {**netlify_environment(sim, site_id), "VIBEDASH_DB_URL": registry_url, "VIBEDASH_ACTOR": ACTOR}
        with streamlit_server(env, tmp_path / "streamlit.log") as base_url, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(TIMEOUT_MS)

                # A deep link as the very first request of a fresh server still goes through the router.
                page.goto(f"{base_url}/version?commit={live_sha}")
                settle(page)
                expect(page.get_by_test_id("stSidebarNav").get_by_text("Overview")).to_be_visible()
                expect(page.get_by_text(short_live).first).to_be_visible()
                screenshot(page, "version")

                # Overview: what is live now.
                page.goto(base_url)
                expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
                settle(page)
                expect(page.get_by_text("Live now", exact=True)).to_be_visible()
                expect(page.get_by_text(short_live).first).to_be_visible()
                screenshot(page, "overview")

                # History: every version, the candidate among them.
                go_to(page, "History")
                assert any(short_candidate in cell for cell in grid_cells(page.get_by_test_id("stDataFrame").first))
                screenshot(page, "history")

                # Compare the live version with the candidate (the URL keeps the pair).
                page.goto(f"{base_url}/compare?commits={live_sha},{candidate.sha}")
                expect(page.get_by_role("heading", name="Compare", exact=True)).to_be_visible()
                settle(page)
                expect(page.get_by_text("Δ against the baseline").first).to_be_visible()
                screenshot(page, "compare")

                # Promote the candidate through the confirmation dialog.
                go_to(page, "Promote")
                expect(page.get_by_text(f"candidate {short_candidate} → replaces live {short_live}")).to_be_visible()
                screenshot(page, "promote")
                page.get_by_role("button", name=f"Promote {short_candidate}…").click()
                dialog = page.get_by_role("dialog")
                expect(dialog).to_be_visible()
                settle(page)
                expect(dialog.get_by_role("textbox")).to_have_value(f"passes the gate ({candidate.verdict.summary()})")
                screenshot(page, "promote-dialog")
                dialog.get_by_role("button", name=f"Promote {short_candidate}", exact=True).click()
                done = f"{candidate.deploy_id} ({short_candidate}) is live and locked"
                expect(page.get_by_text(done)).to_be_visible()
                settle(page)
                assert sim.published_deploy_id(site_id) == candidate.deploy_id

                # The audit log on the same page has the promotion, by this actor.
                audit = grid_cells(page.get_by_test_id("stDataFrame").last)
                assert "promote" in audit and ACTOR in audit
                screenshot(page, "promote-done")

                # The overview shows the new truth at once.
                go_to(page, "Overview")
                expect(page.get_by_text(short_candidate).first).to_be_visible()
                screenshot(page, "overview-after-promote")

                # Roll back, the same confirmed way.
                go_to(page, "Promote")
                target = actions.rollback_target(demo_engine, candidate.deploy_id)
                assert target == live_id
                page.get_by_role("button", name=f"Roll back to {short_live}…").click()
                dialog = page.get_by_role("dialog")
                expect(dialog).to_be_visible()
                settle(page)
                screenshot(page, "rollback-dialog")
                # Typed and confirmed straight away, as a person would: the click must carry the reason along.
                dialog.get_by_role("textbox").fill("e2e: back to the version that was live")
                dialog.get_by_role("button", name=f"Roll back to {short_live}", exact=True).click()
                expect(page.get_by_text(f"rolled back to {live_id} ({short_live})")).to_be_visible()
                settle(page)
                assert sim.published_deploy_id(site_id) == live_id
                screenshot(page, "rollback-done")

                # Retention: the plan and its chart.
                go_to(page, "Retention")
                expect(page.get_by_text("Policy in force")).to_be_visible()
                screenshot(page, "retention")
            finally:
                browser.close()
        assert not sim.internal_errors

    with unit_of_work(demo_engine) as session:
        mine = registry.events(session, actor=ACTOR)
    assert [(e["kind"], e["status"]) for e in mine] == [("rollback", "succeeded"), ("promote", "succeeded")]


# --- the look of every page -----------------------------------------------------------------------------

@pytest.mark.e2e
def test_every_page_on_the_sample_registry_looks_right(tmp_path, tmp_path_factory) -> None:
    url = f"sqlite:///{tmp_path / 'sample.db'}"
    engine = open_registry(url)
    with unit_of_work(engine) as session:
        build_demo(session)
        live_version = session.scalar(select(Version).join(Deploy, Deploy.version_id == Version.id)
                                      .where(Deploy.is_live.is_(True)))
        for i, correct in enumerate((True, False)):  # graded runs: Solve's log and Version's table mark them
            session.add(SolveRun(cache_key=f"{i}" * 64, version_id=live_version.id, problem_id="math-01",
                                 prompt="p", backend="transformers", device="cpu", output="<think>x</think> 204",
                                 answer="204", correct=correct, time_to_first_token_s=1.2, tokens=31,
                                 tokens_per_second=212.0, cache_hits=2, last_served_at=utcnow()))
    with unit_of_work(engine) as session:
        live = queries.live_now(session)
        candidate = queries.best_candidate(session, DEFAULT_POLICY, queries.lead_benchmark(session))
        newest = queries.compare_choices(session, (), limit=3).versions
    three = ",".join([live.sha, candidate.sha, *(v.sha for v in newest if v.sha not in (live.sha, candidate.sha))][:3])
    views = [("overview", "/"), ("history", "/history"), ("version", f"/version?commit={live.sha}"),
             ("compare", f"/compare?commits={live.sha},{candidate.sha}"),
             ("compare-three", f"/compare?commits={three}"),
             ("solve", "/solve"), ("promote", "/promote"), ("retention", "/retention"), ("settings", "/settings")]
    folder = screenshots_folder(tmp_path_factory) / "sample"
    folder.mkdir(exist_ok=True)
    with NetlifySimulator(token=TOKEN) as sim:
        site_id = seed_simulator(sim, engine)
        env = {**netlify_environment(sim, site_id), "VIBEDASH_DB_URL": url, "VIBEDASH_ACTOR": "e2e-look"}
        with streamlit_server(env, tmp_path / "streamlit.log") as base_url:
            problems = walk(base_url, views, folder, extra=history_table_fits_its_rows(live.sha))
    engine.dispose()
    assert not problems, "\n".join(problems)
    assert len(list(folder.glob("*.png"))) == len(views) * len(WIDTHS)


@pytest.mark.e2e
def test_every_page_on_an_empty_registry_looks_right(tmp_path, tmp_path_factory) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_registry(url).dispose()
    views = [("overview", "/"), ("history", "/history"), ("version", "/version"), ("compare", "/compare"),
             ("solve", "/solve"), ("promote", "/promote"), ("retention", "/retention"), ("settings", "/settings")]
    folder = screenshots_folder(tmp_path_factory) / "empty"
    folder.mkdir(exist_ok=True)
    with streamlit_server({"VIBEDASH_DB_URL": url, "VIBEDASH_ACTOR": "e2e-look"}, tmp_path / "streamlit.log") \
            as base_url:
        problems = walk(base_url, views, folder)
    assert not problems, "\n".join(problems)
    assert len(list(folder.glob("*.png"))) == len(views) * len(WIDTHS)


# --- deep links ----------------------------------------------------------------------------------------------

def url_params(page) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(page.url).query))


def selectbox_shows(page, label: str) -> str:
    return page.get_by_role("combobox", name=label, exact=True).input_value()


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the select box labelled ``label``, as a person does: open it, click the option.
    A table that finishes drawing can close a list just opened, so opening is tried again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_role("combobox", name=label, exact=True)
    choice = page.get_by_role("listbox").get_by_role("option").filter(has_text=option).first
    for attempt in range(3):
        if box.get_attribute("aria-expanded") != "true":
            page.get_by_role("group").filter(has=box).get_by_role("button", name="Open").click()
        try:
            choice.click(timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    settle(page)


def wait_for_param(page, name: str, value: str) -> None:
    page.wait_for_function("([name, value]) => new URLSearchParams(location.search).get(name) === value",
                           arg=[name, value], timeout=TIMEOUT_MS)


@pytest.mark.e2e
def test_deep_links_open_the_view_they_name_and_survive_a_reload(tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = chromium_path()
    if chromium is None:
        pytest.fail("chromium not found: install it (apt-get install -y chromium) or set CHROMIUM_PATH")
    url = f"sqlite:///{tmp_path / 'sample.db'}"
    engine = open_registry(url)
    with unit_of_work(engine) as session:
        build_demo(session)
    with unit_of_work(engine) as session:
        live = queries.live_now(session)
    engine.dispose()

    def shown_filter(name: str):  # Retention's "Show" control: a radio group
        return page.get_by_role("radio", name=name, exact=True)
    with streamlit_server({"VIBEDASH_DB_URL": url, "VIBEDASH_ACTOR": "e2e-links"}, tmp_path / "streamlit.log") \
            as base_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)

            # Retention: the link's filter and chart axes are what the page opens with.
            page.goto(f"{base_url}/retention?show=prune&x=gpqa_diamond")
            settle(page)
            expect(shown_filter("prune")).to_be_checked()
            assert "GPQA-D" in selectbox_shows(page, "Across")
            table = page.get_by_test_id("stDataFrame").first
            cells = grid_cells(table)
            assert "prune" in cells and "keep" not in cells
            # Another filter: the URL follows, and a reload keeps it.
            shown_filter("keep").click()
            settle(page)
            wait_for_param(page, "show", "keep")
            assert url_params(page) == {"show": "keep", "x": "gpqa_diamond"}
            page.reload()
            settle(page)
            expect(shown_filter("keep")).to_be_checked()
            assert url_params(page) == {"show": "keep", "x": "gpqa_diamond"}
            screenshot(page, "deep-link-retention")

            # A value the page cannot show: a quiet notice, the default view, no exception.
            page.goto(f"{base_url}/retention?show=everything")
            settle(page)
            expect(page.get_by_text("Ignored from the link")).to_be_visible()
            expect(shown_filter("all")).to_be_checked()
            assert page.get_by_test_id("stException").count() == 0
            assert "show" not in url_params(page)

            # Promote: the audit log's filters from the link; another one chosen; a reload keeps both.
            page.goto(f"{base_url}/promote?who=demo")
            settle(page)
            assert "demo" in selectbox_shows(page, "Who")
            pick(page, "Action", "promote")
            wait_for_param(page, "action", "promote")
            page.reload()
            settle(page)
            assert "demo" in selectbox_shows(page, "Who") and "promote" in selectbox_shows(page, "Action")
            assert url_params(page) == {"who": "demo", "action": "promote"}
            log = grid_cells(page.get_by_test_id("stDataFrame").last)
            assert "promote" in log and "demo" in log and "sync" not in log
            screenshot(page, "deep-link-promote")

            # Version: the open per-problem tab is in the URL.
            page.goto(f"{base_url}/version?commit={live.sha}&problems=hmmt25")
            settle(page)
            expect(page.get_by_role("tab", name="HMMT25", exact=True).first).to_have_attribute("aria-selected", "true")
            page.get_by_role("tab", name="AIME25", exact=True).first.click()
            settle(page)
            wait_for_param(page, "problems", "aime25")
            assert url_params(page)["commit"] == live.sha

            # Leaving a page leaves its parameters behind.
            go_to(page, "History")
            assert url_params(page) == {}
        finally:
            browser.close()
