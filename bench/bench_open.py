"""What the safety checks cost when a registry is opened, and what backup takes, on a big SQLite registry.

    python bench/bench_open.py                    # 100,000 versions (the History benchmark's registry), 5 runs
    python bench/bench_open.py --versions 20000 --runs 3

Opening checks the file header and runs PRAGMA quick_check (files up to 256 MB); this prints the median time
of that check alone, of a whole open_registry (check + schema revision), of a `backup` (online copy plus the
integrity check of the copy) and of the file size, so the threshold can be judged against real numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, insert, select  # noqa: E402

from vibedash.registry.db import open_registry  # noqa: E402
from vibedash.registry.models import BenchmarkResult, Deploy, Version  # noqa: E402
from vibedash.registry.sqlite_file import check_file, inspect_file, online_copy  # noqa: E402


def open_or_build(path: Path, n_versions: int):
    """A registry of ``n_versions`` versions, each with a deploy and three scores (bulk Core inserts)."""
    engine = open_registry(f"sqlite:///{path}")
    with engine.connect() as conn:
        if conn.scalar(select(func.count()).select_from(Version)) == n_versions:
            return engine
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = open_registry(f"sqlite:///{path}")
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        for first in range(1, n_versions + 1, 10_000):
            ids = range(first, min(first + 10_000, n_versions + 1))
            when = [start + timedelta(minutes=10 * i) for i in ids]
            conn.execute(insert(Version.__table__), [
                {"id": i, "sha": hashlib.sha1(str(i).encode()).hexdigest(), "branch": "main",
                 "message": f"step {i}", "synthetic": True, "created_at": t} for i, t in zip(ids, when, strict=True)])
            conn.execute(insert(Deploy.__table__), [
                {"id": i, "netlify_id": hashlib.md5(str(i).encode()).hexdigest()[:24], "site_id": "bench",
                 "version_id": i, "state": "ready", "created_at": t, "locked": False, "is_live": False,
                 "pinned": False} for i, t in zip(ids, when, strict=True)])
            conn.execute(insert(BenchmarkResult.__table__), [
                {"version_id": i, "benchmark": b, "metric": "pass@1", "score": 50.0 + (i % 40), "is_primary": True,
                 "source_format": "bench", "imported_at": t}
                for i, t in zip(ids, when, strict=True) for b in ("aime25", "hmmt25", "lcb_v6")])
    return engine


def median_ms(run, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None, help="registry file to build or reuse")
    args = parser.parse_args(argv)
    path = args.db or Path(tempfile.gettempdir()) / f"vibedash-bench-{args.versions}.db"
    open_or_build(path, args.versions).dispose()
    url = f"sqlite:///{path}"
    backup = path.with_name(path.name + ".bench-backup")

    def open_once() -> None:
        open_registry(url).dispose()

    def backup_once() -> None:
        online_copy(path, backup)
        inspect_file(backup)

    print(f"registry: {args.versions:,} versions, {path.stat().st_size / 1_048_576:.1f} MB")
    print(f"header + quick_check at open: {median_ms(lambda: check_file(path), args.runs):8.1f} ms (median of "
          f"{args.runs})")
    print(f"open_registry (checks + schema revision): {median_ms(open_once, args.runs):8.1f} ms")
    print(f"backup (online copy + integrity check of the copy): {median_ms(backup_once, args.runs):8.1f} ms")
    backup.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
