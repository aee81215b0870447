"""Latency per version: percentiles of the time to the first answer token and of the total time, and how long
it thinks, over three sources kept apart because their clocks mean different things:

- **solve runs** (the live panel and ``solve``): seconds from the request, model load included, as the person
  waited. Stopped runs and runs logged before these figures existed are left out;
- **eval samples** (vibedash's eval runner): seconds from the request with the model's loading left out (an
  evaluation loads it once), each sample sharing its decode steps with the rest of its batch (local) or with
  the server's other requests (OpenAI-compatible), so they measure a loaded, busy deployment;
- **imported samples** (other harnesses' files): whatever latency the harness recorded, usually the request's
  total time only; samples without one are ignored and counted.

Mean thinking tokens mean the same everywhere (tokens before ``</think>``), so they are also given over all
sources together. Percentiles over samples are computed in SQL (a count, then one ranked query that returns
only the values around the wanted ranks: one sort per column), so a version with millions of samples is never
loaded; the whole figure is kept per registry generation, so a page rerun reads it again only after a write.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session

from vibedash.registry.db import unit_of_work
from vibedash.registry.generation import cached
from vibedash.registry.models import BenchmarkResult, EvalRun, SampleResult, SolveRun

PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return _interpolate(q, len(ordered), lambda low: ordered[low:low + 2])


def _interpolate(q: float, count: int, around: Callable[[int], Sequence[float]]) -> float:
    """Linear interpolation at rank (count - 1) * q / 100; ``around(low)`` gives the values at ranks low and
    low + 1 (just one at the top)."""
    rank = (count - 1) * q / 100
    low = math.floor(rank)
    values = list(around(low))
    if len(values) == 1 or rank == low:
        return float(values[0])
    return float(values[0] + (values[1] - values[0]) * (rank - low))


@dataclass(frozen=True)
class SampleLatency:
    """One source of samples (eval or imported) of a version: counts and percentiles from SQL."""

    source: str  # "eval samples" or "imported samples"
    samples: int  # every sample of the source
    timed: int  # samples with a total time (the total-time percentiles are over these)
    answered: int  # samples with a time to the first answer token
    first_answer_s: dict[int, float | None]
    total_s: dict[int, float | None]
    thinking_samples: int  # samples with a thinking count
    mean_thinking_tokens: float | None

    @property
    def untimed(self) -> int:
        """Samples ignored by the total-time percentiles: their source recorded no time."""
        return self.samples - self.timed

    def as_dict(self) -> dict[str, object]:
        return {"samples": self.samples, "timed": self.timed, "untimed": self.untimed, "answered": self.answered,
                "first_answer_s": {f"p{q}": v for q, v in self.first_answer_s.items()},
                "total_s": {f"p{q}": v for q, v in self.total_s.items()},
                "thinking_samples": self.thinking_samples, "mean_thinking_tokens": self.mean_thinking_tokens}


@dataclass(frozen=True)
class VersionLatency:
    runs: int  # solve runs with figures
    first_answer_s: dict[int, float | None]  # percentile -> seconds, over solve runs
    total_s: dict[int, float | None]
    answered_runs: int  # runs that reached an answer token (the first-answer percentiles are over these)
    mean_thinking_tokens: float | None  # per sample of the solve runs
    mean_answer_tokens: float | None  # per sample
    mean_energy_j: float | None  # per answer, over runs measured on a GPU
    thinking_samples: int = 0  # solve-run samples behind mean_thinking_tokens
    samples: tuple[SampleLatency, ...] = field(default_factory=tuple)  # eval, then imported (those with any)

    @property
    def empty(self) -> bool:
        return self.runs == 0 and not any(source.samples for source in self.samples)

    @property
    def source_counts(self) -> list[str]:
        """'14 solve runs', '256 eval samples', ... for the sources that have any."""
        out = [f"{self.runs} solve run{'s' if self.runs != 1 else ''}"] if self.runs else []
        return out + [f"{source.timed} {source.source}" for source in self.samples if source.timed]

    @property
    def mean_thinking_all(self) -> tuple[float | None, int]:
        """Mean thinking tokens per sample over every source, and the samples it is over."""
        total = (self.mean_thinking_tokens or 0.0) * self.thinking_samples
        count = self.thinking_samples
        for source in self.samples:
            if source.mean_thinking_tokens is not None:
                total += source.mean_thinking_tokens * source.thinking_samples
                count += source.thinking_samples
        return (total / count if count else None), count


def summarise(rows: Sequence[tuple[float | None, float | None, int | None, int | None, int, float | None]],
              samples: Sequence[SampleLatency] = ()) -> VersionLatency:
    """Pure: solve-run rows of (time to first answer, total, thinking tokens, answer tokens, samples, energy),
    and the sample sources as read from SQL."""
    first = [row[0] for row in rows if row[0] is not None]
    total = [row[1] for row in rows if row[1] is not None]
    thinking = [(row[2], row[4]) for row in rows if row[2] is not None]
    answer = [(row[3], row[4]) for row in rows if row[3] is not None]
    energy = [row[5] for row in rows if row[5] is not None]

    def per_sample(pairs: list[tuple[int, int]]) -> float | None:
        count = sum(n for _, n in pairs)
        return sum(tokens for tokens, _ in pairs) / count if count else None

    return VersionLatency(
        runs=len(rows), first_answer_s={q: percentile(first, q) for q in PERCENTILES},
        total_s={q: percentile(total, q) for q in PERCENTILES}, answered_runs=len(first),
        mean_thinking_tokens=per_sample(thinking), mean_answer_tokens=per_sample(answer),
        mean_energy_j=sum(energy) / len(energy) if energy else None,
        thinking_samples=sum(n for _, n in thinking), samples=tuple(s for s in samples if s.samples))


def version_latency(engine: Engine, version_id: int) -> VersionLatency:
    with unit_of_work(engine) as session:
        return version_latency_in(session, version_id)


def version_latency_in(session: Session, version_id: int) -> VersionLatency:
    """As :func:`version_latency`, in an open session (a page's read session)."""
    return cached(session, "version_latency", version_id, lambda: _compute_version_latency(session, version_id),
                  reads_audit_log=False)


def _compute_version_latency(session: Session, version_id: int) -> VersionLatency:
    query = (select(SolveRun.time_to_first_answer_s, SolveRun.total_s, SolveRun.thinking_tokens,
                    SolveRun.answer_tokens, SolveRun.settings, SolveRun.energy_j)
             .where(SolveRun.version_id == version_id, SolveRun.stopped.is_(False), SolveRun.total_s.is_not(None)))
    rows = [(first, total, thinking, answer, int((settings or {}).get("samples") or 1), energy)
            for first, total, thinking, answer, settings, energy in session.execute(query)]
    eval_runs = select(EvalRun.id).where(EvalRun.version_id == version_id).scalar_subquery()
    results = select(BenchmarkResult.id).where(BenchmarkResult.version_id == version_id).scalar_subquery()
    sources = (
        sample_latency(session, "eval samples", SampleResult.run_id.in_(eval_runs)),
        # samples of the version's results that no eval run of vibedash made: imported from a harness's file
        sample_latency(session, "imported samples",
                       SampleResult.run_id.is_(None) & SampleResult.result_id.in_(results)),
    )
    return summarise(rows, sources)


def sql_percentiles(session: Session, column: ColumnElement,
                    where: ColumnElement) -> tuple[int, dict[int, float | None]]:
    """How many rows have ``column`` (under ``where``), and its P50/P95/P99, computed in the database."""
    present = where & column.is_not(None)
    count = int(session.scalar(select(func.count()).select_from(SampleResult).where(present)) or 0)
    if not count:
        return 0, {q: None for q in PERCENTILES}

    wanted: set[int] = set()
    for q in PERCENTILES:
        low = math.floor((count - 1) * q / 100)
        wanted.update({low, min(low + 1, count - 1)})
    ranked = (select(column.label("value"), (func.row_number().over(order_by=column) - 1).label("rank"))
              .where(present).subquery())
    at_rank = {int(rank): value for rank, value in
               session.execute(select(ranked.c.rank, ranked.c.value).where(ranked.c.rank.in_(sorted(wanted))))}

    def around(low: int) -> list[float]:
        return [at_rank[rank] for rank in (low, low + 1) if rank in at_rank]

    return count, {q: _interpolate(q, count, around) for q in PERCENTILES}


def sample_latency(session: Session, source: str, where: ColumnElement) -> SampleLatency:
    # Counting first reads the index alone: a source with no samples (most versions have no eval runs) costs
    # nothing, whatever the planner would guess for a query that needs the rows.
    if not session.scalar(select(func.count()).select_from(SampleResult).where(where)):
        return SampleLatency(source, 0, 0, 0, {q: None for q in PERCENTILES}, {q: None for q in PERCENTILES}, 0,
                             None)
    samples, thinking_samples, thinking_mean = session.execute(
        select(func.count(), func.count(SampleResult.thinking_tokens), func.avg(SampleResult.thinking_tokens))
        .select_from(SampleResult).where(where)).one()
    timed, total = sql_percentiles(session, SampleResult.latency_s, where)
    answered, first = sql_percentiles(session, SampleResult.first_answer_s, where)
    return SampleLatency(source=source, samples=int(samples), timed=timed, answered=answered,
                         first_answer_s=first, total_s=total, thinking_samples=int(thinking_samples or 0),
                         mean_thinking_tokens=float(thinking_mean) if thinking_mean is not None else None)


# -- words ------------------------------------------------------------------------------------------------

def _line(values: dict[int, float | None]) -> str:
    return " · ".join(f"P{q} {values[q]:.2f} s" if values[q] is not None else f"P{q} –" for q in PERCENTILES)


def _tokens(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "–"


def describe(latency: VersionLatency) -> list[str]:
    """Lines for a terminal (``show``)."""
    if latency.empty:
        return ["no solve runs with latency figures yet, and no eval samples"]
    lines: list[str] = []
    if latency.runs:
        lines += ["solve runs (from the request, model load included):",
                  (f"  first answer token  {_line(latency.first_answer_s)}  ({latency.answered_runs} of "
                   f"{latency.runs} runs answered)"),
                  f"  total time          {_line(latency.total_s)}  ({latency.runs} runs)"]
        extra = f" · {latency.mean_energy_j:,.0f} J per answer" if latency.mean_energy_j is not None else ""
        lines.append(f"  mean tokens         thinking {_tokens(latency.mean_thinking_tokens)} · answer "
                     f"{_tokens(latency.mean_answer_tokens)} per sample{extra}")
    else:
        lines.append("no solve runs with latency figures yet")
    for source in latency.samples:
        lines.append(f"{source.source} ({SOURCE_CLOCKS[source.source]}):")
        if source.answered:
            lines.append(f"  first answer token  {_line(source.first_answer_s)}  ({source.answered} of "
                         f"{source.samples} samples)")
        else:
            lines.append("  first answer token  not recorded")
        if source.timed:
            lines.append(f"  total time          {_line(source.total_s)}  ({source.timed} samples"
                         + (f"; {source.untimed} without a time ignored)" if source.untimed else ")"))
        else:
            lines.append(f"  total time          not recorded ({source.untimed} samples without a time ignored)")
        lines.append(f"  mean tokens         thinking {_tokens(source.mean_thinking_tokens)} per sample "
                     f"({source.thinking_samples} counted)")
    mean, count = latency.mean_thinking_all
    if latency.samples and mean is not None:
        lines.append(f"mean thinking tokens over every source: {mean:,.0f} per sample ({count:,} samples)")
    return lines


SOURCE_CLOCKS = {
    "eval samples": "from the request, model load left out; each shares its steps with its batch",
    "imported samples": "as the harness recorded them",
}
