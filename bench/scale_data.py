"""A seeded generator of big registries for the scale benchmarks (bench_scale.py, bench_mlflow.py).

    build_registry(path, Shape(versions=100_000, deploys=1_000_000, events=1_000_000))

The schema comes from the real migrations (open_registry); the rows go in through the DBAPI's executemany in
chunks of tuples (no ORM, nothing held for the whole registry), so a million deploys take seconds. The same
seed gives the same registry. Every version is scored on three or four benchmarks; versions are spread over
branches; one deploy in ``PUBLISH_EVERY`` versions was published once (with its promotion in the audit log)
and the newest published one is live; old deploys are mostly expired (gone from Netlify), as Netlify's own
retention leaves them; the newest versions carry per-problem results so Version and Compare have work to do.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

BENCHMARKS = ("aime24", "aime25", "hmmt25", "lcb_v6")
BRANCHES = ("main", "main", "main", "exp/longer-rl", "exp/code-mix", "exp/distill")
ACTORS = ("ci", "alice", "bob", "carol", "retention-bot")
EVENT_KINDS = ("import", "sync", "gate", "pin", "import", "trigger")
PUBLISH_EVERY = 200
PROBLEM_VERSIONS = 40  # the newest versions carry per-problem results (30 problems a benchmark)
CHUNK = 50_000
START = datetime(2022, 1, 1, tzinfo=timezone.utc)
STEP = timedelta(minutes=10)
SITE_ID = "bench-site"


@dataclass(frozen=True)
class Shape:
    versions: int
    deploys: int | None = None  # default: one per version
    events: int | None = None  # default: the promotions only

    @property
    def n_deploys(self) -> int:
        return max(self.deploys or self.versions, self.versions)

    @property
    def label(self) -> str:
        parts = [f"{self.versions}v"]
        if self.deploys:
            parts.append(f"{self.n_deploys}d")
        if self.events:
            parts.append(f"{self.events}e")
        return "-".join(parts)


def sha_of(i: int) -> str:
    return hashlib.sha1(f"bench-version-{i}".encode()).hexdigest()


def deploy_id_of(j: int) -> str:
    return hashlib.md5(f"bench-deploy-{j}".encode()).hexdigest()[:24]


def _stamps(first: datetime, step: timedelta, n: int) -> Iterator[str]:
    """``n`` evenly spaced stamps without a datetime per row's formatting cost beyond isoformat."""
    moment = first.astimezone(timezone.utc).replace(tzinfo=None)
    for _ in range(n):
        yield moment.isoformat(sep=" ", timespec="microseconds")
        moment += step


