"""The solve engine on a real registry and two tiny local models: side by side, the log as a cache, stop,
self-consistency, failures, and finding versions."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: tests never download

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tiny_model import save_tiny_model

from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.models import SolveRun, Version
from vibedash.solve.engine import (
    Chunk,
    Failed,
    Finished,
    Progress,
    SolveEngine,
    SolveRequest,
)
from vibedash.solve.errors import ModelLoadError, SolveInputError, VersionLookupError
from vibedash.solve.problems import find_problem
from vibedash.solve.prompts import SamplingSettings
from vibedash.solve.runlog import recent_runs, serve_cached
from vibedash.solve.versions import list_versions, resolve_version

SHA_A, SHA_B, SHA_NONE, SHA_GONE = "a1" * 20, "b2" * 20, "c3" * 20, "d4" * 20
SHORT = SamplingSettings(max_new_tokens=24)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return save_tiny_model(root / "one", seed=1), save_tiny_model(root / "two", seed=2)


@pytest.fixture
def registry(tmp_path, models):
    engine = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    with unit_of_work(engine) as session:
        session.add_all([
            Version(sha=SHA_A, branch="main", message="first", model_ref=str(models[0])),
            Version(sha=SHA_B, branch="main", message="second", model_ref=str(models[1])),
            Version(sha=SHA_NONE, branch="dev", message="no model yet", model_ref=None),
            Version(sha=SHA_GONE, branch="dev", message="deleted checkpoint", model_ref=str(tmp_path / "gone")),
        ])
    yield engine
    engine.dispose()


@pytest.fixture
def solver(registry):
    solver = SolveEngine(registry, device="cpu")
    yield solver
    solver.close()


def request(registry, sha, settings=SHORT, **options):
    return SolveRequest.for_problem(resolve_version(registry, sha[:8]), find_problem("math-04"), settings, **options)


def run_count(registry):
    with unit_of_work(registry) as session:
        return session.scalar(select(func.count()).select_from(SolveRun))


def served(registry, run_id):
    """(cache hits, last served) of one logged run."""
    with unit_of_work(registry) as session:
        row = session.get(SolveRun, run_id)
        return row.cache_hits, row.last_served_at


def test_side_by_side_streams_both_at_once(registry, solver):
    long = SamplingSettings(max_new_tokens=300, seed=1)
    seen: dict[str, list[float]] = {"a": [], "b": []}
    results = {}
    for side, event in solver.stream_many({"a": request(registry, SHA_A, long), "b": request(registry, SHA_B, long)}):
        if isinstance(event, Chunk):
            seen[side].append(time.monotonic())
        elif isinstance(event, Finished):
            results[side] = event.result
    assert set(results) == {"a", "b"}
    assert results["a"].version_sha == SHA_A and results["b"].version_sha == SHA_B
    assert results["a"].output != results["b"].output  # two different models answered
    # Both were generating at the same time: each started before the other ended.
    assert seen["a"][0] < seen["b"][-1] and seen["b"][0] < seen["a"][-1]
    for result in results.values():
        assert result.tokens and result.tokens_per_second and result.time_to_first_token_s is not None
        assert result.run_id is not None and not result.cached


def test_stream_yields_chunks_then_one_result(registry, solver):
    events = list(solver.stream(request(registry, SHA_A)))
    phases = [e.phase for e in events if isinstance(e, Progress)]
    assert phases == ["loading", "generating", "grading"]
    assert isinstance(events[-1], Finished) and sum(isinstance(e, Finished) for e in events) == 1
    result = events[-1].result
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == result.output
    assert result.prompt.endswith("within \\boxed{}.") and result.expected == "443"
    assert result.correct is False and "no \\boxed{} answer" in result.grade_detail  # a random model


def test_identical_requests_are_answered_from_the_log(registry, solver):
    first = solver.solve(request(registry, SHA_A))
    assert served(registry, first.run_id) == (0, None)
    events = list(solver.stream(request(registry, SHA_A)))
    again = events[-1].result
    # Served without loading the model or generating again (what makes it fast; bench_solve measures speed).
    assert [e.phase for e in events if isinstance(e, Progress)] == ["cached"]
    assert [e.text for e in events if isinstance(e, Chunk)] == [first.output]
    assert again.cached and not first.cached
    assert (again.output, again.run_id, again.tokens) == (first.output, first.run_id, first.tokens)
    assert Progress("cached", "answered from the solve log") in events
    assert run_count(registry) == 1
    hits, once = served(registry, first.run_id)
    assert hits == 1 and first.created_at < once
    solver.solve(request(registry, SHA_A))
    hits, twice = served(registry, first.run_id)
    assert hits == 2 and twice >= once


def test_hits_served_at_once_are_all_counted(registry, solver):
    first = solver.solve(request(registry, SHA_A))
    with ThreadPoolExecutor(max_workers=8) as pool:  # page sessions serving the same run concurrently
        answers = list(pool.map(lambda _: serve_cached(registry, first.cache_key), range(16)))
    assert all(answer is not None and answer.cached for answer in answers)
    assert served(registry, first.run_id)[0] == 16
    # Any change to the request is a different request.
    assert not solver.solve(request(registry, SHA_A, SHORT.with_(seed=1))).cached
    assert run_count(registry) == 2


def test_a_fresh_run_replaces_the_cached_one(registry, solver):
    first = solver.solve(request(registry, SHA_A))
    assert solver.solve(request(registry, SHA_A)).cached
    assert served(registry, first.run_id)[0] == 1
    fresh = solver.solve(request(registry, SHA_A, fresh=True))
    assert not fresh.cached and fresh.created_at > first.created_at
    assert fresh.output == first.output  # seeded: generated again, the same answer
    assert run_count(registry) == 1
    assert served(registry, fresh.run_id) == (0, None)  # generated, not served: the new run starts uncounted
    assert solver.solve(request(registry, SHA_A)).created_at == fresh.created_at
    assert served(registry, fresh.run_id)[0] == 1


def test_closing_the_stream_stops_and_logs_a_stopped_run(registry, solver):
    long = SamplingSettings(max_new_tokens=2000)
    stream = solver.stream(request(registry, SHA_A, long))
    for event in stream:
        if isinstance(event, Chunk):
            break
    stream.close()  # what an interrupted page or Ctrl-C does
    deadline = time.monotonic() + 10
    while run_count(registry) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    with unit_of_work(registry) as session:
        row = session.scalars(select(SolveRun)).one()
        assert row.stopped and row.tokens < 2000
    assert serve_cached(registry, row.cache_key) is None  # a stopped run never answers a repeat...
    assert served(registry, row.id) == (0, None)  # ...so it is never counted as served either
    again = solver.solve(request(registry, SHA_A, long))
    assert not again.cached and not again.stopped
    assert served(registry, again.run_id) == (0, None)


def test_self_consistency_draws_k_samples_in_one_run(registry, solver):
    result = solver.solve(request(registry, SHA_A, SHORT.with_(samples=3)))
    assert result.mode == "vote" and len(result.sample_outputs) == 3
    assert result.output.startswith("=== sample 1 of 3 ===")
    assert result.agreement == 0.0 and result.grade_detail == "no answer in any of 3 samples"
    assert 3 <= result.tokens <= 3 * 24
    with unit_of_work(registry) as session:
        row = session.scalars(select(SolveRun)).one()
        assert (row.mode, row.settings["samples"], row.agreement) == ("vote", 3, 0.0)


def test_a_missing_model_fails_its_side_only(registry, solver):
    events = list(solver.stream_many({"a": request(registry, SHA_A), "b": request(registry, SHA_GONE),
                                      "c": request(registry, SHA_NONE)}))
    failures = {side: e for side, e in events if isinstance(e, Failed)}
    finished = {side for side, e in events if isinstance(e, Finished)}
    assert finished == {"a"} and set(failures) == {"b", "c"}
    assert isinstance(failures["b"].error, ModelLoadError)
    assert failures["b"].message.startswith(f"model reference {registry.url.database.rsplit('/', 1)[0]}/gone "
                                            f"for version {SHA_GONE[:7]} cannot be found")
    assert failures["b"].message.endswith(f"set it with `python -m vibedash record --commit {SHA_GONE[:7]} "
                                          "--model PATH_OR_HUB_ID`")
    assert failures["c"].message == (f"version {SHA_NONE[:7]} has no model reference: set it with "
                                     f"`python -m vibedash record --commit {SHA_NONE[:7]} --model PATH_OR_HUB_ID`")
    with pytest.raises(ModelLoadError):
        solver.solve(request(registry, SHA_GONE))


def test_a_crash_in_the_worker_is_raised_to_the_caller(registry, solver, tmp_path):
    broken = save_tiny_model(tmp_path / "small-vocab", vocab_size=50)  # embedding lookup fails in generate
    with unit_of_work(registry) as session:
        session.add(Version(sha="e5" * 20, model_ref=str(broken)))
    with pytest.raises(IndexError):
        solver.solve(request(registry, "e5" * 20))
    assert run_count(registry) == 0


def test_versions_are_found_by_commit_prefix(registry):
    assert resolve_version(registry, SHA_A[:4]).sha == SHA_A
    assert resolve_version(registry, SHA_A.upper()[:10]).short == SHA_A[:7]
    with pytest.raises(VersionLookupError, match="no version with commit ffff"):
        resolve_version(registry, "ffff")
    with unit_of_work(registry) as session:
        session.add(Version(sha=SHA_A[:10] + "f" * 30))
    with pytest.raises(VersionLookupError, match="is ambiguous"):
        resolve_version(registry, SHA_A[:6])
    with pytest.raises(SolveInputError, match="not a commit"):
        resolve_version(registry, "main")
    assert [v.sha for v in list_versions(registry)][-1] == SHA_A


def test_recent_runs_list_what_was_asked(registry, solver):
    first = solver.solve(request(registry, SHA_A))
    solver.solve(SolveRequest(version=resolve_version(registry, SHA_B[:6]), question="What is 1+1?", expected="2",
                              settings=SHORT))
    solver.solve(request(registry, SHA_A))  # answered from the log
    newest, older = recent_runs(registry, limit=5)
    assert (newest.version, newest.mode, newest.reusable) == (SHA_B[:7], "single", True)
    assert (newest.cache_hits, newest.last_served_at) == (0, None)
    assert older.cache_hits == 1 and older.last_served_at > older.created_at
    assert newest.problem.startswith("What is 1+1? Let's think") and newest.problem.endswith("…")
    assert (older.version, older.problem) == (SHA_A[:7], "math-04")
    assert [r.version for r in recent_runs(registry, version_ids=[first.version_id])] == [SHA_A[:7]]


def test_the_solve_page_path_does_not_import_torch():
    # Other pages stay fast: torch and transformers load only when a local model is asked for.
    probe = ("import sys; import vibedash.solve.engine, vibedash.solve.command, vibedash.ui.solve_view; "
             "print(sorted(m for m in ('torch', 'transformers', 'math_verify') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
