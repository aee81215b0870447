"""Do the gate and Compare tell noise from improvement? A seeded simulation through the product's own code.

    python bench/bench_noise.py            # 1500 replicates per cell (a few minutes on 2 cores)
    python bench/bench_noise.py --quick    # 300 replicates per cell (about a minute)
    python bench/bench_noise.py --speed    # only the interval code's speed (10,000 resamples of 500 problems)

Simulated versions have known true per-problem solve probabilities. A benchmark of n problems is drawn
from a population of problems whose difficulty on the logit scale is Normal(0.4, 2.0²) (mean accuracy about
57%, many problems nearly always or never solved, as on AIME); the live version solves problem i with
probability p_i, the candidate with expit(logit p_i + θ + ε_i), ε_i ~ Normal(0, 0.25²) (a change helps some
problems more than others), with θ set so that the population's true difference is exactly δ points. Each
version draws k samples per problem. Every cell (n ∈ {30, 60, 400} × k ∈ {1, 8, 64} × δ ∈ {−3, 0, +3, +6})
runs the same replicates through:

- the built-in default policy (vibedash.decisions.gate.DEFAULT_POLICY) and the rule "aime25 significant",
  evaluated by vibedash.decisions.gate.evaluate against the simulated live version;
- the naive rule "+2 points on the headline" (what the noise-blind gate did), for comparison;
- the interval of vibedash.decisions.gate.compare_results: its coverage of the true δ, and zero-width intervals.

Then Compare (vibedash.registry.queries.compare_versions) on four benchmarks at once (AIME24, AIME25,
HMMT25 at 30 problems, LCB v6 at 131) with no true change: how often any benchmark is marked ▲ or ▼.
Last, the minimum detectable effect the product shows (DiffInterval.mde, at 80% power) against the true
difference at which "significant" is simulated to pass 80% of the time (AIME size, k = 1, 8, 64).

First, the speed of the interval code itself: the percentile bootstrap (10,000 resamples, score and paired)
and the paired t interval with its exact test, on 500 problems of 64 samples.

The false-improvement rate of a cell with δ ≤ 0 is the share of truly equal or worse candidates that pass.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vibedash.decisions.bootstrap import bootstrap_score_ci, paired_bootstrap_ci  # noqa: E402
from vibedash.decisions.facts import ScoreFact, VersionFacts  # noqa: E402
from vibedash.decisions.gate import DEFAULT_POLICY, compare_results, evaluate, policy_from_strings  # noqa: E402
from vibedash.decisions.stats import paired_diff_ci  # noqa: E402
from vibedash.registry.queries import compare_versions  # noqa: E402

MU, SIGMA, TAU = 0.4, 2.0, 0.25
SIZES = (30, 60, 400)
SAMPLES = (1, 8, 64)
DELTAS = (-3.0, 0.0, 3.0, 6.0)
SIGNIFICANT = policy_from_strings(["aime25 significant"], name="significant")
NAIVE_BAR = 2.0
COMPARE_BENCHMARKS = (("aime24", 30), ("aime25", 30), ("hmmt25", 30), ("lcb_v6", 131))


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class Population:
    """The population of problems, and the shift θ that gives a true difference of δ points."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed + 1_000_003)
        self.difficulty = MU + SIGMA * rng.normal(size=400_000)
        self.jitter = TAU * rng.normal(size=400_000)
        self.base = float(expit(self.difficulty).mean())
        self._cache: dict[float, float] = {}

    def shift(self, delta_points: float) -> float:
        if delta_points not in self._cache:
            target, low, high = delta_points / 100, -8.0, 8.0
            for _ in range(60):
                middle = (low + high) / 2
                gain = float(expit(self.difficulty + middle + self.jitter).mean()) - self.base
                low, high = (middle, high) if gain < target else (low, middle)
            self._cache[delta_points] = (low + high) / 2
        return self._cache[delta_points]


def draw_pair(rng: np.random.Generator, population: Population, benchmark: str, n: int, k: int,
              delta: float) -> tuple[ScoreFact, ScoreFact]:
    """(live, candidate) results on one freshly drawn benchmark of n problems, k samples each."""
    logit = MU + SIGMA * rng.normal(size=n)
    p_live = expit(logit)
    p_candidate = expit(logit + population.shift(delta) + TAU * rng.normal(size=n))
    live_correct, candidate_correct = rng.binomial(k, p_live), rng.binomial(k, p_candidate)

    def fact(correct: np.ndarray) -> ScoreFact:
        per_problem = {f"{benchmark}-{i:03d}": (int(c), k) for i, c in enumerate(correct)}
        return ScoreFact(benchmark, 100.0 * float(correct.sum()) / (n * k), problems=n, samples_per_problem=k,
                         temperature=0.6, per_problem=per_problem)

    return fact(live_correct), fact(candidate_correct)


