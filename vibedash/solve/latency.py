"""Latency per version over its solve runs: percentiles of the time to the first answer token and of the
total time, and how long it thinks. Stopped runs and runs logged before these figures existed are left out.

Times are seconds from the request (model load or server queue included), as the person waited.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vibedash.registry.db import unit_of_work
from vibedash.registry.models import SolveRun

PERCENTILES = (50, 95, 99)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class VersionLatency:
    runs: int  # runs with figures
    first_answer_s: dict[int, float | None]  # percentile -> seconds
    total_s: dict[int, float | None]
    answered_runs: int  # runs that reached an answer token (the first-answer percentiles are over these)
    mean_thinking_tokens: float | None  # per sample
    mean_answer_tokens: float | None  # per sample
    mean_energy_j: float | None  # per answer, over runs measured on a GPU

    @property
    def empty(self) -> bool:
        return self.runs == 0


def summarise(rows: Sequence[tuple[float | None, float | None, int | None, int | None, int, float | None]]
              ) -> VersionLatency:
    """Pure: rows of (time to first answer, total, thinking tokens, answer tokens, samples, energy)."""
    first = [row[0] for row in rows if row[0] is not None]
    total = [row[1] for row in rows if row[1] is not None]
    thinking = [(row[2], row[4]) for row in rows if row[2] is not None]
    answer = [(row[3], row[4]) for row in rows if row[3] is not None]
    energy = [row[5] for row in rows if row[5] is not None]

    def per_sample(pairs: list[tuple[int, int]]) -> float | None:
        samples = sum(count for _, count in pairs)
        return sum(tokens for tokens, _ in pairs) / samples if samples else None

    return VersionLatency(
        runs=len(rows), first_answer_s={q: percentile(first, q) for q in PERCENTILES},
        total_s={q: percentile(total, q) for q in PERCENTILES}, answered_runs=len(first),
        mean_thinking_tokens=per_sample(thinking), mean_answer_tokens=per_sample(answer),
        mean_energy_j=sum(energy) / len(energy) if energy else None)


def version_latency(engine: Engine, version_id: int) -> VersionLatency:
    with unit_of_work(engine) as session:
        return version_latency_in(session, version_id)


def version_latency_in(session: Session, version_id: int) -> VersionLatency:
    """As :func:`version_latency`, in an open session (a page's read session)."""
    query = (select(SolveRun.time_to_first_answer_s, SolveRun.total_s, SolveRun.thinking_tokens,
                    SolveRun.answer_tokens, SolveRun.settings, SolveRun.energy_j)
             .where(SolveRun.version_id == version_id, SolveRun.stopped.is_(False), SolveRun.total_s.is_not(None)))
    rows = [(first, total, thinking, answer, int((settings or {}).get("samples") or 1), energy)
            for first, total, thinking, answer, settings, energy in session.execute(query)]
    return summarise(rows)


def describe(latency: VersionLatency) -> list[str]:
    """Lines for a terminal (``show``)."""
    if latency.empty:
        return ["no solve runs with latency figures yet"]

    def line(values: dict[int, float | None]) -> str:
        return " · ".join(f"P{q} {values[q]:.2f} s" if values[q] is not None else f"P{q} –" for q in PERCENTILES)

    lines = [f"first answer token  {line(latency.first_answer_s)}  ({latency.answered_runs} of {latency.runs} "
             "runs answered)",
             f"total time          {line(latency.total_s)}  ({latency.runs} runs)"]
    thinking = (f"{latency.mean_thinking_tokens:,.0f}" if latency.mean_thinking_tokens is not None else "–")
    answer = (f"{latency.mean_answer_tokens:,.0f}" if latency.mean_answer_tokens is not None else "–")
    extra = f" · {latency.mean_energy_j:,.0f} J per answer" if latency.mean_energy_j is not None else ""
    lines.append(f"mean tokens         thinking {thinking} · answer {answer} per sample{extra}")
    return lines
