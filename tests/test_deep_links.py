"""Deep links (issue 14): what a person chose on a page is in its URL, and a URL with those parameters opens the
same view; a value a page cannot show is ignored with a quiet notice, never an exception; a page drops the
parameters of the page before it."""

from __future__ import annotations

from pagetest import page_test, run_clean
from sqlalchemy import event as sa_event
from sqlalchemy import select

from vibedash.actions.retention_apply import current_plan
from vibedash.config import load_settings
from vibedash.decisions.gate import DEFAULT_POLICY
from vibedash.decisions.retention import DEFAULT_RETENTION_POLICY
from vibedash.registry import queries
from vibedash.registry.action_queries import candidate_verdicts
from vibedash.registry.audit import record_event
from vibedash.registry.audit_log_queries import AUDIT_PAGE_SIZE, audit_log_page
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Version
from vibedash.ui import frame


def param(at, name: str) -> str | None:
    """A query parameter as the page left it (AppTest keeps a list when the page set it)."""
    value = at.query_params.get(name)
    return value[-1] if isinstance(value, list) else value


def ignored_notice(at) -> str:
    return "\n".join(c.value for c in at.caption if "Ignored from the link" in c.value)


# --- Retention --------------------------------------------------------------------------------------------

def test_retention_link_opens_the_filter_and_chart_it_names(demo_engine, registry_url, monkeypatch, scratch):
    plan = current_plan(demo_engine, load_settings(), policy=DEFAULT_RETENTION_POLICY)
    at = run_clean(page_test(frame.RETENTION, registry_url, monkeypatch, scratch,
                             query_params={"show": "prune", "x": "gpqa_diamond", "y": "aime25"}))
    assert at.segmented_control(key="retention_show").value == "prune"
    assert list(at.dataframe[0].value["deploy"]) == [d.netlify_id for d in plan.prune]
    assert at.selectbox(key="retention_x").value == "gpqa_diamond"
    assert at.selectbox(key="retention_y").value == "aime25"
    assert not ignored_notice(at)
    assert (param(at, "show"), param(at, "x"), param(at, "y")) == ("prune", "gpqa_diamond", "aime25")


def test_retention_writes_what_is_chosen_into_the_url(demo_engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.RETENTION, registry_url, monkeypatch, scratch))
    assert dict(at.query_params) == {}
    at.segmented_control(key="retention_show").set_value("keep")
    run_clean(at)
    assert param(at, "show") == "keep"
    at.segmented_control(key="retention_show").set_value("all")
    run_clean(at)
    assert "show" not in at.query_params  # the default leaves a plain URL


def test_retention_ignores_what_it_cannot_show_and_says_so(demo_engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.RETENTION, registry_url, monkeypatch, scratch,
                             query_params={"show": "everything", "page": "-3", "x": "[x](http://e.com)",
                                           "commit": "abc1234"}))
    assert at.segmented_control(key="retention_show").value == "all"
    notice = ignored_notice(at)
    assert "show=everything (not one of: all, keep, prune, expired)" in notice.replace("\\", "")
    assert "page=\\-3" in notice and r"x=\[x\]\(http" in notice  # shown as typed, never as Markdown
    assert not any(name in at.query_params for name in ("show", "page", "x", "commit"))


# --- Promote ----------------------------------------------------------------------------------------------

def test_promote_link_opens_the_candidate_and_audit_filters_it_names(demo_engine, registry_url, monkeypatch,
                                                                     scratch):
    failing = next(c for c in candidate_verdicts(demo_engine, DEFAULT_POLICY) if not c.verdict.passed)
    at = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch,
                             query_params={"commit": failing.sha[:9], "action": "promote", "who": "demo",
                                           "result": "succeeded"}))
    assert at.selectbox(key="promote_candidate").value == failing.deploy_id
    assert at.subheader[0].value.startswith(f"candidate {failing.sha[:7]} → ")
    assert (at.selectbox(key="audit_kind").value, at.selectbox(key="audit_actor").value,
            at.selectbox(key="audit_status").value) == ("promote", "demo", "succeeded")
    log = at.dataframe[-1].value
    assert len(log) > 0 and set(log["action"]) == {"promote"} and set(log["who"]) == {"demo"}
    assert not ignored_notice(at)
    assert param(at, "commit") == failing.sha and param(at, "action") == "promote"


def test_promote_writes_filters_into_the_url_and_a_reload_keeps_them(demo_engine, registry_url, monkeypatch,
                                                                     scratch):
    at = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch))
    assert dict(at.query_params) == {}  # the preferred candidate and no filter: a plain URL
    at.selectbox(key="audit_actor").set_value("demo")
    run_clean(at)
    at.selectbox(key="audit_kind").set_value("promote")
    run_clean(at)
    assert (param(at, "who"), param(at, "action")) == ("demo", "promote")
    link = {name: param(at, name) for name in at.query_params}

    reloaded = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch, query_params=link))
    assert reloaded.selectbox(key="audit_actor").value == "demo"
    assert reloaded.selectbox(key="audit_kind").value == "promote"
    assert reloaded.dataframe[-1].value.equals(at.dataframe[-1].value)


