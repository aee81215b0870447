"""Record and query versions, deploys and results.

Writers take a ``Session`` (the caller owns the transaction, one per unit of work); readers return plain
dataclasses, dicts or facts, never ORM objects that outlive their session.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, func, or_, select, text, true
from sqlalchemy.orm import Session, aliased, selectinload

from vibedash.decisions.facts import DeployFacts, ScoreFact, VersionFacts
from vibedash.importers.base import ParsedResult
from vibedash.registry.generation import cached
from vibedash.registry.models import (
    BenchmarkResult,
    Deploy,
    Event,
    ProblemResult,
    Site,
    SolveRun,
    Version,
    utcnow,
)

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
PRIMARY_METRIC_PREFERENCE = ("pass@1", "avg@n", "exact_match", "acc", "em")


class RegistryError(ValueError):
    """Bad input for the registry; the message says what to fix."""


class NotFound(LookupError):
    """No version or deploy matches."""


def short(sha: str | None) -> str:
    return (sha or "")[:7]


def normalize_sha(text: str) -> str:
    """A lowercase hex commit sha (7 to 40 characters) or RegistryError."""
    sha = (text or "").strip().lower()
    if not SHA_RE.match(sha):
        raise RegistryError(f"{text!r} is not a git commit sha: use 7 to 40 hex characters (0-9, a-f), "
                            "e.g. the output of `git rev-parse HEAD`")
    return sha


# --- versions ---------------------------------------------------------------------------------------------

def find_version(session: Session, sha_or_prefix: str) -> Version:
    """The version whose sha is, or starts with, the given text."""
    prefix = normalize_sha(sha_or_prefix)
    exact = session.scalar(select(Version).where(Version.sha == prefix))
    if exact is not None:
        return exact
    matches = session.scalars(select(Version).where(Version.sha.like(prefix + "%")).limit(3)).all()
    if not matches:
        raise NotFound(f"no version {prefix} in the registry: record it first with "
                       f"`python -m vibedash record --commit {prefix}`")
    if len(matches) > 1:
        raise RegistryError(f"{prefix} matches several versions ({', '.join(short(m.sha) for m in matches)}…): "
                            "give more characters of the sha")
    return matches[0]


def record_version(session: Session, sha: str, *, branch: str | None = None, message: str | None = None,
                   model_ref: str | None = None, created_at: datetime | None = None,
                   synthetic: bool = False) -> Version:
    """Create the version, or update the fields given for an existing one. Returns it."""
    sha = normalize_sha(sha)
    version = session.scalar(select(Version).where(Version.sha == sha))
    if version is None:
        if len(sha) < 40:
            # A short sha is accepted but must not silently duplicate a known full one.
            known = session.scalars(select(Version).where(Version.sha.like(sha + "%")).limit(2)).all()
            if len(known) == 1:
                version = known[0]
    if version is None:
        version = Version(sha=sha, created_at=created_at or utcnow(), synthetic=synthetic)
        session.add(version)
        _new_versions(session).add(sha)
    for name, value in (("branch", branch), ("message", message), ("model_ref", model_ref)):
        if value is not None:
            setattr(version, name, value)
    session.flush()
    return version


# On a session: (its transaction, shas of the versions created in it that have no results yet).
_NEW_VERSIONS = "vibedash_new_versions"


def _new_versions(session: Session) -> set[str]:
    transaction = session.get_transaction()
    held = session.info.get(_NEW_VERSIONS)
    if held is None or held[0] is not transaction:
        held = session.info[_NEW_VERSIONS] = (transaction, set())
    return held[1]


# --- deploys ----------------------------------------------------------------------------------------------

DEPLOY_FIELDS = ("site_id", "commit_ref", "state", "context", "branch", "title", "permalink", "url",
                 "admin_url", "error_message", "created_at", "updated_at", "published_at", "locked")


def upsert_deploy(session: Session, netlify_id: str, **fields: Any) -> Deploy:
    """Create or update one deploy row by its Netlify id; links it to its version by commit_ref."""
    if not netlify_id or not re.match(r"^[A-Za-z0-9_-]{1,64}$", netlify_id):
        raise RegistryError(f"{netlify_id!r} is not a Netlify deploy id (letters, digits, - and _)")
    deploy = session.scalar(select(Deploy).where(Deploy.netlify_id == netlify_id))
    if deploy is None:
        deploy = Deploy(netlify_id=netlify_id, created_at=fields.get("created_at") or utcnow())
        session.add(deploy)
    for name in DEPLOY_FIELDS:
        if name in fields and fields[name] is not None:
            setattr(deploy, name, fields[name])
    commit = fields.get("commit_ref")
    if commit and SHA_RE.match(commit.lower()) and deploy.version_id is None:
        version = session.scalar(select(Version).where(Version.sha == commit.lower()))
        if version is None:
            version = record_version(session, commit, branch=fields.get("branch"),
                                     created_at=fields.get("created_at"))
        deploy.version = version
    session.flush()
    return deploy


def find_deploy(session: Session, deploy_id_or_sha: str) -> Deploy:
    """A deploy by Netlify id, or the newest ready deploy of a version given by sha."""
    text = (deploy_id_or_sha or "").strip()
    deploy = session.scalar(select(Deploy).where(Deploy.netlify_id == text))
    if deploy is not None:
        return deploy
    if SHA_RE.match(text.lower()):
        version = find_version(session, text)
        deploy = session.scalar(
            select(Deploy).where(Deploy.version_id == version.id, Deploy.expired_at.is_(None))
            .order_by((Deploy.state == "ready").desc(), Deploy.created_at.desc()).limit(1))
        if deploy is None:
            raise NotFound(f"version {short(version.sha)} has no deploy in the registry: run "
                           "`python -m vibedash sync`, or record one with `record --deploy-id`")
        return deploy
    raise NotFound(f"no deploy {text!r} in the registry: give a Netlify deploy id or a commit sha "
                   "(run `python -m vibedash sync` to fetch deploys)")


# "is_live = 1", the very condition of the partial index ix_deploy_live (SQLite matches a partial index only
# by the same term; "is_live IS 1" would scan every deploy).
IS_LIVE = Deploy.is_live == true()


def live_deploy(session: Session) -> Deploy | None:
    return session.scalar(select(Deploy).where(IS_LIVE).order_by(Deploy.published_at.desc()).limit(1))


def set_live(session: Session, netlify_id: str | None, *, locked: bool | None = None) -> None:
    """Mark exactly one deploy (or none) as live."""
    for deploy in session.scalars(select(Deploy).where(IS_LIVE)):
        if deploy.netlify_id != netlify_id:
            deploy.is_live = False
    if netlify_id:
        deploy = session.scalar(select(Deploy).where(Deploy.netlify_id == netlify_id))
        if deploy is not None:
            deploy.is_live = True
            if deploy.published_at is None:
                deploy.published_at = utcnow()
            if locked is not None:
                deploy.locked = locked
    session.flush()


# --- results ----------------------------------------------------------------------------------------------

def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _primary_choice(results: Sequence[ParsedResult]) -> dict[str, ParsedResult]:
    chosen: dict[str, ParsedResult] = {}
    for result in results:
        current = chosen.get(result.benchmark)
        # The importer knows which metric of a file is the headline; the metric order only breaks ties.
        if current is None or (result.is_primary, -_metric_rank(result.metric)) > (
                current.is_primary, -_metric_rank(current.metric)):
            chosen[result.benchmark] = result
    return chosen


def _metric_rank(metric: str) -> int:
    base = metric.split(":")[0].split(",")[0]
    return PRIMARY_METRIC_PREFERENCE.index(base) if base in PRIMARY_METRIC_PREFERENCE else len(
        PRIMARY_METRIC_PREFERENCE)


def import_results(session: Session, version: Version, results: Sequence[ParsedResult], *,
                   source_file: str | None = None, source_sha256: str | None = None,
                   keep_outputs: bool = False) -> list[BenchmarkResult]:
    """Store parsed results for a version, replacing earlier results of the same benchmark and metric.

    The newest import becomes the headline (primary) score of each benchmark it touches. Per-sample results
    go in through the bulk path; their full outputs only with ``keep_outputs``.
    """
    for result in results:
        if not 0.0 <= result.score <= 100.0:
            raise RegistryError(f"{result.benchmark} {result.metric} score {result.score} is outside 0-100")
    primaries = _primary_choice(results)
    touched = set(primaries)
    # One read of the version's results on the benchmarks touched: the headlines to demote and the results of
    # the same benchmark and metric to replace (a result's benchmark is always among ``touched``).
    earlier: dict[tuple[str, str], BenchmarkResult] = {}
    # A version recorded in this transaction with nothing imported yet has no results to read; once this
    # import is in, the next one reads them.
    new = _new_versions(session)
    if touched and version.sha in new:
        new.discard(version.sha)
    elif touched:
        for old in session.scalars(select(BenchmarkResult).where(
                BenchmarkResult.version_id == version.id, BenchmarkResult.benchmark.in_(touched))):
            old.is_primary = False
            earlier[(old.benchmark, old.metric)] = old
    stored: list[BenchmarkResult] = []
    for result in results:
        existing = earlier.pop((result.benchmark, result.metric), None)
        if existing is not None:
            session.delete(existing)
            session.flush()
        row = BenchmarkResult(
            version_id=version.id, benchmark=result.benchmark, metric=result.metric, score=result.score,
            stderr=result.stderr, problems=result.problems or (len(result.problem_outcomes) or None),
            samples_per_problem=result.samples_per_problem, temperature=result.temperature, top_p=result.top_p,
            k=result.k, max_tokens=result.max_tokens, settings=dict(result.settings) or None,
            is_primary=primaries[result.benchmark] is result, source_format=result.source_format,
            source_file=source_file, source_sha256=source_sha256)
        row.problem_results = [ProblemResult(problem_id=o.problem_id, correct=o.correct, samples=o.samples)
                               for o in result.problem_outcomes]
        session.add(row)
        stored.append(row)
        if result.samples:
            from vibedash.registry.samples import insert_samples

            session.flush()
            insert_samples(session, result.samples, result_id=row.id, keep_outputs=keep_outputs)
    session.flush()
    return stored


def distinct_values(session: Session, table: str, column: str, *, headline_only: bool = False) -> list[Any]:
    """The distinct non-null values of an indexed column, in order, by a skip scan.

    One index seek per distinct value (a recursive query asking for the next value after the last one), so
    reading the ten kinds of a million audit events costs ten seeks, not a scan. ``headline_only`` keeps
    benchmark results that are headline scores. ``table`` and ``column`` are names from this module, never
    user input.
    """
    extra = " AND is_primary = :yes" if headline_only else ""
    next_value = f"SELECT {column} FROM {table} WHERE {column} > seen.v{extra} ORDER BY {column} LIMIT 1"
    first_value = f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL{extra} ORDER BY {column} LIMIT 1"
    query = text(f"WITH RECURSIVE seen(v) AS (SELECT ({first_value}) UNION ALL SELECT ({next_value}) FROM seen "
                 f"WHERE seen.v IS NOT NULL) SELECT v FROM seen WHERE v IS NOT NULL")
    if headline_only:
        query = query.bindparams(bindparam("yes", True))
    return list(session.scalars(query))


def benchmarks_in_registry(session: Session) -> list[str]:
    """Benchmarks with at least one headline score, headline benchmarks first."""
    from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS

    present = set(cached(session, "benchmarks_in_registry", None, lambda: distinct_values(
        session, "benchmark_result", "benchmark", headline_only=True), reads_audit_log=False))
    ordered = [b for b in HEADLINE_BENCHMARKS if b in present]
    return ordered + sorted(present - set(ordered))


def version_facts(session: Session, version: Version, *, with_problems: bool = True) -> VersionFacts:
    query = select(BenchmarkResult).where(BenchmarkResult.version_id == version.id,
                                          BenchmarkResult.is_primary.is_(True))
    if with_problems:
        query = query.options(selectinload(BenchmarkResult.problem_results))
    from vibedash.registry.samples import result_costs

    rows = list(session.scalars(query))
    costs = result_costs(session, rows)
    scores = {}
    for r in rows:
        per_problem = ({p.problem_id: (p.correct, p.samples) for p in r.problem_results} if with_problems else {})
        scores[r.benchmark] = ScoreFact(benchmark=r.benchmark, score=r.score, metric=r.metric,
                                        problems=r.problems, samples_per_problem=r.samples_per_problem,
                                        temperature=r.temperature, per_problem=per_problem, stderr=r.stderr,
                                        cost=costs.get(r.id, {}))
    return VersionFacts(sha=version.sha, scores=scores, branch=version.branch, created_at=version.created_at)


def primary_scores(session: Session, version_ids: Iterable[int]) -> dict[int, dict[str, float]]:
    ids = list(version_ids)
    out: dict[int, dict[str, float]] = {i: {} for i in ids}
    if len(ids) > 5000:
        # Most of the registry: one pass over the headline scores beats thousands of IN lists.
        rows = session.execute(select(BenchmarkResult.version_id, BenchmarkResult.benchmark, BenchmarkResult.score)
                               .where(BenchmarkResult.is_primary.is_(True)))
        for version_id, benchmark, score in rows:
            if version_id in out:
                out[version_id][benchmark] = score
        return out
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start:chunk_start + 500]
        rows = session.execute(select(BenchmarkResult.version_id, BenchmarkResult.benchmark, BenchmarkResult.score)
                               .where(BenchmarkResult.version_id.in_(chunk), BenchmarkResult.is_primary.is_(True)))
        for version_id, benchmark, score in rows:
            out[version_id][benchmark] = score
    return out


# --- history (paged in SQL) -------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryFilter:
    branch: str | None = None
    context: str | None = None
    state: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    minimums: dict[str, float] = field(default_factory=dict)  # benchmark -> minimum score
    text: str | None = None  # sha prefix or words of the message


_HISTORY_SELECTS: dict[tuple, tuple[Select, dict[str, Any]]] = {}
_HISTORY_SELECTS_LOCK = threading.Lock()


def _history_select(benchmarks: Sequence[str], flt: HistoryFilter, *,
                    for_count: bool = False) -> tuple[Select, dict[str, Any]]:
    """The history query; ``for_count`` joins only what the filters need (the joins never add rows).

    Statements are immutable and building one (an alias per benchmark) costs more than running it, so the
    last few are kept by their benchmarks and filter.
    """
    key = (tuple(benchmarks), repr(flt), for_count)
    with _HISTORY_SELECTS_LOCK:  # pages run in several threads
        built = _HISTORY_SELECTS.get(key)
        if built is None:
            if len(_HISTORY_SELECTS) >= 64:
                _HISTORY_SELECTS.pop(next(iter(_HISTORY_SELECTS)))
            built = _HISTORY_SELECTS[key] = _build_history_select(benchmarks, flt, for_count=for_count)
    return built


def _build_history_select(benchmarks: Sequence[str], flt: HistoryFilter, *,
                          for_count: bool = False) -> tuple[Select, dict[str, Any]]:
    deploy = aliased(Deploy, name="d")
    # The latest deploy of each version, looked up per row through ix_deploy_version_id: a page reads 50 of
    # them instead of grouping the whole deploy table (100,000 versions: 5 ms instead of 350 ms a page).
    latest_id = (select(Deploy.id).where(Deploy.version_id == Version.id, Deploy.expired_at.is_(None))
                 .order_by(Deploy.created_at.desc(), Deploy.id.desc()).limit(1)
                 .correlate(Version).scalar_subquery())
    query = (select(Version.id) if for_count else
             select(Version.id, Version.sha, Version.branch, Version.message, Version.created_at, Version.synthetic))
    score_cols = {}
    for bench in benchmarks:
        if for_count:
            minimum = flt.minimums.get(bench)
            if minimum is not None:
                # A correlated EXISTS, not a join: the planner then walks versions newest first and probes
                # each one's score, stopping at the page's LIMIT, instead of sorting every version that passes.
                query = query.where(exists().where(
                    BenchmarkResult.version_id == Version.id, BenchmarkResult.benchmark == bench,
                    BenchmarkResult.is_primary.is_(True), BenchmarkResult.score >= minimum))
            continue
        r = aliased(BenchmarkResult, name=f"r_{re.sub(r'[^a-z0-9_]', '_', bench)}")
        query = query.outerjoin(r, and_(r.version_id == Version.id, r.benchmark == bench, r.is_primary.is_(True)))
        score_cols[bench] = r.score
        if not for_count:
            query = query.add_columns(r.score.label(f"score:{bench}"))
    if not for_count or flt.context or flt.state:
        query = query.outerjoin(deploy, deploy.id == latest_id)
        if not for_count:
            query = query.add_columns(deploy.netlify_id, deploy.state, deploy.context, deploy.permalink,
                                      deploy.is_live, deploy.locked)
    if flt.branch:
        query = query.where(Version.branch == flt.branch)
    if flt.context:
        query = query.where(deploy.context == flt.context)
    if flt.state:
        query = query.where(deploy.state == flt.state)
    if flt.since:
        query = query.where(Version.created_at >= flt.since)
    if flt.until:
        query = query.where(Version.created_at <= flt.until)
    for bench, minimum in flt.minimums.items():
        if bench in score_cols and minimum is not None:
            query = query.where(score_cols[bench] >= minimum)
    if flt.text:
        text = flt.text.strip().lower()
        query = query.where(or_(Version.sha.like(text + "%"), Version.message.ilike(f"%{text}%")))
    return query, score_cols


def history_page(session: Session, benchmarks: Sequence[str], flt: HistoryFilter = HistoryFilter(), *,
                 page: int = 1, page_size: int = 50, sort_by: str | None = None,
                 descending: bool = True) -> tuple[list[dict[str, Any]], int]:
    """One page of versions with headline scores and their latest deploy; plus the total.

    Sorted in SQL, so page 2 continues page 1: by ``sort_by`` (a benchmark of ``benchmarks``; versions without
    its score last) and then newest first, or by creation time when ``sort_by`` is None. The total (a count
    over every matching version) is computed once per registry generation and filter.
    """
    counted, _ = _history_select(benchmarks, flt, for_count=True)
    total = cached(session, "history_total", (tuple(benchmarks), repr(flt)), lambda: session.scalar(
        select(func.count()).select_from(counted.subquery())) or 0)
    page = max(1, page)
    by_time = (Version.created_at.desc(), Version.id.desc()) if descending or sort_by is not None \
        else (Version.created_at.asc(), Version.id.asc())
    query, score_cols = _history_select(benchmarks, flt)
    if sort_by is not None and sort_by in score_cols:
        score = score_cols[sort_by]
        order = (score.is_(None), score.desc() if descending else score.asc(), *by_time)
        rows = session.execute(query.order_by(*order)
                               .limit(page_size).offset((page - 1) * page_size)).mappings().all()
    else:
        # Two steps: the page's version ids through the filters' joins only, then the full rows of just those
        # ids (scores, latest deploy). Joining everything before the LIMIT would do it for every match first.
        page_ids = list(session.scalars(counted.order_by(*by_time)
                                        .limit(page_size).offset((page - 1) * page_size)))
        if not page_ids:
            return [], total
        query, _ = _history_select(benchmarks, HistoryFilter())
        rows = session.execute(query.where(Version.id.in_(page_ids)).order_by(*by_time)).mappings().all()
    out = []
    for row in rows:
        item = {
            "sha": row["sha"], "branch": row["branch"], "message": row["message"],
            "created_at": row["created_at"], "synthetic": row["synthetic"],
            "deploy_id": row["netlify_id"], "state": row["state"], "context": row["context"],
            "permalink": row["permalink"], "live": bool(row["is_live"]), "locked": bool(row["locked"]),
        }
        for bench in benchmarks:
            item[bench] = row[f"score:{bench}"]
        out.append(item)
    return out, total


def branches(session: Session) -> list[str]:
    return list(cached(session, "branches", None, lambda: distinct_values(session, "version", "branch")))


def score_timeline(session: Session, benchmarks: Sequence[str], *, limit: int = 200,
                   branch: str | None = None) -> list[dict[str, Any]]:
    """Headline scores of the newest ``limit`` versions, oldest first: one row per (version, benchmark)."""
    newest = select(Version.id).order_by(Version.created_at.desc()).limit(limit)
    if branch:
        newest = newest.where(Version.branch == branch)
    rows = session.execute(
        select(Version.sha, Version.created_at, Version.branch, BenchmarkResult.benchmark, BenchmarkResult.score)
        .join(BenchmarkResult, BenchmarkResult.version_id == Version.id)
        .where(Version.id.in_(newest.scalar_subquery()), BenchmarkResult.is_primary.is_(True),
               BenchmarkResult.benchmark.in_(list(benchmarks)))
        .order_by(Version.created_at)).all()
    return [{"sha": sha, "short": short(sha), "created_at": created, "branch": branch_, "benchmark": bench,
             "score": score} for sha, created, branch_, bench, score in rows]


def live_periods(session: Session) -> list[dict[str, Any]]:
    """When each deploy was live, oldest first (a deploy rolled back to has a period for each time it went live).

    A deploy goes live when first published (``published_at``) and again at every succeeded promotion or
    rollback to it; a period ends when the next deploy goes live. Each period names the version's branch.
    """
    first = session.execute(select(Deploy.netlify_id, Deploy.published_at)
                            .where(Deploy.published_at.is_not(None))).all()
    again = session.execute(select(Event.target, func.coalesce(Event.finished_at, Event.started_at))
                            .join(Deploy, Deploy.netlify_id == Event.target)
                            .where(Event.kind.in_(("promote", "rollback")), Event.status == "succeeded")).all()
    starts = sorted(((when, deploy_id) for deploy_id, when in [*first, *again] if when is not None),
                    key=lambda item: (_utc(item[0]), item[1]))
    # One period per change of live deploy: a promotion logged seconds after the publish it caused is no new one.
    changes: list[tuple[datetime, str]] = []
    for when, deploy_id in starts:
        if not changes or changes[-1][1] != deploy_id:
            changes.append((when, deploy_id))
    versions = dict(session.execute(select(Deploy.netlify_id, Version.sha)
                                    .join(Version, Version.id == Deploy.version_id)
                                    .where(Deploy.netlify_id.in_({d for _, d in changes}))).all()) if changes else {}
    branches = dict(session.execute(select(Version.sha, Version.branch)
                                    .where(Version.sha.in_(set(versions.values())))).all()) if versions else {}
    periods = []
    for i, (start, deploy_id) in enumerate(changes):
        sha = versions.get(deploy_id)
        end = changes[i + 1][0] if i + 1 < len(changes) else None
        periods.append({"deploy_id": deploy_id, "sha": sha, "short": short(sha), "branch": branches.get(sha),
                        "start": start, "end": end})
    return periods


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# --- overview and facts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegistryCounts:
    versions: int
    deploys: int
    results: int
    events: int
    solve_runs: int
    last_synced_at: datetime | None


def counts(session: Session) -> RegistryCounts:
    """How many of everything: counted once per registry generation (a count reads a whole index)."""
    def n(model: type) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return cached(session, "counts", None, lambda: RegistryCounts(
        versions=n(Version), deploys=n(Deploy), results=n(BenchmarkResult), events=n(Event),
        solve_runs=n(SolveRun), last_synced_at=session.scalar(select(func.max(Site.last_synced_at)))))


def candidates(session: Session, *, limit: int = 20) -> list[tuple[Version, Deploy]]:
    """Versions with a ready, not expired deploy that is not live: newest first (one deploy each)."""
    rows = session.execute(
        select(Version, Deploy).join(Deploy, Deploy.version_id == Version.id)
        .where(Deploy.state == "ready", Deploy.expired_at.is_(None), Deploy.is_live.is_(False))
        .order_by(Deploy.created_at.desc()).limit(limit * 4)).all()
    seen: set[int] = set()
    out = []
    live = live_deploy(session)
    for version, deploy in rows:
        if version.id in seen or (live is not None and live.version_id == version.id):
            continue
        seen.add(version.id)
        out.append((version, deploy))
        if len(out) >= limit:
            break
    return out


def best_candidate(session: Session, benchmark: str | None = None) -> tuple[Version, Deploy] | None:
    """The candidate (ready, not expired, not live) with the highest headline score on ``benchmark``
    (default: the first headline benchmark the registry has); the newest candidate when none has that score.
    Among versions tied on the top score, the one with the newest candidate deploy.

    A raw query (a deploy to act on in scripts and tests). The product's *best candidate*, the one Overview,
    Promote and ``gate --commit best`` show, also asks the gate: :func:`vibedash.registry.queries.best_candidate`.

    Output-sensitive: the top of :func:`ranked_candidates` (headline scores walked from the top), so the work
    does not grow with the registry, whatever plan the statistics would suggest.
    """
    benchmark = benchmark or next(iter(benchmarks_in_registry(session)), None)
    if benchmark is not None:
        found = _best_scored_candidate(session, benchmark, _candidate_conditions(session))
        if found is not None:
            return found
    newest = candidates(session, limit=1)
    return newest[0] if newest else None


BEST_CANDIDATE_FIRST_BATCH = 16


def _candidate_conditions(session: Session) -> list:
    live = live_deploy(session)
    conditions = [Deploy.state == "ready", Deploy.expired_at.is_(None), Deploy.is_live.is_(False)]
    if live is not None and live.version_id is not None:
        conditions.append(Deploy.version_id != live.version_id)
    return conditions


def _walk_ranked(session: Session, benchmark: str, conditions: list, limit: int) -> list[tuple[int, int]]:
    """(version id, deploy id) of the ``limit`` best candidates on ``benchmark``: highest headline score
    first, newest candidate deploy first on a tie; each version once, with its newest candidate deploy.

    Walks the benchmark's headline scores from the top (ix_benchmark_result_ranking) in growing batches and
    stops once ``limit`` versions are found and nothing further down can tie with the last of them: the work
    follows the number of scores above the answer, not the size of the registry.
    """
    ranked = (select(BenchmarkResult.id, BenchmarkResult.version_id, BenchmarkResult.score)
              .where(BenchmarkResult.benchmark == benchmark, BenchmarkResult.is_primary.is_(True))
              .order_by(BenchmarkResult.score.desc(), BenchmarkResult.id.desc()))
    found: dict[int, tuple[float, datetime, int]] = {}  # version id -> (score, newest deploy time, deploy id)
    after: tuple[float, int] | None = None
    size = max(BEST_CANDIDATE_FIRST_BATCH, limit)
    while True:
        query = ranked if after is None else ranked.where(
            or_(BenchmarkResult.score < after[0], and_(BenchmarkResult.score == after[0],
                                                       BenchmarkResult.id < after[1])))
        batch = session.execute(query.limit(size)).all()
        if not batch:
            break
        if len(found) >= limit:
            cut = sorted(found.values(), key=lambda f: (f[0], f[1]), reverse=True)[limit - 1][0]
            if batch[0][2] < cut:
                break  # every version that could rank among the first ``limit`` has been seen
        score_of = {version_id: score for _, version_id, score in batch}
        for deploy_id, version_id, created_at in session.execute(
                select(Deploy.id, Deploy.version_id, Deploy.created_at)
                .where(Deploy.version_id.in_(list(score_of)), *conditions)):
            entry = (score_of[version_id], created_at, deploy_id)
            if version_id not in found or entry[1] > found[version_id][1]:
                found[version_id] = entry
        if len(batch) < size:
            break
        after = (batch[-1][2], batch[-1][0])
        size = min(size * 4, 1024)  # few candidates near the top: look further, faster
    best = sorted(found.items(), key=lambda item: (item[1][0], item[1][1]), reverse=True)[:limit]
    return [(version_id, deploy_id) for version_id, (_, _, deploy_id) in best]


def _best_scored_candidate(session: Session, benchmark: str, conditions: list) -> tuple[Version, Deploy] | None:
    top = _walk_ranked(session, benchmark, conditions, 1)
    if not top:
        return None
    version_id, deploy_id = top[0]
    return session.get(Version, version_id), session.get(Deploy, deploy_id)


def ranked_candidates(session: Session, benchmark: str | None, *, limit: int = 20) -> list[tuple[Version, Deploy]]:
    """Candidates (ready, not expired, not live; one deploy each) with a headline result on ``benchmark``,
    highest score first (newest first on a tie); then, when fewer than ``limit``, candidates with results on
    other benchmarks, newest first. Never a version without results. Index walks with a LIMIT (see
    :func:`_walk_ranked`), whatever the size of the registry."""
    conditions = _candidate_conditions(session)
    out: list[tuple[Version, Deploy]] = []
    seen: set[int] = set()
    if benchmark is not None:
        for version_id, deploy_id in _walk_ranked(session, benchmark, conditions, limit):
            seen.add(version_id)
            out.append((session.get(Version, version_id), session.get(Deploy, deploy_id)))
    if len(out) < limit:
        has_results = exists().where(BenchmarkResult.version_id == Version.id, BenchmarkResult.is_primary.is_(True))
        rows = session.execute(
            select(Version, Deploy).join(Deploy, Deploy.version_id == Version.id).where(*conditions, has_results)
            .order_by(Deploy.created_at.desc()).limit(limit * 4)).all()
        for version, deploy in rows:
            if version.id not in seen and len(out) < limit:
                seen.add(version.id)
                out.append((version, deploy))
    return out[:limit]


def deploy_facts(session: Session, gate_passed: dict[str, bool] | None = None) -> list[DeployFacts]:
    """Facts about every deploy for the retention planner (plain columns, no ORM objects: a million deploys
    are read as tuples; a version's scores are one shared mapping, not a copy per deploy)."""
    rows = session.execute(select(
        Deploy.netlify_id, Deploy.created_at, Deploy.version_id, Deploy.branch, Deploy.context, Deploy.state,
        Deploy.is_live, Deploy.locked, Deploy.pinned, Deploy.expired_at.is_not(None), Deploy.published_at,
        Version.sha, Version.branch).outerjoin(Version, Version.id == Deploy.version_id)).all()
    scores = primary_scores(session, {row[2] for row in rows if row[2] is not None})
    last_live: dict[str, datetime] = {}
    for kind in ("promote", "rollback"):  # one seek each on (kind, status, started_at)
        for previous, finished in session.execute(
                select(Event.previous_live, Event.finished_at).where(Event.kind == kind, Event.status == "succeeded")):
            if previous and finished:
                last_live[previous] = max(finished, last_live.get(previous, finished))
    verdicts = gate_passed or {}
    facts = []
    for (netlify_id, created_at, version_id, deploy_branch, context, state, is_live, locked, pinned, expired,
         published_at, sha, version_branch) in rows:
        seen_live = published_at
        if netlify_id in last_live:
            seen_live = max(filter(None, (seen_live, last_live[netlify_id])))
        facts.append(DeployFacts(
            netlify_id=netlify_id, created_at=created_at, sha=sha, branch=deploy_branch or version_branch,
            context=context, state=state, is_live=bool(is_live), locked=bool(locked), pinned=bool(pinned),
            expired=bool(expired), last_live_at=seen_live, gate_passed=verdicts.get(sha) if sha else None,
            scores=scores.get(version_id, {}) if version_id else {}))
    return facts


def events(session: Session, *, kind: str | None = None, actor: str | None = None, status: str | None = None,
           target: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(Event).order_by(Event.started_at.desc(), Event.id.desc()).limit(limit)
    if kind:
        query = query.where(Event.kind == kind)
    if actor:
        query = query.where(Event.actor == actor)
    if status:
        query = query.where(Event.status == status)
    if target:
        query = query.where(or_(Event.target == target, Event.version_sha == target))
    return [event_dict(e) for e in session.scalars(query)]


def event_dict(e: Event) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "target": e.target, "version": e.version_sha, "previous_live":
            e.previous_live, "actor": e.actor, "reason": e.reason, "override": e.override, "status": e.status,
            "error": e.error, "verdict": e.verdict, "detail": e.detail, "started_at": e.started_at,
            "finished_at": e.finished_at}


def export_registry(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Everything, as plain rows (datetimes as ISO strings), for `export`."""
    def rows(model: type, order: Any) -> list[dict[str, Any]]:
        out = []
        for obj in session.scalars(select(model).order_by(order)):
            item = {}
            for column in model.__table__.columns:
                value = getattr(obj, column.key)
                item[column.key] = value.isoformat() if isinstance(value, datetime) else value
            out.append(item)
        return out

    return {"versions": rows(Version, Version.id), "deploys": rows(Deploy, Deploy.id),
            "results": rows(BenchmarkResult, BenchmarkResult.id), "problem_results": rows(ProblemResult,
                                                                                           ProblemResult.id),
            "events": rows(Event, Event.id), "solve_runs": rows(SolveRun, SolveRun.id), "sites": rows(Site, Site.id)}
