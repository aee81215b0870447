"""The fault-injection matrix: every action x every failure point, judged by Netlify's real end state.

Used by tests/test_action_faults.py (which asserts no inconsistent case) and bench/bench_fault_matrix.py
(which prints the figures). Each case runs on a fresh copy of the sample registry and a fresh loopback
Netlify simulator serving the same deploys, with short client timeouts so the whole matrix takes seconds.

A case is *inconsistent* when any of these fails:

- no audit event is left ``started``, after the first run or the retry;
- the exit code agrees with the event's status (succeeded 0, refused 1, failed 1-3, partial/unknown 4);
- an event that says ``succeeded`` means the goal holds on the simulator; one that says the action failed
  with nothing changed means the simulator is as it was (apart from what another actor did);
- after the faults stop, running the same command again reaches the goal (or, where another actor made the
  goal wrong, refuses without touching anything), and sends only the writes that were still missing (a
  build hook fires once over both runs);
- after success the registry agrees with Netlify (live deploy, lock, expired deploys);
- no audit row holds the token.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

import vibedash.actions.observe as observe
import vibedash.netlify.rate_limits as rate_limits
from vibedash.actions import deploys as actions
from vibedash.actions.retention_apply import apply_plan, current_plan
from vibedash.config import load_settings
from vibedash.decisions.gate import policy_from_strings
from vibedash.decisions.retention import RetentionPolicy
from vibedash.netlify.client import NetlifyClient
from vibedash.netlify.simulator import NetlifySimulator
from vibedash.registry import records as registry
from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.demo import DEMO_SITE_ID, build_demo, seed_simulator
from vibedash.registry.models import Deploy, Event

TOKEN = "nfp_matrix_token_that_must_never_leak"
PASSING = policy_from_strings(["aime25 >= 0"])
RETENTION = RetentionPolicy(grace_days=0, keep_last_live=2, keep_newest_per_branch=1)
READ_TIMEOUT = 0.25
STALL = 0.4           # longer than the read timeout
SETTLE = STALL + 0.1  # after the run: long enough for stalled requests to land before the state is judged
WORKERS = 4           # cases run side by side (each its own simulator and registry): most of a case is waiting

FAILURE_POINTS = ("before-apply", "after-apply-answer-lost", "429-storm", "500-after-apply", "dropped-connection",
                  "stall-past-read-timeout", "stall-after-apply", "lying-read-back", "read-back-fails",
                  "another-actor", "transient-404")
STATUS_EXIT = {"succeeded": {0}, "refused": {1}, "failed": {1, 2, 3}, "partial": {4}, "unknown": {4}}


@dataclass
class Truth:
    """Netlify's real state (read from the simulator, not through the API)."""

    live: str | None
    locked: bool
    deploys: frozenset[str]
    hook_calls: int


@dataclass
class Case:
    action: str
    point: str
    problems: list[str] = field(default_factory=list)
    first_status: str | None = None
    first_exit: int | None = None
    retry_status: str | None = None
    retry_exit: int | None = None
    first_target: str | None = None
    seconds: float = 0.0


@dataclass
class Scenario:
    """One action set up on a site: how to run it, where its write goes, what its goal is."""

    run: Callable[[], int]                       # runs the action, returns its exit code
    write_path: str                              # path part of the write request the faults hit
    write_method: str
    read_path: str                               # the GET that reads the result back (for stale answers)
    other_actor: Callable[[NetlifySimulator], None]
    other_after_write: bool                      # the other actor acts after the write is handled
    goal: Callable[[Truth, str | None], bool]    # (truth, the audited event's target): does the goal hold?
    kinds: tuple[str, ...]                       # audit event kinds this action writes
    missing_writes: Callable[[Truth], dict[str, int]]   # writes a retry may still need, from the truth
    prime: Callable[[], None] = lambda: None     # reads to make before the run (gives "stale" an old answer)
    target_path: str | None = None               # the GET that reads the target deploy (for a transient 404)


