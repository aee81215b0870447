"""The registry's tables (SQLAlchemy 2.x typed models).

The schema changes only through Alembic migrations in ``migrations/``; a test checks that these models
and the migrations agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vibedash.registry.model_base import NAMING_CONVENTION, Base, UTCDateTime, utcnow  # noqa: F401  (named from here)


class Version(Base):
    """One model checkpoint, named by its git commit."""

    __tablename__ = "version"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha: Mapped[str] = mapped_column(String(40), unique=True)
    branch: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    model_ref: Mapped[str | None] = mapped_column(String(1024))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deploys: Mapped[list[Deploy]] = relationship(back_populates="version")
    results: Mapped[list[BenchmarkResult]] = relationship(
        back_populates="version", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_version_created_at", "created_at"),
        Index("ix_version_branch_created_at", "branch", "created_at"),
    )


class Site(Base):
    """A Netlify site as last synced: which deploy it serves and when we last looked."""

    __tablename__ = "site"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(1024))
    admin_url: Mapped[str | None] = mapped_column(String(1024))
    published_deploy_id: Mapped[str | None] = mapped_column(String(64))
    last_synced_at: Mapped[datetime | None]
    last_full_sync_at: Mapped[datetime | None]


class Deploy(Base):
    """One Netlify deploy of the demo site: immutable, with its own permalink."""

    __tablename__ = "deploy"

    id: Mapped[int] = mapped_column(primary_key=True)
    netlify_id: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[str | None] = mapped_column(String(64))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("version.id", ondelete="SET NULL"))
    commit_ref: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(32), default="ready")
    context: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    permalink: Mapped[str | None] = mapped_column(String(1024))
    url: Mapped[str | None] = mapped_column(String(1024))
    admin_url: Mapped[str | None] = mapped_column(String(1024))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    is_live: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    pin_reason: Mapped[str | None] = mapped_column(Text)
    pinned_by: Mapped[str | None] = mapped_column(String(255))
    pinned_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]

    version: Mapped[Version | None] = relationship(back_populates="deploys")

    __table_args__ = (
        Index("ix_deploy_version_id", "version_id"),
        Index("ix_deploy_created_at", "created_at"),
        Index("ix_deploy_site_live", "site_id", "is_live"),
        Index("ix_deploy_state_context_branch", "state", "context", "branch"),
        # Partial indexes: a handful of live or published deploys among a million. Whole-column indexes would
        # tell the planner "half the rows" for is_live (it keeps no skew statistics) and lure every
        # "not live" query onto them.
        Index("ix_deploy_live", "published_at", sqlite_where=text("is_live = 1"),
              postgresql_where=text("is_live")),
        Index("ix_deploy_published_at", "published_at", sqlite_where=text("published_at IS NOT NULL"),
              postgresql_where=text("published_at IS NOT NULL")),
        Index("ix_deploy_pinned", "pinned_at", sqlite_where=text("pinned = 1"), postgresql_where=text("pinned")),
        # candidates: the newest ready deploys, in order, without sorting every deploy
        Index("ix_deploy_state_created_at", "state", "created_at"),
        # the History filter's choices, read as a skip scan of distinct values
        Index("ix_deploy_context", "context"),
    )


class BenchmarkResult(Base):
    """One benchmark score of a version, with its protocol; 0 to 100 scale."""

    __tablename__ = "benchmark_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("version.id", ondelete="CASCADE"))
    benchmark: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64), default="pass@1")
    score: Mapped[float] = mapped_column(Float)
    stderr: Mapped[float | None] = mapped_column(Float)
    problems: Mapped[int | None] = mapped_column(Integer)
    samples_per_problem: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    k: Mapped[int | None] = mapped_column(Integer)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    settings: Mapped[dict[str, Any] | None]
    # The headline score for (version, benchmark): what tables, the gate and retention read.
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    source_format: Mapped[str] = mapped_column(String(32))
    source_file: Mapped[str | None] = mapped_column(String(1024))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    version: Mapped[Version] = relationship(back_populates="results")
    problem_results: Mapped[list[ProblemResult]] = relationship(
        back_populates="result", cascade="all, delete-orphan"
    )

    __table_args__ = (
        UniqueConstraint("version_id", "benchmark", "metric", name="uq_benchmark_result_version_benchmark_metric"),
        Index("ix_benchmark_result_primary", "benchmark", "is_primary", "version_id", "score"),
        # the best candidate: headline scores of one benchmark walked from the top, stopping at the first
        # version with a candidate deploy
        Index("ix_benchmark_result_ranking", "benchmark", "is_primary", "score"),
    )


class ProblemResult(Base):
    """Per-problem outcome behind a result: how many of the samples were correct."""

    __tablename__ = "problem_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("benchmark_result.id", ondelete="CASCADE"))
    problem_id: Mapped[str] = mapped_column(String(255))
    samples: Mapped[int] = mapped_column(Integer, default=1)
    correct: Mapped[int] = mapped_column(Integer)

    result: Mapped[BenchmarkResult] = relationship(back_populates="problem_results")

    __table_args__ = (UniqueConstraint("result_id", "problem_id", name="uq_problem_result_result_problem"),)


class Event(Base):
    """One line of the audit log: who did what, why, the verdict, and how it ended."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(255))
    version_sha: Mapped[str | None] = mapped_column(String(40))
    previous_live: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[dict[str, Any] | None]
    override: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="started")
    error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # What the action set out to reach, e.g. "promote <site> <deploy> from <live>": a retry of the same intent
    # resumes it (same target, same expected live, the gate's verdict kept) instead of starting over.
    intent: Mapped[str | None] = mapped_column(String(255))
    # Held ("site:<id>") only while an action that changes what is live runs; unique, so two such actions on
    # one site cannot run at once (NULLs never collide, in SQLite and PostgreSQL alike).
    claim: Mapped[str | None] = mapped_column(String(128), unique=True)

    __table_args__ = (
        Index("ix_event_started_at", "started_at"),
        Index("ix_event_kind_started_at", "kind", "started_at"),
        Index("ix_event_intent", "intent"),
        # one version's or one deploy's audit trail, newest first, without scanning the log
        Index("ix_event_target_started_at", "target", "started_at"),
        Index("ix_event_version_sha_started_at", "version_sha", "started_at"),
        # the audit log's filters (and their choices, read as skip scans)
        Index("ix_event_actor_started_at", "actor", "started_at"),
        Index("ix_event_status_started_at", "status", "started_at"),
        # succeeded promotions and rollbacks, newest first (what was live when)
        Index("ix_event_kind_status_started_at", "kind", "status", "started_at"),
        # the audit lines of actions (those with an intent), newest first: "the latest action" is a seek among
        # them, not a scan of every import and sync line
        Index("ix_event_intent_id", "id", sqlite_where=text("intent IS NOT NULL"),
              postgresql_where=text("intent IS NOT NULL")),
    )


