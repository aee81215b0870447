"""Per-sample results: the write path, the summaries kept with the samples, and the reads pages make.

A registry may hold ten million samples (100 versions x 6 benchmarks x 400 problems x 64 samples), so pages
never aggregate samples: every write of a result's samples also writes, in the same transaction, its
per-problem sums (``sample_summary``) and its answer histogram (``sample_answer_count``), and the reads here
(counts, totals, histograms for maj@k, cost) are O(problems) rows of those. Only a page's sample table and an
export read samples row by row, and only a page of them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.orm import Session

from vibedash.decisions.cost import CostInputs, cost_figures
from vibedash.importers.base import SampleOutcome
from vibedash.registry.models import (
    BenchmarkResult,
    SampleAnswerCount,
    SampleResult,
    SampleSummary,
)

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
    """Bulk insert (Core executemany in chunks, no ORM objects). Returns the number of rows written.

    Samples of a result (an import) get their summaries refreshed in the same transaction; samples of a
    running evaluation (``run_id`` only) get theirs when the run becomes a result (eval_runs.finalize)."""
    written = 0
    chunk: list[dict[str, Any]] = []
    problems: set[str] = set()
    for sample in samples:
        row = sample_row(sample, result_id=result_id, run_id=run_id, keep_output=keep_outputs)
        chunk.append(row)
        problems.add(row["problem_id"])
        if len(chunk) >= INSERT_CHUNK:
            session.execute(insert(SampleResult), chunk)
            written += len(chunk)
            chunk = []
    if chunk:
        session.execute(insert(SampleResult), chunk)
        written += len(chunk)
    if result_id is not None and written:
        refresh_summaries(session, [result_id], problems=problems)
    return written


def insert_sample_rows(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows already shaped by :func:`sample_row`; the summaries of the results they belong to are refreshed."""
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(insert(SampleResult), list(rows[start:start + INSERT_CHUNK]))
    result_ids = sorted({row["result_id"] for row in rows if row.get("result_id") is not None})
    if result_ids:
        refresh_summaries(session, result_ids)


# --- summaries --------------------------------------------------------------------------------------------

def _is_true(column):
    return case((column.is_(True), 1), else_=0)


def summary_select(where):
    """The per (result, problem) sums of the samples matching ``where``, in SampleSummary's column order."""
    s = SampleResult
    return (select(s.result_id, s.problem_id, func.count(), func.count(s.correct), func.sum(_is_true(s.correct)),
                   func.count(s.answer), func.sum(s.output_tokens), func.count(s.output_tokens),
                   func.sum(s.thinking_tokens), func.count(s.thinking_tokens), func.sum(s.latency_s),
                   func.count(s.latency_s), func.sum(case((s.finish_reason == "length", 1), else_=0)))
            .where(where).group_by(s.result_id, s.problem_id))


SUMMARY_COLUMNS = ("result_id", "problem_id", "samples", "graded", "correct", "answered", "output_tokens",
                   "token_samples", "thinking_tokens", "thinking_samples", "latency_s", "latency_samples",
                   "cut_by_cap")


def answers_select(where):
    s = SampleResult
    return (select(s.result_id, s.problem_id, s.answer, func.count(), func.sum(_is_true(s.correct)))
            .where(where, s.answer.is_not(None)).group_by(s.result_id, s.problem_id, s.answer))


ANSWER_COLUMNS = ("result_id", "problem_id", "answer", "votes", "correct_votes")


def refresh_summaries(session: Session, result_ids: Sequence[int] | None = None, *,
                      problems: Iterable[str] | None = None) -> None:
    """Recompute the summaries and answer histograms of these results (of their ``problems`` only, when
    given) from their samples, in the caller's transaction: one GROUP BY over the rows just written, through
    the (result_id, problem_id, sample_index) index. ``None`` rebuilds every result (the bulk loader)."""
    targets: list[tuple[Any, Any, Any]] = []
    if result_ids is None:
        targets.append((SampleResult.result_id.is_not(None), SampleSummary.result_id.is_not(None),
                        SampleAnswerCount.result_id.is_not(None)))
    else:
        wanted = sorted(set(problems)) if problems is not None else None
        for result_id in result_ids:
            if wanted is None:
                targets.append((SampleResult.result_id == result_id, SampleSummary.result_id == result_id,
                                SampleAnswerCount.result_id == result_id))
                continue
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                targets.append(((SampleResult.result_id == result_id) & SampleResult.problem_id.in_(part),
                                (SampleSummary.result_id == result_id) & SampleSummary.problem_id.in_(part),
                                (SampleAnswerCount.result_id == result_id)
                                & SampleAnswerCount.problem_id.in_(part)))
    for samples_where, summary_where, answers_where in targets:
        quiet = {"synchronize_session": False}  # no ORM objects of these tables live in a session
        session.execute(delete(SampleSummary).where(summary_where), execution_options=quiet)
        session.execute(delete(SampleAnswerCount).where(answers_where), execution_options=quiet)
        session.execute(insert(SampleSummary).from_select(SUMMARY_COLUMNS, summary_select(samples_where)))
        session.execute(insert(SampleAnswerCount).from_select(ANSWER_COLUMNS, answers_select(samples_where)))


