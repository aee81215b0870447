"""What a recorded result says beyond its score: the cost of a correct answer and the k-curves, read from its
stored samples (or per-problem counts) for `show --json`, the eval command's summary and the pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vibedash.decisions.cost import cost_figures
from vibedash.decisions.kcurves import KCurve, curves_for
from vibedash.registry.models import BenchmarkResult, ProblemResult
from vibedash.registry.samples import cost_inputs, has_answers, per_problem_counts, sample_answers, sample_totals
from vibedash.solve.answers import vote_key


def result_curves(session: Session, result: BenchmarkResult, *, n_boot: int = 2_000) -> dict[str, KCurve]:
    """pass@k and pass^k from per-sample counts (else the per-problem counts an import gave), maj@k where
    samples have extracted answers."""
    counts = per_problem_counts(session, result.id)
    if not counts:
        counts = {p: (c, n) for p, c, n in session.execute(
            select(ProblemResult.problem_id, ProblemResult.correct, ProblemResult.samples)
            .where(ProblemResult.result_id == result.id))}
    answers = sample_answers(session, result.id) if has_answers(session, result.id) else None
    return curves_for(counts, answers, key=vote_key, n_boot=n_boot)


def result_cost(session: Session, result: BenchmarkResult) -> dict[str, Any] | None:
    inputs = cost_inputs(result, sample_totals(session, [result.id]).get(result.id))
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
        "cost": result_cost(session, result),
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
