"""Actions under faults: the whole matrix, retries that resume their intent, concurrent promotes, exit codes
and secrets, against the loopback Netlify simulator and real registries (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from conftest import SIM_TOKEN as TOKEN
from fault_matrix import ACTIONS, FAILURE_POINTS, Matrix, fast_timings
from sqlalchemy import select

from vibedash.actions import deploys as actions
from vibedash.cli import main
from vibedash.decisions.gate import policy_from_strings
from vibedash.netlify.client import NetlifyClient
from vibedash.registry import audit
from vibedash.registry import records as registry
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.demo import DEMO_SITE_ID, build_demo, seed_simulator
from vibedash.registry.models import Event

PASSING = policy_from_strings(["aime25 >= 0"])
FAILING = policy_from_strings(["aime25 >= 99.9"])


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    with fast_timings():
        yield Matrix(tmp_path_factory.mktemp("matrix"))


@pytest.fixture(autouse=True)
def quick_confirmations(monkeypatch):
    monkeypatch.setattr("vibedash.actions.observe.CONFIRM_PAUSE_S", 0.01)
    monkeypatch.setattr("vibedash.netlify.rate_limits._MIN_RATE_LIMIT_WAIT_S", 0.05)
    # The CLI builds its own client with production backoff (0.5 s doubling); keep the retries, not the waits.
    monkeypatch.setattr(NetlifyClient, "_backoff", lambda self, attempt: 0.01)


@pytest.mark.parametrize("action", ACTIONS)
def test_every_failure_point_ends_consistent_and_a_retry_finishes_the_job(matrix, action) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        cases = list(pool.map(lambda point: matrix.run_case(action, point), FAILURE_POINTS))
    problems = [f"{c.point}: {'; '.join(c.problems)}" for c in cases if c.problems]
    assert problems == []
    # The matrix exercised the interesting paths, not only happy ones.
    assert any(c.first_status != "succeeded" for c in cases)
    assert all(c.retry_status in (None, "succeeded", "refused") for c in cases)


# --- retries resume the same intent ----------------------------------------------------------------------

def _events(engine, kind: str) -> list[Event]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def _candidate(engine) -> str:
    with unit_of_work(engine) as session:
        return registry.best_candidate(session)[1].netlify_id


def test_a_retry_of_the_same_promote_does_not_judge_the_gate_again(demo, sim, client) -> None:
    sim.restore_keeps_lock = False
    target = _candidate(demo)
    sim.inject("500", count=20, path_contains="/lock")
    with pytest.raises(actions.ActionError, match="NOT locked") as caught:
        actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="r", policy=PASSING)
    assert caught.value.exit_code == 4
    sim.clear_faults()
    # The candidate is live now; judged against itself it would fail. The retry keeps the first verdict.
    result = actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="retry", policy=FAILING)
    assert "finished promote" in result.message and sim.deploy(target)["locked"]
    first, retry = _events(demo, "promote")[-2:]
    assert (first.status, retry.status) == ("partial", "succeeded")
    assert retry.detail["resumes"] == first.id and retry.intent == first.intent
    assert retry.verdict == first.verdict and retry.previous_live == first.previous_live
    assert [r.path for r in sim.requests].count(f"/api/v1/sites/{DEMO_SITE_ID}/deploys/{target}/restore") == 1


def test_a_rollback_retry_goes_to_the_same_target_never_onward(demo, sim, client) -> None:
    original = sim.published_deploy_id(DEMO_SITE_ID)
    target = _candidate(demo)
    actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="r", policy=PASSING)
    sim.restore_keeps_lock = False
    sim.inject("500", count=20, path_contains="/lock")
    with pytest.raises(actions.ActionError) as caught:
        actions.rollback(demo, client, DEMO_SITE_ID, actor="t", reason="bad")
    assert caught.value.exit_code == 4 and sim.published_deploy_id(DEMO_SITE_ID) == original
    sim.clear_faults()
    result = actions.rollback(demo, client, DEMO_SITE_ID, actor="t", reason="bad, again")
    assert result.live_deploy_id == original
    assert sim.published_deploy_id(DEMO_SITE_ID) == original and sim.deploy(original)["locked"]
    assert [e.target for e in _events(demo, "rollback")[-2:]] == [original, original]


def test_after_an_unfinished_rollback_the_offered_target_is_the_same_one(demo, sim, client) -> None:
    original = sim.published_deploy_id(DEMO_SITE_ID)
    target = _candidate(demo)
    actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="r", policy=PASSING)
    sim.restore_keeps_lock = False
    sim.inject("500", count=20, path_contains="/lock")
    with pytest.raises(actions.ActionError):
        actions.rollback(demo, client, DEMO_SITE_ID, actor="t", reason="bad")
    # The page offers "Roll back to …" from this: finishing the rollback, not rolling back the rollback.
    assert actions.rollback_target(demo, sim.published_deploy_id(DEMO_SITE_ID)) == original
    sim.clear_faults()
    actions.rollback(demo, client, DEMO_SITE_ID, actor="t", reason="finish", to=original)
    assert sim.deploy(original)["locked"] and _events(demo, "rollback")[-1].status == "succeeded"
    assert actions.rollback_target(demo, original) == target   # done: the usual "previous live" again


def test_one_404_never_marks_a_rollback_target_expired(demo, sim, client) -> None:
    original = sim.published_deploy_id(DEMO_SITE_ID)
    actions.promote(demo, client, DEMO_SITE_ID, _candidate(demo), actor="t", reason="r", policy=PASSING)
    sim.inject("transient-404", path_contains=f"/deploys/{original}", method="GET")
    actions.rollback(demo, client, DEMO_SITE_ID, actor="t", reason="regression")
    assert sim.published_deploy_id(DEMO_SITE_ID) == original
    with unit_of_work(demo) as session:
        assert registry.find_deploy(session, original).expired_at is None


def test_a_promote_reviewed_against_another_live_deploy_is_refused(demo, sim, client) -> None:
    before = sim.published_deploy_id(DEMO_SITE_ID)
    target = _candidate(demo)
    with pytest.raises(actions.ActionConflict, match="changed since this promotion was reviewed") as caught:
        actions.promote(demo, client, DEMO_SITE_ID, target, actor="t", reason="r", policy=PASSING,
                        expected_live="someone-elses-deploy")
    assert caught.value.exit_code == 1 and sim.published_deploy_id(DEMO_SITE_ID) == before


def test_lock_whose_answer_is_lost_reads_back_and_says_locked(demo, sim, client) -> None:
    live = sim.published_deploy_id(DEMO_SITE_ID)
    sim.set_locked(DEMO_SITE_ID, False)
    sim.inject("drop", count=20, path_contains="/lock", after_handling=True)
    result = actions.set_lock(demo, client, DEMO_SITE_ID, locked=True, actor="t")
    assert "answer was lost" in result.message and sim.deploy(live)["locked"]
    assert _events(demo, "lock")[-1].status == "succeeded"
    again = actions.set_lock(demo, client, DEMO_SITE_ID, locked=True, actor="t")
    assert "already locked" in again.message


# --- concurrent promotes -----------------------------------------------------------------------------------

def _race_two_promotes(engine, sim) -> list[object]:
    """Two promotes of different candidates, started together; each with its own client (one per thread)."""
    with unit_of_work(engine) as session:
        first, second = [d.netlify_id for _, d in registry.candidates(session, limit=2)]
    sim.inject("slow", count=1, path_contains="/restore", seconds=0.3)   # the winner holds the site a while
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def promote(index: int, target: str) -> None:
        with NetlifyClient(TOKEN, site_id=DEMO_SITE_ID, api_url=sim.api_url, timeout=(1, 2)) as own:
            barrier.wait()
            try:
                outcomes[index] = actions.promote(engine, own, DEMO_SITE_ID, target, actor=f"p{index}",
                                                  reason="race", policy=PASSING, override=True)
            except actions.ActionError as exc:
                outcomes[index] = exc

    threads = [threading.Thread(target=promote, args=(i, t)) for i, t in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def _assert_one_winner(engine, sim, outcomes) -> None:
    winners = [o for o in outcomes if isinstance(o, actions.ActionResult)]
    losers = [o for o in outcomes if isinstance(o, actions.ActionError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].exit_code == 1 and isinstance(losers[0], actions.ActionConflict)
    assert sim.published_deploy_id(DEMO_SITE_ID) == winners[0].live_deploy_id
    assert sim.deploy(winners[0].live_deploy_id)["locked"]
    statuses = [e.status for e in _events(engine, "promote") if e.actor in ("p0", "p1")]
    assert statuses.count("succeeded") == 1 and "started" not in statuses
    with unit_of_work(engine) as session:
        assert session.scalar(select(Event).where(Event.claim.is_not(None))) is None   # every claim released


def test_two_promotes_at_once_on_sqlite_only_one_succeeds(demo, sim) -> None:
    _assert_one_winner(demo, sim, _race_two_promotes(demo, sim))


def test_a_claim_left_by_a_dead_process_lapses(demo, sim, client, monkeypatch) -> None:
    stale = audit.start_event(demo, kind="promote", actor="crashed", target="x", intent="promote s x from y",
                              claim=audit.site_claim(DEMO_SITE_ID))
    with pytest.raises(actions.ActionConflict, match="another action is changing this site"):
        actions.promote(demo, client, DEMO_SITE_ID, _candidate(demo), actor="t", reason="r", policy=PASSING)
    monkeypatch.setattr(audit, "CLAIM_STALE_AFTER", audit.CLAIM_STALE_AFTER * 0)
    actions.promote(demo, client, DEMO_SITE_ID, _candidate(demo), actor="t", reason="r", policy=PASSING)
    with unit_of_work(demo) as session:
        dead = session.get(Event, stale)
        assert dead.status == "unknown" and dead.claim is None and "interrupted" in dead.error


# --- exit codes and secrets through the CLI ----------------------------------------------------------------

@pytest.fixture
def cli_env(demo, sim, registry_url, monkeypatch):
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    monkeypatch.setenv("NETLIFY_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("NETLIFY_SITE_ID", DEMO_SITE_ID)
    monkeypatch.setenv("VIBEDASH_NETLIFY_API_URL", sim.api_url)
    return demo


def test_cli_exit_codes_follow_the_readme(cli_env, sim, capsys) -> None:
    target = _candidate(cli_env)
    sim.inject("500", count=50, path_contains="/restore")
    assert main(["promote", target, "--reason", "ci", "--rule", "aime25 >= 0"]) == 3
    captured = capsys.readouterr()
    assert "nothing changed" in captured.err and captured.out.count("\n") <= 20
    sim.clear_faults()
    sim.restore_keeps_lock = False
    sim.inject("500", count=50, path_contains="/lock")
    assert main(["promote", target, "--reason", "ci", "--rule", "aime25 >= 0"]) == 4
    assert "NOT locked" in capsys.readouterr().err
    sim.clear_faults()
    assert main(["promote", target, "--reason", "ci", "--rule", "aime25 >= 99.9"]) == 0   # resumed, not re-judged
    assert main(["promote", "f" * 24, "--reason", "ci"]) == 1                              # no such deploy
    assert main(["lock", _candidate(cli_env)]) == 1                                        # not live: refused


def test_retention_apply_errors_go_to_stderr_with_the_netlify_exit_code(cli_env, sim, capsys, tmp_path) -> None:
    policy = tmp_path / "retention.toml"
    policy.write_text("grace_days = 0\nkeep_last_live = 2\n")
    sim.inject("500", count=200, method="DELETE")
    assert main(["retention", "apply", "--yes", "--policy", str(policy)]) == 3
    captured = capsys.readouterr()
    assert "Netlify" in captured.err and "stopped at an error" not in captured.out


def test_a_token_with_a_newline_is_refused_without_being_echoed(cli_env, monkeypatch, capsys) -> None:
    bad = "nfp_secret_part_one\nnfp_secret_part_two"
    monkeypatch.setenv("NETLIFY_AUTH_TOKEN", bad)
    assert main(["lock"]) == 2
    err = capsys.readouterr().err
    assert "line break" in err and "nfp_secret_part" not in err


def test_a_hook_id_quoted_by_netlify_reaches_no_message_audit_row_or_output(cli_env, sim, monkeypatch,
                                                                            capsys) -> None:
    hook = sim.add_build_hook(DEMO_SITE_ID, "ci")
    monkeypatch.setenv("VIBEDASH_BUILD_HOOK_URL", hook["url"])
    sim.inject("503", count=1, path_contains="/build_hooks/", message=f"hook {hook['id']} is overloaded")
    code = main(["trigger", "--reason", f"see {hook['url']}"])
    assert code == 4   # a 503 from a hook: the build may have started; unknown until the list shows it
    captured = capsys.readouterr()
    assert hook["id"] not in captured.err + captured.out
    assert "unknown" in captured.err
    with unit_of_work(cli_env) as session:
        for event in session.scalars(select(Event)):
            assert hook["id"] not in f"{event.error} {event.detail} {event.reason}"
    # The retry looks for the build first: none appeared, so it triggers exactly one.
    assert main(["trigger", "--reason", "again"]) == 0
    assert len(sim.hook_calls) == 1


def test_without_a_token_an_unknown_trigger_is_not_fired_twice(demo, sim, registry_url, monkeypatch,
                                                               capsys) -> None:
    hook = sim.add_build_hook(DEMO_SITE_ID, "ci")
    monkeypatch.setenv("VIBEDASH_DB_URL", registry_url)
    monkeypatch.setenv("VIBEDASH_BUILD_HOOK_URL", hook["url"])
    sim.inject("drop", path_contains="/build_hooks/")
    assert main(["trigger"]) == 4
    assert "unknown whether the build started" in capsys.readouterr().err
    assert main(["trigger"]) == 1
    assert "--again" in capsys.readouterr().err and sim.hook_calls == []
    assert main(["trigger", "--again"]) == 0 and len(sim.hook_calls) == 1


def test_no_audit_event_is_ever_left_started_by_an_interrupted_action(demo, sim, client, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(NetlifyClient, "restore_deploy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        actions.promote(demo, client, DEMO_SITE_ID, _candidate(demo), actor="t", reason="r", policy=PASSING)
    event = _events(demo, "promote")[-1]
    assert event.status == "unknown" and event.claim is None and "interrupted" in event.error


# --- PostgreSQL --------------------------------------------------------------------------------------------

from test_postgres import pg_url, postgres_server  # noqa: E402,F401  (the real PostgreSQL fixtures)


def test_two_promotes_at_once_on_postgres_only_one_succeeds(pg_url, sim) -> None:  # noqa: F811
    engine = open_registry(pg_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    seed_simulator(sim, engine)
    try:
        _assert_one_winner(engine, sim, _race_two_promotes(engine, sim))
    finally:
        engine.dispose()



def test_the_fault_matrix_holds_on_postgres_too(postgres_server) -> None:  # noqa: F811
    """Every action on PostgreSQL, at the failure points whose handling leans on the database most: a retry
    that resumes its intent, an answer lost after the change, another actor. (Each case needs its own
    database, about a second to create, so the full matrix runs on SQLite above.)"""
    from fault_matrix import run_matrix

    points = ("before-apply", "after-apply-answer-lost", "another-actor")
    cases = run_matrix(points=points, postgres_server=postgres_server)
    assert len(cases) == len(ACTIONS) * len(points)
    assert [f"{c.action} {c.point}: {'; '.join(c.problems)}" for c in cases if c.problems] == []
