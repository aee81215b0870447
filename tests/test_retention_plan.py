"""The retention plan: hand-built registries whose right answer is known, the policy file, and properties
(the live deploy, pins, the grace period and rollback targets survive any policy)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from vibedash.decisions.facts import DeployFacts
from vibedash.decisions.retention import (
    DEFAULT_RETENTION_POLICY,
    RESTORABLE_STATES,
    RetentionPolicy,
    RetentionPolicyError,
    load_retention_policy,
    parse_retention_policy,
    plan_retention,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
EXAMPLE_POLICY = Path(__file__).resolve().parent.parent / "examples" / "vibedash-retention.toml"

# every rule off: a test switches on only the rule it is about (live and pins cannot be switched off)
NOTHING = RetentionPolicy(keep_last_live=0, keep_new_bests=False, keep_frontier=False, keep_gate_passed=False,
                          keep_newest_per_branch=0, grace_days=0)


def sha(char: str) -> str:
    return char * 40


def deploy(netlify_id: str, version: str | None, days_ago: float, scores: dict[str, float] | None = None,
           **facts) -> DeployFacts:
    """A deploy of version ``char * 40``, ``days_ago`` days before NOW; no branch unless given."""
    last_live_days_ago = facts.pop("last_live_days_ago", None)
    if last_live_days_ago is not None:
        facts["last_live_at"] = NOW - timedelta(days=last_live_days_ago)
    return DeployFacts(netlify_id=netlify_id, sha=sha(version) if version else None,
                       created_at=NOW - timedelta(days=days_ago), scores=scores or {}, **facts)


def actions(plan) -> dict[str, str]:
    return {d.netlify_id: d.action for d in plan.decisions}


def kept(plan) -> set[str]:
    return {d.netlify_id for d in plan.keep}


def reasons(plan, netlify_id: str) -> str:
    return "; ".join(plan.decision(netlify_id).reasons)


# --- the frontier ------------------------------------------------------------------------------------------


def test_frontier_keeps_the_versions_no_other_beats_everywhere():
    deploys = [
        deploy("a", "a", 100, {"aime25": 70, "hmmt25": 40}),
        deploy("b", "b", 90, {"aime25": 72, "hmmt25": 45}),
        deploy("c", "c", 80, {"aime25": 71, "hmmt25": 44}),
        deploy("d", "d", 60, {"aime25": 69, "hmmt25": 46}),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True), NOW)

    assert actions(plan) == {"a": "prune", "b": "keep", "c": "prune", "d": "keep"}
    assert reasons(plan, "b") == "on the frontier of aime25, hmmt25"
    assert reasons(plan, "c") == "dominated by bbbbbbb on aime25, hmmt25; not live, not pinned, no grace period"
    assert plan.decision("c").tags == ("dominated",)


def test_frontier_names_only_the_benchmarks_where_the_dominating_version_is_better():
    deploys = [deploy("old", "a", 30, {"aime25": 70, "hmmt25": 45}),
               deploy("new", "b", 20, {"aime25": 72, "hmmt25": 45})]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True), NOW)
    assert plan.decision("old").reasons[0] == "dominated by bbbbbbb on aime25"


def test_frontier_judges_only_the_chosen_benchmarks():
    deploys = [
        deploy("math", "a", 30, {"aime25": 80, "lcb_v6": 40}),
        deploy("code", "b", 20, {"aime25": 70, "lcb_v6": 60}),
    ]
    both = plan_retention(deploys, replace(NOTHING, keep_frontier=True), NOW)
    aime_only = plan_retention(deploys, replace(NOTHING, keep_frontier=True, benchmarks=("aime25",)), NOW)

    assert kept(both) == {"math", "code"}
    assert kept(aime_only) == {"math"}
    assert reasons(aime_only, "code").startswith("dominated by aaaaaaa on aime25;")


def test_versions_tied_on_every_benchmark_all_stay_on_the_frontier():
    deploys = [
        deploy("x", "a", 30, {"aime25": 75, "hmmt25": 50}),
        deploy("y", "b", 20, {"aime25": 75, "hmmt25": 50}),
        deploy("z", "c", 10, {"aime25": 74, "hmmt25": 50}),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True), NOW)

    assert actions(plan) == {"x": "keep", "y": "keep", "z": "prune"}
    assert reasons(plan, "x") == "on the frontier of aime25, hmmt25 (tied with bbbbbbb)"
    assert reasons(plan, "y") == "on the frontier of aime25, hmmt25 (tied with aaaaaaa)"
    # the most recent of the dominating versions is named
    assert reasons(plan, "z").startswith("dominated by bbbbbbb on aime25;")


def test_a_missing_score_counts_as_worse_than_any_score():
    deploys = [
        deploy("full", "a", 40, {"aime25": 72, "hmmt25": 45}),
        deploy("strong-partial", "b", 30, {"aime25": 80}),  # best on what it has: not dominated
        deploy("weak-partial", "c", 20, {"aime25": 60}),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True), NOW)

    assert actions(plan) == {"full": "keep", "strong-partial": "keep", "weak-partial": "prune"}
    assert reasons(plan, "weak-partial").startswith("dominated by bbbbbbb on aime25;")


def test_a_better_version_whose_deploys_are_gone_does_not_push_the_best_remaining_one_off_the_frontier():
    deploys = [
        deploy("gone", "a", 60, {"aime25": 90}, expired=True),
        deploy("failed", "b", 50, {"aime25": 85}, state="error"),
        deploy("best-left", "c", 40, {"aime25": 70}),
        deploy("worse", "d", 30, {"aime25": 65}),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True), NOW)

    assert actions(plan) == {"gone": "expired", "failed": "prune", "best-left": "keep", "worse": "prune"}
    assert reasons(plan, "worse").startswith("dominated by ccccccc on aime25;")


def test_the_live_deploy_is_kept_even_when_dominated():
    deploys = [
        deploy("live", "a", 30, {"aime25": 70, "hmmt25": 40}, is_live=True),
        deploy("better", "b", 20, {"aime25": 75, "hmmt25": 45}),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True), NOW)

    assert actions(plan) == {"live": "keep", "better": "keep"}
    assert plan.decision("live").reasons == ("live",)
    assert plan.decision("live").tags == ("live",)


# --- new bests ---------------------------------------------------------------------------------------------


def test_new_bests_follow_the_order_versions_appeared_in():
    deploys = [
        deploy("first", "a", 50, {"aime25": 60}),
        deploy("better", "b", 40, {"aime25": 65}),
        deploy("equal", "c", 30, {"aime25": 65}),  # equal is not strictly greater: no new best
        deploy("dip", "d", 20, {"aime25": 62}),
        deploy("record", "e", 10, {"aime25": 65.5}),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_new_bests=True), NOW)

    assert kept(plan) == {"first", "better", "record"}
    assert reasons(plan, "first") == "new best on aime25 when it appeared (60.0, the first score)"
    assert reasons(plan, "record") == "new best on aime25 when it appeared (65.5, previous best 65.0)"
    assert reasons(plan, "dip").startswith("never a new best;")


def test_a_version_appears_with_its_first_deploy_and_bests_are_per_benchmark():
    deploys = [
        deploy("a-first", "a", 50, {"aime25": 60, "hmmt25": 40}),
        deploy("b", "b", 40, {"aime25": 55, "hmmt25": 45}),
        deploy("a-rebuild", "a", 5, {"aime25": 60, "hmmt25": 40}),  # a rebuild does not make "a" newer
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_new_bests=True), NOW)

    assert plan.decision("b").reasons == ("new best on hmmt25 when it appeared (45.0, previous best 40.0)",)
    # "a" is kept through its newest deploy; the first one is its older duplicate
    assert plan.decision("a-rebuild").action == "keep"
    assert reasons(plan, "a-first").startswith("older duplicate of aaaaaaa (deploy a-rebuild is kept)")


def test_versions_that_appear_at_the_same_instant_are_compared_with_earlier_ones_only():
    deploys = [
        deploy("early", "a", 50, {"aime25": 60}),
        deploy("twin-1", "b", 40, {"aime25": 61}),
        deploy("twin-2", "c", 40, {"aime25": 63}),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_new_bests=True), NOW)
    assert kept(plan) == {"early", "twin-1", "twin-2"}


def test_new_bests_are_history_even_when_the_earlier_best_is_gone():
    deploys = [deploy("gone", "a", 50, {"aime25": 80}, expired=True),
               deploy("later", "b", 40, {"aime25": 70})]
    plan = plan_retention(deploys, replace(NOTHING, keep_new_bests=True), NOW)
    assert plan.decision("later").action == "prune"


# --- scores not yet in, grace period -------------------------------------------------------------------------


def test_a_version_without_scores_is_kept_for_the_grace_period_and_the_plan_says_so():
    deploys = [
        deploy("scored", "a", 40, {"aime25": 70}),
        deploy("fresh", "b", 3, {}),
        deploy("partial", "c", 2, {"hmmt25": 40}),
        deploy("stale", "d", 30, {}),
    ]
    policy = replace(NOTHING, keep_frontier=True, benchmarks=("aime25", "hmmt25"), grace_days=14)
    plan = plan_retention(deploys, policy, NOW)

    assert reasons(plan, "fresh") == "no scores yet; kept until 2025-06-12 (grace period)"
    assert reasons(plan, "partial").startswith("no score on aime25 yet; kept until 2025-06-13 (grace period)")
    assert plan.decision("stale").action == "prune"
    assert reasons(plan, "stale") == ("no scores after the 14-day grace period; "
                                      "not live, not pinned, older than 14 days")
    assert plan.decision("stale").tags == ("no scores",)


def test_the_grace_period_keeps_young_deploys_whatever_they_score():
    deploys = [
        deploy("best", "a", 40, {"aime25": 80}),
        deploy("young", "b", 13.9, {"aime25": 50}),
        deploy("exactly-14-days", "c", 14, {"aime25": 50}),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True, grace_days=14), NOW)

    assert reasons(plan, "young") == "younger than 14 days; kept until 2025-06-01 (grace period)"
    assert plan.decision("exactly-14-days").action == "prune"


def test_a_deploy_without_a_commit_has_no_version_and_goes_after_the_grace_period():
    deploys = [deploy("manual-new", None, 1), deploy("manual-old", None, 40)]
    plan = plan_retention(deploys, replace(NOTHING, grace_days=7, keep_frontier=True), NOW)

    assert reasons(plan, "manual-new") == "no version (no commit sha); kept until 2025-06-07 (grace period)"
    assert plan.decision("manual-old").reasons[0] == "no version (no commit sha), so no scores"
    assert plan.decision("manual-old").sha is None


# --- deploy rules: rollback targets, newest per branch, pins --------------------------------------------------


def test_the_last_deploys_that_were_live_are_kept_as_rollback_targets():
    deploys = [
        deploy("live", "l", 1, is_live=True, last_live_days_ago=1),
        deploy("r1", "a", 40, state="old", last_live_days_ago=2),
        deploy("r2", "b", 50, state="old", last_live_days_ago=5),
        deploy("r-gone", "c", 60, state="old", last_live_days_ago=6, expired=True),
        deploy("r3", "d", 70, state="old", last_live_days_ago=9),
        deploy("r4", "e", 30, state="old", last_live_days_ago=20),
        deploy("never-live", "f", 10),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_last_live=3), NOW)

    # an expired deploy is no rollback target, so the next one moves up
    assert kept(plan) == {"live", "r1", "r2", "r3"}
    assert reasons(plan, "r1") == "rollback target 1 of 3 (last live 2025-05-30)"
    assert reasons(plan, "r3") == "rollback target 3 of 3 (last live 2025-05-23)"
    assert reasons(plan, "r4") == ("last live 2025-05-12, before the last 3 rollback targets; "
                                   "not live, not pinned, no grace period")
    assert plan.decision("r-gone").action == "expired"


def test_deploys_tied_for_the_last_rollback_place_are_all_kept():
    deploys = [
        deploy("r1", "a", 40, state="old", last_live_days_ago=2),
        deploy("tie-a", "b", 50, state="old", last_live_days_ago=5),
        deploy("tie-b", "c", 60, state="old", last_live_days_ago=5),
        deploy("r4", "d", 70, state="old", last_live_days_ago=9),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_last_live=2), NOW)

    assert kept(plan) == {"r1", "tie-a", "tie-b"}
    assert reasons(plan, "tie-b") == "rollback target 2 of 2 (last live 2025-05-27)"


def test_newest_versions_per_branch_count_versions_not_rebuilds():
    deploys = [
        deploy("main-1", "a", 50, branch="main"),
        deploy("main-2", "b", 40, branch="main"),
        deploy("main-3", "c", 30, branch="main"),
        deploy("main-3-rebuild", "c", 20, branch="main"),
        deploy("main-failed", "d", 10, branch="main", state="error"),
        deploy("feat-1", "e", 45, branch="feat"),
        deploy("feat-2", "f", 35, branch="feat"),
    ]
    one = plan_retention(deploys, replace(NOTHING, keep_newest_per_branch=1), NOW)
    two = plan_retention(deploys, replace(NOTHING, keep_newest_per_branch=2), NOW)

    assert kept(one) == {"main-3-rebuild", "feat-2"}
    assert reasons(one, "main-3-rebuild") == "newest on branch main"
    assert reasons(one, "main-3").startswith("older duplicate of ccccccc (deploy main-3-rebuild is kept)")
    assert reasons(one, "main-2").startswith("not the newest version on branch main;")
    assert kept(two) == {"main-3-rebuild", "main-2", "feat-2", "feat-1"}
    assert reasons(two, "main-2") == "2nd newest on branch main"


def test_pinned_deploys_are_kept_whatever_the_policy_and_an_expired_pin_is_reported():
    deploys = [
        deploy("best", "a", 400, {"aime25": 80}),
        deploy("pinned", "b", 300, {"aime25": 10}, pinned=True),
        deploy("pinned-failed", "c", 300, state="error", pinned=True),
        deploy("pinned-gone", "d", 300, {"aime25": 10}, pinned=True, expired=True),
    ]
    plan = plan_retention(deploys, DEFAULT_RETENTION_POLICY, NOW)

    assert plan.decision("pinned").reasons == ("pinned",)
    assert plan.decision("pinned-failed").action == "keep"
    assert plan.decision("pinned-gone").action == "expired"
    assert "it was pinned, but Netlify no longer has it" in plan.decision("pinned-gone").reasons


# --- several deploys of one version, failed and odd states ---------------------------------------------------


def test_a_kept_version_keeps_its_newest_ready_deploy_plus_live_pinned_and_rollback_ones():
    deploys = [
        deploy("v-oldest", "a", 90, {"aime25": 80}, pinned=True),
        deploy("v-was-live", "a", 80, {"aime25": 80}, state="old", last_live_days_ago=30),
        deploy("v-middle", "a", 70, {"aime25": 80}),
        deploy("v-newest", "a", 60, {"aime25": 80}),
        deploy("v-building", "a", 1, {"aime25": 80}, state="building"),
        deploy("v-failed", "a", 50, {"aime25": 80}, state="error"),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True, keep_last_live=1), NOW)

    assert actions(plan) == {"v-oldest": "keep", "v-was-live": "keep", "v-middle": "prune", "v-newest": "keep",
                             "v-building": "keep", "v-failed": "prune"}
    assert reasons(plan, "v-newest") == "on the frontier of aime25"
    assert reasons(plan, "v-middle") == ("older duplicate of aaaaaaa (deploy v-newest is kept); "
                                         "not live, not pinned, no grace period")
    assert plan.decision("v-middle").tags == ("duplicate",)
    assert plan.decision("v-building").tags == ("building",)


def test_a_version_kept_only_through_a_rollback_deploy_prunes_its_other_deploys_as_duplicates():
    deploys = [
        deploy("live", "l", 5, {"aime25": 90}, is_live=True),
        deploy("was-live", "a", 80, {"aime25": 50}, state="old", last_live_days_ago=10),
        deploy("rebuild", "a", 40, {"aime25": 50}),
    ]
    plan = plan_retention(deploys, replace(DEFAULT_RETENTION_POLICY, keep_last_live=1, keep_new_bests=False), NOW)

    assert plan.decision("was-live").action == "keep"
    assert reasons(plan, "rebuild").startswith("duplicate of aaaaaaa (deploy was-live is kept)")


def test_failed_builds_are_pruned_unless_young_or_pinned():
    deploys = [
        deploy("best", "a", 60, {"aime25": 80}),
        deploy("failed-old", "a", 50, {"aime25": 80}, state="error"),
        deploy("failed-young", "b", 2, state="error"),
        deploy("rejected", "c", 40, state="rejected"),
    ]
    plan = plan_retention(deploys, DEFAULT_RETENTION_POLICY, NOW)

    assert actions(plan) == {"best": "keep", "failed-old": "prune", "failed-young": "keep", "rejected": "prune"}
    assert reasons(plan, "failed-old") == ("build failed (state error), nothing to roll back to; "
                                           "not live, not pinned, older than 14 days")
    assert plan.decision("failed-old").tags == ("failed",)


def test_expired_deploys_are_listed_but_neither_kept_nor_pruned():
    deploys = [deploy("gone", "a", 200, {"aime25": 99}, expired=True), deploy("here", "b", 1, is_live=True)]
    plan = plan_retention(deploys, DEFAULT_RETENTION_POLICY, NOW)

    assert [d.netlify_id for d in plan.expired] == ["gone"]
    assert "gone" not in {d.netlify_id for d in plan.keep + plan.prune}
    assert plan.decision("gone").reasons == ("already expired (gone from Netlify); nothing to prune",)


def test_a_deploy_in_a_state_retention_does_not_know_is_kept():
    plan = plan_retention([deploy("odd", "a", 100, state="pending_review")], NOTHING, NOW)
    assert plan.decision("odd").action == "keep"
    assert "still building or unknown" in reasons(plan, "odd")


def test_the_gate_rule_keeps_versions_that_passed():
    deploys = [
        deploy("passed", "a", 50, gate_passed=True),
        deploy("failed", "b", 40, gate_passed=False),
        deploy("no-verdict", "c", 30),
    ]
    plan = plan_retention(deploys, replace(NOTHING, keep_gate_passed=True), NOW)

    assert kept(plan) == {"passed"}
    assert reasons(plan, "passed") == "passed the gate"
    assert "gate not passed" in plan.decision("failed").reasons
    assert "no gate verdict" in plan.decision("no-verdict").reasons


# --- rules switched off one by one -------------------------------------------------------------------------


def registry_where_each_rule_keeps_one_deploy() -> list[DeployFacts]:
    """Each target deploy is kept by exactly one switchable rule; "control" by none."""
    return [
        deploy("new-best", "a", 110, {"aime25": 50, "hmmt25": 20}),  # first scores: a new best, dominated
        deploy("p", "b", 100, {"aime25": 80, "hmmt25": 10}),  # new best and frontier
        deploy("q", "c", 95, {"aime25": 10, "hmmt25": 80}),  # new best and frontier
        deploy("frontier", "d", 90, {"aime25": 70, "hmmt25": 70}),  # frontier, never a new best
        deploy("gate", "e", 85, {"aime25": 40, "hmmt25": 15}, gate_passed=True),
        deploy("rollback", "f", 80, {"aime25": 30, "hmmt25": 10}, state="old", last_live_days_ago=20),
        deploy("branch", "g", 70, {"aime25": 20, "hmmt25": 5}, branch="feature"),
        deploy("live", "h", 60, {"aime25": 60, "hmmt25": 60}, is_live=True, last_live_days_ago=20),
        deploy("control", "i", 50, {"aime25": 1, "hmmt25": 1}),
        deploy("grace", "j", 2, {"aime25": 35, "hmmt25": 12}),
    ]


@pytest.mark.parametrize(("switch_off", "target"), [
    ({"keep_new_bests": False}, "new-best"),
    ({"keep_frontier": False}, "frontier"),
    ({"keep_gate_passed": False}, "gate"),
    ({"keep_last_live": 0}, "rollback"),
    ({"keep_newest_per_branch": 0}, "branch"),
    ({"grace_days": 0}, "grace"),
])
def test_switching_off_a_rule_prunes_exactly_what_only_it_kept(switch_off, target):
    deploys = registry_where_each_rule_keeps_one_deploy()
    everything = plan_retention(deploys, DEFAULT_RETENTION_POLICY, NOW)
    assert kept(everything) == {d.netlify_id for d in deploys} - {"control"}

    plan = plan_retention(deploys, replace(DEFAULT_RETENTION_POLICY, **switch_off), NOW)
    assert kept(plan) == kept(everything) - {target}
    assert plan.decision(target).action == "prune"


def test_with_every_rule_off_only_live_and_pinned_remain():
    deploys = registry_where_each_rule_keeps_one_deploy() + [deploy("pin", "k", 400, pinned=True)]
    plan = plan_retention(deploys, NOTHING, NOW)
    assert kept(plan) == {"live", "pin"}


# --- the plan as a whole -----------------------------------------------------------------------------------


def test_summary_counts_and_text():
    deploys = registry_where_each_rule_keeps_one_deploy() + [
        deploy("gone", "z", 300, expired=True),
        deploy("broken", "y", 300, state="error"),
    ]
    summary = plan_retention(deploys, DEFAULT_RETENTION_POLICY, NOW).summary()

    assert (summary["deploys"], summary["keep"], summary["prune"], summary["expired"]) == (12, 9, 2, 1)
    assert summary["kept_for"] == {"live": 1, "rollback": 1, "grace": 1, "newest on branch": 1, "new best": 3,
                                   "frontier": 3, "gate passed": 1}
    assert summary["pruned_as"] == {"failed": 1, "dominated": 1}
    assert summary["text"] == (
        "keep 9 of 12 deploys, prune 2 (frees 2 deploys), 1 already expired; kept for: live 1, rollback 1, "
        "grace 1, newest on branch 1, new best 3, frontier 3, gate passed 1; pruned as: failed 1, dominated 1")


def test_rows_for_tables_have_short_shas_joined_reasons_and_one_column_per_benchmark():
    deploys = [
        deploy("a", "a", 20, {"aime25": 70.5}, branch="main", is_live=True),
        deploy("b", "b", 10, {"hmmt25": 40}, branch="main"),
    ]
    rows = plan_retention(deploys, replace(NOTHING, keep_newest_per_branch=1), NOW).to_rows()

    assert [r["netlify_id"] for r in rows] == ["b", "a"]  # newest first
    assert rows[1] == {"netlify_id": "a", "sha": "aaaaaaa", "branch": "main", "created_at": NOW - timedelta(days=20),
                       "state": "ready", "action": "keep", "tags": "live", "reasons": "live",
                       "aime25": 70.5, "hmmt25": None}
    assert rows[0]["reasons"] == "newest on branch main"


def test_decisions_do_not_depend_on_input_order():
    deploys = registry_where_each_rule_keeps_one_deploy()
    expected = plan_retention(deploys, DEFAULT_RETENTION_POLICY, NOW).decisions
    shuffled = deploys[:]
    random.Random(7).shuffle(shuffled)
    assert plan_retention(shuffled, DEFAULT_RETENTION_POLICY, NOW).decisions == expected


def test_warnings_for_a_benchmark_without_scores_and_for_no_live_deploy():
    deploys = [deploy("a", "a", 30, {"aime25": 70}), deploy("b", "b", 20, {"aime25": 60})]
    plan = plan_retention(deploys, replace(NOTHING, keep_frontier=True, benchmarks=("aime25", "amie25")), NOW)

    assert plan.warnings == (
        "the policy names benchmarks without any score: amie25; they are ignored (benchmarks with scores: aime25)",
        "no deploy is marked live; sync with Netlify before applying this plan",
    )
    assert kept(plan) == {"a"}  # the misspelt benchmark does not make every version "missing" it


def test_an_empty_registry_gives_an_empty_plan():
    plan = plan_retention([], DEFAULT_RETENTION_POLICY, NOW)
    assert plan.decisions == ()
    assert plan.summary()["text"] == "keep 0 of 0 deploys, prune 0"


def test_bad_input_is_refused_with_what_to_fix():
    naive = datetime(2025, 6, 1)
    with pytest.raises(ValueError, match="now is a naive datetime"):
        plan_retention([], DEFAULT_RETENTION_POLICY, naive)
    with pytest.raises(ValueError, match="deploy x has a naive created_at"):
        plan_retention([DeployFacts(netlify_id="x", created_at=naive)], DEFAULT_RETENTION_POLICY, NOW)
    with pytest.raises(ValueError, match="deploy x appears twice"):
        plan_retention([deploy("x", "a", 1), deploy("x", "a", 2)], DEFAULT_RETENTION_POLICY, NOW)


# --- the policy and its file -------------------------------------------------------------------------------


def test_the_example_policy_file_loads():
    policy = load_retention_policy(EXAMPLE_POLICY)
    assert policy == replace(DEFAULT_RETENTION_POLICY, benchmarks=("aime25", "hmmt25", "lcb_v6"))


def test_a_policy_survives_a_round_trip_through_toml(tmp_path):
    policy = RetentionPolicy(keep_last_live=5, keep_new_bests=False, benchmarks=("aime25",), grace_days=0)
    path = tmp_path / "retention.toml"
    path.write_text(tomli_w.dumps(policy.as_dict()), encoding="utf-8")
    assert load_retention_policy(path) == policy


def test_a_missing_policy_file_is_an_error_unless_it_may_be_missing(tmp_path):
    with pytest.raises(RetentionPolicyError, match="does not exist"):
        load_retention_policy(tmp_path / "nope.toml")
    assert load_retention_policy(tmp_path / "nope.toml", missing_ok=True) is DEFAULT_RETENTION_POLICY


@pytest.mark.parametrize(("text", "message"), [
    ("keep_live = false", "keep_live cannot be switched off"),
    ("keep_pinned = false", "keep_pinned cannot be switched off"),
    ("keep_frontiers = true", "unknown setting 'keep_frontiers'"),
    ("grace_days = -1", "grace_days must be a whole number, 0 or more"),
    ("grace_days = 1.5", "grace_days must be a whole number"),
    ("keep_last_live = true", "keep_last_live must be a whole number"),
    ("keep_frontier = 1", "keep_frontier must be true or false"),
    ('benchmarks = "aime25"', "benchmarks must be a list"),
    ('benchmarks = ["aime25", ""]', "benchmarks must be a list of benchmark names"),
    ("grace_days = ", "is not valid TOML"),
])
def test_a_bad_policy_file_names_the_setting_and_the_fix(tmp_path, text, message):
    path = tmp_path / "retention.toml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(RetentionPolicyError, match=message) as caught:
        load_retention_policy(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_policy_keeps_always_on_rules_documented_and_lists_switched_off_ones():
    assert parse_retention_policy({"keep_live": True, "keep_pinned": True}) == DEFAULT_RETENTION_POLICY
    lines = replace(NOTHING, keep_frontier=True, benchmarks=("aime25",)).describe()
    assert lines[:2] == ["keep the live deploy (always)", "keep pinned deploys (always)"]
    assert "keep the Pareto frontier over aime25" in lines
    assert "grace period: off" in lines


# --- properties --------------------------------------------------------------------------------------------

STATES = ("ready", "old", "current", "error", "building")
SCORE_VALUES = st.sampled_from([40.0, 50.0, 50.0, 60.0, 70.5])  # few values: ties are common


def sometimes(one_in: int) -> st.SearchStrategy[bool]:
    return st.sampled_from([False] * (one_in - 1) + [True])


@st.composite
def registries(draw) -> list[DeployFacts]:
    count = draw(st.integers(min_value=0, max_value=14))
    live_index = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=max(count - 1, 0))))
    deploys = []
    for i in range(count):
        version = draw(st.one_of(st.none(), st.sampled_from("abcdef")))
        scores = draw(st.dictionaries(st.sampled_from(["aime25", "hmmt25", "lcb_v6"]), SCORE_VALUES, max_size=3))
        live = i == live_index
        was_live = draw(sometimes(3))
        was_live_hours = draw(st.integers(min_value=0, max_value=24 * 90)) if was_live else None
        deploys.append(DeployFacts(
            netlify_id=f"d{i:02d}",
            sha=sha(version) if version else None,
            created_at=NOW - timedelta(hours=draw(st.integers(min_value=-5, max_value=24 * 120))),
            branch=draw(st.sampled_from([None, "main", "feat"])),
            state="ready" if live else draw(st.sampled_from(STATES)),
            is_live=live,
            pinned=draw(sometimes(6)),
            expired=False if live else draw(sometimes(6)),
            last_live_at=None if was_live_hours is None else NOW - timedelta(hours=was_live_hours),
            gate_passed=draw(st.sampled_from([None, True, False])),
            scores=scores if version else {},
        ))
    return deploys


policies = st.builds(
    RetentionPolicy,
    keep_last_live=st.integers(min_value=0, max_value=4),
    keep_new_bests=st.booleans(),
    keep_frontier=st.booleans(),
    benchmarks=st.sampled_from([(), ("aime25",), ("aime25", "hmmt25"), ("lcb_v6", "missing")]),
    keep_gate_passed=st.booleans(),
    keep_newest_per_branch=st.integers(min_value=0, max_value=3),
    grace_days=st.integers(min_value=0, max_value=30),
)


@settings(max_examples=200, deadline=None, database=None)
@given(deploys=registries(), policy=policies, seed=st.integers())
def test_protected_deploys_are_never_pruned_and_every_decision_says_why(deploys, policy, seed):
    plan = plan_retention(deploys, policy, NOW)
    by_id = {d.netlify_id: d for d in plan.decisions}

    assert sorted(by_id) == sorted(d.netlify_id for d in deploys)  # each deploy exactly once
    assert len(plan.keep) + len(plan.prune) + len(plan.expired) == len(deploys)
    for decision in plan.decisions:
        assert decision.reasons and all(r.strip() for r in decision.reasons)
        assert decision.tags

    # rollback targets: a restorable deploy that was live, with fewer than N such deploys live more recently
    was_live = [d for d in deploys
                if d.last_live_at and not d.is_live and not d.expired and d.state in RESTORABLE_STATES]
    for facts in deploys:
        action = by_id[facts.netlify_id].action
        if facts.is_live:
            assert action == "keep"
        elif facts.expired:
            assert action == "expired"
        else:
            in_grace = policy.grace_days > 0 and NOW - facts.created_at < timedelta(days=policy.grace_days)
            if facts.pinned or in_grace:
                assert action == "keep"
            if facts in was_live:
                more_recent = sum(1 for o in was_live if o.last_live_at > facts.last_live_at)
                if more_recent < policy.keep_last_live:
                    assert action == "keep"

    # a prune that points elsewhere points at something kept
    kept_shas = {d.short_sha for d in plan.keep}
    for decision in plan.prune:
        first = decision.reasons[0]
        if first.startswith("dominated by "):
            assert first.split()[2] in kept_shas
        if "duplicate of" in first:
            kept_id = first.split("(deploy ")[1].split(" ")[0]
            assert by_id[kept_id].action == "keep" and by_id[kept_id].sha == decision.sha

    shuffled = deploys[:]
    random.Random(seed).shuffle(shuffled)
    assert plan_retention(shuffled, policy, NOW).decisions == plan.decisions
