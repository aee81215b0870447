"""Plain, immutable facts read from the registry: what the pure decisions (gate, statistics,
retention) take as input. No database, no network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ScoreFact:
    """One headline benchmark score of a version (0 to 100) with its protocol and per-problem outcomes."""

    benchmark: str
    score: float
    metric: str = "pass@1"
    problems: int | None = None
    samples_per_problem: int | None = None
    temperature: float | None = None
    # problem id -> (correct samples, samples); empty when the source had no per-problem results
    per_problem: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # standard error of the score in points, as the evaluation tool reported it (lm-eval, lighteval); None if not
    stderr: float | None = None


@dataclass(frozen=True)
class VersionFacts:
    sha: str
    scores: Mapping[str, ScoreFact]
    branch: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class DeployFacts:
    """What retention needs to know about one deploy."""

    netlify_id: str
    created_at: datetime
    sha: str | None = None
    branch: str | None = None
    context: str | None = None
    state: str = "ready"
    is_live: bool = False
    locked: bool = False
    pinned: bool = False
    expired: bool = False
    # when this deploy last stopped (or started) being live, from the audit log and Netlify's published_at;
    # None when it never was live
    last_live_at: datetime | None = None
    gate_passed: bool | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