def _truth(sim: NetlifySimulator) -> Truth:
    site = sim.site(DEMO_SITE_ID)
    published = site.get("published_deploy") or {}
    with sim._lock:  # the simulator's own state, not an API answer that a fault could distort
        deploys = frozenset(d.id for d in sim._sites[DEMO_SITE_ID].deploys)
    return Truth(published.get("id"), bool(published.get("locked")), deploys, len(sim.hook_calls))


def _writes(sim: NetlifySimulator, since: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for method, path, _status in sim.requests[since:]:
        if method == "POST" and path.endswith("/restore"):
            counts["restore"] = counts.get("restore", 0) + 1
        elif method == "POST" and path.endswith("/unlock"):
            counts["unlock"] = counts.get("unlock", 0) + 1
        elif method == "POST" and path.endswith("/lock"):
            counts["lock"] = counts.get("lock", 0) + 1
        elif method == "POST" and "/build_hooks/" in path:
            counts["hook"] = counts.get("hook", 0) + 1
        elif method == "DELETE":
            counts["delete"] = counts.get("delete", 0) + 1
    return counts


def _exit_of(call: Callable[[], Any]) -> int:
    try:
        result = call()
    except actions.ActionError as exc:
        return exc.exit_code
    return getattr(result, "exit_code", 0) if not isinstance(result, actions.ActionResult) else 0


class Matrix:
    """Builds the sample registry once; each case copies it (a SQLite file, or a PostgreSQL database made from
    a template database when ``postgres_server`` is a server URL)."""

    def __init__(self, folder: Path, postgres_server: str | None = None) -> None:
        self.folder = folder
        self.postgres_server = postgres_server
        self.counter = itertools.count(1)
        self._create_lock = threading.Lock()   # PostgreSQL copies a template for one CREATE DATABASE at a time
        if postgres_server:
            self.template_name = f"matrix_template_{uuid.uuid4().hex[:8]}"
            self._admin(f"CREATE DATABASE {self.template_name}")
            url = f"{postgres_server}/{self.template_name}"
        else:
            self.template = folder / "template.db"
            url = f"sqlite:///{self.template}"
        engine = open_registry(url)
        with unit_of_work(engine) as session:
            build_demo(session)
        engine.dispose()

    def _admin(self, statement: str) -> None:
        admin = create_engine(f"{self.postgres_server}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(statement))
        finally:
            admin.dispose()

    @contextmanager
    def registry_copy(self):
        number = next(self.counter)
        if self.postgres_server:
            name = f"matrix_case_{uuid.uuid4().hex[:8]}_{number}"
            with self._create_lock:
                self._admin(f"CREATE DATABASE {name} TEMPLATE {self.template_name}")
            try:
                yield f"{self.postgres_server}/{name}"
            finally:
                self._admin(f"DROP DATABASE IF EXISTS {name}")
            return
        path = self.folder / f"case{number}.db"
        shutil.copy(self.template, path)
        try:
            yield f"sqlite:///{path}"
        finally:
            path.unlink(missing_ok=True)

    @contextmanager
    def world(self):
        with self.registry_copy() as url:
            yield from self._world(url)

    def _world(self, url: str):
        engine = open_registry(url)
        with NetlifySimulator(token=TOKEN) as sim:
            seed_simulator(sim, engine)
            client = NetlifyClient(TOKEN, site_id=DEMO_SITE_ID, api_url=sim.api_url, timeout=(0.5, READ_TIMEOUT),
                                   max_retries=2, max_wait_s=0.6, backoff_s=0.01)
            try:
                yield engine, sim, client
            finally:
                client.close()
                engine.dispose()

    # --- scenarios ----------------------------------------------------------------------------------------

    def scenario(self, action: str, engine, sim: NetlifySimulator, client: NetlifyClient) -> Scenario:
        site = DEMO_SITE_ID
        with unit_of_work(engine) as session:
            live = registry.live_deploy(session).netlify_id
            candidate = registry.best_candidate(session)[1].netlify_id
            others = [d.netlify_id for d in session.scalars(
                select(Deploy).where(Deploy.state == "ready", Deploy.is_live.is_(False), Deploy.context == "production")
                .order_by(Deploy.created_at.desc()))]
        other = next(d for d in others if d not in (live, candidate))
        publish_other = lambda s: s.publish(site, other)  # noqa: E731
        site_path = f"/api/v1/sites/{site}"

        def live_change(target_of: Callable[[], str]) -> Callable[[Truth], dict[str, int]]:
            return lambda t: {"restore": int(t.live != target_of()), "lock": 1}

        if action.startswith("promote"):
            sim.restore_keeps_lock = False   # publishing clears the lock: both steps are needed
            step = action.split("@")[1]
            return Scenario(
                run=lambda: _exit_of(lambda: actions.promote(engine, client, site, candidate, actor="matrix",
                                                             reason="matrix", policy=PASSING)),
                write_path=f"/{step}", write_method="POST", read_path=site_path, other_actor=publish_other,
                other_after_write=step == "restore",
                goal=lambda t, target: t.live == target and t.locked, kinds=("promote",),
                missing_writes=live_change(lambda: candidate), target_path=f"/api/v1/deploys/{candidate}")
        if action.startswith("rollback"):
            sim.restore_keeps_lock = False
            actions.promote(engine, client, site, candidate, actor="setup", reason="setup", policy=PASSING)
            step = action.split("@")[1]
            return Scenario(
                run=lambda: _exit_of(lambda: actions.rollback(engine, client, site, actor="matrix",
                                                              reason="matrix")),
                write_path=f"/{step}", write_method="POST", read_path=site_path, other_actor=publish_other,
                other_after_write=step == "restore",
                goal=lambda t, target: t.live == target and t.locked, kinds=("rollback",),
                missing_writes=live_change(lambda: live), target_path=f"/api/v1/deploys/{live}")
        if action in ("lock", "unlock"):
            locked = action == "lock"
            sim.set_locked(site, not locked)
            return Scenario(
                run=lambda: _exit_of(lambda: actions.set_lock(engine, client, site, locked=locked, actor="matrix")),
                write_path=f"/{action}", write_method="POST", read_path=site_path, other_actor=publish_other,
                other_after_write=False, goal=lambda t, target: t.live == target and t.locked == locked,
                kinds=(action,),
                missing_writes=lambda t: {action: int(t.locked != locked)})
        if action == "trigger":
            hook = sim.add_build_hook(site, "matrix")
            with unit_of_work(engine) as session:
                sha = registry.best_candidate(session)[0].sha
            before = len(sim.hook_calls)
            return Scenario(
                run=lambda: _exit_of(lambda: actions.trigger_build(engine, client, hook["url"], actor="matrix",
                                                                   sha=sha)),
                write_path="/build_hooks/", write_method="POST", read_path=f"{site_path}/deploys",
                other_actor=publish_other, other_after_write=False,
                goal=lambda t, target: t.hook_calls - before == 1, kinds=("trigger",),
                missing_writes=lambda t: {"hook": int(t.hook_calls - before == 0)},
                prime=lambda: actions.find_triggered_build(client, site, "(none)"))
        if action == "retention-delete":
            plan = current_plan(engine, load_settings(), policy=RETENTION)
            pruned = [d.netlify_id for d in plan.prune]
            first = pruned[0]
            return Scenario(
                run=lambda: apply_plan(engine, client, site, current_plan(engine, load_settings(), policy=RETENTION),
                                       actor="matrix").exit_code,
                write_path=f"/deploys/{first}", write_method="DELETE", read_path=f"/api/v1/deploys/{first}",
                other_actor=lambda s: s.publish(site, first), other_after_write=False,
                goal=lambda t, target: not (set(pruned) & t.deploys), kinds=("delete",),
                missing_writes=lambda t: {"delete": len(set(pruned) & t.deploys)})
        raise ValueError(action)

    def inject(self, sim: NetlifySimulator, scenario: Scenario, point: str) -> None:
        where = dict(path_contains=scenario.write_path, method=scenario.write_method)
        if point == "before-apply":
            sim.inject("500", count=50, **where)
        elif point == "after-apply-answer-lost":
            sim.inject("drop", count=50, after_handling=True, **where)
        elif point == "429-storm":
            sim.inject("429", count=50, reset_in=0.2, retry_after=0.2, **where)
        elif point == "500-after-apply":
            sim.inject("500", count=50, after_handling=True, **where)
        elif point == "dropped-connection":
            sim.inject("drop", count=50, **where)
        elif point == "stall-past-read-timeout":
            sim.inject("slow", count=50, seconds=STALL, **where)
        elif point == "stall-after-apply":
            sim.inject("slow", count=50, seconds=STALL, after_handling=True, **where)
        elif point == "lying-read-back":
            # The write's answer is lost and the first read after it serves the earlier (stale) state.
            sim.inject("drop", count=50, after_handling=True, **where)
            sim.inject("stale", count=1, path_contains=scenario.read_path, method="GET",
                       after_path=scenario.write_path)
        elif point == "read-back-fails":
            # The change is applied and answered, then every read of the result fails (a 500 storm).
            sim.inject("500", count=50, path_contains=scenario.read_path, method="GET",
                       after_path=scenario.write_path)
        elif point == "another-actor":
            sim.inject("interleave", count=1, action=scenario.other_actor, after_handling=scenario.other_after_write,
                       **where)
        elif point == "transient-404":
            # One 404 for something that exists, on every read of the target (then Netlify answers truly).
            sim.inject("transient-404", count=1, path_contains=scenario.target_path or scenario.read_path,
                       method="GET")
        else:
            raise ValueError(point)

    # --- one case -----------------------------------------------------------------------------------------

    def run_case(self, action: str, point: str) -> Case:
        started = time.monotonic()
        case = self._run_case(action, point)
        case.seconds = time.monotonic() - started
        return case

    def _run_case(self, action: str, point: str) -> Case:
        case = Case(action, point)
        with self.world() as (engine, sim, client):
            scenario = self.scenario(action, engine, sim, client)
            scenario.prime()
            start = _truth(sim)
            first_event = _max_event_id(engine)
            self.inject(sim, scenario, point)
            case.first_exit = scenario.run()
            time.sleep(SETTLE if "stall" in point else 0)
            sim.clear_faults()
            after_first = _truth(sim)
            events = _events_since(engine, first_event, scenario.kinds)
            case.first_status = events[-1].status if events else None
            self.judge_run(case, "first run", events, case.first_exit, scenario, start, after_first, point)
            if case.first_status == "succeeded":
                self.judge_registry(case, engine, sim, scenario, after_first)
                return case
            # The same command again, faults gone: it must finish the job, sending only what is missing.
            since_requests, since_event = len(sim.requests), _max_event_id(engine)
            case.retry_exit = scenario.run()
            after_retry = _truth(sim)
            events = _events_since(engine, since_event, scenario.kinds)
            case.retry_status = events[-1].status if events else None
            self.judge_run(case, "retry", events, case.retry_exit, scenario, after_first, after_retry, point)
            conflict = point == "another-actor"
            if case.retry_status != "succeeded" and not (conflict and case.retry_status in (None, "refused")):
                case.problems.append(f"retry did not finish: {case.retry_status} (exit {case.retry_exit})")
            if conflict and case.retry_status in (None, "refused") and after_retry != after_first:
                case.problems.append("a refused retry changed Netlify")
            if not conflict:
                allowed = scenario.missing_writes(after_first)
                sent = _writes(sim, since_requests)
                for write, count in sent.items():
                    if count > allowed.get(write, 0):
                        case.problems.append(f"retry repeated {write} ({count} sent, {allowed.get(write, 0)} "
                                             "were missing)")
            if action == "trigger" and after_retry.hook_calls - start.hook_calls != 1:
                case.problems.append(f"{after_retry.hook_calls - start.hook_calls} builds started, not 1")
            if case.retry_status == "succeeded":
                self.judge_registry(case, engine, sim, scenario, after_retry)
            self.judge_secrets(case, engine)
        return case

    def judge_run(self, case: Case, which: str, events: list[Event], code: int, scenario: Scenario, before: Truth,
                  after: Truth, point: str) -> None:
        stuck = [e.id for e in events if e.status == "started"]
        if stuck:
            case.problems.append(f"{which}: events left started: {stuck}")
        if not events:
            if code not in (1, 2, 3):
                case.problems.append(f"{which}: no audit event but exit {code}")
            if after != before and point != "another-actor":
                case.problems.append(f"{which}: no audit event, yet Netlify changed")
            return
        status = events[-1].status
        if code not in STATUS_EXIT.get(status, set()):
            case.problems.append(f"{which}: exit {code} does not fit status {status}")
        if status == "succeeded" and "delete" in scenario.kinds:
            if events[-1].target in after.deploys:
                case.problems.append(f"{which}: audit says {events[-1].target} was deleted but Netlify has it")
        elif status == "succeeded" and not scenario.goal(after, events[-1].target):
            case.problems.append(f"{which}: audit says succeeded but Netlify shows {after}")
        fixed_target = not {"delete", "trigger"} & set(scenario.kinds)
        if which == "retry" and fixed_target and point != "another-actor" \
                and case.first_target not in (None, events[-1].target):
            case.problems.append(f"retry went to {events[-1].target}, not the first run's {case.first_target}")
        if which == "first run":
            case.first_target = events[-1].target
        if status in ("failed", "refused") and point != "another-actor" and after != before:
            case.problems.append(f"{which}: audit says {status} (nothing changed) but Netlify went from "
                                 f"{before} to {after}")

    def judge_registry(self, case: Case, engine, sim: NetlifySimulator, scenario: Scenario, truth: Truth) -> None:
        with unit_of_work(engine) as session:
            live = registry.live_deploy(session)
            expired = {d.netlify_id for d in session.scalars(select(Deploy).where(Deploy.expired_at.is_not(None)))}
            known = {d.netlify_id for d in session.scalars(select(Deploy))}
        if "delete" in scenario.kinds:
            missing = (known - truth.deploys) - expired
            if missing:
                case.problems.append(f"registry: deleted deploys not marked expired: {sorted(missing)}")
            return
        if "trigger" in scenario.kinds:
            return
        if live is None or live.netlify_id != truth.live or bool(live.locked) != truth.locked:
            case.problems.append(f"registry: live {live and live.netlify_id}/{live and live.locked} but Netlify "
                                 f"{truth.live}/{truth.locked}")

    def judge_secrets(self, case: Case, engine) -> None:
        with unit_of_work(engine) as session:
            for event in session.scalars(select(Event)):
                if TOKEN in f"{event.error} {event.detail} {event.reason}":
                    case.problems.append(f"event {event.id} holds the token")


def _max_event_id(engine) -> int:
    with unit_of_work(engine) as session:
        return session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0


def _events_since(engine, event_id: int, kinds: tuple[str, ...]) -> list[Event]:
    with unit_of_work(engine) as session:
        return list(session.scalars(select(Event).where(Event.id > event_id, Event.kind.in_(kinds))
                                    .order_by(Event.id)))


ACTIONS = ("promote@restore", "promote@lock", "rollback@restore", "rollback@lock", "lock", "unlock", "trigger",
           "retention-delete")


@contextmanager
def fast_timings():
    """Short pauses for confirming reads and after a 429, so the matrix runs in seconds."""
    saved = observe.CONFIRM_PAUSE_S, rate_limits._MIN_RATE_LIMIT_WAIT_S
    observe.CONFIRM_PAUSE_S, rate_limits._MIN_RATE_LIMIT_WAIT_S = 0.02, 0.05
    try:
        yield
    finally:
        observe.CONFIRM_PAUSE_S, rate_limits._MIN_RATE_LIMIT_WAIT_S = saved


def run_matrix(actions_to_run: tuple[str, ...] = ACTIONS, points: tuple[str, ...] = FAILURE_POINTS,
               postgres_server: str | None = None) -> list[Case]:
    with tempfile.TemporaryDirectory(prefix="vibedash-faults-") as folder, fast_timings():
        matrix = Matrix(Path(folder), postgres_server)
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [pool.submit(matrix.run_case, action, point) for action in actions_to_run for point in points]
            return [future.result() for future in futures]
