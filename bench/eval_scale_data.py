"""A seeded generator of per-sample registries for bench_eval.py: the bulk path for millions of samples.

    build_sample_registry(path, versions=100)   # 100 versions x 6 benchmarks x 30-400 problems x 64 samples

Every version is evaluated on the same six benchmarks (30 to 400 problems, 1,563 in all) at k = 64, so a
version carries 100,032 samples and 100 versions about ten million. Versions, deploys (one live) and audit
events come from bench/scale_data.py's generators, so the Overview and Promote pages have their usual work;
each result has its per-problem counts (problem_result) and its samples.

The bulk path: the schema comes from the real migrations (open_registry); rows go in through sqlite3's
executemany of plain tuples, one transaction per chunk, with the rollback journal off and a large page cache
(a crash mid-build leaves a file to delete, which a benchmark can afford); secondary indexes are dropped first
and built once at the end; then the per-problem summaries and answer histograms are rebuilt from the samples
with the same SQL the application uses (vibedash.registry.samples.refresh_summaries, in one transaction), the
planner statistics refreshed and the registry generation bumped. Samples are realistic in shape: a per-problem
difficulty, a few distinct wrong answers, some samples cut by the token cap without an answer, lengths that
grow when the model is wrong.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scale_data

K = 64
BENCHMARKS = (("aime25", 30), ("hmmt25", 150), ("gpqa_diamond", 198), ("lcb_v6", 385), ("math500", 400),
              ("omni_math", 400))
SAMPLES_PER_VERSION = K * sum(problems for _, problems in BENCHMARKS)  # 100,032
CHUNK = 100_000
# The sample columns the bulk path writes, by name: a column added later (nullable) is simply left NULL here.
SAMPLE_COLUMNS = ("result_id", "problem_id", "sample_index", "answer", "correct", "output_tokens",
                  "thinking_tokens", "latency_s", "finish_reason")
CAP = 32_768


def versions_for(samples: int) -> int:
    """How many versions give about ``samples`` samples (at least one)."""
    return max(1, round(samples / SAMPLES_PER_VERSION))


def _results(versions: int, seed: int) -> Iterator[tuple]:
    rng = random.Random(seed)
    rid = 0
    for i in range(versions):
        created = scale_data.stamp(scale_data.version_time(i))
        for benchmark, problems in BENCHMARKS:
            rid += 1
            yield (rid, i + 1, benchmark, "pass@1", scale_data.score_of(rng, i, versions), problems, K, 0.6, 1,
                   "bench_eval", created, '{"generation_seconds": 3600.0, "energy_joules": 2500000.0}')


def _result_samples(rng: np.random.Generator, rid: int, version: int, versions: int, problems: int
                    ) -> tuple[list[tuple], list[tuple]]:
    """One result's samples (problems x 64, drawn all at once) and its per-problem counts."""
    skill = 0.35 + 0.3 * version / max(1, versions)
    p_right = np.clip(skill + 0.5 - rng.beta(2, 2, problems), 0.01, 0.99)[:, None]
    right = rng.random((problems, K)) < p_right
    cut = (~right) & (rng.random((problems, K)) < 0.08)  # ran into the token cap: no answer
    distractors = 1 + rng.integers(0, 5, problems)[:, None]
    wrong = (rng.random((problems, K)) * distractors).astype(int)
    weights = rng.integers(2_000, 9_000, problems)[:, None] * (1 + 0.6 * ~right)  # wrong answers think longer
    tokens = np.where(cut, CAP, np.minimum(CAP - 1, (weights * rng.lognormal(0, 0.35, (problems, K))).astype(int)))
    thinking = (tokens * 0.85).astype(int)
    latency = np.round(tokens / 2_500.0, 3)
    problem = np.arange(problems)[:, None]
    answer_code = np.where(cut, -1, np.where(right, 100 + problem, 200 + problem + 17 * wrong))
    names = [f"p{p:03d}" for p in range(problems)]
    rows = [(rid, names[p], i, None if code < 0 else str(code), ok, t, th, lat, "length" if c else "stop")
            for p, (codes, oks, ts, ths, lats, cs) in enumerate(zip(
                answer_code.tolist(), right.astype(int).tolist(), tokens.tolist(), thinking.tolist(),
                latency.tolist(), cut.tolist()))
            for i, (code, ok, t, th, lat, c) in enumerate(zip(codes, oks, ts, ths, lats, cs))]
    counts = [(rid, names[p], K, int(c)) for p, c in enumerate(right.sum(axis=1).tolist())]
    return rows, counts


