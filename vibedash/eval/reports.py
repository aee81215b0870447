"""What a recorded result says beyond its score: the cost of a correct answer and the k-curves, read from its
per-problem sample summaries and answer histograms (or an import's per-problem counts) for `show --json`, the
eval command's summary and the pages. Every read is O(problems) rows, whatever the registry holds; the curves
(bootstrap bands, exact maj@k) are computed once per distinct input and kept in a small in-process cache keyed
by that input itself, so a rerun, another page or a new registry generation that left the result alone reuses
them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vibedash.bounded_cache import BoundedCache
from vibedash.decisions.cost import cost_figures, frontier
from vibedash.decisions.kcurves import KCurve, curves_for, histogram
from vibedash.registry.models import BenchmarkResult, ProblemResult, Version
from vibedash.registry.samples import (
    answer_histograms,
    cost_inputs,
    has_answers,
    per_problem_counts,
    sample_totals,
)
from vibedash.solve.answers import vote_key

CURVE_CACHE_SIZE = 256  # results' curves kept (a few kB each)
CURVES = BoundedCache(CURVE_CACHE_SIZE)  # keyed by a result's whole input, not by registry generation


_vote_key = lru_cache(maxsize=65_536)(vote_key)  # a page normalises thousands of answers, mostly repeats


def result_curves(session: Session, result: BenchmarkResult, *, n_boot: int = 2_000) -> dict[str, KCurve]:
    """pass@k and pass^k from the per-problem sample counts (else the per-problem counts an import gave),
    maj@k from the answer histograms where samples have extracted answers."""
    counts = per_problem_counts(session, result.id)
    if not counts:
        counts = {p: (c, n) for p, c, n in session.execute(
            select(ProblemResult.problem_id, ProblemResult.correct, ProblemResult.samples)
            .where(ProblemResult.result_id == result.id))}
    histograms = None
    if has_answers(session, result.id):
        histograms = {problem: histogram(h.answers, h.samples, key=_vote_key)
                      for problem, h in answer_histograms(session, result.id).items()}
    key = (n_boot, tuple(sorted(counts.items())),
           tuple(sorted((p, n, tuple(sorted(pairs))) for p, (n, pairs) in histograms.items())) if histograms else None)
    return CURVES.get(key, lambda: curves_for(counts, histograms=histograms, n_boot=n_boot))


def result_cost(session: Session, result: BenchmarkResult) -> dict[str, Any] | None:
    return _cost_of(result, sample_totals(session, [result.id]).get(result.id))


def _cost_of(result: BenchmarkResult, totals) -> dict[str, Any] | None:
    inputs = cost_inputs(result, totals)
    return cost_figures(inputs).as_dict() if inputs is not None else None


def result_report(session: Session, result_id: int, *, n_boot: int = 2_000) -> dict[str, Any] | None:
    result = session.get(BenchmarkResult, result_id)
    if result is None:
        return None
    totals = sample_totals(session, [result.id]).get(result.id)
    settings = result.settings or {}
    return {
        "benchmark": result.benchmark, "metric": result.metric, "score": result.score, "stderr": result.stderr,
        "primary": result.is_primary, "problems": result.problems, "samples_per_problem": result.samples_per_problem,
        "protocol": settings.get("protocol") or {k: v for k, v in (
            ("temperature", result.temperature), ("top_p", result.top_p), ("max_tokens", result.max_tokens)) if v is not None},
        "thinking_budget": settings.get("thinking_budget"),
        "samples": totals.samples if totals else 0,
        "cut_by_token_cap": totals.cut_by_cap if totals else 0,
        "cost": _cost_of(result, totals),
        "k_curves": {metric: curve.as_dict() for metric, curve in result_curves(session, result, n_boot=n_boot).items()},
    }


def version_reports(session: Session, version_id: int, *, n_boot: int = 1_000) -> list[dict[str, Any]]:
    """A report per result of the version that has per-problem or per-sample data, headline results first."""
    results = session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version_id)
                              .order_by(BenchmarkResult.benchmark, BenchmarkResult.is_primary.desc(),
                                        BenchmarkResult.metric)).all()
    reports = []
    for result in results:
        report = result_report(session, result.id, n_boot=n_boot)
        if report is not None and (report["k_curves"] or report["cost"]):
            reports.append(report)
    return reports


def _primary_results(session: Session, shas: Sequence[str]) -> list[tuple[str, BenchmarkResult]]:
    rows = session.execute(select(Version.sha, BenchmarkResult).join(BenchmarkResult,
                                                                     BenchmarkResult.version_id == Version.id)
                           .where(Version.sha.in_(list(shas)), BenchmarkResult.is_primary.is_(True))).all()
    order = {sha: i for i, sha in enumerate(shas)}
    return sorted(((sha, result) for sha, result in rows), key=lambda item: (order[item[0]], item[1].benchmark))


def compare_costs(session: Session, shas: Sequence[str]) -> list[dict[str, Any]]:
    """The cost of a correct answer of each version's headline results (those with samples), with whether the
    version is on the accuracy-vs-tokens frontier of its benchmark."""
    pairs = _primary_results(session, shas)
    totals = sample_totals(session, [result.id for _, result in pairs])
    rows = []
    for sha, result in pairs:
        inputs = cost_inputs(result, totals.get(result.id))
        if inputs is None:
            continue
        rows.append({"sha": sha, "benchmark": result.benchmark, "score": result.score,
                     **cost_figures(inputs).as_dict()})
    for benchmark in {row["benchmark"] for row in rows}:
        mine = [row for row in rows if row["benchmark"] == benchmark and row["mean_output_tokens"] is not None]
        best = set(frontier([(row["sha"], row["mean_output_tokens"], row["score"]) for row in mine]))
        for row in rows:
            if row["benchmark"] == benchmark:
                row["on_frontier"] = row["sha"] in best
    return rows


def compare_curves(session: Session, shas: Sequence[str], benchmark: str, *, n_boot: int = 1_000
                   ) -> list[dict[str, Any]]:
    """Long-form k-curve points (sha, metric, k, estimate, low, high) of each version's headline result on
    ``benchmark``: what the Compare page charts."""
    rows = []
    for sha, result in _primary_results(session, shas):
        if result.benchmark != benchmark:
            continue
        for metric, curve in result_curves(session, result, n_boot=n_boot).items():
            rows += [{"sha": sha, "metric": metric, "k": p.k, "estimate": p.estimate, "low": p.low, "high": p.high}
                     for p in curve.points]
    return rows


def budget_sweep(session: Session, version_id: int) -> list[dict[str, Any]]:
    """Accuracy and length against the thinking budget: one row per budgeted result (eval --thinking-budget)."""
    results = session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version_id,
                                                            BenchmarkResult.metric.like("pass@1:budget=%"))).all()
    totals = sample_totals(session, [r.id for r in results])
    rows = []
    for result in results:
        budget = int(result.metric.rsplit("=", 1)[1])
        inputs = cost_inputs(result, totals.get(result.id))
        figures = cost_figures(inputs).as_dict() if inputs is not None else {}
        rows.append({"benchmark": result.benchmark, "budget": budget, "score": result.score,
                     "mean_output_tokens": figures.get("mean_output_tokens"),
                     "mean_thinking_tokens": figures.get("mean_thinking_tokens")})
    return sorted(rows, key=lambda row: (row["benchmark"], row["budget"]))
