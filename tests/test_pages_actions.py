"""The Promote and Retention pages, driven through Streamlit's AppTest against the sample registry and a real
loopback Netlify simulator holding the same deploys."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.ipc
import pytest
from e2e_support import TOKEN, netlify_environment
from hypothesis import given, strategies
from pagetest import clear_streamlit_caches, page_test
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from vibedash.actions import deploys as actions
from vibedash.actions.retention_apply import current_plan
from vibedash.config import load_settings
from vibedash.decisions.gate import DEFAULT_POLICY
from vibedash.decisions.retention import DEFAULT_RETENTION_POLICY
from vibedash.netlify.simulator import NetlifySimulator
from vibedash.registry import records as registry
from vibedash.registry.action_queries import (
    candidate_verdicts,
    pareto_frontier,
    preferred_candidate,
    version_points,
)
from vibedash.registry.db import unit_of_work
from vibedash.registry.demo import seed_simulator
from vibedash.registry.models import Deploy
from vibedash.ui import format as fmt
from vibedash.ui import frame
from vibedash.ui.state import netlify_status

OpenPage = Callable[..., AppTest]


@dataclass
class Netlify:
    sim: NetlifySimulator
    site_id: str

    def published(self) -> str | None:
        return self.sim.published_deploy_id(self.site_id)

    def locked(self) -> bool:
        return bool((self.sim.site(self.site_id)["published_deploy"] or {}).get("locked"))


@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    # Cached engines, clients and reads would otherwise leak from one test's registry into the next.
    clear_streamlit_caches()
    yield
    clear_streamlit_caches()


@pytest.fixture
def registry_env(demo_engine: Engine, registry_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The sample registry as the pages' database (the policies are the built-in ones: page_test runs the app
    in a scratch folder without policy files)."""
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    return demo_engine


