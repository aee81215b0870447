"""The solve log (table ``solve_run``): every finished or stopped run, and the cache of identical requests.

A request is identified by its cache key: sha256 over the version, the model reference, the exact prompt,
every sampling setting (seed included: all runs are seeded; the thinking budget and answer cap when set), the
mode and the backend. A run that was
stopped is logged but never answers a later request. Each run counts how often it answered a repeat
(``cache_hits``) and when it last did (``last_served_at``), so the log shows which runs are reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, delete, select, update
from sqlalchemy.orm import Session

from vibedash.registry.db import unit_of_work
from vibedash.registry.models import SolveRun, Version, utcnow
from vibedash.solve.prompts import SamplingSettings

DEVICE_COLUMN_LIMIT = 64


def cache_key(*, version_sha: str, model_ref: str, prompt: str, settings: SamplingSettings, backend: str) -> str:
    payload = {"version": version_sha, "model_ref": model_ref, "prompt": prompt, "settings": settings.key_dict(),
               "mode": settings.mode, "backend": backend}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SolveResult:
    """One run as the engine hands it back and the log keeps it."""

    cache_key: str
    version_id: int | None
    version_sha: str
    model_ref: str
    kind: str
    prompt: str
    problem_id: str | None
    expected: str | None
    settings: SamplingSettings
    backend: str
    device: str | None
    output: str  # single: the completion; vote: every sample, each under a header
    answer: str | None
    correct: bool | None
    grade_detail: str
    agreement: float | None = None  # vote: share of samples agreeing with the majority answer
    stopped: bool = False
    time_to_first_token_s: float | None = None
    elapsed_s: float | None = None
    tokens: int | None = None
    tokens_per_second: float | None = None
    load_s: float | None = None  # request to generation start: model load or queue
    time_to_first_answer_s: float | None = None  # request to the first token after </think>
    total_s: float | None = None  # request to the last token
    thinking_tokens: int | None = None  # all samples
    answer_tokens: int | None = None  # all samples
    decode_tokens_per_second: float | None = None  # the version's own decode rate
    samples_cut: int | None = None  # samples a token cap ended
    samples_forced: int | None = None  # samples whose thinking the budget closed
    energy_j: float | None = None  # GPU energy of the run (NVML); None without a GPU
    gpu_utilisation_pct: float | None = None
    gpu_memory_mb: float | None = None
    gpu_power_w: float | None = None
    sample_outputs: tuple[str, ...] = ()  # each sample's text (live runs; a cached vote keeps only `output`)
    sample_answers: tuple[str | None, ...] = ()
    cached: bool = False  # answered from the log, not generated now
    run_id: int | None = None
    created_at: datetime | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def cut_by_cap(self) -> bool:
        return bool(self.samples_cut)

    @property
    def mean_thinking_tokens(self) -> float | None:
        return self.thinking_tokens / self.settings.samples if self.thinking_tokens is not None else None


FIGURE_FIELDS = ("load_s", "time_to_first_answer_s", "total_s", "thinking_tokens", "answer_tokens",
                 "decode_tokens_per_second", "samples_cut", "samples_forced", "energy_j", "gpu_utilisation_pct",
                 "gpu_memory_mb", "gpu_power_w")


def join_samples(texts: list[str]) -> str:
    if len(texts) == 1:
        return texts[0]
    return "\n\n".join(f"=== sample {index + 1} of {len(texts)} ===\n{text}" for index, text in enumerate(texts))


def _settings_json(result: SolveResult) -> dict[str, Any]:
    return {**result.settings.as_dict(), "model_ref": result.model_ref, "kind": result.kind}


def _settings_from_json(data: dict[str, Any] | None) -> SamplingSettings:
    known = SamplingSettings.__dataclass_fields__
    return SamplingSettings(**{key: value for key, value in (data or {}).items() if key in known})


def _result_from_row(row: SolveRun, version_sha: str, cached: bool) -> SolveResult:
    settings_json = row.settings or {}
    return SolveResult(
        cache_key=row.cache_key, version_id=row.version_id, version_sha=version_sha,
        model_ref=settings_json.get("model_ref", ""), kind=settings_json.get("kind", "math"), prompt=row.prompt,
        problem_id=row.problem_id, expected=row.expected, settings=_settings_from_json(settings_json),
        backend=row.backend, device=row.device, output=row.output, answer=row.answer, correct=row.correct,
        grade_detail=row.grade_detail or "", agreement=row.agreement, stopped=row.stopped,
        time_to_first_token_s=row.time_to_first_token_s, elapsed_s=row.elapsed_s, tokens=row.tokens,
        tokens_per_second=row.tokens_per_second, cached=cached, run_id=row.id, created_at=row.created_at,
        **{name: getattr(row, name) for name in FIGURE_FIELDS})


def serve_cached(engine: Engine, key: str, now: datetime | None = None) -> SolveResult | None:
    """Answer a request from the log: the logged run for this cache key, counted as served (one more hit,
    last served ``now``), unless there is none or it was stopped (then nothing is counted)."""
    with unit_of_work(engine) as session:
        # One UPDATE counts the hit in the database itself, so two sessions serving the same run at once
        # both count; it also claims the row, so the read below sees this transaction's own count.
        counted = session.execute(
            update(SolveRun).where(SolveRun.cache_key == key, SolveRun.stopped.is_(False))
            .values(cache_hits=SolveRun.cache_hits + 1, last_served_at=now or utcnow())
            .execution_options(synchronize_session=False))
        if counted.rowcount == 0:
            return None
        row, sha = session.execute(select(SolveRun, Version.sha).outerjoin(Version, SolveRun.version_id == Version.id)
                                   .where(SolveRun.cache_key == key)).one()
        return _result_from_row(row, sha or "", cached=True)


def save_run(engine: Engine, result: SolveResult) -> SolveResult:
    """Log a run; a run logged before under the same cache key is replaced (a fresh run, or a stopped one
    finished later), and with it its hit count: the new run has served nobody yet. Returns the result with
    its run id and time."""
    with unit_of_work(engine) as session:
        session.execute(delete(SolveRun).where(SolveRun.cache_key == result.cache_key))
        row = SolveRun(
            cache_key=result.cache_key, version_id=result.version_id, problem_id=result.problem_id,
            prompt=result.prompt, expected=result.expected, mode=result.mode, settings=_settings_json(result),
            backend=result.backend, device=(result.device or "")[:DEVICE_COLUMN_LIMIT] or None,
            output=result.output, answer=result.answer, correct=result.correct, grade_detail=result.grade_detail,
            agreement=result.agreement, stopped=result.stopped, time_to_first_token_s=result.time_to_first_token_s,
            elapsed_s=result.elapsed_s, tokens=result.tokens, tokens_per_second=result.tokens_per_second,
            **{name: getattr(result, name) for name in FIGURE_FIELDS})
        session.add(row)
        session.flush()
        return replace(result, run_id=row.id, created_at=row.created_at)


@dataclass(frozen=True)
class RunSummary:
    """One line of the recent runs table."""

    run_id: int
    created_at: datetime
    version: str  # short sha, or "deleted" when the version is gone
    problem: str  # problem id or the start of the free-text prompt
    mode: str
    samples: int
    backend: str
    device: str | None
    answer: str | None
    correct: bool | None
    agreement: float | None
    tokens: int | None
    tokens_per_second: float | None
    time_to_first_token_s: float | None
    stopped: bool
    cache_hits: int = 0  # identical requests this run answered from the log
    last_served_at: datetime | None = None
    time_to_first_answer_s: float | None = None
    total_s: float | None = None
    thinking_tokens: int | None = None
    answer_tokens: int | None = None
    decode_tokens_per_second: float | None = None
    samples_cut: int | None = None
    thinking_budget: int | None = None
    energy_j: float | None = None

    @property
    def reusable(self) -> bool:
        """Whether an identical request is answered from this run (the cache)."""
        return not self.stopped


def recent_runs(engine: Engine, limit: int = 20, version_ids: list[int] | None = None) -> list[RunSummary]:
    """Newest first; only these versions' runs when ``version_ids`` is given."""
    query = (select(SolveRun, Version.sha).outerjoin(Version, SolveRun.version_id == Version.id)
             .order_by(SolveRun.created_at.desc(), SolveRun.id.desc()).limit(limit))
    if version_ids:
        query = query.where(SolveRun.version_id.in_(version_ids))
    with unit_of_work(engine) as session:
        return _summaries(session, query)


