"""Fault-injection matrix: every action x every failure point, judged by the simulator's real end state.

    python bench/bench_fault_matrix.py [--action promote@restore ...] [--verbose]

Prints the number of fault cases tried and how many ended inconsistent (goal 0): an audit event left
`started`, an exit code that contradicts the audit, an audit that contradicts Netlify, a retry that does not
finish the job or repeats a write, a registry that disagrees with Netlify after success, or the token in an
audit row. The rules are written out in tests/fault_matrix.py, which tests/test_action_faults.py also runs.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fault_matrix import ACTIONS, FAILURE_POINTS, run_matrix  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--action", action="append", choices=ACTIONS, help="only these actions (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    parser.add_argument("--postgres-server", metavar="URL", help="run on PostgreSQL: a server URL such as "
                        "postgresql+psycopg://user@127.0.0.1:5432 (one database is created per case)")
    args = parser.parse_args()
    started = time.perf_counter()
    cases = run_matrix(tuple(args.action or ACTIONS), FAILURE_POINTS, postgres_server=args.postgres_server)
    elapsed = time.perf_counter() - started
    if args.verbose:
        for case in cases:
            print(f"{'BAD' if case.problems else 'ok '} {case.action:18} {case.point:25} "
                  f"first={case.first_status}/{case.first_exit} retry={case.retry_status}/{case.retry_exit} "
                  + "; ".join(case.problems))
    outcomes = collections.Counter(case.first_status or "no event" for case in cases)
    retried = [case for case in cases if case.retry_exit is not None]
    print(f"registry: {'PostgreSQL' if args.postgres_server else 'SQLite'}; actions: "
          f"{len({c.action for c in cases})}, failure points: {len(FAILURE_POINTS)}")
    print(f"fault cases tried: {len(cases)}")
    print("first-run outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"retries needed: {len(retried)}, retries that finished (or refused cleanly): "
          f"{sum(c.retry_status in ('succeeded', 'refused', None) for c in retried)}")
    print(f"inconsistent end states: {sum(bool(c.problems) for c in cases)}")
    print(f"time: {elapsed:.1f} s")


if __name__ == "__main__":
    main()