@pytest.fixture
def open_page(registry_env: Engine, registry_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Open the real app (router and frame included) on a page, run it, and fail on a page exception."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def open_(page: str, query_params: dict[str, str] | None = None) -> AppTest:
        return run(page_test(page, registry_url, monkeypatch, scratch, query_params=query_params))

    return open_


@pytest.fixture
def netlify(registry_env: Engine, monkeypatch: pytest.MonkeyPatch):
    sim = NetlifySimulator(token=TOKEN).start()
    try:
        site_id = seed_simulator(sim, registry_env)
        for name, value in netlify_environment(sim, site_id).items():
            monkeypatch.setenv(name, value)
        yield Netlify(sim, site_id)
        assert not sim.internal_errors
    finally:
        sim.stop()


def run(target) -> AppTest:
    """Run the app (``target`` is an AppTest or a widget just changed in it) and fail on a page exception."""
    at = target.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def live_id(engine: Engine) -> str:
    with unit_of_work(engine) as session:
        return registry.live_deploy(session).netlify_id


def events_of(engine: Engine, kind: str, actor: str = "tester") -> list[dict]:
    with unit_of_work(engine) as session:
        return registry.events(session, kind=kind, actor=actor)


def texts(elements) -> list[str]:
    return [str(element.value) for element in elements]


def key_starting(elements, prefix: str) -> str:
    (key,) = [e.key for e in elements if e.key and e.key.startswith(prefix)]
    return key


# --- Promote ----------------------------------------------------------------------------------------------

def test_promote_page_shows_every_candidate_with_its_verdict(open_page: OpenPage,
                                                             netlify: Netlify, registry_env: Engine) -> None:
    expected = candidate_verdicts(registry_env, DEFAULT_POLICY)
    preferred = preferred_candidate(expected)
    with unit_of_work(registry_env) as session:
        live_sha = registry.live_deploy(session).version.sha
        logged = len(registry.events(session))

    at = open_page(frame.PROMOTE)

    assert texts(at.title) == ["Promote"]
    assert at.subheader[0].value == f"candidate {preferred.sha[:7]} → replaces live {live_sha[:7]}"
    verdict_text = "\n".join(texts(at.markdown))
    for check in preferred.verdict.checks:
        assert (f"{fmt.mark_icon(check.mark)} **{fmt.benchmark_words(check.rule)}**: "
                f"{fmt.benchmark_words(check.detail)}") in verdict_text
    table = at.dataframe[0].value
    assert list(table["version"]) == [frame.version_url(c.sha) for c in expected]
    assert [g.startswith("✓") for g in table["gate"]] == [c.verdict.passed for c in expected]
    for check in preferred.verdict.checks:
        assert fmt.benchmark_words(check.rule) in table.columns
    assert len(at.dataframe[1].value) == logged  # the audit log, unfiltered
    rollback_target = actions.rollback_target(registry_env, live_id(registry_env))
    with unit_of_work(registry_env) as session:
        target_sha = registry.find_deploy(session, rollback_target).version.sha
    assert at.button(key="rollback_open").label == f"Roll back to {target_sha[:7]}…"
    assert not at.button(key="promote_open").disabled


def test_a_link_with_commit_offers_that_candidate(open_page: OpenPage, netlify: Netlify, registry_env: Engine) -> None:
    # The overview links here with ?commit=SHA for its best candidate.
    failing = next(c for c in candidate_verdicts(registry_env, DEFAULT_POLICY) if not c.verdict.passed)
    at = open_page(frame.PROMOTE, query_params={"commit": failing.sha})
    assert at.selectbox(key="promote_candidate").value == failing.deploy_id
    assert at.subheader[0].value.startswith(f"candidate {failing.sha[:7]} → ")

    at = open_page(frame.PROMOTE, query_params={"commit": "0123456"})
    assert any("commit=0123456 (not a candidate" in caption for caption in texts(at.caption))
    assert at.selectbox(key="promote_candidate").value == preferred_candidate(
        candidate_verdicts(registry_env, DEFAULT_POLICY)).deploy_id and "commit" not in at.query_params


def test_promote_dialog_publishes_locks_and_audits(open_page: OpenPage, netlify: Netlify, registry_env: Engine) -> None:
    candidate = preferred_candidate(candidate_verdicts(registry_env, DEFAULT_POLICY))
    assert candidate.verdict.passed
    before = live_id(registry_env)
    at = open_page(frame.PROMOTE)

    run(at.button(key="promote_open").click())
    dialog_text = "\n".join(texts(at.markdown))
    assert f"**Goes live:** `{candidate.sha[:7]}` · deploy `{candidate.deploy_id}`" in dialog_text
    assert f"deploy `{before}`" in dialog_text
    reason = at.text_input(key=f"promote_reason_{candidate.deploy_id}").value
    assert reason == f"passes the gate ({candidate.verdict.summary()})"
    run(at.button(key="promote_confirm").click())

    assert netlify.published() == candidate.deploy_id and netlify.locked()
    assert live_id(registry_env) == candidate.deploy_id
    (event,) = events_of(registry_env, "promote")
    assert (event["status"], event["target"], event["previous_live"], event["override"]) == (
        "succeeded", candidate.deploy_id, before, False)
    assert event["reason"] == reason and event["verdict"]["passed"] is True
    assert texts(at.success) == [f"{candidate.deploy_id} ({candidate.sha[:7]}) is live and locked, replacing {before}"]
    assert f"**Live now** `{candidate.sha[:7]}`" in texts(at.markdown)[0]  # the page shows the new truth
    assert "promote_confirm" not in [b.key for b in at.button]  # the dialog closed


def test_a_failed_gate_needs_an_override_and_a_reason(open_page: OpenPage,
                                                      netlify: Netlify, registry_env: Engine) -> None:
    failing = next(c for c in candidate_verdicts(registry_env, DEFAULT_POLICY) if not c.verdict.passed)
    before = live_id(registry_env)
    at = open_page(frame.PROMOTE)
    run(at.selectbox(key="promote_candidate").set_value(failing.deploy_id))
    run(at.button(key="promote_open").click())
    assert f"Gate fails ({failing.verdict.summary()})" in "\n".join(texts(at.markdown))

    run(at.button(key="promote_confirm").click())
    assert any("Override the failed gate" in e for e in texts(at.error))
    run(at.checkbox(key=f"promote_override_{failing.deploy_id}").check())
    run(at.button(key="promote_confirm").click())
    assert any("Write a reason" in e for e in texts(at.error))
    assert netlify.published() == before and events_of(registry_env, "promote") == []

    why = "needed for the demo on Friday; the regression is on a benchmark we do not ship"
    run(at.text_area(key=f"promote_override_reason_{failing.deploy_id}").input(why))
    run(at.button(key="promote_confirm").click())
    assert netlify.published() == failing.deploy_id
    (event,) = events_of(registry_env, "promote")
    assert (event["status"], event["override"], event["reason"]) == ("succeeded", True, why)
    assert event["verdict"]["passed"] is False


def test_rollback_dialog_restores_the_previous_live_deploy(open_page: OpenPage,
                                                           netlify: Netlify, registry_env: Engine) -> None:
    before = live_id(registry_env)
    target = actions.rollback_target(registry_env, before)
    at = open_page(frame.PROMOTE)
    run(at.button(key="rollback_open").click())
    assert f"deploy `{target}`" in "\n".join(texts(at.markdown))

    run(at.button(key="rollback_confirm").click())
    assert any("Write a reason" in e for e in texts(at.error))
    assert netlify.published() == before

    run(at.text_input(key=key_starting(at.text_input, "rollback_reason_")).input("wrong answers on the live demo"))
    run(at.button(key="rollback_confirm").click())
    assert netlify.published() == target and netlify.locked()
    (event,) = events_of(registry_env, "rollback")
    assert (event["status"], event["target"], event["previous_live"], event["reason"]) == (
        "succeeded", target, before, "wrong answers on the live demo")
    assert live_id(registry_env) == target


def test_cancel_closes_the_dialog_without_acting(open_page: OpenPage, netlify: Netlify, registry_env: Engine) -> None:
    before = live_id(registry_env)
    at = open_page(frame.PROMOTE)
    run(at.button(key="promote_open").click())
    run(at.button(key="pending_promote_cancel").click())
    assert "promote_confirm" not in [b.key for b in at.button]
    assert netlify.published() == before and events_of(registry_env, "promote") == []


def test_unlock_and_lock_the_live_deploy(open_page: OpenPage, netlify: Netlify, registry_env: Engine) -> None:
    at = open_page(frame.PROMOTE)
    assert at.button(key="lock").disabled and not at.button(key="unlock").disabled
    run(at.button(key="unlock").click())
    assert not netlify.locked()
    assert [e["status"] for e in events_of(registry_env, "unlock")] == ["succeeded"]
    assert not at.button(key="lock").disabled and at.button(key="unlock").disabled

    run(at.button(key="lock").click())
    assert netlify.locked()
    assert [e["status"] for e in events_of(registry_env, "lock")] == ["succeeded"]


def test_trigger_build_calls_the_build_hook(open_page: OpenPage, netlify: Netlify, registry_env: Engine,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(frame.PROMOTE)
    popover = at.get("popover")[0].proto.popover
    assert popover.disabled and "VIBEDASH_BUILD_HOOK_URL" in popover.help

    hook = netlify.sim.add_build_hook(netlify.site_id, title="vibedash", branch="main")
    monkeypatch.setenv("VIBEDASH_BUILD_HOOK_URL", hook["url"])
    at = open_page(frame.PROMOTE)
    assert not at.get("popover")[0].proto.popover.disabled
    run(at.text_input(key="trigger_branch").input("exp/longer-rl"))
    run(at.button(key="trigger_confirm").click())
    (call,) = netlify.sim.hook_calls
    assert (call.hook_id, call.branch) == (hook["id"], "exp/longer-rl")
    (event,) = events_of(registry_env, "trigger")
    assert (event["status"], event["target"]) == ("succeeded", "exp/longer-rl")


def test_audit_log_filters(open_page: OpenPage, netlify: Netlify, registry_env: Engine) -> None:
    at = open_page(frame.PROMOTE)
    run(at.button(key="unlock").click())
    run(at.selectbox(key="audit_kind").set_value("unlock"))
    log = at.dataframe[-1].value
    assert list(log["action"]) == ["unlock"] and list(log["who"]) == ["tester"]

    run(at.selectbox(key="audit_kind").set_value("all"))
    run(at.selectbox(key="audit_actor").set_value("demo"))
    log = at.dataframe[-1].value
    assert set(log["who"]) == {"demo"} and set(log["action"]) == {"promote"}

    run(at.selectbox(key="audit_actor").set_value("tester"))
    run(at.selectbox(key="audit_status").set_value("succeeded"))
    assert list(at.dataframe[-1].value["action"]) == ["unlock"]


def test_without_netlify_every_netlify_action_is_disabled_with_the_reason(open_page: OpenPage,
                                                                          registry_env: Engine) -> None:
    reason = netlify_status(load_settings())
    assert reason is not None

    at = open_page(frame.PROMOTE)
    assert any(reason in text for text in texts(at.info))
    for key in ("promote_open", "rollback_open", "lock", "unlock"):
        button = at.button(key=key)
        assert button.disabled and button.proto.help == reason, key
    assert at.get("popover")[0].proto.popover.disabled

    at = open_page(frame.RETENTION)
    assert at.button(key="apply_open").disabled and at.button(key="apply_open").proto.help == reason
    assert any(reason in text for text in texts(at.info))
    assert not at.button(key="pin").disabled  # pins are local: no Netlify needed


# --- Retention --------------------------------------------------------------------------------------------

def test_retention_page_shows_policy_plan_table_and_chart(open_page: OpenPage,
                                                          netlify: Netlify, registry_env: Engine) -> None:
    plan = current_plan(registry_env, load_settings(), policy=DEFAULT_RETENTION_POLICY)
    at = open_page(frame.RETENTION)

    assert texts(at.title) == ["Retention"]
    page_text = "\n".join(texts(at.markdown))
    for line in DEFAULT_RETENTION_POLICY.describe():
        assert f"- {line}" in page_text
    text = plan.summary()["text"]
    assert text[0].upper() + text[1:] + "." in page_text
    assert [m.value for m in at.metric] == [str(len(plan.keep)), str(len(plan.prune)), str(len(plan.expired))]
    table = at.dataframe[0].value
    assert list(table["deploy"]) == [d.netlify_id for d in plan.decisions]
    assert list(table["action"]) == [d.action for d in plan.decisions]
    assert all(table["why"].str.len() > 0)

    chart = at.get("vega_lite_chart")[0].proto
    marks = [layer["mark"]["type"] for layer in json.loads(chart.spec)["layer"]]
    assert marks == ["line", "circle", "point"]
    datasets = [pyarrow.ipc.open_stream(io.BytesIO(d.data.data)).read_pandas() for d in chart.datasets]
    dots = max(datasets, key=len)
    assert set(dots["status"]) == {"kept", "pruned"}
    assert set(dots["frontier"]) == {"on the frontier", "dominated"}
    assert at.selectbox(key="retention_x").value == "aime25"

    run(at.segmented_control(key="retention_show").set_value("prune"))
    assert list(at.dataframe[0].value["deploy"]) == [d.netlify_id for d in plan.prune]


def test_pin_and_unpin_are_audited_and_change_the_plan(open_page: OpenPage,
                                                       netlify: Netlify, registry_env: Engine) -> None:
    plan = current_plan(registry_env, load_settings(), policy=DEFAULT_RETENTION_POLICY)
    doomed = plan.prune[0].netlify_id
    at = open_page(frame.RETENTION)
    assert at.selectbox(key="pin_deploy").value == doomed  # pruned deploys are offered first

    run(at.button(key="pin").click())
    assert any("Write a reason" in e for e in texts(at.error))
    run(at.text_input(key="pin_reason").input("the version in the paper"))
    run(at.button(key="pin").click())

    with unit_of_work(registry_env) as session:
        row = session.scalar(select(Deploy).where(Deploy.netlify_id == doomed))
        assert (row.pinned, row.pin_reason, row.pinned_by) == (True, "the version in the paper", "tester")
    (event,) = events_of(registry_env, "pin")
    assert (event["target"], event["reason"]) == (doomed, "the version in the paper")
    table = at.dataframe[0].value.set_index("deploy")
    assert table.loc[doomed, "action"] == "keep" and "pinned" in table.loc[doomed, "for"]

    assert at.selectbox(key="unpin_deploy").value == doomed
    run(at.button(key="unpin").click())
    with unit_of_work(registry_env) as session:
        assert session.scalar(select(Deploy.pinned).where(Deploy.netlify_id == doomed)) is False
    assert [e["target"] for e in events_of(registry_env, "unpin")] == [doomed]
    assert at.dataframe[0].value.set_index("deploy").loc[doomed, "action"] == "prune"


def test_apply_deletes_the_pruned_deploys_on_netlify_and_marks_them_expired(open_page: OpenPage, netlify: Netlify,
                                                                            registry_env: Engine) -> None:
    plan = current_plan(registry_env, load_settings(), policy=DEFAULT_RETENTION_POLICY)
    doomed = [d.netlify_id for d in plan.prune]
    assert doomed
    live = netlify.published()
    at = open_page(frame.RETENTION)

    run(at.button(key="apply_open").click())
    assert list(at.dataframe[-1].value["deploy"]) == doomed  # the dialog lists exactly what goes
    run(at.button(key="apply_confirm").click())

    for deploy_id in doomed:
        with pytest.raises(KeyError):
            netlify.sim.deploy(deploy_id)
    assert netlify.published() == live
    with unit_of_work(registry_env) as session:
        expired = set(session.scalars(select(Deploy.netlify_id).where(Deploy.expired_at.is_not(None))))
    assert expired == set(doomed)
    deletions = events_of(registry_env, "delete")
    assert sorted(e["target"] for e in deletions) == sorted(doomed)
    assert {e["status"] for e in deletions} == {"succeeded"}
    assert texts(at.success) == [f"Deleted {len(doomed)} deploys"]
    assert at.button(key="apply_open").disabled  # nothing left to prune
    assert "apply_confirm" not in [b.key for b in at.button]


# --- the retention chart's frontier (pure) ------------------------------------------------------------------

@given(strategies.dictionaries(
    strategies.text(min_size=1, max_size=3),
    strategies.tuples(strategies.integers(0, 6).map(float), strategies.integers(0, 6).map(float)), max_size=25))
def test_pareto_frontier_keeps_exactly_the_points_nothing_beats(points: dict[str, tuple[float, float]]) -> None:
    def beaten(key: str) -> bool:
        x, y = points[key]
        return any(ox >= x and oy >= y and (ox > x or oy > y) for other, (ox, oy) in points.items() if other != key)

    assert pareto_frontier(points) == {key for key in points if not beaten(key)}


def test_version_points_mark_the_frontier_of_the_two_chosen_benchmarks(registry_env: Engine) -> None:
    plan = current_plan(registry_env, load_settings(), policy=DEFAULT_RETENTION_POLICY)
    points = version_points(plan, "aime25", "hmmt25")
    on_netlify = {d.sha for d in plan.decisions if d.action != "expired" and d.sha
                  and {"aime25", "hmmt25"} <= set(d.scores)}
    assert {p.sha for p in points} == on_netlify
    kept = {d.sha for d in plan.keep}
    assert all((p.status == "kept") == (p.sha in kept) for p in points)
    best_aime = max(points, key=lambda p: (p.x, p.y))
    assert best_aime.on_frontier
    assert {p.sha for p in points if p.on_frontier} == pareto_frontier({p.sha: (p.x, p.y) for p in points})
