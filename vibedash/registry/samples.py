"""Per-sample results: the bulk write path and the reads that aggregate them in SQL.

A registry may hold millions of samples (100 versions x 6 benchmarks x 400 problems x 64 samples), so nothing
here loads samples to count them: counts, sums and per-problem tallies are GROUP BY queries over the
(result_id, problem_id, sample_index) index, and only one result's samples are ever read row by row (for
majority vote curves and the sample table of a page).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from vibedash.decisions.cost import CostInputs, cost_figures
from vibedash.importers.base import SampleOutcome
from vibedash.registry.models import BenchmarkResult, SampleResult

INSERT_CHUNK = 5_000  # rows per executemany: large enough to amortise, small enough for SQLite's variable cap


def compress_output(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def decompress_output(data: bytes | None) -> str | None:
    return None if data is None else zlib.decompress(data).decode("utf-8")


def sample_row(sample: SampleOutcome, *, result_id: int | None = None, run_id: int | None = None,
               keep_output: bool = False) -> dict[str, Any]:
    return {
        "result_id": result_id, "run_id": run_id, "problem_id": str(sample.problem_id)[:255],
        "sample_index": int(sample.sample_index), "answer": sample.answer, "correct": sample.correct,
        "output_tokens": sample.output_tokens, "thinking_tokens": sample.thinking_tokens,
        "latency_s": sample.latency_s, "finish_reason": sample.finish_reason,
        "first_token_s": sample.first_token_s, "first_answer_s": sample.first_answer_s,
        "output_z": compress_output(sample.output) if keep_output and sample.output is not None else None,
    }


def insert_samples(session: Session, samples: Iterable[SampleOutcome], *, result_id: int | None = None,
                   run_id: int | None = None, keep_outputs: bool = False) -> int:
    """Bulk insert (Core executemany in chunks, no ORM objects). Returns the number of rows written."""
    written = 0
    chunk: list[dict[str, Any]] = []
    for sample in samples:
        chunk.append(sample_row(sample, result_id=result_id, run_id=run_id, keep_output=keep_outputs))
        if len(chunk) >= INSERT_CHUNK:
            session.execute(insert(SampleResult), chunk)
            written += len(chunk)
            chunk = []
    if chunk:
        session.execute(insert(SampleResult), chunk)
        written += len(chunk)
    return written


def insert_sample_rows(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows already shaped by :func:`sample_row` (the benchmark's bulk builder)."""
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(insert(SampleResult), list(rows[start:start + INSERT_CHUNK]))


# --- reads ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleTotals:
    """Sums over the samples of one result, straight from SQL."""

    samples: int
    graded: int
    correct: int
    output_tokens: int | None  # sum over samples that have a count
    token_samples: int
    thinking_tokens: int | None
    thinking_samples: int
    latency_s: float | None
    cut_by_cap: int


def _totals_query(result_ids: Sequence[int]):
    correct = case((SampleResult.correct.is_(True), 1), else_=0)
    graded = case((SampleResult.correct.is_not(None), 1), else_=0)
    cut = case((SampleResult.finish_reason == "length", 1), else_=0)
    return (select(SampleResult.result_id, func.count(), func.sum(graded), func.sum(correct),
                   func.sum(SampleResult.output_tokens), func.count(SampleResult.output_tokens),
                   func.sum(SampleResult.thinking_tokens), func.count(SampleResult.thinking_tokens),
                   func.sum(SampleResult.latency_s), func.sum(cut))
            .where(SampleResult.result_id.in_(list(result_ids))).group_by(SampleResult.result_id))


def sample_totals(session: Session, result_ids: Iterable[int]) -> dict[int, SampleTotals]:
    """Totals per result id (results without samples are absent)."""
    ids = list(result_ids)
    out: dict[int, SampleTotals] = {}
    for start in range(0, len(ids), 500):
        for row in session.execute(_totals_query(ids[start:start + 500])):
            (result_id, samples, graded, correct, tokens, token_n, thinking, thinking_n, latency, cut) = row
            out[result_id] = SampleTotals(
                samples=samples, graded=int(graded or 0), correct=int(correct or 0),
                output_tokens=int(tokens) if token_n else None, token_samples=token_n,
                thinking_tokens=int(thinking) if thinking_n else None, thinking_samples=thinking_n,
                latency_s=float(latency) if latency is not None else None, cut_by_cap=int(cut or 0))
    return out


