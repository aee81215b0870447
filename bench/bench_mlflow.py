"""vibedash against MLflow (tracking store + model registry on SQLite), the same versions in both.

    pip install -r bench/requirements.txt          # MLflow: a benchmark dependency, never vibedash's
    python bench/bench_mlflow.py                    # 100,000 versions, 5 runs per query
    python bench/bench_mlflow.py --versions 20000 --runs 3 --ingest 100

The vibedash registry is bench/scale_data.py's (seeded, bulk-built). The same versions go into MLflow as
runs (start time = the version's time; tags sha, branch; one metric per benchmark score, in ``metrics`` and
``latest_metrics`` as MLflow's own logging writes them) and as versions of one registered model with the
aliases ``live`` and ``best``. Bulk rows go straight into MLflow's tables (its schema made by MLflow itself)
so that loading 100,000 runs takes seconds; ingestion is timed separately through both public APIs.

Queries, each as a page or the CLI would ask it (a new session each time), median of --runs after a warm-up:

    newest 50 with scores         history_page (plus the benchmarks present)   search_runs order by start_time
    aime25 >= 70, newest first    history_page with a minimum                    search_runs metrics.aime25 >= 70
    one version by commit         find_version + headline scores                 search_runs tags.sha = ...
    live + best candidate         live_now + best_candidate (with the gate)      two alias lookups + their runs
    full record + audit trail     version_detail (deploys, results, events)      get_run + its model versions
    ingestion (per version)       record + import 4 scores + audit event         create_run + log_batch +
                                                                                  model version + terminate
Prints each time and the ratio vibedash / MLflow (below 1: vibedash is faster; 0.10 = ten times faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scale_data import BENCHMARKS, Shape, live_sha, newest_sha, sha_of  # noqa: E402

MODEL = "vibethinker"


def median_ms(run: Callable[[], object], runs: int) -> float:
    run()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


# --- MLflow -------------------------------------------------------------------------------------------------

def load_mlflow(path: Path, registry_db: Path, shape: Shape, best: str | None):
    """MLflow on SQLite with every version of the vibedash registry as a run and a model version."""
    import sqlite3

    import mlflow
    from mlflow import MlflowClient

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{path}")
    client = MlflowClient(tracking_uri=f"sqlite:///{path}", registry_uri=f"sqlite:///{path}")
    experiment = client.create_experiment("vibethinker", artifact_location=str(path.parent / "mlartifacts"))
    client.create_registered_model(MODEL)
    source = sqlite3.connect(registry_db)
    rows = source.execute("SELECT v.id, v.sha, v.branch, v.created_at, r.benchmark, r.score FROM version v "
                          "JOIN benchmark_result r ON r.version_id = v.id AND r.is_primary = 1 ORDER BY v.id")
    conn = sqlite3.connect(path)
    began = time.perf_counter()
    runs, tags, metrics, versions = [], [], [], []
    seen: dict[int, str] = {}
    for vid, sha, branch, created, bench, score in rows:
        run_id = f"{vid:032x}"
        ms = int(time.mktime(time.strptime(created[:19], "%Y-%m-%d %H:%M:%S")) * 1000)
        if vid not in seen:
            seen[vid] = run_id
            runs.append((run_id, f"v{vid}", "LOCAL", "bench", "", "bench", "FINISHED", ms, ms + 1, sha, "active",
                         f"/tmp/mlartifacts/{run_id}", experiment))
            tags += [("sha", sha, run_id), ("branch", branch, run_id), ("mlflow.runName", f"v{vid}", run_id)]
            versions.append((MODEL, vid, ms, ms, "bench", "None", f"runs:/{run_id}/model", run_id, "READY",
                             f"runs:/{run_id}/model"))
        metrics.append((bench, score, ms, 0, 0, run_id))
    with conn:
        conn.executemany("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
                         "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
                         "experiment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
        conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        conn.executemany("INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
                         "VALUES (?, ?, ?, ?, ?, ?)", metrics)
        conn.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                         "VALUES (?, ?, ?, ?, ?, ?)", metrics)
        conn.executemany("INSERT INTO model_versions (name, version, creation_time, last_updated_time, user_id, "
                         "current_stage, source, run_id, status, storage_location) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", versions)
    conn.execute("ANALYZE")
    conn.close()
    by_sha = {sha: vid for vid, sha in source.execute("SELECT id, sha FROM version")}
    source.close()
    client.set_registered_model_alias(MODEL, "live", str(by_sha[live_sha(shape)]))
    if best:
        client.set_registered_model_alias(MODEL, "best", str(by_sha[best]))
    print(f"  MLflow: loaded {len(runs):,} runs, {len(metrics):,} metrics, {len(versions):,} model versions in "
          f"{time.perf_counter() - began:.1f} s")
    return client, experiment


def mlflow_queries(client, experiment: str, shape: Shape) -> dict[str, Callable[[], object]]:
    sha = newest_sha(shape)
    newest_order = ["attributes.start_time DESC"]

    def newest() -> object:
        found = client.search_runs([experiment], order_by=newest_order, max_results=50)
        assert len(found) == 50
        return found

    def filtered() -> object:
        return client.search_runs([experiment], "metrics.aime25 >= 70", order_by=newest_order, max_results=50)

    def by_commit() -> object:
        found = client.search_runs([experiment], f"tags.sha = '{sha}'", max_results=1)
        assert found and found[0].data.tags["sha"] == sha
        return found

    def live_and_best() -> object:
        out = []
        for alias in ("live", "best"):
            version = client.get_model_version_by_alias(MODEL, alias)
            out.append((version, client.get_run(version.run_id).data.metrics))
        return out

    def full_record() -> object:
        run = client.search_runs([experiment], f"tags.sha = '{sha}'", max_results=1)[0]
        return run, client.search_model_versions(f"run_id = '{run.info.run_id}'")

    return {"newest 50 with scores": newest, "aime25 >= 70, newest first": filtered,
            "one version by commit": by_commit, "live + best candidate": live_and_best,
            "full record + audit trail": full_record}


def mlflow_ingest(client, experiment: str, n: int) -> float:
    from mlflow.entities import Metric, RunTag

    began = time.perf_counter()
    for k in range(n):
        sha = sha_of(10_000_000 + k)
        run = client.create_run(experiment, start_time=int(time.time() * 1000), tags={"sha": sha, "branch": "main"})
        now = int(time.time() * 1000)
        client.log_batch(run.info.run_id, metrics=[Metric(b, 60.0 + k % 7, now, 0) for b in BENCHMARKS],
                         tags=[RunTag("source", "bench")])
        client.set_terminated(run.info.run_id)
        client.create_model_version(MODEL, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return (time.perf_counter() - began) * 1000 / n


# --- vibedash -----------------------------------------------------------------------------------------------

def vibedash_queries(engine, shape: Shape) -> dict[str, Callable[[], object]]:
    from vibedash.decisions.gate import DEFAULT_POLICY
    from vibedash.registry import queries
    from vibedash.registry import records as registry
    from vibedash.registry.db import unit_of_work

    sha = newest_sha(shape)

    def newest() -> object:
        with unit_of_work(engine) as session:
            rows, _ = registry.history_page(session, registry.benchmarks_in_registry(session), page_size=50)
        assert len(rows) == 50
        return rows

    def filtered() -> object:
        with unit_of_work(engine) as session:
            return registry.history_page(session, registry.benchmarks_in_registry(session),
                                         registry.HistoryFilter(minimums={"aime25": 70.0}), page_size=50)

    def by_commit() -> object:
        with unit_of_work(engine) as session:
            version = registry.find_version(session, sha)
            return version.sha, registry.primary_scores(session, [version.id])

    def live_and_best() -> object:
        with unit_of_work(engine) as session:
            live = queries.live_now(session)
            best = queries.best_candidate(session, DEFAULT_POLICY, queries.lead_benchmark(session))
        assert live is not None and best is not None
        return live, best

    def full_record() -> object:
        with unit_of_work(engine) as session:
            return queries.version_detail(session, sha)

    return {"newest 50 with scores": newest, "aime25 >= 70, newest first": filtered,
            "one version by commit": by_commit, "live + best candidate": live_and_best,
            "full record + audit trail": full_record}


def vibedash_ingest(engine, n: int) -> float:
    from vibedash.importers.base import ParsedResult
    from vibedash.registry import records as registry
    from vibedash.registry.audit import record_event_in
    from vibedash.registry.db import unit_of_work

    began = time.perf_counter()
    for k in range(n):
        sha = sha_of(10_000_000 + k)
        # What `import --create` does: the version, its results and the audit line in one transaction.
        with unit_of_work(engine) as session:
            version = registry.record_version(session, sha, branch="main")
            registry.import_results(session, version, [
                ParsedResult(benchmark=b, score=60.0 + k % 7, problems=30, samples_per_problem=8,
                             source_format="bench") for b in BENCHMARKS], source_file="bench.json")
            record_event_in(session, kind="import", actor="bench", target=sha, version_sha=sha,
                            detail={"results": 4})
    return (time.perf_counter() - began) * 1000 / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ingest", type=int, default=200, help="versions ingested through each API (timed)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vibedash-mlflow")
    args = parser.parse_args(argv)
    try:
        import mlflow  # noqa: F401
    except ImportError:
        parser.error("MLflow is not installed: pip install -r bench/requirements.txt (in a virtual environment "
                     "of its own if you like: it is a benchmark dependency only)")
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from bench_scale import registry_for

    from vibedash.decisions.gate import DEFAULT_POLICY
    from vibedash.registry import queries
    from vibedash.registry.db import open_registry, unit_of_work

    args.workdir.mkdir(parents=True, exist_ok=True)
    shape = Shape(args.versions)
    print(f"{args.versions:,} versions in both:")
    # A copy of its own: the ingestion below adds versions, and bench_scale's registries stay as built.
    db = registry_for(args.workdir, "mlflow-side", shape, rebuild=True)
    engine = open_registry(f"sqlite:///{db}")
    with unit_of_work(engine) as session:
        best = queries.best_candidate(session, DEFAULT_POLICY, queries.lead_benchmark(session))
    client, experiment = load_mlflow(args.workdir / "mlflow.db", db, shape, best.sha if best else None)

    ours, theirs = vibedash_queries(engine, shape), mlflow_queries(client, experiment, shape)
    rows = [(name, median_ms(ours[name], args.runs), median_ms(theirs[name], args.runs)) for name in ours]
    rows.append(("ingestion, per version", vibedash_ingest(engine, args.ingest), mlflow_ingest(client, experiment,
                                                                                                 args.ingest)))
    # After ingestion: every query again, now that the registry has just changed (no cached value helps).
    changed = [(name + " (just after a write)", _after_write(ours[name], engine), median_ms(theirs[name], 1))
               for name in ("live + best candidate",)]
    rows += changed
    width = max(len(name) for name, *_ in rows) + 2
    print(f"\n{'query':<{width}}{'vibedash ms':>13}{'MLflow ms':>12}{'ratio':>9}{'faster':>9}")
    for name, mine, other in rows:
        print(f"{name:<{width}}{mine:>13.2f}{other:>12.2f}{mine / other:>9.3f}{other / mine:>8.1f}x")
    print("\nratio: vibedash / MLflow (below 1: vibedash faster); faster: how many times faster vibedash is")
    return 0


def _after_write(query: Callable[[], object], engine) -> float:
    """One read right after a registry write (an audit event), so no value cached for the old state serves it."""
    from vibedash.registry.audit import record_event

    times = []
    for _ in range(3):
        record_event(engine, kind="note", actor="bench", reason="invalidate")
        began = time.perf_counter()
        query()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    raise SystemExit(main())
