"""Overview reads: what is live now, the best candidate (with the gate's verdict), the trend and the counts.

The best candidate is cached per registry generation, gate policy and lead benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, select
from sqlalchemy.orm import Session

from vibedash.decisions.candidates import MAX_JUDGED, choose_best_candidate
from vibedash.decisions.facts import VersionFacts
from vibedash.decisions.gate import Policy, Verdict
from vibedash.decisions.noise import BenchmarkComparison, compare_facts
from vibedash.decisions.stats import DiffInterval
from vibedash.registry import records as registry
from vibedash.registry.generation import cached
from vibedash.registry.history_queries import LIVE_CHANGE_KINDS
from vibedash.registry.models import BenchmarkResult, Deploy, Event, Version


@dataclass(frozen=True)
class LiveNow:
    """The deploy the site serves now and its version's headline scores."""

    deploy_id: str
    sha: str | None
    branch: str | None
    message: str | None
    permalink: str | None
    site_url: str | None
    locked: bool
    since: datetime | None
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidateSummary:
    """The best candidate (:mod:`vibedash.decisions.candidates`: the version the gate passes against live that
    scores highest on the policy's primary benchmark), with the gate's verdict and how it was chosen."""

    sha: str
    branch: str | None
    message: str | None
    created_at: datetime
    deploy_id: str
    permalink: str | None
    scores: dict[str, float]
    lead_benchmark: str | None
    # candidate - live on the lead benchmark (paired when both have per-problem results); None when there is
    # nothing live, no score on either side, or the noise is unknown
    lead_diff: DiffInterval | None
    verdict: Verdict
    passes_gate: bool = False  # False: no candidate passes; this is the highest-scoring one with results
    considered: int = 1  # candidates the gate judged to choose it
    selection_note: str = ""  # how it was chosen, and that its lead will shrink on a re-run
    # per benchmark the candidate and live both have: the comparison (judged delta, interval, undecided reason)
    comparisons: dict[str, BenchmarkComparison] = field(default_factory=dict)

    def beyond_noise(self, benchmark: str) -> bool:
        """Whether the change from live on ``benchmark`` is beyond noise (a colour, an arrow, are then honest)."""
        comparison = self.comparisons.get(benchmark)
        return comparison is not None and comparison.direction != 0


def live_now(session: Session) -> LiveNow | None:
    """The live deploy with its version and when it went live: one indexed read (the partial index of live
    deploys, the version by key, the latest live change by target), then the version's headline scores."""
    row = session.execute(_live_now_statements()[0]).first()
    if row is None:
        return None
    (deploy_id, deploy_branch, permalink, url, locked, published_at, version_id, sha, version_branch, message,
     last_change) = row
    scores = ({benchmark: score for benchmark, score in
               session.execute(_live_now_statements()[1], {"version_id": version_id})}
              if version_id is not None else {})
    return LiveNow(deploy_id=deploy_id, sha=sha, branch=version_branch if version_id is not None else deploy_branch,
                   message=message, permalink=permalink, site_url=url, locked=bool(locked),
                   since=_latest(published_at, _utc_or_none(last_change)), scores=scores)


@lru_cache(maxsize=1)
def _live_now_statements() -> tuple[Select, Select]:
    """Built once: a statement costs more to build than to run (the overview asks on every rerun)."""
    changed = (select(func.max(func.coalesce(Event.finished_at, Event.started_at)))
               .where(Event.kind.in_(LIVE_CHANGE_KINDS), Event.status == "succeeded",
                      Event.target == Deploy.netlify_id).correlate(Deploy).scalar_subquery())
    live = (select(Deploy.netlify_id, Deploy.branch, Deploy.permalink, Deploy.url, Deploy.locked, Deploy.published_at,
                   Version.id, Version.sha, Version.branch, Version.message, changed)
            .outerjoin(Version, Version.id == Deploy.version_id).where(registry.IS_LIVE)
            .order_by(Deploy.published_at.desc()).limit(1))
    scores = (select(BenchmarkResult.benchmark, BenchmarkResult.score)
              .where(BenchmarkResult.version_id == bindparam("version_id"), BenchmarkResult.is_primary.is_(True)))
    return live, scores


def _utc_or_none(moment: Any) -> datetime | None:
    """A moment from an untyped aggregate (text on SQLite) as an aware UTC datetime."""
    if moment is None or isinstance(moment, datetime):
        return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(moment)).replace(tzinfo=timezone.utc)


def _latest(*moments: datetime | None) -> datetime | None:
    candidates = [moment for moment in moments if moment is not None]
    return max(candidates, key=_as_utc) if candidates else None


def went_live_at(session: Session, deploy: Deploy) -> datetime | None:
    """When ``deploy`` went live this time: the latest promotion or rollback that made it live, else its publish
    time. Netlify's ``published_at`` is when a deploy was *first* published, so after a rollback to an older
    deploy it would claim the deploy has been live for days."""
    changed = session.scalar(select(func.max(func.coalesce(Event.finished_at, Event.started_at)))
                             .where(Event.kind.in_(LIVE_CHANGE_KINDS), Event.status == "succeeded",
                                    Event.target == deploy.netlify_id))
    candidates = [moment for moment in (deploy.published_at, changed) if moment is not None]
    return max(candidates, key=_as_utc) if candidates else None


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def lead_benchmark(session: Session) -> str | None:
    """The benchmark the overview leads with: the first headline benchmark with scores (AIME25 normally)."""
    present = registry.benchmarks_in_registry(session)
    if "aime25" in present:
        return "aime25"
    return present[0] if present else None


