"""Read-side queries the dashboard pages need beyond :mod:`vibedash.registry.records`, and the comparison of versions.

Every function takes a ``Session`` and returns plain, picklable values (dataclasses, dicts, lists), so a
page can cache them with ``st.cache_data``. Nothing here writes. Queries that could touch every version
(the best candidate, the trend, the history filters) stay in SQL with a ``LIMIT`` or an aggregate: the
registry may hold 100,000 versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, select
from sqlalchemy.orm import Session, selectinload

from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS, display_name
from vibedash.decisions.candidates import MAX_JUDGED, choose_best_candidate
from vibedash.decisions.facts import ScoreFact, VersionFacts
from vibedash.decisions.gate import Policy, Verdict
from vibedash.decisions.noise import (
    NOISE_UNKNOWN,
    BenchmarkComparison,
    NoiseSettings,
    compare_facts,
)
from vibedash.decisions.stats import DiffInterval, Flips, flipped_problems, holm
from vibedash.registry import records as registry
from vibedash.registry.generation import cached
from vibedash.registry.models import BenchmarkResult, Deploy, Event, SolveRun, Version

LIVE_CHANGE_KINDS = ("promote", "rollback")


# --- overview ---------------------------------------------------------------------------------------------

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
    choice = choose_best_candidate(live_facts, (registry.version_facts(session, version) for version, _ in ranked),
                                   policy, available=len(ranked))
    if choice.index is None or choice.verdict is None:
        return None
    version, deploy = ranked[choice.index]
    candidate = registry.version_facts(session, version)
    comparisons = ({b: compare_facts(live_facts.scores[b], fact, policy.noise) for b, fact in candidate.scores.items()
                    if b in live_facts.scores} if live_facts is not None else {})
    lead_diff = comparisons[lead].diff if lead in comparisons else None
    return CandidateSummary(
        sha=version.sha, branch=version.branch, message=version.message, created_at=version.created_at,
        deploy_id=deploy.netlify_id, permalink=deploy.permalink,
        scores={b: fact.score for b, fact in candidate.scores.items()}, lead_benchmark=lead, lead_diff=lead_diff,
        verdict=choice.verdict, passes_gate=choice.passes, considered=choice.considered,
        selection_note=choice.selection_note(primary), comparisons=comparisons)


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


# --- history ----------------------------------------------------------------------------------------------

def deploy_contexts(session: Session) -> list[str]:
    return list(cached(session, "deploy_contexts", None,
                       lambda: registry.distinct_values(session, "deploy", "context")))


def deploy_states(session: Session) -> list[str]:
    return list(cached(session, "deploy_states", None, lambda: registry.distinct_values(session, "deploy", "state")))


def headline_result_counts(session: Session) -> dict[str, int]:
    """How many versions have a headline score on each benchmark (one pass over the covering index, once per
    registry generation)."""
    def count() -> dict[str, int]:
        rows = session.execute(select(BenchmarkResult.benchmark, func.count())
                               .where(BenchmarkResult.is_primary.is_(True)).group_by(BenchmarkResult.benchmark))
        return {benchmark: n for benchmark, n in rows}

    return dict(cached(session, "headline_result_counts", None, count))


def live_changes(session: Session, *, since: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Succeeded promotions and rollbacks (newest ``limit``), oldest first: when, what, who, override."""
    rows = []
    for kind in LIVE_CHANGE_KINDS:  # one ordered seek each on (kind, status, started_at), merged below
        query = (select(Event.kind, Event.target, Event.version_sha, Event.actor, Event.override, Event.reason,
                        Event.started_at, Event.finished_at)
                 .where(Event.kind == kind, Event.status == "succeeded")
                 .order_by(Event.started_at.desc()).limit(limit))
        if since is not None:
            query = query.where(Event.started_at >= since)
        rows += session.execute(query).all()
    rows = sorted(rows, key=lambda row: row[6], reverse=True)[:limit]
    return [{"kind": kind, "deploy_id": target, "sha": sha, "short": registry.short(sha), "actor": actor,
             "override": bool(override), "reason": reason, "at": finished or started}
            for kind, target, sha, actor, override, reason, started, finished in reversed(rows)]


# --- one version ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResultDetail:
    benchmark: str
    metric: str
    score: float
    headline: bool  # the primary result of its benchmark: what tables, the gate and retention read
    problems: int | None
    samples_per_problem: int | None
    temperature: float | None
    top_p: float | None
    k: int | None
    max_tokens: int | None
    source_format: str
    source_file: str | None
    imported_at: datetime
    per_problem: dict[str, tuple[int, int]] = field(default_factory=dict)
    stderr: float | None = None  # the score's standard error as the evaluation tool reported it (points)