def run_cell(rng: np.random.Generator, population: Population, n: int, k: int, delta: float,
             replicates: int) -> dict[str, float]:
    passed_default = passed_significant = passed_naive = covered = zero_width = 0
    mde = []
    for _ in range(replicates):
        old, new = draw_pair(rng, population, "aime25", n, k, delta)
        live, candidate = VersionFacts("a" * 40, {"aime25": old}), VersionFacts("b" * 40, {"aime25": new})
        passed_default += evaluate(DEFAULT_POLICY, candidate, live).passed
        passed_significant += evaluate(SIGNIFICANT, candidate, live).passed
        passed_naive += new.score - old.score >= NAIVE_BAR
        interval = compare_results(old, new)
        covered += interval.low <= delta <= interval.high
        zero_width += interval.high - interval.low <= 1e-9
        mde.append(interval.mde)
    return {"default": passed_default / replicates, "significant": passed_significant / replicates,
            "naive": passed_naive / replicates, "coverage": covered / replicates, "zero_width": zero_width,
            "mde": float(np.mean(mde))}


def compare_false_marks(rng: np.random.Generator, population: Population, k: int, replicates: int) -> tuple[float, float]:
    """(share of comparisons with any ▲ or ▼, share with any ▲) over four benchmarks with no true change."""
    any_mark = any_up = 0
    for _ in range(replicates):
        live, candidate = {}, {}
        for bench, n in COMPARE_BENCHMARKS:
            live[bench], candidate[bench] = draw_pair(rng, population, bench, n, k, 0.0)
        comparison = compare_versions([VersionFacts("a" * 40, live), VersionFacts("b" * 40, candidate)])
        verdicts = {d.verdict for d in comparison.diffs}
        any_mark += bool(verdicts & {"better", "worse"})
        any_up += "better" in verdicts
    return any_mark / replicates, any_up / replicates


def power_point(rng: np.random.Generator, population: Population, n: int, k: int, mde: float,
                replicates: int) -> float:
    """The true δ at which "significant" passes 80% of the time (linear interpolation on a grid around mde)."""
    grid = [f * mde for f in (0.6, 0.8, 1.0, 1.2, 1.4, 1.8)]
    powers = []
    for delta in grid:
        passes = 0
        for _ in range(replicates):
            old, new = draw_pair(rng, population, "aime25", n, k, min(delta, 40.0))
            passes += evaluate(SIGNIFICANT, VersionFacts("b" * 40, {"aime25": new}),
                               VersionFacts("a" * 40, {"aime25": old})).passed
        powers.append(passes / replicates)
    for (d0, p0), (d1, p1) in zip(zip(grid, powers), zip(grid[1:], powers[1:])):
        if p0 <= 0.8 <= p1 and p1 > p0:
            return d0 + (0.8 - p0) * (d1 - d0) / (p1 - p0)
    return math.nan if powers[-1] < 0.8 else grid[0]


def interval_speed(runs: int = 5) -> dict[str, float]:
    """Best-of-``runs`` seconds of each interval on 500 problems of 64 samples (10,000 bootstrap resamples)."""
    a = {f"p{i}": ((i * 37) % 65, 64) for i in range(500)}
    b = {f"p{i}": (i % 65, 64) for i in range(500)}
    timed = {"bootstrap score, 10,000 resamples": lambda: bootstrap_score_ci(a, n_boot=10_000),
             "paired bootstrap, 10,000 resamples": lambda: paired_bootstrap_ci(a, b, n_boot=10_000),
             "paired t interval + exact test": lambda: paired_diff_ci(a, b)}
    best = {}
    for name, run in timed.items():
        run()  # warm up numpy
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        best[name] = min(times)
    return best