def cost_inputs(result: BenchmarkResult, totals: SampleTotals | None) -> CostInputs | None:
    """What a result's cost of a correct answer is computed from: sample totals, plus the run's wall time and
    energy where the runner (or the source) recorded them in the result's settings."""
    if totals is None or totals.graded == 0:
        return None
    settings = result.settings or {}
    seconds = settings.get("generation_seconds")
    return CostInputs(
        samples=totals.graded, correct=totals.correct, output_tokens=totals.output_tokens,
        token_samples=totals.token_samples, thinking_tokens=totals.thinking_tokens,
        thinking_samples=totals.thinking_samples,
        seconds=float(seconds) if isinstance(seconds, (int, float)) else totals.latency_s,
        joules=float(settings["energy_joules"]) if isinstance(settings.get("energy_joules"), (int, float)) else None)


def result_costs(session: Session, results: Sequence[BenchmarkResult]) -> dict[int, dict[str, Any]]:
    """result id -> its cost figures (CostFigures.as_dict()), for the results that have graded samples."""
    totals = sample_totals(session, [r.id for r in results])
    out: dict[int, dict[str, Any]] = {}
    for result in results:
        inputs = cost_inputs(result, totals.get(result.id))
        if inputs is not None:
            out[result.id] = cost_figures(inputs).as_dict()
    return out


def per_problem_counts(session: Session, result_id: int) -> dict[str, tuple[int, int]]:
    """problem id -> (correct samples, graded samples), counted in SQL."""
    correct = case((SampleResult.correct.is_(True), 1), else_=0)
    rows = session.execute(select(SampleResult.problem_id, func.sum(correct), func.count(SampleResult.correct))
                           .where(SampleResult.result_id == result_id).group_by(SampleResult.problem_id))
    return {problem: (int(c or 0), int(n)) for problem, c, n in rows if n}


def sample_answers(session: Session, result_id: int) -> dict[str, list[tuple[str | None, bool | None]]]:
    """problem id -> [(extracted answer, correct)] in sample order: what majority vote curves need."""
    out: dict[str, list[tuple[str | None, bool | None]]] = {}
    rows = session.execute(select(SampleResult.problem_id, SampleResult.answer, SampleResult.correct)
                           .where(SampleResult.result_id == result_id)
                           .order_by(SampleResult.problem_id, SampleResult.sample_index))
    for problem, answer, correct in rows:
        out.setdefault(problem, []).append((answer, correct))
    return out


def has_answers(session: Session, result_id: int) -> bool:
    return session.scalar(select(SampleResult.id).where(SampleResult.result_id == result_id,
                                                        SampleResult.answer.is_not(None)).limit(1)) is not None


def sample_table(session: Session, result_id: int, *, problem_id: str | None = None, limit: int = 200,
                 with_output: bool = False) -> list[dict[str, Any]]:
    """Samples of one result for a page or an export, in (problem, sample) order."""
    columns = [SampleResult.problem_id, SampleResult.sample_index, SampleResult.answer, SampleResult.correct,
               SampleResult.output_tokens, SampleResult.thinking_tokens, SampleResult.latency_s,
               SampleResult.finish_reason]
    if with_output:
        columns.append(SampleResult.output_z)
    query = select(*columns).where(SampleResult.result_id == result_id)
    if problem_id is not None:
        query = query.where(SampleResult.problem_id == problem_id)
    query = query.order_by(SampleResult.problem_id, SampleResult.sample_index)
    if limit:
        query = query.limit(limit)
    out = []
    for row in session.execute(query):
        item = {"problem": row[0], "sample": row[1], "answer": row[2], "correct": row[3], "output_tokens": row[4],
                "thinking_tokens": row[5], "latency_s": row[6], "finish": row[7]}
        if with_output:
            item["output"] = decompress_output(row[8])
        out.append(item)
    return out


def results_with_samples(session: Session, version_id: int) -> list[BenchmarkResult]:
    """The version's results that have samples, headline results first."""
    ids = select(SampleResult.result_id).where(SampleResult.result_id == BenchmarkResult.id).limit(1).exists()
    return list(session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version_id, ids)
                                .order_by(BenchmarkResult.benchmark, BenchmarkResult.is_primary.desc(),
                                          BenchmarkResult.metric)))
