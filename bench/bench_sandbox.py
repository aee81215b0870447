"""Per-run cost of the code sandbox: a tiny program (read two numbers, print their sum) run N times through
``run_python``, next to the same program run as a plain ``python -I`` subprocess (the floor any sandbox pays).

    python bench/bench_sandbox.py [--runs 30] [--fallback]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vibedash.solve.sandbox import SandboxLimits, isolation_summary, run_python

PROGRAM = "a, b = map(int, input().split())\nprint(a + b)\n"


def timed(run, runs: int) -> tuple[list[float], float]:
    """Wall-clock seconds of each run, and the mean CPU seconds the run's processes used (steadier than wall
    time on a busy machine)."""
    times = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / runs
    return times, cpu


def plain_python() -> None:
    done = subprocess.run([sys.executable, "-I", "-c", PROGRAM], input="2 3\n", capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "5", done.stderr


def sandboxed(limits: SandboxLimits) -> None:
    result = run_python(PROGRAM, "2 3\n", limits)
    assert result.ok and result.stdout.strip() == "5", result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--fallback", action="store_true", help="the fallback used where namespaces are refused")
    args = parser.parse_args()
    limits = SandboxLimits(namespaces=not args.fallback)
    sandboxed(limits)  # warm-up: probes the kernel once per process
    plain, plain_cpu = timed(plain_python, args.runs)
    boxed, boxed_cpu = timed(lambda: sandboxed(limits), args.runs)
    median_plain, median_boxed = statistics.median(plain), statistics.median(boxed)
    print(f"isolation: {isolation_summary(limits)}")
    print(f"plain python -I subprocess: median {median_plain * 1000:.1f} ms, best {min(plain) * 1000:.1f} ms, "
          f"CPU {plain_cpu * 1000:.1f} ms ({args.runs} runs)")
    print(f"sandboxed run_python:       median {median_boxed * 1000:.1f} ms, best {min(boxed) * 1000:.1f} ms, "
          f"CPU {boxed_cpu * 1000:.1f} ms")
    print(f"sandbox overhead per run:   {(median_boxed - median_plain) * 1000:.1f} ms wall (median difference), "
          f"{(boxed_cpu - plain_cpu) * 1000:.1f} ms CPU")


if __name__ == "__main__":
    main()