def print_interval_speed() -> None:
    print("Interval speed, 500 problems x 64 samples (best of 5):")
    for name, seconds in interval_speed().items():
        print(f"  {name}: {1000 * seconds:.1f} ms")
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 replicates per cell instead of 1500")
    parser.add_argument("--replicates", type=int, help="replicates per cell (overrides --quick)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--speed", action="store_true", help="print only the interval code's speed")
    args = parser.parse_args(argv)
    print_interval_speed()
    if args.speed:
        return 0
    replicates = args.replicates or (300 if args.quick else 1500)
    rng = np.random.default_rng(args.seed)
    population = Population(args.seed)
    started = time.perf_counter()
    print(f"bench_noise: seed {args.seed}, {replicates} replicates per cell; pass rates in %, "
          f"default policy = {'; '.join(DEFAULT_POLICY.as_strings())}")
    print("FI = false improvement: the share of candidates with true δ ≤ 0 that pass (worst of δ = -3 and 0); "
          "power = share passing at the true δ; coverage = the 95% CI of Δ covers the true δ (lowest-highest of the "
          "four δ); MDE = the minimum detectable effect the product shows (80% power, mean at δ = 0).\n")
    header = (f"{'n':>4} {'k':>3} | {'FI default':>10} {'FI signif':>9} {'FI +2 naive':>11} | "
              f"{'pow+3 def':>9} {'pow+3 sig':>9} {'pow+3 +2':>8} | {'pow+6 def':>9} {'pow+6 sig':>9} "
              f"{'pow+6 +2':>8} | {'coverage':>11} {'zero-w':>6} | {'MDE':>5}")
    print(header)
    print("-" * len(header))
    worst = {"fi_default": 0.0, "fi_significant": 0.0, "coverage_low": 1.0, "coverage_high": 0.0, "zero": 0}
    for n in SIZES:
        for k in SAMPLES:
            cells = {delta: run_cell(rng, population, n, k, delta, replicates) for delta in DELTAS}
            fi = {rule: max(cells[-3.0][rule], cells[0.0][rule]) for rule in ("default", "significant", "naive")}
            coverage = [cells[d]["coverage"] for d in DELTAS]
            zero = sum(cells[d]["zero_width"] for d in DELTAS)
            worst["fi_default"] = max(worst["fi_default"], fi["default"])
            worst["fi_significant"] = max(worst["fi_significant"], fi["significant"])
            worst["coverage_low"] = min(worst["coverage_low"], *coverage)
            worst["coverage_high"] = max(worst["coverage_high"], *coverage)
            worst["zero"] += zero
            print(f"{n:>4} {k:>3} | {100 * fi['default']:>10.1f} {100 * fi['significant']:>9.1f} "
                  f"{100 * fi['naive']:>11.1f} | {100 * cells[3.0]['default']:>9.1f} "
                  f"{100 * cells[3.0]['significant']:>9.1f} {100 * cells[3.0]['naive']:>8.1f} | "
                  f"{100 * cells[6.0]['default']:>9.1f} {100 * cells[6.0]['significant']:>9.1f} "
                  f"{100 * cells[6.0]['naive']:>8.1f} | {100 * min(coverage):>5.1f}-{100 * max(coverage):<5.1f} "
                  f"{zero:>6d} | "
                  f"{cells[0.0]['mde']:>5.1f}", flush=True)
    print(f"\nworst cell: FI default {100 * worst['fi_default']:.1f}%, FI significant "
          f"{100 * worst['fi_significant']:.1f}%, coverage {100 * worst['coverage_low']:.1f}% to "
          f"{100 * worst['coverage_high']:.1f}%, zero-width intervals {worst['zero']}")

    print("\nCompare, four benchmarks together (AIME24, AIME25, HMMT25 at 30 problems, LCB v6 at 131), "
          "no true change:")
    for k in SAMPLES:
        marked, up = compare_false_marks(rng, population, k, replicates)
        print(f"  k = {k:>2}: any ▲/▼ in {100 * marked:.1f}% of comparisons, any ▲ in {100 * up:.1f}%", flush=True)

    print("\nMinimum detectable effect shown (mean DiffInterval.mde at δ = 0) vs the simulated 80%-power point "
          "of 'significant', AIME size (n = 30):")
    for k in SAMPLES:
        shown = run_cell(rng, population, 30, k, 0.0, max(100, replicates // 4))["mde"]
        simulated = power_point(rng, population, 30, k, shown, max(100, replicates // 2))
        print(f"  k = {k:>2}: MDE shown {shown:.1f} points, simulated 80% power at {simulated:.1f} points "
              f"(difference {shown - simulated:+.1f})", flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