@dataclass(frozen=True)
class VersionDetail:
    sha: str
    branch: str | None
    message: str | None
    model_ref: str | None
    synthetic: bool
    created_at: datetime
    deploys: list[dict[str, Any]]
    results: list[ResultDetail]
    events: list[dict[str, Any]]
    solve_runs: list[dict[str, Any]]


def version_detail(session: Session, sha_or_prefix: str, *, event_limit: int = 100,
                   solve_limit: int = 50) -> VersionDetail:
    """Everything the registry knows about one version.

    :raises registry.RegistryError: if the text is not a sha, or a prefix matches several versions.
    :raises registry.NotFound: if no version matches.
    """
    version = registry.find_version(session, sha_or_prefix)
    deploys = session.scalars(select(Deploy).where(Deploy.version_id == version.id)
                              .order_by(Deploy.created_at.desc())).all()
    results = session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version.id)
                              .options(selectinload(BenchmarkResult.problem_results))).all()
    order = {b: i for i, b in enumerate(HEADLINE_BENCHMARKS)}
    results = sorted(results, key=lambda r: (order.get(r.benchmark, len(order)), r.benchmark, not r.is_primary,
                                             r.metric))
    deploy_ids = [d.netlify_id for d in deploys]
    event_rows = audit_trail(session, version.sha, deploy_ids, limit=event_limit)
    return VersionDetail(
        sha=version.sha, branch=version.branch, message=version.message, model_ref=version.model_ref,
        synthetic=version.synthetic, created_at=version.created_at,
        deploys=[{"deploy_id": d.netlify_id, "state": d.state, "context": d.context, "branch": d.branch,
                  "permalink": d.permalink, "created_at": d.created_at, "published_at": d.published_at,
                  "live": d.is_live, "locked": d.locked, "pinned": d.pinned, "pin_reason": d.pin_reason,
                  "expired": d.expired_at is not None, "error": d.error_message} for d in deploys],
        results=[ResultDetail(
            benchmark=r.benchmark, metric=r.metric, score=r.score, headline=r.is_primary, problems=r.problems,
            samples_per_problem=r.samples_per_problem, temperature=r.temperature, top_p=r.top_p, k=r.k,
            max_tokens=r.max_tokens, source_format=r.source_format, source_file=r.source_file,
            imported_at=r.imported_at, per_problem={p.problem_id: (p.correct, p.samples) for p in r.problem_results},
            stderr=r.stderr)
            for r in results],
        events=[registry.event_dict(e) for e in event_rows],
        solve_runs=solve_runs_for_version(session, version.id, limit=solve_limit))


def audit_trail(session: Session, sha: str, deploy_ids: Sequence[str], *, limit: int = 100) -> list[Event]:
    """The newest ``limit`` events about a version or any of its deploys, newest first.

    One indexed read per way an event can name the version (by sha, as target, or a deploy as target), each
    already newest first and cut at ``limit``; the union is cut again. Never a scan of the log, however long.
    """
    def newest(condition: Any) -> Select:
        return (select(Event.id).where(condition).order_by(Event.started_at.desc(), Event.id.desc())
                .limit(limit))

    parts = [newest(Event.version_sha == sha), newest(Event.target == sha)]
    for start in range(0, len(deploy_ids), 500):
        parts.append(newest(Event.target.in_(list(deploy_ids[start:start + 500]))))
    ids = set()
    for part in parts:
        ids.update(session.scalars(part))
    if not ids:
        return []
    return list(session.scalars(select(Event).where(Event.id.in_(sorted(ids)))
                                .order_by(Event.started_at.desc(), Event.id.desc()).limit(limit)))


def solve_runs_for_version(session: Session, version_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest solve runs of a version (from the solve log), newest first."""
    runs = session.scalars(select(SolveRun).where(SolveRun.version_id == version_id)
                           .order_by(SolveRun.created_at.desc(), SolveRun.id.desc()).limit(limit)).all()
    return [{"created_at": r.created_at, "problem": r.problem_id or _first_line(r.prompt), "mode": r.mode,
             "backend": r.backend, "device": r.device, "answer": r.answer, "correct": r.correct,
             "time_to_first_token_s": r.time_to_first_token_s, "tokens": r.tokens,
             "tokens_per_second": r.tokens_per_second, "stopped": r.stopped} for r in runs]


def _first_line(text: str, width: int = 80) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


# --- comparing versions -----------------------------------------------------------------------------------

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