# --- reads ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleTotals:
    """Sums over the samples of one result (read from its per-problem summaries)."""

    samples: int
    graded: int
    correct: int
    output_tokens: int | None  # sum over samples that have a count
    token_samples: int
    thinking_tokens: int | None
    thinking_samples: int
    latency_s: float | None
    cut_by_cap: int


def sample_totals(session: Session, result_ids: Iterable[int]) -> dict[int, SampleTotals]:
    """Totals per result id (results without samples are absent): a sum over each result's problems."""
    ids = list(result_ids)
    out: dict[int, SampleTotals] = {}
    m = SampleSummary
    for start in range(0, len(ids), 500):
        query = (select(m.result_id, func.sum(m.samples), func.sum(m.graded), func.sum(m.correct),
                        func.sum(m.output_tokens), func.sum(m.token_samples), func.sum(m.thinking_tokens),
                        func.sum(m.thinking_samples), func.sum(m.latency_s), func.sum(m.latency_samples),
                        func.sum(m.cut_by_cap))
                 .where(m.result_id.in_(ids[start:start + 500])).group_by(m.result_id))
        for row in session.execute(query):
            (result_id, samples, graded, correct, tokens, token_n, thinking, thinking_n, latency, latency_n,
             cut) = row
            out[result_id] = SampleTotals(
                samples=int(samples), graded=int(graded or 0), correct=int(correct or 0),
                output_tokens=int(tokens) if token_n else None, token_samples=int(token_n or 0),
                thinking_tokens=int(thinking) if thinking_n else None, thinking_samples=int(thinking_n or 0),
                latency_s=float(latency) if latency_n else None, cut_by_cap=int(cut or 0))
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
    """problem id -> (correct samples, graded samples), from the summaries."""
    rows = session.execute(select(SampleSummary.problem_id, SampleSummary.correct, SampleSummary.graded)
                           .where(SampleSummary.result_id == result_id, SampleSummary.graded > 0))
    return {problem: (int(c), int(n)) for problem, c, n in rows}


@dataclass(frozen=True)
class AnswerHistogram:
    """One problem's samples as maj@k sees them: how many there are and the votes of each written answer."""

    samples: int
    answers: tuple[tuple[str, int, int], ...]  # (answer as written, votes, of which graded correct)


def answer_histograms(session: Session, result_id: int) -> dict[str, AnswerHistogram]:
    """problem id -> its answer histogram (problems whose samples carry no answer included, with none)."""
    answers: dict[str, list[tuple[str, int, int]]] = {}
    for problem, answer, votes, right in session.execute(
            select(SampleAnswerCount.problem_id, SampleAnswerCount.answer, SampleAnswerCount.votes,
                   SampleAnswerCount.correct_votes).where(SampleAnswerCount.result_id == result_id)):
        answers.setdefault(problem, []).append((answer, int(votes), int(right)))
    sizes = session.execute(select(SampleSummary.problem_id, SampleSummary.samples)
                            .where(SampleSummary.result_id == result_id))
    return {problem: AnswerHistogram(int(n), tuple(sorted(answers.get(problem, ())))) for problem, n in sizes}


def sample_answers(session: Session, result_id: int) -> dict[str, list[tuple[str | None, bool | None]]]:
    """problem id -> [(extracted answer, correct)] in sample order, read from the samples themselves (an
    export's view; pages use :func:`answer_histograms`)."""
    out: dict[str, list[tuple[str | None, bool | None]]] = {}
    rows = session.execute(select(SampleResult.problem_id, SampleResult.answer, SampleResult.correct)
                           .where(SampleResult.result_id == result_id)
                           .order_by(SampleResult.problem_id, SampleResult.sample_index))
    for problem, answer, correct in rows:
        out.setdefault(problem, []).append((answer, correct))
    return out


def has_answers(session: Session, result_id: int) -> bool:
    return session.scalar(select(SampleAnswerCount.id).where(SampleAnswerCount.result_id == result_id)
                          .limit(1)) is not None


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
    ids = select(SampleSummary.result_id).where(SampleSummary.result_id == BenchmarkResult.id).limit(1).exists()
    return list(session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version_id, ids)
                                .order_by(BenchmarkResult.benchmark, BenchmarkResult.is_primary.desc(),
                                          BenchmarkResult.metric)))
