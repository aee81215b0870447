"""Verbs about one version: `show` (results with their intervals, deploys, latency, audit) and `gate`."""

from __future__ import annotations

import argparse

from sqlalchemy import Engine

from vibedash.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    _cell,
    _check_rule_benchmarks,
    _dump_json,
    _load_gate_policy,
    _print_table,
)
from vibedash.config import Settings


def cmd_show(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from sqlalchemy import select

    from vibedash.registry import records as registry
    from vibedash.registry.db import unit_of_work
    from vibedash.registry.models import BenchmarkResult, Deploy

    with unit_of_work(engine) as session:
        version = registry.find_version(session, args.commit)
        results = session.scalars(select(BenchmarkResult).where(BenchmarkResult.version_id == version.id)
                                  .order_by(BenchmarkResult.benchmark, BenchmarkResult.is_primary.desc())).all()
        deploys = session.scalars(select(Deploy).where(Deploy.version_id == version.id)
                                  .order_by(Deploy.created_at.desc())).all()
        data = {
            "sha": version.sha, "branch": version.branch, "message": version.message, "model": version.model_ref,
            "created_at": version.created_at, "synthetic": version.synthetic,
            "results": [{"benchmark": r.benchmark, "metric": r.metric, "score": r.score, "primary": r.is_primary,
                         "problems": r.problems, "samples_per_problem": r.samples_per_problem,
                         "temperature": r.temperature, "source": r.source_format, "file": r.source_file,
                         **_interval_fields(r)}
                        for r in results],
            "deploys": [{"deploy_id": d.netlify_id, "state": d.state, "context": d.context, "branch": d.branch,
                         "permalink": d.permalink, "created_at": d.created_at, "live": d.is_live,
                         "locked": d.locked, "pinned": d.pinned, "expired": d.expired_at is not None}
                        for d in deploys],
            "events": registry.events(session, target=version.sha, limit=20),
        }
        from vibedash.solve.latency import describe, version_latency_in

        latency = version_latency_in(session, version.id)
        data["solve_latency"] = None if latency.empty else {
            "runs": latency.runs, "answered_runs": latency.answered_runs,
            "first_answer_s": {f"p{q}": v for q, v in latency.first_answer_s.items()},
            "total_s": {f"p{q}": v for q, v in latency.total_s.items()},
            "mean_thinking_tokens": latency.mean_thinking_tokens, "mean_answer_tokens": latency.mean_answer_tokens,
            "mean_energy_j": latency.mean_energy_j,
            # eval runs' and imported samples, apart: their clocks leave model load out (see solve.latency)
            **{source.source.replace(" ", "_"): source.as_dict() for source in latency.samples},
            "mean_thinking_tokens_all_sources": latency.mean_thinking_all[0],
            "thinking_samples_all_sources": latency.mean_thinking_all[1]}
        if args.json:
            from vibedash.eval.reports import version_reports

            # k-curves (pass@k, maj@k, pass^k with bands) and the cost of a correct answer, per result
            data["evaluations"] = version_reports(session, version.id)
    if args.json:
        _dump_json(data)
        return EXIT_OK
    print(f"version {data['sha']}" + ("  [synthetic demo data]" if data["synthetic"] else ""))
    for key in ("branch", "message", "model", "created_at"):
        print(f"  {key:<10} {_cell(data[key])}")
    print("\nresults")
    _print_table(data["results"], ["benchmark", "metric", "score", "ci95", "primary", "problems",
                                   "samples_per_problem", "temperature", "source"])
    if data["results"]:
        print("  ci95: 95% CI over problems; ≈ from the stderr or the number of problems only; "
              "'noise unknown' when neither is known")
    print("\ndeploys")
    _print_table(data["deploys"], ["deploy_id", "state", "context", "created_at", "live", "locked", "permalink"])
    print("\nsolve latency" + (f" (over {' and '.join(latency.source_counts)})" if not latency.empty else ""))
    for line in describe(latency):
        print(f"  {line}")
    print("\naudit events")
    _print_table([{**e, "target": registry.short(e["target"]) if e.get("target") == data["sha"] else e.get("target"),
                   "reason": e.get("reason") or ""} for e in data["events"]],
                 ["started_at", "actor", "kind", "status", "target", "reason"])
    return EXIT_OK


def _interval_fields(result) -> dict:
    """The 95% CI of one stored result, as `show` prints it and --json gives it (ci_low, ci_high, ci_method)."""
    from vibedash.decisions.noise import APPROXIMATE_METHODS, score_interval

    interval = score_interval(result.benchmark, result.score, problems=result.problems, stderr=result.stderr,
                              per_problem={p.problem_id: (p.correct, p.samples) for p in result.problem_results})
    if interval is None:
        return {"ci95": "noise unknown", "ci_low": None, "ci_high": None, "ci_method": None, "stderr": result.stderr}
    mark = "≈" if interval.method in APPROXIMATE_METHODS else ""
    return {"ci95": f"{mark}[{interval.low:.1f}, {interval.high:.1f}]", "ci_low": round(interval.low, 4),
            "ci_high": round(interval.high, 4), "ci_method": interval.method, "stderr": result.stderr}


def cmd_gate(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.decisions import gate as gate_mod
    from vibedash.registry import queries
    from vibedash.registry import records as registry
    from vibedash.registry.db import unit_of_work

    policy = _load_gate_policy(args, settings)
    selection = None
    with unit_of_work(engine) as session:
        _check_rule_benchmarks(policy, registry.benchmarks_in_registry(session))
        if args.commit.strip().casefold() == "best":
            # The best candidate, as Overview and Promote define it (decisions.candidates).
            best = queries.best_candidate(session, policy, queries.lead_benchmark(session))
            if best is None:
                raise registry.NotFound("no candidate with results: every ready deploy is live or expired, or "
                                        "has no results yet")
            candidate, selection = registry.find_version(session, best.sha), best.selection_note
        else:
            candidate = registry.find_version(session, args.commit)
        live = registry.live_deploy(session)
        if args.against:
            against = registry.find_version(session, args.against)
        else:
            against = live.version if live is not None and live.version is not None else None
        candidate_facts = registry.version_facts(session, candidate)
        against_facts = registry.version_facts(session, against) if against else None
        verdict = gate_mod.evaluate(policy, candidate_facts, against_facts,
                                    against="--against" if args.against else "live")
        power = gate_mod.power_lines(policy, candidate_facts, against_facts)
        candidate_sha, against_sha = candidate.sha, against.sha if against else None
    from vibedash.registry.audit import record_event

    record_event(engine, kind="gate", actor=settings.actor, target=candidate_sha, version_sha=candidate_sha,
                 status="passed" if verdict.passed else "failed", verdict=verdict.to_dict(),
                 detail={"against": against_sha})
    if args.json:
        _dump_json({**verdict.to_dict(), "power": power, **({"selection": selection} if selection else {})})
    else:
        print(verdict.format_text())
        for line in ([selection] if selection else []) + power:
            print(f"  {line}")
    if verdict.passed and args.trigger:
        from vibedash.cli.commands import run_trigger

        return run_trigger(args, settings, engine, sha=candidate_sha, verdict=verdict)
    return EXIT_OK if verdict.passed else EXIT_FAILED
