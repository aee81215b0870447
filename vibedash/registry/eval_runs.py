"""Eval runs in the registry: start or resume one, record finished samples, watch progress, cancel, and turn
a complete run into a benchmark result (with its per-problem and per-sample rows) like any import."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from vibedash.importers.base import ParsedResult, ProblemOutcome, SampleOutcome
from vibedash.registry.db import unit_of_work
from vibedash.registry.models import EvalRun, SampleResult, Version, utcnow
from vibedash.registry.samples import insert_samples, refresh_summaries

RUNNING, CANCELLED, FAILED, FINISHED = "running", "cancelled", "failed", "finished"
# A run that has written nothing for this long is shown as stalled (its process died or was killed).
STALLED_AFTER = timedelta(minutes=10)
# A run updated this recently is taken to be in progress elsewhere: a second runner must not join it.
BUSY_WITHIN = timedelta(seconds=90)


class EvalRunBusy(RuntimeError):
    """The same evaluation is running in another process."""


@dataclass(frozen=True)
class RunView:
    """A run as pages and the CLI show it."""

    id: int
    sha: str
    benchmark: str
    metric: str
    status: str
    samples_done: int
    samples_total: int
    samples_correct: int
    elapsed_s: float
    started_at: datetime
    updated_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool
    error: str | None
    protocol: dict[str, Any]
    result_id: int | None
    energy_joules: float | None = None

    @property
    def fraction(self) -> float:
        return self.samples_done / self.samples_total if self.samples_total else 0.0

    @property
    def stalled(self) -> bool:
        seen = self.updated_at or self.started_at
        return self.status == RUNNING and utcnow() - seen > STALLED_AFTER

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the run's average pace so far (None before the first sample)."""
        if self.status != RUNNING or not self.samples_done or self.elapsed_s <= 0:
            return None
        return (self.samples_total - self.samples_done) * self.elapsed_s / self.samples_done

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sha": self.sha, "benchmark": self.benchmark, "metric": self.metric,
                "status": "stalled" if self.stalled else self.status, "done": self.samples_done,
                "total": self.samples_total, "correct": self.samples_correct, "elapsed_s": round(self.elapsed_s, 3),
                "eta_s": None if self.eta_s is None else round(self.eta_s, 1), "started_at": self.started_at,
                "updated_at": self.updated_at, "finished_at": self.finished_at, "error": self.error,
                "protocol": self.protocol}


def _view(run: EvalRun, sha: str) -> RunView:
    return RunView(id=run.id, sha=sha, benchmark=run.benchmark, metric=run.metric, status=run.status,
                   samples_done=run.samples_done, samples_total=run.samples_total,
                   samples_correct=run.samples_correct, elapsed_s=run.elapsed_s or 0.0, started_at=run.started_at,
                   updated_at=run.updated_at, finished_at=run.finished_at, cancel_requested=run.cancel_requested,
                   error=run.error, protocol=dict(run.protocol or {}), result_id=run.result_id,
                   energy_joules=run.energy_joules)


def start_or_resume(engine: Engine, *, version_id: int, benchmark: str, metric: str, protocol_key: str,
                    protocol: dict[str, Any], problems_file: str | None, problems: int, samples_total: int,
                    actor: str | None, fresh: bool = False) -> tuple[int, set[tuple[str, int]], RunView | None]:
    """(run id, samples already recorded, the finished run when this protocol was already evaluated).

    Resumes the newest unfinished run with the same protocol key; refuses one that another process is
    running right now. ``fresh`` starts a new run whatever was recorded before (the new result replaces the
    old one when it finishes)."""
    with unit_of_work(engine) as session:
        runs = session.scalars(select(EvalRun).where(EvalRun.version_id == version_id,
                                                     EvalRun.protocol_key == protocol_key)
                               .order_by(EvalRun.started_at.desc(), EvalRun.id.desc())).all()
        sha = session.scalar(select(Version.sha).where(Version.id == version_id))
        finished = next((r for r in runs if r.status == FINISHED and r.result_id is not None), None)
        if finished is not None and not fresh:
            return finished.id, set(), _view(finished, sha)
        unfinished = [r for r in runs if r.status != FINISHED]
        run = unfinished[0] if unfinished else None
        now = utcnow()
        if run is not None and run.status == RUNNING and now - (run.updated_at or run.started_at) < BUSY_WITHIN:
            raise EvalRunBusy(f"this evaluation (run {run.id}) is already running, last update "
                              f"{(now - (run.updated_at or run.started_at)).seconds} s ago: wait for it, or cancel "
                              "it from the Version page")
        if fresh:
            for old in unfinished:  # superseded: their samples go with them
                session.delete(old)
            run = None
        if run is None:
            run = EvalRun(version_id=version_id, benchmark=benchmark, metric=metric, protocol_key=protocol_key,
                          protocol=protocol, problems_file=problems_file, problems=problems,
                          samples_total=samples_total, actor=actor, started_at=now)
            session.add(run)
            session.flush()
        run.status, run.cancel_requested, run.error, run.updated_at = RUNNING, False, None, now
        done = {(problem, index) for problem, index in session.execute(
            select(SampleResult.problem_id, SampleResult.sample_index).where(SampleResult.run_id == run.id))}
        # The counters follow the rows (a crash between a write and its counter update cannot drift them).
        run.samples_done = len(done)
        run.samples_correct = session.scalar(select(func.count()).where(SampleResult.run_id == run.id,
                                                                         SampleResult.correct.is_(True))) or 0
        return run.id, done, None