def test_promote_ignores_filters_the_log_does_not_have(demo_engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch,
                             query_params={"action": "explode", "result": "maybe", "log_page": "x"}))
    assert at.selectbox(key="audit_kind").value == "all" and at.selectbox(key="audit_status").value == "all"
    notice = ignored_notice(at).replace("\\", "")
    assert "action=explode (not an action in the log)" in notice and "result=maybe (not a result" in notice
    assert "log_page=x (not a whole number)" in notice
    assert not any(name in at.query_params for name in ("action", "result", "log_page"))


def test_promote_audit_log_pages_and_the_url_keeps_the_page(demo_engine, registry_url, monkeypatch, scratch):
    for i in range(450):
        record_event(demo_engine, kind="pin", actor="bulk", target=f"deploy-{i:03d}")
    at = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch, query_params={"who": "bulk"}))
    assert list(at.dataframe[-1].value["target"])[:2] == ["deploy-449", "deploy-448"]
    at.button(key="audit_older").click()
    run_clean(at)
    assert param(at, "log_page") == "2"
    assert list(at.dataframe[-1].value["target"])[0] == "deploy-249"

    third = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch,
                                query_params={"who": "bulk", "log_page": "3"}))
    assert list(third.dataframe[-1].value["target"]) == [f"deploy-{i:03d}" for i in range(49, -1, -1)]
    assert third.button(key="audit_older").disabled and not third.button(key="audit_newer").disabled

    past_the_end = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch,
                                       query_params={"who": "bulk", "log_page": "9"}))
    assert list(past_the_end.dataframe[-1].value["target"])[-1] == "deploy-000"
    assert param(past_the_end, "log_page") == "3"


def test_audit_log_page_three_is_read_by_offset_alone(engine):
    for i in range(450):
        record_event(engine, kind="pin", actor="bulk", target=f"deploy-{i:03d}")
    record_event(engine, kind="lock", actor="someone-else", target="elsewhere")
    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if "FROM event" in statement and "count(" not in statement:
            statements.append((statement, parameters))

    sa_event.listen(engine, "before_cursor_execute", remember)
    try:
        with unit_of_work(engine) as session:
            third = audit_log_page(session, actor="bulk", page=3)
    finally:
        sa_event.remove(engine, "before_cursor_execute", remember)
    assert (third.page, third.has_older, third.first_number) == (3, False, 401)
    assert [e["target"] for e in third.events] == [f"deploy-{i:03d}" for i in range(49, -1, -1)]
    # one read of the page and one more row (to know whether an older page exists), from event 401 on
    assert len(statements) == 1
    assert list(statements[0][1])[-2:] == [AUDIT_PAGE_SIZE + 1, 400]

    with unit_of_work(engine) as session:
        second = audit_log_page(session, actor="bulk", page=2)
        past_the_end = audit_log_page(session, actor="bulk", page=9)
        nothing = audit_log_page(session, actor="nobody", page=4)
    assert (second.page, second.has_older, len(second.events)) == (2, True, AUDIT_PAGE_SIZE)
    assert second.events[0]["target"] == "deploy-249"
    assert past_the_end.page == 3 and past_the_end.events == third.events
    assert (nothing.page, nothing.events, nothing.has_older) == (1, [], False)


# --- Version ----------------------------------------------------------------------------------------------

def open_tab(at) -> str:
    return at.session_state["version_problems_tab"]


def test_version_link_opens_the_per_problem_tab_it_names(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        live = queries.live_now(session)
    at = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch,
                             query_params={"commit": live.sha[:10], "problems": "hmmt25"}))
    assert open_tab(at) == "HMMT25"
    assert (param(at, "commit"), param(at, "problems")) == (live.sha[:10], "hmmt25")

    plain = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch,
                                query_params={"commit": live.sha, "problems": "nope"}))
    assert open_tab(plain) == "AIME24"  # the first tab
    assert "problems=nope" in ignored_notice(plain) and "problems" not in plain.query_params
    assert param(plain, "commit") == live.sha


