"""The sample registry: VibeThinker-1.5B's published scores plus a plausible synthetic history.

Everything except the one version labelled "published" is synthetic (``version.synthetic``), and the
commit messages say so, so nobody mistakes it for real data.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from vibedash.importers.base import ParsedResult, ProblemOutcome
from vibedash.registry import records as registry
from vibedash.registry.models import Deploy, Event, Site, Version

DEMO_SITE_ID = "5f1e0c2a-demo-4b7e-9d1a-vibedash0001"
DEMO_SITE_NAME = "vibethinker-demo"
# VibeThinker-1.5B technical report (arXiv 2511.06221), Table 2.
PUBLISHED_SCORES = {"aime24": 80.3, "aime25": 74.4, "hmmt25": 50.4, "lcb_v5": 55.9, "lcb_v6": 51.1,
                    "gpqa_diamond": 46.7, "math500": 95.0}
PROTOCOL = {  # benchmark: (problems, samples per problem, temperature) as in the report's evaluation
    "aime24": (30, 8, 0.6), "aime25": (30, 8, 0.6), "hmmt25": (30, 8, 0.6), "lcb_v6": (131, 8, 0.6),
}
N_VERSIONS = 40
CHANGES = ("more RL steps", "code data mix", "longer context", "entropy bonus", "temperature schedule")
# One candidate after the live version is a real step forward (points added to its drift), so the sample
# registry shows a gain the noise-aware gate passes next to many that are within noise.
BREAKTHROUGH_INDEX = N_VERSIONS - 3
BREAKTHROUGH_GAIN = {"aime24": 12.0, "aime25": 14.0, "hmmt25": 8.0, "lcb_v6": 5.0}


def _sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def _deploy_id(seed: str) -> str:
    return hashlib.md5(seed.encode()).hexdigest()[:24]


def _outcomes(rng: random.Random, benchmark: str, target: float, difficulty: list[float]) -> ParsedResult:
    """Per-problem results whose mean is near ``target`` (0-100), with realistic per-problem difficulty."""
    problems, samples, temperature = PROTOCOL[benchmark]
    skill = target / 100.0
    outcomes = []
    for i in range(problems):
        p = min(0.99, max(0.01, skill + difficulty[i]))
        correct = sum(rng.random() < p for _ in range(samples))
        outcomes.append(ProblemOutcome(problem_id=f"{benchmark}-{i:03d}", correct=correct, samples=samples))
    score = 100.0 * sum(o.correct for o in outcomes) / (problems * samples)
    return ParsedResult(benchmark=benchmark, score=round(score, 4), metric="pass@1", problems=problems,
                        samples_per_problem=samples, temperature=temperature, top_p=0.95,
                        source_format="demo", problem_outcomes=tuple(outcomes))


def build_demo(session: Session, *, now: datetime | None = None, seed: int = 1729) -> dict[str, int]:
    """Fill an empty registry. Refuses a registry that already has versions (nothing is overwritten)."""
    if session.scalar(select(Version.id).limit(1)) is not None:
        raise registry.RegistryError("the registry already has versions; demo-data fills only an empty one "
                                     "(use --db sqlite:///demo.db for a separate sample registry)")
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed)
    difficulty = {b: [rng.uniform(-0.45, 0.45) for _ in range(PROTOCOL[b][0])] for b in PROTOCOL}
    session.add(Site(id=DEMO_SITE_ID, name=DEMO_SITE_NAME, url=f"https://{DEMO_SITE_NAME}.netlify.app",
                     admin_url=f"https://app.netlify.com/sites/{DEMO_SITE_NAME}"))

    base = {"aime24": 62.0, "aime25": 55.0, "hmmt25": 34.0, "lcb_v6": 40.0}
    start = now - timedelta(days=2 * N_VERSIONS)
    live_index = N_VERSIONS - 6
    published_index = N_VERSIONS - 10
    deploys: list[tuple[int, Deploy]] = []
    for i in range(N_VERSIONS):
        created = start + timedelta(days=2 * i, hours=rng.randint(0, 20))
        branch = "main" if i % 5 else rng.choice(["exp/longer-rl", "exp/code-mix"])
        published = i == published_index
        message = ("VibeThinker-1.5B as published (scores from the technical report)" if published else
                   f"[synthetic demo] step {290 + 10 * i}: {rng.choice(CHANGES)}")
        if i == BREAKTHROUGH_INDEX:
            message = f"[synthetic demo] step {290 + 10 * i}: new RL recipe (a real gain, beyond noise)"
        version = registry.record_version(session, _sha(f"demo-{i}"), branch=branch, message=message,
                                          model_ref="WeiboAI/VibeThinker-1.5B" if published else None,
                                          created_at=created, synthetic=not published)
        drift = {b: base[b] + (i / N_VERSIONS) * (PUBLISHED_SCORES[b] - base[b]) + rng.gauss(0, 2.0)
                 + (BREAKTHROUGH_GAIN[b] if i == BREAKTHROUGH_INDEX else 0.0) for b in base}
        results = [_outcomes(rng, b, PUBLISHED_SCORES[b] if published else min(95.0, drift[b]), difficulty[b])
                   for b in PROTOCOL]
        if published:  # the report gives summary scores only: 64 samples for math, 8 for code
            results = [ParsedResult(benchmark=b, score=score, metric="pass@1", source_format="published",
                                    samples_per_problem=8 if b.startswith("lcb") else 64, temperature=0.6,
                                    top_p=0.95, settings={"source": "arXiv 2511.06221, Table 2"})
                       for b, score in PUBLISHED_SCORES.items()]
        if i < N_VERSIONS - 2:  # the newest two are still waiting for their evals
            registry.import_results(session, version, results, source_file="demo-data")
        deploy = registry.upsert_deploy(
            session, _deploy_id(f"deploy-{i}"), site_id=DEMO_SITE_ID, commit_ref=version.sha,
            state="error" if i in (7, 23) else "ready",
            context="production" if branch == "main" else "branch-deploy", branch=branch,
            title=message[:80], created_at=created, updated_at=created + timedelta(minutes=4),
            permalink=f"https://{_deploy_id(f'deploy-{i}')}--{DEMO_SITE_NAME}.netlify.app",
            url=f"https://{DEMO_SITE_NAME}.netlify.app",
            error_message="Build script returned non-zero exit code: 2" if i in (7, 23) else None)
        deploys.append((i, deploy))

    promoted = [i for i in range(3, live_index + 1, 6)] + [live_index]
    previous: Deploy | None = None
    for i in promoted:
        deploy = dict(deploys)[i]
        if deploy.state != "ready":
            continue
        when = deploy.created_at + timedelta(hours=6)
        deploy.published_at = when
        session.add(Event(kind="promote", target=deploy.netlify_id, version_sha=deploy.version.sha,
                          previous_live=previous.netlify_id if previous else None, actor="demo",
                          reason="[synthetic demo] beats the live version", status="succeeded",
                          started_at=when, finished_at=when + timedelta(seconds=3)))
        previous = deploy
    if previous is not None:
        registry.set_live(session, previous.netlify_id, locked=True)
        session.get(Site, DEMO_SITE_ID).published_deploy_id = previous.netlify_id
    session.flush()
    return {"versions": N_VERSIONS, "deploys": len(deploys), "live": 1}


def load_sample_registry(engine, *, actor: str) -> dict[str, int]:
    """Fill an empty registry with the sample history in one transaction, audited as `demo-data`."""
    from vibedash.registry.audit import record_event
    from vibedash.registry.db import unit_of_work

    with unit_of_work(engine) as session:
        summary = build_demo(session)
    record_event(engine, kind="demo-data", actor=actor, detail=summary)
    return summary


def seed_simulator(sim, engine) -> str:
    """Give a NetlifySimulator the registry's site and deploys (the same ids), with the same one live and
    locked, so promote and rollback can be tried on the sample registry. Returns the site id."""
    with Session(engine) as session:
        site = session.scalars(select(Site).order_by(Site.last_synced_at.desc())).first()
        site_id, site_name = (site.id, site.name or DEMO_SITE_NAME) if site else (DEMO_SITE_ID, DEMO_SITE_NAME)
        rows = session.execute(select(Deploy, Version.sha).outerjoin(Version, Version.id == Deploy.version_id)
                               .where(Deploy.expired_at.is_(None)).order_by(Deploy.created_at)).all()
        deploys = [(d.netlify_id, sha, d.branch, d.context, d.state, d.title, d.created_at, d.error_message,
                    d.is_live, d.locked) for d, sha in rows]
    sim.create_site(site_name, site_id=site_id)
    live = None
    for netlify_id, sha, branch, context, state, title, created, error, is_live, locked in deploys:
        sim.add_deploy(site_id, deploy_id=netlify_id, commit_ref=sha, branch=branch, context=context or "production",
                       state=state, title=title, created_at=created, error_message=error,
                       publish=True if is_live and state == "ready" else False)
        if is_live:
            live = (netlify_id, locked)
    if live and live[1]:
        sim.set_locked(site_id, True)
    return site_id
