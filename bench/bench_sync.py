"""Netlify sync cost: requests and time for a first and a repeated sync of N simulated deploys.

    python bench/bench_sync.py [--deploys 5000]

Runs against the loopback Netlify simulator and a fresh SQLite registry in a temp folder. The baseline
in the same process is a naive sync that reads every page every time (what a full sync does).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vibedash.netlify.client import NetlifyClient  # noqa: E402
from vibedash.netlify.simulator import NetlifySimulator  # noqa: E402
from vibedash.netlify.sync import sync_site  # noqa: E402
from vibedash.registry.db import open_registry  # noqa: E402

TOKEN = "bench-token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, NetlifySimulator(token=TOKEN) as sim:
        sim.create_site("bench", site_id="site-bench")
        sim.seed(args.deploys, "site-bench")
        engine = open_registry(f"sqlite:///{Path(folder) / 'bench.db'}")
        client = NetlifyClient(TOKEN, site_id="site-bench", api_url=sim.api_url)
        rows = []
        for label, full in (("first sync", None), ("repeated sync, nothing new", None),
                            ("repeated full sync (baseline)", True)):
            start = time.perf_counter()
            report = sync_site(engine, client, "site-bench", actor="bench", full=full)
            rows.append((label, report.requests, report.seen, time.perf_counter() - start))
        for i in range(30):
            sim.add_deploy("site-bench", commit_ref=f"{i:040x}", title=f"new build {i}")
        start = time.perf_counter()
        report = sync_site(engine, client, "site-bench", actor="bench")
        rows.insert(2, ("repeated sync, 30 new deploys", report.requests, report.seen, time.perf_counter() - start))
    print(f"{args.deploys} simulated deploys, per_page=100")
    print(f"{'sync':<32} {'requests':>8} {'deploys read':>13} {'seconds':>8}")
    for label, requests, seen, seconds in rows:
        print(f"{label:<32} {requests:>8} {seen:>13} {seconds:>8.2f}")
    baseline = rows[-1][1]
    print(f"repeated sync costs {rows[1][1]} requests vs {baseline} for re-reading everything "
          f"({baseline / rows[1][1]:.0f}x fewer)")


if __name__ == "__main__":
    main()