def test_version_writes_the_open_tab_into_the_url(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        live = queries.live_now(session)
    at = run_clean(page_test(frame.VERSION, registry_url, monkeypatch, scratch, query_params={"commit": live.sha}))
    assert "problems" not in at.query_params  # the first tab: nothing to say
    at.session_state["version_problems_tab"] = "LCB v6"  # what clicking the tab does
    run_clean(at)
    assert (param(at, "commit"), param(at, "problems")) == (live.sha, "lcb_v6")


# --- History ----------------------------------------------------------------------------------------------

def test_history_link_opens_dates_and_minimum_scores(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        created = sorted(session.scalars(select(Version.created_at)))
    day = created[len(created) // 2].date()
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch,
                             query_params={"created": f"{day}..{day}", "min_aime25": "50"}))
    assert tuple(at.date_input(key="history_dates").value) == (day, day)
    assert at.number_input(key="history_min_aime25").value == 50
    rows = at.dataframe[0].value
    assert len(rows) > 0 and (rows["aime25"] >= 50).all()
    assert {c.date() for c in rows["created"]} == {day}
    assert (param(at, "created"), param(at, "min_aime25")) == (f"{day}..{day}", "50")

    at.number_input(key="history_min_aime25").set_value(None)
    run_clean(at)
    assert "min_aime25" not in at.query_params and param(at, "created") == f"{day}..{day}"


def test_history_ignores_days_and_scores_it_cannot_use(demo_engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch,
                             query_params={"created": "2026-02-30..", "min_aime25": "120", "sort": "best",
                                           "branch": "main"}))
    notice = ignored_notice(at).replace("\\", "")
    assert "created=2026-02-30.." in notice and "min_aime25=120 (not between 0 and 100)" in notice
    assert "sort=best" in notice
    assert at.selectbox(key="history_branch").value == "main"  # what could be used still is
    assert {name: param(at, name) for name in at.query_params} == {"branch": "main"}


# --- between pages ----------------------------------------------------------------------------------------

def test_leaving_a_page_leaves_its_parameters_behind_and_coming_back_restores_them(demo_engine, registry_url,
                                                                                  monkeypatch, scratch):
    at = run_clean(page_test(frame.RETENTION, registry_url, monkeypatch, scratch, query_params={"show": "prune"}))
    assert param(at, "show") == "prune"
    for page in (frame.OVERVIEW, frame.HISTORY, frame.PROMOTE, frame.SETTINGS, frame.COMPARE):
        at.switch_page(page)
        run_clean(at)
        assert "show" not in at.query_params, page
    at.switch_page(frame.RETENTION)  # through the menu: no parameters, the session's choice comes back
    run_clean(at)
    assert at.segmented_control(key="retention_show").value == "prune" and param(at, "show") == "prune"


def test_a_link_to_a_page_is_followed_even_when_it_repeats_an_earlier_visit(demo_engine, registry_url, monkeypatch,
                                                                             scratch):
    failing = next(c for c in candidate_verdicts(demo_engine, DEFAULT_POLICY) if not c.verdict.passed)
    at = run_clean(page_test(frame.PROMOTE, registry_url, monkeypatch, scratch,
                             query_params={"commit": failing.sha}))
    assert at.selectbox(key="promote_candidate").value == failing.deploy_id
    at.switch_page(frame.OVERVIEW)
    run_clean(at)
    at.switch_page(frame.PROMOTE)
    at.query_params["commit"] = failing.sha  # the same link again, from another page
    run_clean(at)
    assert at.selectbox(key="promote_candidate").value == failing.deploy_id


def test_compare_follows_a_new_link_in_the_same_session(demo_engine, registry_url, monkeypatch, scratch):
    with unit_of_work(demo_engine) as session:
        shas = [v.sha for v in queries.compare_choices(session, (), limit=3).versions]
    at = run_clean(page_test(frame.COMPARE, registry_url, monkeypatch, scratch,
                             query_params={"commits": f"{shas[0]},{shas[1]}"}))
    assert at.multiselect(key="compare_versions").value == shas[:2]
    at.query_params["commits"] = f"{shas[2][:8]},{shas[0][:8]}"
    run_clean(at)
    assert at.multiselect(key="compare_versions").value == [shas[2], shas[0]]
    assert param(at, "commits") == f"{shas[2]},{shas[0]}"


def test_history_timeline_benchmarks_are_in_the_url(demo_engine, registry_url, monkeypatch, scratch):
    at = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch,
                             query_params={"timeline": "hmmt25,lcb_v6"}))
    assert at.multiselect(key="history_timeline_benchmarks").value == ["hmmt25", "lcb_v6"]
    at.multiselect(key="history_timeline_benchmarks").set_value(["aime25"])
    run_clean(at)
    assert param(at, "timeline") == "aime25"

    wrong = run_clean(page_test(frame.HISTORY, registry_url, monkeypatch, scratch,
                                query_params={"timeline": "aime25,chess"}))
    assert "timeline=aime25,chess" in ignored_notice(wrong).replace("\\", "")
    assert "timeline" not in wrong.query_params and wrong.multiselect(key="history_timeline_benchmarks").value
