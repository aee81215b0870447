"""Retention on the sample registry: the plan, pins, and apply against the Netlify simulator."""

from __future__ import annotations

import pytest
from conftest import SIM_TOKEN as TOKEN
from sqlalchemy import select

from vibedash.actions import deploys as actions
from vibedash.actions.retention_apply import apply_plan, current_plan
from vibedash.cli import main
from vibedash.config import load_settings
from vibedash.decisions.retention import RetentionPolicy
from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.demo import DEMO_SITE_ID
from vibedash.registry.models import Deploy, Event

# The sample history is weeks old; no grace period, so the plan has something to prune.
POLICY = RetentionPolicy(grace_days=0, keep_last_live=2, keep_newest_per_branch=1)


def test_plan_on_the_sample_registry_keeps_the_live_deploy_and_explains_everything(demo) -> None:
    plan = current_plan(demo, load_settings(), policy=POLICY)
    with unit_of_work(demo) as session:
        live = registry.live_deploy(session).netlify_id
    assert plan.decision(live).action == "keep"
    assert plan.prune, "the sample history has noise to prune"
    assert all(d.reasons for d in plan.decisions)
    assert "keep" in plan.summary()["text"] and "prune" in plan.summary()["text"]


def test_pin_keeps_a_deploy_and_both_pin_and_unpin_are_audited(demo) -> None:
    plan = current_plan(demo, load_settings(), policy=POLICY)
    victim = plan.prune[0].netlify_id
    with pytest.raises(actions.ActionError, match="reason is required"):
        actions.set_pin(demo, victim, pinned=True, actor="t")
    actions.set_pin(demo, victim, pinned=True, actor="t", reason="paper baseline")
    assert current_plan(demo, load_settings(), policy=POLICY).decision(victim).action == "keep"
    actions.set_pin(demo, victim, pinned=False, actor="t")
    assert current_plan(demo, load_settings(), policy=POLICY).decision(victim).action == "prune"
    with unit_of_work(demo) as session:
        kinds = [e.kind for e in session.scalars(select(Event).where(Event.target == victim).order_by(Event.id))]
    assert kinds == ["pin", "unpin"]


def test_apply_deletes_pruned_deploys_and_marks_them_expired(demo, sim, client) -> None:
    plan = current_plan(demo, load_settings(), policy=POLICY)
    # a plan describes the registry as it was made: what it prunes, read before the deletes change the registry
    planned = [d.netlify_id for d in plan.prune]
    assert planned
    report = apply_plan(demo, client, DEMO_SITE_ID, plan, actor="t")
    assert report.complete and sorted(report.deleted) == sorted(planned)
    for netlify_id in planned:
        with pytest.raises(KeyError):
            sim.deploy(netlify_id)
    with unit_of_work(demo) as session:
        expired = session.scalars(select(Deploy).where(Deploy.expired_at.is_not(None))).all()
        assert {d.netlify_id for d in expired} == set(report.deleted)
        assert all(d.version is not None for d in expired)  # scores and history stay
    # a second plan has nothing left to prune
    assert current_plan(demo, load_settings(), policy=POLICY).prune == []


def test_apply_stops_at_the_first_error_and_reports_what_was_not_done(demo, sim, client) -> None:
    plan = current_plan(demo, load_settings(), policy=POLICY)
    assert len(plan.prune) >= 3
    third = plan.prune[2].netlify_id
    sim.inject("500", count=50, path_contains=third)
    report = apply_plan(demo, client, DEMO_SITE_ID, plan, actor="t")
    assert not report.complete and len(report.deleted) == 2
    assert report.not_done[0] == third and "run apply again" in report.summary()
    with unit_of_work(demo) as session:
        failed = session.scalars(select(Event).where(Event.kind == "delete", Event.status == "failed")).all()
        assert [e.target for e in failed] == [third]
        assert registry.find_deploy(session, third).expired_at is None
    sim.clear_faults()
    again = apply_plan(demo, client, DEMO_SITE_ID, current_plan(demo, load_settings(), policy=POLICY), actor="t")
    assert again.complete and third in again.deleted


def test_cli_retention_plan_is_a_dry_run_and_apply_needs_yes(demo, sim, registry_url, monkeypatch, capsys,
                                                             tmp_path) -> None:
    policy = tmp_path / "retention.toml"
    policy.write_text("grace_days = 0\nkeep_last_live = 2\n")
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    monkeypatch.setenv("NETLIFY_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("NETLIFY_SITE_ID", DEMO_SITE_ID)
    monkeypatch.setenv("VIBEDASH_NETLIFY_API_URL", sim.api_url)
    before = len(sim.requests)
    assert main(["retention", "plan", "--policy", str(policy)]) == 0
    out = capsys.readouterr().out
    assert "prune" in out and len(sim.requests) == before  # a dry run never calls Netlify
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["retention", "apply", "--policy", str(policy)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["retention", "apply", "--yes", "--policy", str(policy)]) == 0
    assert "deleted" in capsys.readouterr().out
