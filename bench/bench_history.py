"""How fast is the History page on a big registry? Paged SQL against a naive load-everything baseline.

    python bench/bench_history.py                  # 100,000 versions, 5 runs each
    python bench/bench_history.py --versions 20000 --runs 3 --db /tmp/bench.db

Builds the registry once (bulk Core inserts through the real migrations' schema) and reuses it on later runs
(same path and size). Each version gets one deploy and headline scores on 3 or 4 benchmarks; about one in 200
deploys was live once, with its promotion in the audit log. Prints the median time of each query the page
runs, a full AppTest run of the page (cold cache and warm cache), and the naive baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, insert, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vibedash.registry import records as registry  # noqa: E402
from vibedash.registry.db import open_registry, unit_of_work  # noqa: E402
from vibedash.registry.models import BenchmarkResult, Deploy, Event, Version  # noqa: E402
from vibedash.registry import queries  # noqa: E402
from vibedash.registry.records import HistoryFilter  # noqa: E402
from vibedash.ui import frame  # noqa: E402

BENCHMARKS = ("aime24", "aime25", "hmmt25", "lcb_v6")
BRANCHES = ("main", "main", "main", "exp/longer-rl", "exp/code-mix", "exp/distill")
PAGE_SIZE = 50
LIVE_EVERY = 200
CHUNK = 10_000


# --- building the registry --------------------------------------------------------------------------------

def build(engine: Engine, n_versions: int, seed: int = 7) -> None:
    """Bulk-insert ``n_versions`` versions with deploys, scores and promotions (Core executemany, no ORM)."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    step = timedelta(minutes=10)
    live_index = ((n_versions - 1) // LIVE_EVERY) * LIVE_EVERY
    with engine.begin() as conn:
        for first in range(0, n_versions, CHUNK):
            ids = range(first + 1, min(first + CHUNK, n_versions) + 1)
            versions, deploys, results, events = [], [], [], []
            for vid in ids:
                i = vid - 1
                created = start + step * i
                sha = hashlib.sha1(f"bench-{i}".encode()).hexdigest()
                branch = BRANCHES[i % len(BRANCHES)]
                versions.append({"id": vid, "sha": sha, "branch": branch, "message": f"step {i}: bench version",
                                 "synthetic": True, "created_at": created})
                published = created + timedelta(hours=1) if i % LIVE_EVERY == 0 else None
                deploy_id = hashlib.md5(f"deploy-{i}".encode()).hexdigest()[:24]
                deploys.append({
                    "id": vid, "netlify_id": deploy_id, "site_id": "bench-site", "version_id": vid,
                    "commit_ref": sha, "state": "error" if i % 37 == 0 else "ready",
                    "context": "production" if branch == "main" else "branch-deploy", "branch": branch,
                    "title": f"step {i}", "permalink": f"https://{deploy_id}--bench.netlify.app",
                    "url": "https://bench.netlify.app", "created_at": created, "published_at": published,
                    "locked": i == live_index, "is_live": i == live_index, "pinned": False})
                skill = 40 + 40 * i / n_versions
                for bench in BENCHMARKS[: 3 + (i % 2)]:
                    results.append({"version_id": vid, "benchmark": bench, "metric": "pass@1",
                                    "score": round(min(100.0, max(0.0, rng.gauss(skill, 4))), 4), "problems": 30,
                                    "samples_per_problem": 8, "temperature": 0.6, "is_primary": True,
                                    "source_format": "bench", "imported_at": created})
                if published is not None:
                    events.append({"kind": "promote", "target": deploy_id, "version_sha": sha, "actor": "bench",
                                   "status": "succeeded", "override": False, "started_at": published,
                                   "finished_at": published})
            conn.execute(insert(Version.__table__), versions)
            conn.execute(insert(Deploy.__table__), deploys)
            conn.execute(insert(BenchmarkResult.__table__), results)
            if events:
                conn.execute(insert(Event.__table__), events)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")


def open_or_build(path: Path, n_versions: int) -> Engine:
    engine = open_registry(f"sqlite:///{path}")
    with unit_of_work(engine) as session:
        have = session.scalar(select(func.count()).select_from(Version)) or 0
    if have == n_versions:
        print(f"reusing {path} ({have:,} versions)")
        return engine
    if have:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        engine = open_registry(f"sqlite:///{path}")
    began = time.perf_counter()
    build(engine, n_versions)
    print(f"built {path}: {n_versions:,} versions in {time.perf_counter() - began:.1f} s")
    return engine


# --- timing -----------------------------------------------------------------------------------------------

def median_ms(run: Callable[[], object], runs: int) -> float:
    run()  # warm the SQLite page cache: we measure queries, not the first disk read
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def page_query(engine: Engine, flt: HistoryFilter, page: int) -> Callable[[], object]:
    def run() -> object:
        with unit_of_work(engine) as session:
            rows, total = registry.history_page(session, list(BENCHMARKS), flt, page=page, page_size=PAGE_SIZE)
        assert rows and total
        return rows
    return run


def timeline_query(engine: Engine) -> Callable[[], object]:
    def run() -> object:
        with unit_of_work(engine) as session:
            rows = registry.score_timeline(session, list(BENCHMARKS), limit=200)
            periods = registry.live_periods(session)
            changes = queries.live_changes(session, since=min(r["created_at"] for r in rows))
        return rows, periods, changes
    return run


def naive_first_page(engine: Engine) -> Callable[[], object]:
    """The obvious way: every version with its scores and latest deploy into pandas, then sort and slice."""
    def run() -> object:
        with engine.connect() as conn:
            versions = pd.read_sql("SELECT id, sha, branch, message, created_at FROM version", conn)
            scores = pd.read_sql("SELECT version_id, benchmark, score FROM benchmark_result WHERE is_primary = 1",
                                 conn)
            deploys = pd.read_sql("SELECT version_id, state, context, permalink, is_live, created_at AS deployed "
                                  "FROM deploy", conn)
        wide = scores.pivot_table(index="version_id", columns="benchmark", values="score")
        latest = deploys.sort_values("deployed").groupby("version_id").tail(1).set_index("version_id")
        table = (versions.merge(wide, left_on="id", right_index=True, how="left")
                 .merge(latest, left_on="id", right_index=True, how="left"))
        return table.sort_values("created_at", ascending=False).head(PAGE_SIZE)
    return run


def apptest_run(db_url: str, *, cold: bool) -> Callable[[], object]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["VIBEDASH_DB_URL"] = db_url
    os.chdir(tempfile.mkdtemp(prefix="vibedash-bench-cwd-"))  # no checkout secrets or policy files
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).switch_page(frame.HISTORY)

    def run() -> object:
        if cold:
            st.cache_data.clear()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.dataframe[0].value) == PAGE_SIZE
        return at
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=100_000, help="versions in the registry (default 100,000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement; the median is shown")
    parser.add_argument("--db", type=Path, help="registry file (default: a file in the temp folder, reused)")
    args = parser.parse_args(argv)
    if args.versions < PAGE_SIZE * 3:
        parser.error(f"--versions must be at least {PAGE_SIZE * 3} so that there is a middle page")
    path = args.db or Path(tempfile.gettempdir()) / f"vibedash-bench-{args.versions}.db"
    engine = open_or_build(path, args.versions)
    with unit_of_work(engine) as session:
        total = session.scalar(select(func.count()).select_from(Version))
    middle = max(1, (total // PAGE_SIZE) // 2)
    filtered = HistoryFilter(branch="main", minimums={"aime25": 60.0})

    measurements: list[tuple[str, float]] = [
        ("history_page, page 1", median_ms(page_query(engine, HistoryFilter(), 1), args.runs)),
        (f"history_page, page {middle:,} (middle)", median_ms(page_query(engine, HistoryFilter(), middle), args.runs)),
        ("history_page, branch=main and AIME25 >= 60", median_ms(page_query(engine, filtered, 1), args.runs)),
        ("timeline (200 versions, live periods, promotions)", median_ms(timeline_query(engine), args.runs)),
        ("AppTest: History page, cold cache", median_ms(apptest_run(f"sqlite:///{path}", cold=True), args.runs)),
        ("AppTest: History page, warm cache", median_ms(apptest_run(f"sqlite:///{path}", cold=False), args.runs)),
    ]
    naive = median_ms(naive_first_page(engine), max(1, min(args.runs, 3)))
    paged = measurements[0][1]

    print(f"\nHistory page on {total:,} versions (median of {args.runs} runs, ms)")
    width = max(len(name) for name, _ in measurements) + 2
    for name, ms in measurements:
        print(f"  {name:<{width}}{ms:>9.1f}")
    print(f"  {'naive: everything into pandas, first page':<{width}}{naive:>9.1f}")
    print(f"\n  naive / paged (first page): {naive / paged:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
