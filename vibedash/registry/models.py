"""The registry's tables (SQLAlchemy 2.x typed models).

The schema changes only through Alembic migrations in ``migrations/``; a test checks that these models
and the migrations agree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores UTC, always returns timezone-aware datetimes (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


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

    __table_args__ = (
        Index("ix_event_started_at", "started_at"),
        Index("ix_event_kind_started_at", "kind", "started_at"),
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