def stamp(moment: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text (UTC, no zone), what the registry's UTCDateTime stores."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def version_time(i: int) -> datetime:
    return START + STEP * i


def live_version(shape: Shape) -> int:
    return ((shape.versions - 1) // PUBLISH_EVERY) * PUBLISH_EVERY


def score_of(rng: random.Random, i: int, n: int) -> float:
    skill = 40 + 40 * i / max(1, n)
    return round(min(100.0, max(0.0, rng.gauss(skill, 4))), 4)


def _chunks(rows: Iterator[tuple], size: int = CHUNK) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _versions(shape: Shape) -> Iterator[tuple]:
    for i in range(shape.versions):
        branch = BRANCHES[i % len(BRANCHES)]
        yield (i + 1, sha_of(i), branch, f"step {i}: bench version on {branch}", None, 1, stamp(version_time(i)))


def _results(shape: Shape, seed: int) -> Iterator[tuple]:
    rng = random.Random(seed)
    rid = 0
    for i in range(shape.versions):
        created = stamp(version_time(i) + timedelta(minutes=5))
        for bench in BENCHMARKS[: 3 + (i % 2)]:
            rid += 1
            yield (rid, i + 1, bench, "pass@1", score_of(rng, i, shape.versions), 30 if bench != "lcb_v6" else 131,
                   8, 0.6, 1, "bench", created)


def _problem_results(shape: Shape, seed: int) -> Iterator[tuple]:
    """Per-problem outcomes for the newest versions: result ids follow _results' numbering."""
    rng = random.Random(seed + 1)
    first = max(0, shape.versions - PROBLEM_VERSIONS)
    rid = sum(3 + (i % 2) for i in range(first))
    pid = 0
    for i in range(first, shape.versions):
        for bench in BENCHMARKS[: 3 + (i % 2)]:
            rid += 1
            if bench == "lcb_v6":
                continue
            for p in range(30):
                pid += 1
                yield pid, rid, f"{bench}-{p:03d}", 8, rng.randint(0, 8)


def _deploys(shape: Shape, seed: int) -> Iterator[tuple]:
    """Deploy j belongs to version j * versions // deploys: spread evenly, newest deploys on newest versions."""
    rng = random.Random(seed + 2)
    n, m = shape.versions, shape.n_deploys
    live = live_version(shape)
    live_deploy = None
    for j in range(m):
        i = j * n // m
        first_of_version = (j == 0) or ((j - 1) * n // m != i)
        branch = BRANCHES[i % len(BRANCHES)]
        created = version_time(i) + timedelta(seconds=7 * (j - (i * m + n - 1) // n))
        age_fraction = i / max(1, n)
        state = "error" if rng.random() < 0.03 and not (first_of_version and i == live) else "ready"
        # Netlify's own retention has removed most old deploys; the newest tenth is all still there.
        expired = stamp(created + timedelta(days=90)) if age_fraction < 0.9 and rng.random() < 0.8 else None
        published = (stamp(created + timedelta(hours=1)) if first_of_version and i % PUBLISH_EVERY == 0
                     and state == "ready" else None)
        is_live = first_of_version and i == live and state == "ready" and live_deploy is None
        if is_live:
            live_deploy = j
            expired = None
            published = stamp(created + timedelta(hours=1))
        if published:
            expired = None
        context = "production" if branch == "main" else ("branch-deploy" if j % 3 else "deploy-preview")
        did = deploy_id_of(j)
        yield (j + 1, did, SITE_ID, i + 1, sha_of(i), state, context, branch, f"step {i}",
               f"https://{did}--bench.netlify.app", "https://bench.netlify.app", stamp(created), published,
               int(is_live), int(is_live), 0, expired)


def _events(shape: Shape, seed: int) -> Iterator[tuple]:
    """Promotions of every published deploy, then filler events (imports, syncs, gates, pins) to ``events``."""
    rng = random.Random(seed + 3)
    n, m = shape.versions, shape.n_deploys
    eid = 0
    previous = None
    for j in range(m):
        i = j * n // m
        if ((j == 0) or ((j - 1) * n // m != i)) and i % PUBLISH_EVERY == 0:
            eid += 1
            at = stamp(version_time(i) + timedelta(hours=1))
            verdict = json.dumps({"passed": True, "policy": "default", "summary": "passed"})
            yield (eid, "promote", deploy_id_of(j), sha_of(i), previous, "ci", "bench promotion", verdict, 0,
                   "succeeded", None, None, at, at)
            previous = deploy_id_of(j)
    total = max(shape.events or 0, eid)
    filler = total - eid
    step = (version_time(n) - START) / max(1, filler)
    verdicts = (json.dumps({"passed": False, "policy": "default"}), json.dumps({"passed": True, "policy": "default"}))
    for k, moment in enumerate(_stamps(START, step, filler)):
        eid += 1
        kind = EVENT_KINDS[k % len(EVENT_KINDS)]
        i = rng.randrange(n)
        about_version = kind in ("import", "gate")
        target = sha_of(i) if about_version else SITE_ID if kind == "sync" else deploy_id_of(rng.randrange(m))
        verdict = verdicts[rng.random() < 0.3] if kind == "gate" else None
        status = "failed" if rng.random() < 0.02 else "succeeded"
        yield (eid, kind, target, sha_of(i) if about_version else None, None, ACTORS[k % len(ACTORS)], None,
               verdict, 0, status, None, None, moment, moment)


INSERTS = {
    "version": ("INSERT INTO version (id, sha, branch, message, model_ref, synthetic, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", _versions),
    "benchmark_result": ("INSERT INTO benchmark_result (id, version_id, benchmark, metric, score, problems, "
                         "samples_per_problem, temperature, is_primary, source_format, imported_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _results),
    "problem_result": ("INSERT INTO problem_result (id, result_id, problem_id, samples, correct) "
                       "VALUES (?, ?, ?, ?, ?)", _problem_results),
    "deploy": ("INSERT INTO deploy (id, netlify_id, site_id, version_id, commit_ref, state, context, branch, title, "
               "permalink, url, created_at, published_at, locked, is_live, pinned, expired_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _deploys),
    "event": ("INSERT INTO event (id, kind, target, version_sha, previous_live, actor, reason, verdict, override, "
              "status, error, detail, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              _events),
}


def build_registry(path: Path, shape: Shape, *, seed: int = 7) -> dict[str, float]:
    """Create the registry at ``path`` (replacing it) through the real migrations, then bulk-insert ``shape``.

    Returns seconds per table. The open goes through vibedash.registry.db.open_registry so the schema (and
    any summary the code maintains) is exactly what the app opens.
    """
    from vibedash.registry.db import open_registry

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    open_registry(f"sqlite:///{path}").dispose()
    timings: dict[str, float] = {}
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    with conn:
        conn.execute("INSERT INTO site (id, name, url, published_deploy_id, last_synced_at) VALUES (?, ?, ?, ?, ?)",
                     (SITE_ID, "bench", "https://bench.netlify.app", deploy_id_of(0), stamp(datetime.now(timezone.utc))))
    # Secondary indexes are built once, after the rows are in (sorting once beats a million B-tree inserts).
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                           f"AND tbl_name IN ({', '.join('?' * len(INSERTS))})", list(INSERTS)).fetchall()
    # The summary triggers (migration 0011) would recompute a version's figures per row inserted; the summary
    # is refilled in one pass after the load instead (_after_bulk_load), and the triggers come back with it.
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    with conn:
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
    for table, (sql, rows) in INSERTS.items():
        began = time.perf_counter()
        with conn:
            for batch in _chunks(rows(shape) if table == "version" else rows(shape, seed)):
                conn.executemany(sql, batch)
        timings[table] = time.perf_counter() - began
    began = time.perf_counter()
    with conn:
        for _, create in indexes + triggers:
            conn.execute(create)
    timings["indexes"] = time.perf_counter() - began
    began = time.perf_counter()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    timings["analyze"] = time.perf_counter() - began
    began = time.perf_counter()
    _after_bulk_load(path)
    timings["summaries"] = time.perf_counter() - began
    return timings


def _after_bulk_load(path: Path) -> None:
    """Tell the registry its tables changed behind its back (the bulk load bypassed the app's writers)."""
    try:
        from vibedash.registry.generation import rebuild_after_bulk_load
    except ImportError:  # code from before the registry kept summaries: nothing to refresh
        return
    from vibedash.registry.db import create_registry_engine

    engine = create_registry_engine(f"sqlite:///{path}")
    try:
        rebuild_after_bulk_load(engine)
    finally:
        engine.dispose()


def newest_sha(shape: Shape) -> str:
    return sha_of(shape.versions - 1)


def live_sha(shape: Shape) -> str:
    return sha_of(live_version(shape))