def runs_of_version(session: Session, version_id: int, limit: int = 50) -> list[RunSummary]:
    """A version's runs, newest first, in an open session (the Version page's read session)."""
    query = (select(SolveRun, Version.sha).outerjoin(Version, SolveRun.version_id == Version.id)
             .where(SolveRun.version_id == version_id)
             .order_by(SolveRun.created_at.desc(), SolveRun.id.desc()).limit(limit))
    return _summaries(session, query)


def _summaries(session: Session, query: Select) -> list[RunSummary]:
    summaries = []
    for row, sha in session.execute(query):
        settings = _settings_from_json(row.settings)
        problem = row.problem_id or _first_words(row.prompt)
        answer = row.answer if row.answer is None or "\n" not in row.answer else "(program)"
        summaries.append(RunSummary(
            run_id=row.id, created_at=row.created_at, version=sha[:7] if sha else "deleted", problem=problem,
            mode=row.mode, samples=settings.samples, backend=row.backend, device=row.device, answer=answer,
            correct=row.correct, agreement=row.agreement, tokens=row.tokens,
            tokens_per_second=row.tokens_per_second, time_to_first_token_s=row.time_to_first_token_s,
            stopped=row.stopped, cache_hits=row.cache_hits, last_served_at=row.last_served_at,
            time_to_first_answer_s=row.time_to_first_answer_s, total_s=row.total_s,
            thinking_tokens=row.thinking_tokens, answer_tokens=row.answer_tokens,
            decode_tokens_per_second=row.decode_tokens_per_second, samples_cut=row.samples_cut,
            thinking_budget=settings.thinking_budget, energy_j=row.energy_j))
    return summaries


def _first_words(prompt: str, limit: int = 40) -> str:
    text = " ".join(prompt.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
