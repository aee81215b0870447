"""Sync, promote, rollback, lock, trigger and delete over real HTTP against the Netlify simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import SIM_TOKEN as TOKEN
from sqlalchemy import select

from vibedash.actions import deploys as actions
from vibedash.cli import main
from vibedash.decisions.gate import policy_from_strings
from vibedash.netlify.sync import sync_site
from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.demo import DEMO_SITE_ID
from vibedash.registry.models import Deploy, Event, Site

PASSING = policy_from_strings(["aime25 >= 0"])
FAILING = policy_from_strings(["aime25 >= 99.9"])


def _events(engine, kind: str) -> list[Event]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def _live(engine) -> Deploy | None:
    with unit_of_work(engine) as session:
        return registry.live_deploy(session)


def _best_candidate(engine) -> str:
    with unit_of_work(engine) as session:
        version, deploy = registry.best_candidate(session)
        return deploy.netlify_id


# --- sync -------------------------------------------------------------------------------------------------

def test_first_sync_costs_a_request_per_hundred_deploys_and_repeat_costs_two(engine, sim, client) -> None:
    sim.create_site("big", site_id="site-big")
    sim.seed(250, "site-big")
    first = sync_site(engine, client, "site-big", actor="tester")
    assert (first.seen, first.created, first.requests) == (250, 250, 1 + 3)
    again = sync_site(engine, client, "site-big", actor="tester")
    assert (again.created, again.updated, again.requests) == (0, 0, 2)
    with unit_of_work(engine) as session:
        assert session.scalar(select(Deploy).where(Deploy.is_live.is_(True))).netlify_id == first.live_deploy_id
        # deploys are linked to versions by commit_ref
        assert session.scalar(select(Deploy).where(Deploy.version_id.is_(None))) is None
        assert session.get(Site, "site-big").last_full_sync_at is not None


def test_incremental_sync_picks_up_new_and_finished_deploys(engine, sim, client) -> None:
    sim.create_site("s", site_id="site-s")
    sim.seed(120, "site-s")
    sync_site(engine, client, "site-s", actor="tester")
    building = sim.add_deploy("site-s", commit_ref="b" * 40, state="building")
    report = sync_site(engine, client, "site-s", actor="tester")
    assert report.created == 1 and report.requests == 2
    with unit_of_work(engine) as session:
        assert registry.find_deploy(session, building["id"]).state == "building"
    # the build finishes; the deploy is on the first page anyway, and is updated
    sim.add_deploy("site-s", commit_ref="c" * 40)
    sync_site(engine, client, "site-s", actor="tester")
    with unit_of_work(engine) as session:
        assert registry.find_deploy(session, "c" * 40).state == "ready"


def test_full_sync_marks_deploys_netlify_no_longer_has_as_expired(engine, sim, client) -> None:
    sim.create_site("s", site_id="site-s")
    made = sim.seed(30, "site-s")
    sync_site(engine, client, "site-s", actor="tester")
    client.delete_deploy(made[0]["id"], "site-s")
    report = sync_site(engine, client, "site-s", actor="tester", full=True)
    assert report.expired == 1
    with unit_of_work(engine) as session:
        gone = registry.find_deploy(session, made[0]["id"])
        assert gone.expired_at is not None and gone.version is not None  # kept, with its history
    again = sync_site(engine, client, "site-s", actor="tester", full=True)
    assert again.expired == 0


def test_a_day_after_the_last_full_sync_the_next_sync_is_full(engine, sim, client) -> None:
    sim.create_site("s", site_id="site-s")
    made = sim.seed(5, "site-s")
    sync_site(engine, client, "site-s", actor="tester")
    client.delete_deploy(made[0]["id"], "site-s")
    assert sync_site(engine, client, "site-s", actor="tester").full is False
    with unit_of_work(engine) as session:
        session.get(Site, "site-s").last_full_sync_at -= timedelta(days=2)
    report = sync_site(engine, client, "site-s", actor="tester")
    assert report.full and report.expired == 1


def test_sync_is_idempotent_and_failures_are_audited(engine, sim, client) -> None:
    sim.create_site("s", site_id="site-s")
    sim.seed(10, "site-s")
    sync_site(engine, client, "site-s", actor="tester")
    sim.inject("500", count=10, path_contains="/deploys")
    with pytest.raises(Exception):
        sync_site(engine, client, "site-s", actor="tester", full=True)
    events = _events(engine, "sync")
    assert [e.status for e in events] == ["succeeded", "failed"]
    assert events[-1].error and TOKEN not in events[-1].error
    with unit_of_work(engine) as session:
        assert len(session.scalars(select(Deploy)).all()) == 10


# --- promote ----------------------------------------------------------------------------------------------

def test_promote_publishes_locks_verifies_and_audits(demo, sim, client) -> None:
    before = _live(demo).netlify_id
    target = _best_candidate(demo)
    result = actions.promote(demo, client, DEMO_SITE_ID, target, actor="tester", reason="better", policy=PASSING)
    assert sim.published_deploy_id(DEMO_SITE_ID) == target
    assert sim.deploy(target)["locked"] is True
    live = _live(demo)
    assert live.netlify_id == target and live.locked
    event = _events(demo, "promote")[-1]
    assert (event.status, event.target, event.previous_live, event.actor, event.reason) == (
        "succeeded", target, before, "tester", "better")
    assert event.verdict["passed"] is True and event.finished_at is not None
    assert result.live_deploy_id == target


def test_failed_gate_refuses_without_override_and_changes_nothing(demo, sim, client) -> None:
    before = sim.published_deploy_id(DEMO_SITE_ID)
    target = _best_candidate(demo)
    with pytest.raises(actions.GateRefused, match="--override"):
        actions.promote(demo, client, DEMO_SITE_ID, target, actor="tester", reason="try", policy=FAILING)
    assert sim.published_deploy_id(DEMO_SITE_ID) == before
    assert _events(demo, "promote")[-1].status == "refused"
    result = actions.promote(demo, client, DEMO_SITE_ID, target, actor="tester", reason="hotfix demo",
                             policy=FAILING, override=True)
    assert result.live_deploy_id == target
    assert _events(demo, "promote")[-1].override is True


def test_promote_rejects_what_is_already_live_and_deploys_not_ready(demo, sim, client) -> None:
    live = _live(demo).netlify_id
    with pytest.raises(actions.ActionError, match="already live and locked"):
        actions.promote(demo, client, DEMO_SITE_ID, live, actor="t", reason="r", policy=PASSING)
    with unit_of_work(demo) as session:
        failed = session.scalar(select(Deploy).where(Deploy.state == "error")).netlify_id
    with pytest.raises(actions.ActionError, match="not ready"):
        actions.promote(demo, client, DEMO_SITE_ID, failed, actor="t", reason="r", policy=PASSING)
    with pytest.raises(actions.ActionError, match="reason is required"):
        actions.promote(demo, client, DEMO_SITE_ID, live, actor="t", reason=" ", policy=PASSING)


def test_restore_that_works_but_lock_that_fails_is_partial_and_retry_finishes(demo, sim, client) -> None:
    target = _best_candidate(demo)
    sim.restore_keeps_lock = False  # Netlify's docs leave open whether publishing keeps the lock: assume not
    sim.inject("500", count=20, path_contains="/lock")
    with pytest.raises(actions.ActionError, match="NOT locked") as caught:
        actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="r", policy=PASSING)
    assert caught.value.partial
    assert sim.published_deploy_id(DEMO_SITE_ID) == target and not sim.deploy(target)["locked"]
    assert _events(demo, "promote")[-1].status == "partial"
    live = _live(demo)
    assert live.netlify_id == target and not live.locked
    sim.clear_faults()
    actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="retry", policy=PASSING)
    assert sim.deploy(target)["locked"] is True
    assert _events(demo, "promote")[-1].status == "succeeded"


def test_network_failure_before_publishing_is_a_clean_failure(demo, sim, client) -> None:
    before = sim.published_deploy_id(DEMO_SITE_ID)
    target = _best_candidate(demo)
    sim.inject("500", count=20, path_contains="/restore")
    with pytest.raises(actions.ActionError, match="nothing changed") as caught:
        actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="r", policy=PASSING)
    assert not caught.value.partial
    assert sim.published_deploy_id(DEMO_SITE_ID) == before and _live(demo).netlify_id == before
    event = _events(demo, "promote")[-1]
    assert event.status == "failed" and TOKEN not in (event.error or "")


# --- rollback, lock, trigger, delete ----------------------------------------------------------------------

def test_rollback_returns_to_the_deploy_that_was_live_before(demo, sim, client) -> None:
    original = _live(demo).netlify_id
    target = _best_candidate(demo)
    actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="r", policy=PASSING)
    result = actions.rollback(demo, client, DEMO_SITE_ID, actor="t", reason="regression")
    assert result.live_deploy_id == original
    assert sim.published_deploy_id(DEMO_SITE_ID) == original and sim.deploy(original)["locked"]
    event = _events(demo, "rollback")[-1]
    assert (event.status, event.previous_live) == ("succeeded", target)


def test_rollback_to_a_deleted_deploy_says_so(demo, sim, client) -> None:
    with unit_of_work(demo) as session:
        old = session.scalars(select(Deploy).where(Deploy.is_live.is_(False), Deploy.state == "ready")).first()
        old_id = old.netlify_id
    client.delete_deploy(old_id, DEMO_SITE_ID)
    with pytest.raises(actions.ActionError, match="no longer has it"):
        actions.rollback(demo, client, DEMO_SITE_ID, actor="t", reason="r", to=old_id)


def test_lock_and_unlock_the_live_deploy(demo, sim, client) -> None:
    live = sim.published_deploy_id(DEMO_SITE_ID)
    actions.set_lock(demo, client, DEMO_SITE_ID, locked=False, actor="t")
    assert sim.deploy(live)["locked"] is False and not _live(demo).locked
    actions.set_lock(demo, client, DEMO_SITE_ID, locked=True, actor="t")
    assert sim.deploy(live)["locked"] is True
    assert [e.kind for e in _events(demo, "unlock") + _events(demo, "lock")] == ["unlock", "lock"]


def test_trigger_names_the_commit_and_scores(demo, sim, client) -> None:
    hook = sim.add_build_hook(DEMO_SITE_ID, "ci")
    with unit_of_work(demo) as session:
        sha = registry.best_candidate(session)[0].sha
    actions.trigger_build(demo, client, hook["url"], actor="t", sha=sha)
    call = sim.hook_calls[-1]
    assert registry.short(sha) in call.title and "AIME25" in call.title
    assert _events(demo, "trigger")[-1].status == "succeeded"


def test_delete_marks_expired_and_never_touches_the_live_deploy(demo, sim, client) -> None:
    live = _live(demo).netlify_id
    with pytest.raises(actions.ActionError, match="never deleted"):
        actions.delete_deploy(demo, client, DEMO_SITE_ID, live, actor="t", reason="r")
    target = _best_candidate(demo)
    actions.delete_deploy(demo, client, DEMO_SITE_ID, target, actor="t", reason="retention")
    with unit_of_work(demo) as session:
        assert registry.find_deploy(session, target).expired_at is not None


# --- the CLI end to end -----------------------------------------------------------------------------------

def test_cli_sync_promote_rollback_against_the_simulator(demo, sim, registry_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    monkeypatch.setenv("NETLIFY_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("NETLIFY_SITE_ID", DEMO_SITE_ID)
    monkeypatch.setenv("VIBEDASH_NETLIFY_API_URL", sim.api_url)
    assert main(["sync", "-q"]) == 0
    target = _best_candidate(demo)
    assert main(["promote", target, "--reason", "ci", "--rule", "aime25 >= 99.9"]) == 1
    assert "refused" in capsys.readouterr().err
    assert main(["promote", target, "--reason", "ci", "--rule", "aime25 >= 0"]) == 0
    assert sim.published_deploy_id(DEMO_SITE_ID) == target
    assert main(["rollback", "--reason", "oops"]) == 0
    assert sim.published_deploy_id(DEMO_SITE_ID) != target
    assert main(["unlock"]) == 0 and main(["lock"]) == 0
    capsys.readouterr()
    assert main(["export", "--format", "json"]) == 0
    assert TOKEN not in capsys.readouterr().out


def test_cli_without_a_token_says_how_to_connect(engine, registry_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    assert main(["sync"]) == 2
    assert "NETLIFY_AUTH_TOKEN is not set" in capsys.readouterr().err


def test_cli_with_a_wrong_token_says_so_without_echoing_it(engine, sim, registry_url, monkeypatch, capsys) -> None:
    sim.create_site("s", site_id="site-s")
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    monkeypatch.setenv("NETLIFY_AUTH_TOKEN", "nfp_wrong_token")
    monkeypatch.setenv("NETLIFY_SITE_ID", "site-s")
    monkeypatch.setenv("VIBEDASH_NETLIFY_API_URL", sim.api_url)
    assert main(["sync"]) == 3
    err = capsys.readouterr().err
    assert "token" in err and "nfp_wrong_token" not in err


def test_cli_trigger_finds_the_sites_build_hook_without_a_hook_url(demo, sim, registry_url, monkeypatch,
                                                                   capsys) -> None:
    sim.add_build_hook(DEMO_SITE_ID, "main builds", branch="main")
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    monkeypatch.setenv("NETLIFY_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("NETLIFY_SITE_ID", DEMO_SITE_ID)
    monkeypatch.setenv("VIBEDASH_NETLIFY_API_URL", sim.api_url)
    with unit_of_work(demo) as session:
        sha = registry.best_candidate(session)[0].sha
    assert main(["trigger", "--commit", sha, "--branch", "main"]) == 0
    assert "build triggered" in capsys.readouterr().out
    assert registry.short(sha) in sim.hook_calls[-1].title