def policy_fingerprint(policy: Policy) -> tuple:
    """What identifies a gate policy's judgement: everything that changes its verdicts."""
    return policy.settings_key()


def best_candidate(session: Session, policy: Policy, lead: str | None) -> CandidateSummary | None:
    """The best candidate by the one shared rule (:func:`vibedash.decisions.candidates.choose_best_candidate`):
    candidates best-first on the policy's primary benchmark (else ``lead``), the first the gate passes against
    live; else the highest-scoring candidate with results. None when no candidate has results.

    Computed once per registry state generation, policy and lead benchmark: every write but an audit line
    bumps it (the choice never reads the audit log), so the cached summary is always the one a recomputation
    would give, and reading it after an action or import that only wrote its audit line is one lookup.
    """
    return cached(session, "best_candidate", (policy_fingerprint(policy), lead),
                  lambda: _best_candidate(session, policy, lead), reads_audit_log=False)


def _best_candidate(session: Session, policy: Policy, lead: str | None) -> CandidateSummary | None:
    primary = policy.primary_benchmark or lead
    live = registry.live_deploy(session)
    live_facts = (registry.version_facts(session, live.version)
                  if live is not None and live.version is not None else None)
    ranked = registry.ranked_candidates(session, primary, limit=MAX_JUDGED)
    read: list[VersionFacts] = []
    choice = choose_best_candidate(live_facts, _facts_in_batches(session, [v for v, _ in ranked], read), policy,
                                   available=len(ranked))
    if choice.index is None or choice.verdict is None:
        return None
    version, deploy = ranked[choice.index]
    candidate = read[choice.index]
    comparisons = ({b: compare_facts(live_facts.scores[b], fact, policy.noise) for b, fact in candidate.scores.items()
                    if b in live_facts.scores} if live_facts is not None else {})
    lead_diff = comparisons[lead].diff if lead in comparisons else None
    return CandidateSummary(
        sha=version.sha, branch=version.branch, message=version.message, created_at=version.created_at,
        deploy_id=deploy.netlify_id, permalink=deploy.permalink,
        scores={b: fact.score for b, fact in candidate.scores.items()}, lead_benchmark=lead, lead_diff=lead_diff,
        verdict=choice.verdict, passes_gate=choice.passes, considered=choice.considered,
        selection_note=choice.selection_note(primary), comparisons=comparisons)


FACTS_BATCH = 8  # candidates' facts read together: the first usually decides, the rest come a batch at a time


def _facts_in_batches(session: Session, versions: list[Version], read: list[VersionFacts]) -> Iterator[VersionFacts]:
    """The versions' facts in order, read ``FACTS_BATCH`` versions at a time as the choice asks for them (and
    kept in ``read``)."""
    for start in range(0, len(versions), FACTS_BATCH):
        batch = registry.versions_facts(session, versions[start:start + FACTS_BATCH])
        for facts in batch:
            read.append(facts)
            yield facts


@dataclass(frozen=True)
class Overview:
    """What the overview page shows, read in one go."""

    counts: registry.RegistryCounts
    live: LiveNow | None
    candidate: CandidateSummary | None
    lead_benchmark: str | None
    trend: list[dict[str, Any]]
    events: list[dict[str, Any]]


def overview(session: Session, policy: Policy, *, trend_versions: int = 30, recent_events: int = 10) -> Overview:
    lead = lead_benchmark(session)
    return Overview(counts=registry.counts(session), live=live_now(session),
                    candidate=best_candidate(session, policy, lead), lead_benchmark=lead,
                    trend=trend(session, lead, limit=trend_versions) if lead else [],
                    events=registry.events(session, limit=recent_events))


def trend(session: Session, benchmark: str, *, limit: int = 30) -> list[dict[str, Any]]:
    """Headline scores on ``benchmark`` of the newest ``limit`` versions that have one, oldest first.

    ``went_live`` marks versions with a deploy that was ever published (the site served it). Two steps, so
    the newest versions are walked by time (ix_version_created_at) and each probed for a score, instead of
    sorting every score of the benchmark by its version's time.
    """
    scored = exists().where(BenchmarkResult.version_id == Version.id, BenchmarkResult.benchmark == benchmark,
                            BenchmarkResult.is_primary.is_(True))
    newest = session.execute(select(Version.id, Version.sha, Version.branch, Version.created_at).where(scored)
                             .order_by(Version.created_at.desc(), Version.id.desc()).limit(limit)).all()
    ids = [row[0] for row in newest]
    scores = dict(session.execute(select(BenchmarkResult.version_id, BenchmarkResult.score).where(
        BenchmarkResult.version_id.in_(ids), BenchmarkResult.benchmark == benchmark,
        BenchmarkResult.is_primary.is_(True))).all()) if ids else {}
    went_live = set(session.scalars(select(Deploy.version_id).where(
        Deploy.version_id.in_(ids), Deploy.published_at.is_not(None)))) if ids else set()
    return [{"sha": sha, "short": registry.short(sha), "branch": branch, "created_at": created,
             "score": scores[vid], "went_live": vid in went_live}
            for vid, sha, branch, created in reversed(newest)]
