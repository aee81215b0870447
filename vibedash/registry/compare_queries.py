"""Comparing versions: which versions a picker offers, their facts, and the comparison itself (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS, display_name
from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.noise import NOISE_UNKNOWN, BenchmarkComparison, NoiseSettings, compare_facts
from vibedash.decisions.stats import DiffInterval, Flips, flipped_problems, holm
from vibedash.registry import records as registry
from vibedash.registry.models import BenchmarkResult, Version
from vibedash.registry.overview_queries import live_now


@dataclass(frozen=True)
class VersionChoice:
    sha: str
    branch: str | None
    message: str | None
    created_at: datetime


def version_choices(session: Session, *, limit: int = 300, include: Sequence[str] = ()) -> list[VersionChoice]:
    """The newest ``limit`` versions, plus the versions named in ``include`` (full shas), newest first."""
    rows = session.execute(select(Version.sha, Version.branch, Version.message, Version.created_at)
                           .order_by(Version.created_at.desc(), Version.id.desc()).limit(limit)).all()
    known = {sha for sha, *_ in rows}
    missing = [sha for sha in include if sha not in known]
    if missing:
        rows += session.execute(select(Version.sha, Version.branch, Version.message, Version.created_at)
                                .where(Version.sha.in_(missing))).all()
        rows.sort(key=lambda r: r[3], reverse=True)
    return [VersionChoice(sha=sha, branch=branch, message=message, created_at=created)
            for sha, branch, message, created in rows]


def newest_scored_version(session: Session, *, other_than: str | None = None) -> str | None:
    """The sha of the newest version with a headline result (other than ``other_than``), or None."""
    query = (select(Version.sha).where(exists().where(BenchmarkResult.version_id == Version.id,
                                                      BenchmarkResult.is_primary.is_(True)))
             .order_by(Version.created_at.desc(), Version.id.desc()).limit(1))
    if other_than:
        query = query.where(Version.sha != other_than)
    return session.scalar(query)


def resolve_shas(session: Session, texts: Sequence[str]) -> tuple[list[str], list[str]]:
    """(full shas of the versions found, one problem sentence per text that is not a known version)."""
    found: list[str] = []
    problems: list[str] = []
    for text in texts:
        try:
            sha = registry.find_version(session, text).sha
        except (registry.NotFound, registry.RegistryError) as exc:
            problems.append(str(exc))
            continue
        if sha not in found:
            found.append(sha)
    return found, problems


@dataclass(frozen=True)
class CompareChoices:
    versions: list[VersionChoice]  # what a picker lists: the newest versions plus the requested ones
    requested: list[str]  # the requested versions that exist, as full shas, in the order asked
    problems: list[str]  # one sentence per requested text that is not a known version
    suggested: list[str]  # a useful default when nothing is requested: live, then the newest scored version
    live_sha: str | None


def compare_choices(session: Session, requested: Sequence[str], *, limit: int = 300) -> CompareChoices:
    found, problems = resolve_shas(session, list(requested))
    live = live_now(session)
    live_sha = live.sha if live else None
    newest = newest_scored_version(session, other_than=live_sha)
    return CompareChoices(versions=version_choices(session, limit=limit, include=found), requested=found,
                          problems=problems, suggested=[sha for sha in (live_sha, newest) if sha], live_sha=live_sha)


def facts_of(session: Session, shas: Sequence[str]) -> list[VersionFacts]:
    """Headline facts (with per-problem outcomes) of each version, in the given order."""
    return [registry.version_facts(session, registry.find_version(session, sha)) for sha in shas]


@dataclass(frozen=True)
class ScoreDiff:
    """One benchmark of one version against the baseline."""

    benchmark: str
    other_sha: str
    baseline: float | None
    other: float | None
    # other - baseline on the problems both share, with its 95% CI; None when a side has no score or the noise
    # is unknown
    interval: DiffInterval | None
    different_protocol: str | None  # "64 vs 8 samples per problem", or None when the protocols match
    # "too few problems", "problem sets differ", "noise unknown": why the data cannot decide; None when it can
    undecided: str | None = None
    reason: str = ""  # the undecided verdict in words (which problems are missing, how many are needed)
    # beyond noise after Holm's correction across this version's benchmarks (the family-wise error stays 5%)
    holm_beyond: bool = False
    note: str = ""  # e.g. "beyond noise alone, not after Holm across 4 benchmarks"

    @property
    def delta(self) -> float | None:
        """The judged delta: on the problems both share when paired, else the headline difference."""
        if self.baseline is None or self.other is None:
            return None
        if self.interval is not None:
            return self.interval.delta
        return self.other - self.baseline

    @property
    def verdict(self) -> str:
        """'better' / 'worse' (beyond noise, after Holm), 'within noise', or why there is no verdict."""
        if self.baseline is None or self.other is None:
            return "no result" if self.other is None else "no baseline result"
        if self.undecided:
            return self.undecided
        if self.interval is None:
            return "noise unknown"
        if not self.holm_beyond:
            return "within noise"
        return "better" if self.interval.low > 0 else "worse"


@dataclass(frozen=True)
class Comparison:
    shas: list[str]  # baseline first
    benchmarks: list[str]
    scores: dict[str, dict[str, float]]  # sha -> benchmark -> headline score
    diffs: list[ScoreDiff]  # one per (other version, benchmark), in the order of ``shas`` then ``benchmarks``
    flips: dict[tuple[str, str], Flips]  # (other sha, benchmark) -> problems that flipped, where both have them

    @property
    def baseline(self) -> str:
        return self.shas[0]

    def protocol_warnings(self) -> list[str]:
        return [f"{display_name(d.benchmark)} ({registry.short(self.baseline)} vs {registry.short(d.other_sha)}): "
                f"{d.different_protocol}" for d in self.diffs if d.different_protocol]

    def problem_set_warnings(self) -> list[str]:
        """One line per comparison the data cannot decide: too few problems, problem sets that differ."""
        return [f"{display_name(d.benchmark)} ({registry.short(self.baseline)} vs {registry.short(d.other_sha)}): "
                f"{d.reason}" for d in self.diffs if d.undecided and d.undecided != NOISE_UNKNOWN]


def compare_versions(versions: Sequence[VersionFacts], settings: NoiseSettings = NoiseSettings()) -> Comparison:
    """Every version against the first (the baseline), benchmark by benchmark. Pure: no database.

    Each difference is like with like (:func:`vibedash.decisions.noise.compare_facts`: the problems both share,
    a paired t interval and an exact sign-flip test), and is marked better or worse only when it stays beyond
    noise after Holm's correction across the benchmarks of that version: with four benchmarks and no true
    change, at most 5% of comparisons show any mark.
    """
    if not versions:
        raise ValueError("compare needs at least one version")
    baseline = versions[0]
    present = {b for v in versions for b in v.scores}
    order = {b: i for i, b in enumerate(HEADLINE_BENCHMARKS)}
    benchmarks = sorted(present, key=lambda b: (order.get(b, len(order)), b))
    alpha = 1 - settings.confidence
    diffs: list[ScoreDiff] = []
    flips: dict[tuple[str, str], Flips] = {}
    for other in versions[1:]:
        judged: list[tuple[str, ScoreFact | None, ScoreFact | None, BenchmarkComparison | None]] = []
        for bench in benchmarks:
            old, new = baseline.scores.get(bench), other.scores.get(bench)
            judged.append((bench, old, new, compare_facts(old, new, settings) if old and new else None))
            if old is not None and new is not None and old.per_problem and new.per_problem:
                flipped = flipped_problems(old.per_problem, new.per_problem)
                if flipped.n_common:
                    flips[(other.sha, bench)] = flipped
        p_values = [c.diff.p_value if c is not None and c.diff is not None and not c.undecided else None
                    for _, _, _, c in judged]
        tested = sum(p is not None for p in p_values)
        rejected = holm(p_values, alpha)
        for (bench, old, new, cmp), holm_ok in zip(judged, rejected):
            beyond = cmp is not None and cmp.direction != 0
            note = (f"beyond noise alone, not after Holm's correction across {tested} benchmarks"
                    if beyond and not holm_ok else "")
            diffs.append(ScoreDiff(
                benchmark=bench, other_sha=other.sha, baseline=old.score if old else None,
                other=new.score if new else None, interval=cmp.diff if cmp else None,
                different_protocol=protocol_difference(old, new) if old and new else None,
                undecided=cmp.undecided if cmp else None, reason=cmp.reason if cmp else "",
                holm_beyond=beyond and holm_ok, note=note))
    return Comparison(shas=[v.sha for v in versions], benchmarks=benchmarks,
                      scores={v.sha: {b: f.score for b, f in v.scores.items()} for v in versions},
                      diffs=diffs, flips=flips)


def protocol_difference(a: ScoreFact, b: ScoreFact) -> str | None:
    """How two results' protocols differ ("64 vs 8 samples per problem; temperature 0.6 vs 1.0"), or None."""
    parts = []
    if a.metric != b.metric:
        parts.append(f"metric {a.metric} vs {b.metric}")
    if a.samples_per_problem != b.samples_per_problem and None not in (a.samples_per_problem, b.samples_per_problem):
        parts.append(f"{a.samples_per_problem} vs {b.samples_per_problem} samples per problem")
    if (a.temperature is not None and b.temperature is not None and abs(a.temperature - b.temperature) > 1e-9):
        parts.append(f"temperature {a.temperature:g} vs {b.temperature:g}")
    return "; ".join(parts) or None