class SolveRun(Base):
    """One problem answered by one version: output, answer, grade, speed; also the solve cache."""

    __tablename__ = "solve_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    cache_key: Mapped[str] = mapped_column(String(64), unique=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("version.id", ondelete="SET NULL"))
    problem_id: Mapped[str | None] = mapped_column(String(255))
    prompt: Mapped[str] = mapped_column(Text)
    expected: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16), default="single")
    settings: Mapped[dict[str, Any] | None]
    backend: Mapped[str] = mapped_column(String(32))
    device: Mapped[str | None] = mapped_column(String(64))
    output: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str | None] = mapped_column(Text)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    grade_detail: Mapped[str | None] = mapped_column(Text)
    agreement: Mapped[float | None] = mapped_column(Float)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    time_to_first_token_s: Mapped[float | None] = mapped_column(Float)
    elapsed_s: Mapped[float | None] = mapped_column(Float)
    tokens: Mapped[int | None] = mapped_column(Integer)
    tokens_per_second: Mapped[float | None] = mapped_column(Float)
    # Thinking-aware figures (0004). Times are seconds from the request, model load or queue included.
    load_s: Mapped[float | None] = mapped_column(Float)  # model load, worker or server queue
    time_to_first_answer_s: Mapped[float | None] = mapped_column(Float)  # first token after </think>
    total_s: Mapped[float | None] = mapped_column(Float)
    thinking_tokens: Mapped[int | None] = mapped_column(Integer)  # all samples
    answer_tokens: Mapped[int | None] = mapped_column(Integer)  # all samples
    decode_tokens_per_second: Mapped[float | None] = mapped_column(Float)  # the version's own decode rate
    samples_cut: Mapped[int | None] = mapped_column(Integer)  # samples a token cap ended
    samples_forced: Mapped[int | None] = mapped_column(Integer)  # samples whose thinking the budget closed
    energy_j: Mapped[float | None] = mapped_column(Float)  # GPU energy over the run (NVML)
    gpu_utilisation_pct: Mapped[float | None] = mapped_column(Float)  # mean
    gpu_memory_mb: Mapped[float | None] = mapped_column(Float)  # peak
    gpu_power_w: Mapped[float | None] = mapped_column(Float)  # mean
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # How often this run answered an identical request from the log instead of generating, and when last.
    cache_hits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_served_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_solve_run_created_at", "created_at"),
        Index("ix_solve_run_version_id", "version_id"),
    )


