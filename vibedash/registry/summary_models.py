"""The registry's maintained tables: its change counters, and the summaries kept in the same transaction as
the rows they sum (per-sample summaries and answer counts; per-version deploy figures and branch heads kept by
triggers), which pages read instead of scanning the rows. Re-exported by :mod:`vibedash.registry.models`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vibedash.registry.model_base import Base


class RegistryState(Base):
    """One row: the registry's change counter.

    ``generation`` goes up in the same transaction as every write to the registry (the engine does it; see
    vibedash.registry.generation), so a derived value computed at generation G (the best candidate, the
    counts, the retention plan) is right for exactly as long as the generation reads G. ``instance`` names
    this database, so two registries at the same URL over time never share a cached value.
    """

    __tablename__ = "registry_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # bumped by every write but those to the audit log: keys the facts that never read it (the best candidate)
    state_generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    instance: Mapped[str] = mapped_column(String(32))
    # versions removed (a trigger, migration 0012) and summary refills, counted: a retention plan that saw
    # another count reads every version again (a removed version marks no row)
    summary_removals: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SampleSummary(Base):
    """Per (result, problem) sums over its samples, kept with the samples (migration 0008).

    Pages read these instead of the samples: a result's counts, k-curves and cost are O(problems) rows
    whatever the registry holds. Written in the same transaction as the samples (importers, the eval runner's
    finalize; vibedash.registry.samples.refresh_summaries), rebuilt by the bulk loader; removed with the
    result (ON DELETE CASCADE)."""

    __tablename__ = "sample_summary"

    result_id: Mapped[int] = mapped_column(ForeignKey("benchmark_result.id", ondelete="CASCADE"), primary_key=True)
    problem_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)  # every sample, graded or not
    graded: Mapped[int] = mapped_column(Integer)  # samples with a grade: the n of pass@k
    correct: Mapped[int] = mapped_column(Integer)  # the c of pass@k
    answered: Mapped[int] = mapped_column(Integer)  # samples with an extracted answer (they vote in maj@k)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)  # sum over the samples that have a count
    token_samples: Mapped[int] = mapped_column(Integer)
    thinking_tokens: Mapped[int | None] = mapped_column(BigInteger)
    thinking_samples: Mapped[int] = mapped_column(Integer)
    latency_s: Mapped[float | None] = mapped_column(Float)
    latency_samples: Mapped[int] = mapped_column(Integer)
    cut_by_cap: Mapped[int] = mapped_column(Integer)  # finish_reason 'length'


class SampleAnswerCount(Base):
    """Per (result, problem, extracted answer): how many samples gave it and how many of those were graded
    correct. The answer histogram maj@k is computed from (migration 0008); unanswered samples are the
    summary's ``samples - answered``. Answers are stored as written; the vote's normal form is applied when
    read, so changing it needs no migration."""

    __tablename__ = "sample_answer_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("benchmark_result.id", ondelete="CASCADE"))
    problem_id: Mapped[str] = mapped_column(String(255))
    answer: Mapped[str] = mapped_column(Text)
    votes: Mapped[int] = mapped_column(Integer)
    correct_votes: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_sample_answer_count_result_problem", "result_id", "problem_id"),)


class VersionDeploySummary(Base):
    """Per version: what the retention plan reads about its deploys and its gate verdict, one row per version.

    Kept by database triggers (migration 0011) in the same transaction as every write to ``deploy``, ``version``
    and ``event``, whichever path makes it (the app, a sync, a raw bulk load through the DBAPI), so the plan
    reads a hundred thousand rows instead of grouping a million deploys and ranking a million audit lines.
    ``changed_generation`` is the registry generation of the row's last change (what a plan made earlier can
    patch itself from). The bulk loader refills it (vibedash.registry.retention.summary.refill)."""

    __tablename__ = "version_deploy_summary"

    version_id: Mapped[int] = mapped_column(ForeignKey("version.id", ondelete="CASCADE"), primary_key=True)
    deploys: Mapped[int] = mapped_column(Integer)  # every deploy
    expired: Mapped[int] = mapped_column(Integer)  # expired and not live
    failed_open: Mapped[int] = mapped_column(Integer)  # failed builds Netlify still has
    restorable_open: Mapped[int] = mapped_column(Integer)  # restorable deploys Netlify still has
    first_deploy_at: Mapped[datetime | None]
    newest_deploy_at: Mapped[datetime | None]
    # the newest restorable deploy (created_at descending, then Netlify id): the version's representative
    restorable_deploy_id: Mapped[int | None] = mapped_column(Integer)
    restorable_netlify_id: Mapped[str | None] = mapped_column(String(64))
    restorable_created_at: Mapped[datetime | None]
    # the newest recorded gate verdict with a "passed" (1 passed, 0 failed, NULL none), from the audit log
    gate: Mapped[int | None] = mapped_column(SmallInteger)
    changed_generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (Index("ix_version_deploy_summary_changed_generation", "changed_generation"),)


class VersionBranchHead(Base):
    """Per (version, branch): the version's newest restorable deploy on that branch (the deploy's branch, else
    its version's), what "keep the N newest versions on each branch" ranks. Kept by the same triggers."""

    __tablename__ = "version_branch_head"

    version_id: Mapped[int] = mapped_column(ForeignKey("version.id", ondelete="CASCADE"), primary_key=True)
    branch: Mapped[str] = mapped_column(String(255), primary_key=True)
    deploy_id: Mapped[int] = mapped_column(Integer)
    netlify_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_version_branch_head_branch_created_at", "branch", "created_at"),)