def record_samples(engine: Engine, run_id: int, samples: Sequence[SampleOutcome], *, elapsed_s: float,
                   keep_outputs: bool = False, energy_joules: float | None = None) -> bool:
    """Write finished samples and the run's counters in one transaction. Returns whether a cancel was asked."""
    with unit_of_work(engine) as session:
        insert_samples(session, samples, run_id=run_id, keep_outputs=keep_outputs)
        run = session.get(EvalRun, run_id)
        run.samples_done += len(samples)
        run.samples_correct += sum(1 for s in samples if s.correct)
        run.elapsed_s = elapsed_s
        if energy_joules is not None:
            run.energy_joules = energy_joules
        run.updated_at = utcnow()
        return bool(run.cancel_requested)


def touch(engine: Engine, run_id: int, *, elapsed_s: float | None = None) -> bool:
    """Mark the run alive; returns whether a cancel was asked."""
    with unit_of_work(engine) as session:
        run = session.get(EvalRun, run_id)
        run.updated_at = utcnow()
        if elapsed_s is not None:
            run.elapsed_s = elapsed_s
        return bool(run.cancel_requested)


def cancel_requested(engine: Engine, run_id: int) -> bool:
    with unit_of_work(engine) as session:
        return bool(session.scalar(select(EvalRun.cancel_requested).where(EvalRun.id == run_id)))


def request_cancel(engine: Engine, run_id: int) -> bool:
    """Ask a running evaluation to stop (it stops within a token and keeps its samples). False if not running."""
    with unit_of_work(engine) as session:
        run = session.get(EvalRun, run_id)
        if run is None or run.status != RUNNING:
            return False
        if utcnow() - (run.updated_at or run.started_at) > STALLED_AFTER:
            run.status = CANCELLED  # nobody is running it: cancel it here
            run.finished_at = utcnow()
        run.cancel_requested = True
        return True


def end_run(engine: Engine, run_id: int, status: str, error: str | None = None) -> None:
    with unit_of_work(engine) as session:
        run = session.get(EvalRun, run_id)
        run.status, run.error, run.updated_at = status, error, utcnow()
        run.finished_at = utcnow() if status != RUNNING else None


def finalize(engine: Engine, run_id: int, *, settings: dict[str, Any], temperature: float, top_p: float,
             max_tokens: int, k: int, source_file: str | None, primary: bool = True) -> RunView:
    """Turn a complete run into a benchmark result: per-problem counts from its samples (in SQL), the score
    (mean per-problem accuracy, pass@1 = avg@k) with its standard error, the protocol, and the samples moved
    under the new result. Replaces an earlier result with the same benchmark and metric, as an import does."""
    from vibedash.registry.records import import_results

    with unit_of_work(engine) as session:
        run = session.get(EvalRun, run_id)
        version = session.get(Version, run.version_id)
        counts = _run_counts(session, run_id)
        accuracies = [c / n for c, n in counts.values() if n]
        score = 100.0 * sum(accuracies) / len(accuracies) if accuracies else 0.0
        stderr = None
        if len(accuracies) > 1:
            mean = score / 100
            variance = sum((a - mean) ** 2 for a in accuracies) / (len(accuracies) - 1)
            stderr = 100.0 * math.sqrt(variance / len(accuracies))
        merged = dict(settings)
        merged["generation_seconds"] = round(run.elapsed_s or 0.0, 6)
        if run.energy_joules is not None:
            merged["energy_joules"] = run.energy_joules
        parsed = ParsedResult(benchmark=run.benchmark, score=round(score, 10), metric=run.metric, stderr=stderr,
                              problems=len(counts), samples_per_problem=k, temperature=temperature, top_p=top_p,
                              k=1, max_tokens=max_tokens, settings=merged, source_format="vibedash_eval",
                              problem_outcomes=tuple(ProblemOutcome(p, c, n) for p, (c, n) in sorted(counts.items())),
                              is_primary=primary)
        [row] = import_results(session, version, [parsed], source_file=source_file)
        if not primary:
            row.is_primary = False
        session.flush()
        session.execute(update(SampleResult).where(SampleResult.run_id == run_id).values(result_id=row.id))
        refresh_summaries(session, [row.id])  # in this transaction: the result never shows without them
        run.result_id, run.status, run.finished_at, run.updated_at = row.id, FINISHED, utcnow(), utcnow()
        return _view(run, version.sha)


def _run_counts(session: Session, run_id: int) -> dict[str, tuple[int, int]]:
    from sqlalchemy import case

    correct = case((SampleResult.correct.is_(True), 1), else_=0)
    rows = session.execute(select(SampleResult.problem_id, func.sum(correct), func.count())
                           .where(SampleResult.run_id == run_id).group_by(SampleResult.problem_id))
    return {problem: (int(c or 0), int(n)) for problem, c, n in rows}


def run_view(engine: Engine, run_id: int) -> RunView:
    with unit_of_work(engine) as session:
        run = session.get(EvalRun, run_id)
        return _view(run, session.scalar(select(Version.sha).where(Version.id == run.version_id)))


def active_runs(session: Session, *, limit: int = 20) -> list[RunView]:
    """Running evaluations (stalled ones included, marked), newest first: for the Overview."""
    rows = session.execute(select(EvalRun, Version.sha).join(Version, Version.id == EvalRun.version_id)
                           .where(EvalRun.status == RUNNING).order_by(EvalRun.started_at.desc()).limit(limit))
    return [_view(run, sha) for run, sha in rows]


def version_runs(session: Session, version_id: int, *, limit: int = 20) -> list[RunView]:
    rows = session.execute(select(EvalRun, Version.sha).join(Version, Version.id == EvalRun.version_id)
                           .where(EvalRun.version_id == version_id)
                           .order_by(EvalRun.started_at.desc(), EvalRun.id.desc()).limit(limit))
    return [_view(run, sha) for run, sha in rows]