def _samples_and_counts(versions: int, seed: int) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Per result: (sample rows, problem_result rows), result ids numbered as _results numbers them."""
    rng = np.random.default_rng(seed)
    rid = 0
    for i in range(versions):
        for _, problems in BENCHMARKS:
            rid += 1
            yield _result_samples(rng, rid, i, versions, problems)


def build_sample_registry(path: Path, versions: int, *, seed: int = 7) -> dict[str, float]:
    """Create the registry at ``path`` (replacing it) with ``versions`` evaluated versions. Returns seconds
    per step and the number of samples written (``samples``)."""
    from vibedash.registry.db import open_registry, unit_of_work
    from vibedash.registry.generation import rebuild_after_bulk_load
    from vibedash.registry.samples import refresh_summaries

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    open_registry(f"sqlite:///{path}").dispose()
    shape = scale_data.Shape(versions=versions, deploys=versions * 2, events=versions * 20)
    timings: dict[str, float] = {}
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1048576")  # 1 GiB
    conn.execute("PRAGMA temp_store=MEMORY")
    tables = ("version", "deploy", "event", "benchmark_result", "problem_result", "sample_result",
              "sample_summary", "sample_answer_count")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                           f"AND tbl_name IN ({', '.join('?' * len(tables))})", tables).fetchall()
    began = time.perf_counter()
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.execute("INSERT INTO site (id, name, url, published_deploy_id) VALUES (?, ?, ?, ?)",
                 (scale_data.SITE_ID, "bench", "https://bench.netlify.app", scale_data.deploy_id_of(0)))
    for table in ("version", "deploy", "event"):
        sql, rows = scale_data.INSERTS[table]
        conn.executemany(sql, rows(shape) if table == "version" else rows(shape, seed))
    conn.executemany("INSERT INTO benchmark_result (id, version_id, benchmark, metric, score, problems, "
                     "samples_per_problem, temperature, is_primary, source_format, imported_at, settings) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _results(versions, seed))
    conn.execute("COMMIT")
    timings["versions, deploys, events, results"] = time.perf_counter() - began

    began = time.perf_counter()
    insert_sample = (f"INSERT INTO sample_result ({', '.join(SAMPLE_COLUMNS)}) "
                     f"VALUES ({', '.join('?' * len(SAMPLE_COLUMNS))})")
    written, pending, pending_counts = 0, [], []
    for samples, counts in _samples_and_counts(versions, seed):
        pending += samples
        pending_counts += counts
        if len(pending) >= CHUNK:
            _write(conn, insert_sample, pending, pending_counts)
            written += len(pending)
            pending, pending_counts = [], []
    if pending:
        _write(conn, insert_sample, pending, pending_counts)
        written += len(pending)
    timings["samples"] = time.perf_counter() - began

    began = time.perf_counter()
    conn.execute("BEGIN")
    for _, create in indexes:
        conn.execute(create)
    conn.execute("COMMIT")
    timings["indexes"] = time.perf_counter() - began
    conn.execute("PRAGMA journal_mode=WAL")  # what the application opens it with
    conn.close()

    began = time.perf_counter()
    from vibedash.registry.db import create_registry_engine

    engine = create_registry_engine(f"sqlite:///{path}")
    try:
        with unit_of_work(engine) as session:
            session.connection().exec_driver_sql("PRAGMA cache_size=-1048576")
            refresh_summaries(session)  # every result, from its samples
        timings["summaries"] = time.perf_counter() - began
        began = time.perf_counter()
        rebuild_after_bulk_load(engine)  # a new generation, fresh planner statistics
        timings["analyze"] = time.perf_counter() - began
    finally:
        engine.dispose()
    timings["samples_written"] = written
    return timings


def _write(conn: sqlite3.Connection, insert_sample: str, samples: list[tuple], counts: list[tuple]) -> None:
    conn.execute("BEGIN")
    conn.executemany(insert_sample, samples)
    conn.executemany("INSERT INTO problem_result (result_id, problem_id, samples, correct) VALUES (?, ?, ?, ?)",
                     counts)
    conn.execute("COMMIT")


def sha_of(version: int) -> str:
    return scale_data.sha_of(version)