class EvalRun(Base):
    """One evaluation of a version on a problem set under one protocol, made by the eval runner.

    Samples are recorded as they finish (``SampleResult.run_id``), so a run that stops (Ctrl-C, Cancel, a
    crash) continues where it was when started again with the same protocol. When every sample is in, the
    run becomes a benchmark result like any import (``result_id``)."""

    __tablename__ = "eval_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("version.id", ondelete="CASCADE"))
    benchmark: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64), default="pass@1")
    # sha256 of the protocol and the problem set: a rerun with the same key resumes this run
    protocol_key: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[dict[str, Any] | None]
    problems_file: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, cancelled, failed, finished
    problems: Mapped[int] = mapped_column(Integer, default=0)
    samples_total: Mapped[int] = mapped_column(Integer, default=0)
    samples_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    samples_correct: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # generation wall time over every session of the run (what seconds per correct answer is made of)
    elapsed_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    energy_joules: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))
    result_id: Mapped[int | None] = mapped_column(ForeignKey("benchmark_result.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_eval_run_version_protocol", "version_id", "protocol_key"),
        Index("ix_eval_run_status", "status"),
    )


class SampleResult(Base):
    """One sample (one generation) behind a result: its extracted answer, grade, length, time and how it ended.

    Millions of rows: reads aggregate in SQL over the (result_id, problem_id, sample_index) index; the full
    output is kept only when asked for, zlib-compressed."""

    __tablename__ = "sample_result"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("benchmark_result.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("eval_run.id", ondelete="CASCADE"))
    problem_id: Mapped[str] = mapped_column(String(255))
    sample_index: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str | None] = mapped_column(Text)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    thinking_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_s: Mapped[float | None] = mapped_column(Float)  # to the sample's last token
    finish_reason: Mapped[str | None] = mapped_column(String(16))  # stop, length (token cap), cancelled
    output_z: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Seconds to the sample's first token and first answer token (after </think>), on the clock latency_s is
    # on (the eval runner: from the request, model load left out). NULL where a source kept no such time.
    first_token_s: Mapped[float | None] = mapped_column(Float)
    first_answer_s: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("result_id", "problem_id", "sample_index", name="uq_sample_result_result_problem_sample"),
        UniqueConstraint("run_id", "problem_id", "sample_index", name="uq_sample_result_run_problem_sample"),
    )


# The maintained tables live in their own module; every table is named from here, and importing this module
# registers them all on Base.metadata (what Alembic and the drift test compare).
from vibedash.registry.summary_models import (  # noqa: F401
    RegistryState,
    SampleAnswerCount,
    SampleSummary,
    VersionBranchHead,
    VersionDeploySummary,
)
