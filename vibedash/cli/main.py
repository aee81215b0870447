"""`python -m vibedash ...`: the registry, the gate and Netlify actions for terminals and CI pipelines.

Exit codes: 0 success, 1 gate failed or not found, 2 bad input (or a setting missing, or a database URL or
file that cannot be a registry), 3 Netlify or the database unavailable (unreachable, damaged, busy, a failed
migration), 4 an action only partly done.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Engine

from vibedash import __version__
from vibedash.cli.output import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    CliError,
    _cell,
    _check_rule_benchmarks,
    _dump_json,
    _json_default,
    _load_gate_policy,
    _print_table,
    _silence_stdout,
    _write_output,
)
from vibedash.config import ConfigError, Settings, load_settings, redact

Handler = Callable[[argparse.Namespace, Settings, Engine], int]


# --- registry verbs ---------------------------------------------------------------------------------------

def cmd_init(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.registry.db import schema_revisions

    current, _ = schema_revisions(engine)
    print(f"registry ready at {engine.url.render_as_string(hide_password=True)} (schema {current})")
    return EXIT_OK


def cmd_record(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.registry import records as registry
    from vibedash.registry.audit import record_event
    from vibedash.registry.db import unit_of_work

    with unit_of_work(engine) as session:
        version = registry.record_version(session, args.commit, branch=args.branch, message=args.message,
                                          model_ref=args.model)
        deploy_id = None
        if args.deploy_id or args.deploy_url:
            if not args.deploy_id:
                raise CliError("--deploy-url needs --deploy-id (the Netlify deploy id it belongs to)")
            deploy = registry.upsert_deploy(session, args.deploy_id, commit_ref=version.sha,
                                            permalink=args.deploy_url, branch=args.branch,
                                            site_id=settings.netlify_site_id, state=args.deploy_state,
                                            context=args.context)
            deploy.version = version
            deploy_id = deploy.netlify_id
        sha = version.sha
    record_event(engine, kind="record", actor=settings.actor, target=deploy_id or sha, version_sha=sha)
    print(f"recorded {registry.short(sha)}" + (f" with deploy {deploy_id}" if deploy_id else ""))
    return EXIT_OK


def cmd_import(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.importers import load_results
    from vibedash.registry import records as registry
    from vibedash.registry.audit import record_event
    from vibedash.registry.db import unit_of_work

    parsed = []
    for i, name in enumerate(args.files, 1):
        path = Path(name)
        if path.is_dir():
            raise CliError(f"{name}: is a folder; name the result files inside it (e.g. {path / '*.json'})")
        if not path.is_file():
            raise CliError(f"{name}: no such file; check the path")
        results = load_results(path, format=args.format, benchmark=args.benchmark)
        parsed.append((path, results, registry.file_sha256(path)))
        if len(args.files) > 1:
            print(f"[{i}/{len(args.files)}] read {path.name}: {len(results)} result(s)", file=sys.stderr)
    # All files parse before anything is written; then one transaction for the whole import.
    with unit_of_work(engine) as session:
        try:
            version = (registry.record_version(session, args.commit) if args.create
                       else registry.find_version(session, args.commit))
        except registry.NotFound as exc:  # for import, an unknown commit is bad input, not a lookup miss
            raise CliError(f"{exc} (or pass --create to record it now)") from None
        stored = []
        for path, results, digest in parsed:
            stored += registry.import_results(session, version, results, source_file=path.name,
                                              source_sha256=digest)
        summary = [(r.benchmark, r.metric, r.score, r.is_primary) for r in stored]
        sha = version.sha
    record_event(engine, kind="import", actor=settings.actor, target=sha, version_sha=sha,
                 detail={"files": [p.name for p, _, _ in parsed], "results": len(summary)})
    for benchmark, metric, score, primary in summary:
        print(f"{registry.short(sha)}  {benchmark:<14} {metric:<14} {score:6.1f}" + ("" if primary else "  (extra)"))
    return EXIT_OK


def cmd_list(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.decisions.benchmarks import display_name
    from vibedash.registry import records as registry
    from vibedash.registry.db import unit_of_work

    with unit_of_work(engine) as session:
        benchmarks = registry.benchmarks_in_registry(session)
        rows, total = registry.history_page(session, benchmarks,
                                            registry.HistoryFilter(branch=args.branch),
                                            page=1, page_size=args.limit)
    if args.json:
        _dump_json({"total": total, "versions": rows})
        return EXIT_OK
    table = [{"sha": registry.short(r["sha"]), "branch": r["branch"], "created": r["created_at"],
              **{display_name(b): r[b] for b in benchmarks}, "deploy": r["deploy_id"], "state": r["state"],
              "live": "● live" if r["live"] else ""} for r in rows]
    _print_table(table, ["sha", "branch", "created", *(display_name(b) for b in benchmarks), "deploy", "state",
                         "live"])
    if total > len(rows):
        print(f"({len(rows)} of {total} versions; --limit N for more)")
    return EXIT_OK


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


def cmd_export(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.registry import records as registry
    from vibedash.registry.db import unit_of_work

    if args.format == "every-eval-ever":
        from vibedash.cli.eval_commands import export_every_eval_ever

        return export_every_eval_ever(args, settings, engine)
    with unit_of_work(engine) as session:
        data = registry.export_registry(session)
    if args.format == "json":
        text = json.dumps(data, indent=2, default=_json_default, ensure_ascii=False) + "\n"
    else:
        # One flat table: a row per benchmark result with its version, the shape spreadsheets want.
        versions = {v["id"]: v for v in data["versions"]}
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["sha", "branch", "benchmark", "metric", "score", "primary", "problems",
                         "samples_per_problem", "temperature", "source_format", "source_file", "imported_at"])
        for r in data["results"]:
            v = versions[r["version_id"]]
            writer.writerow([v["sha"], v["branch"], r["benchmark"], r["metric"], r["score"], r["is_primary"],
                             r["problems"], r["samples_per_problem"], r["temperature"], r["source_format"],
                             r["source_file"], r["imported_at"]])
        text = buffer.getvalue()
    if args.output:
        _write_output(Path(args.output), text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_demo_data(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.registry.demo import load_sample_registry

    summary = load_sample_registry(engine, actor=settings.actor)
    print(f"sample registry: {summary['versions']} versions, {summary['deploys']} deploys, one live "
          "(synthetic history around VibeThinker-1.5B's published scores)")
    return EXIT_OK


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


def cmd_settings(args: argparse.Namespace, settings: Settings, engine: Engine | None) -> int:
    rows = settings.describe()
    if args.json:
        _dump_json(rows)
    else:
        _print_table(rows, ["env", "value", "from"])
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------------------------

def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; ``verb`` (the verb being run, when known) lets verbs with heavy parsers skip them."""
    parser = argparse.ArgumentParser(
        prog="python -m vibedash",
        description="vibedash: the registry of model versions, their Netlify deploys and benchmark results.")
    parser.add_argument("--db", metavar="URL", help="registry database URL (default: VIBEDASH_DB_URL or "
                        "sqlite:///vibedash.db)")
    parser.add_argument("--version", action="version", version=f"vibedash {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help: str, needs_db: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler, needs_db=needs_db)
        return p

    add("init", cmd_init, "Create the registry (or upgrade its schema) and print where it is.")

    p = add("record", cmd_record, "Record a model version (a git commit), optionally with its Netlify deploy.")
    p.add_argument("--commit", required=True, metavar="SHA", help="git commit sha of the version")
    p.add_argument("--branch", help="git branch")
    p.add_argument("--message", help="commit message or a short description")
    p.add_argument("--model", metavar="REF", help="model reference: a hub id, a local path, or "
                   "openai:NAME@BASE_URL for a served model")
    p.add_argument("--deploy-id", help="Netlify deploy id of this version's deploy")
    p.add_argument("--deploy-url", help="the deploy's permalink URL")
    p.add_argument("--deploy-state", default="ready", help="deploy state (default: ready)")
    p.add_argument("--context", default="production", help="deploy context (default: production)")

    p = add("import", cmd_import, "Import benchmark result files for a version (one transaction).")
    p.add_argument("--commit", required=True, metavar="SHA", help="the version the results belong to")
    p.add_argument("files", nargs="+", metavar="FILE", help="result files (format detected automatically)")
    p.add_argument("--format", help="force the format: plain, lm_eval, lighteval, evalscope, livecodebench, "
                   "vibethinker; per-sample: lm_eval_samples, lighteval_details, inspect_eval")
    p.add_argument("--benchmark", help="benchmark name for files that do not say (e.g. lcb_v6)")
    p.add_argument("--create", action="store_true", help="record the version if it is not in the registry")

    p = add("list", cmd_list, "List versions, newest first, with headline scores and their latest deploy.")
    p.add_argument("--branch", help="only this branch")
    p.add_argument("--limit", type=int, default=30, help="how many versions (default 30)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("show", cmd_show, "Show one version: results, deploys, audit events.")
    p.add_argument("commit", metavar="SHA")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("gate", cmd_gate, "Run the promotion gate for a version against the live one; exit 0 pass, 1 fail.")
    p.add_argument("--commit", required=True, metavar="SHA",
                   help='the version to judge; "best" for the best candidate (as Overview and Promote show it)')
    p.add_argument("--against", metavar="SHA", help="compare with this version instead of the live one")
    p.add_argument("--policy", metavar="FILE", help="gate policy TOML (default: VIBEDASH_GATE_POLICY)")
    p.add_argument("--rule", action="append", metavar="RULE",
                   help='a rule instead of the policy file, repeatable: "aime25 >= 75", "aime25 improves >= 2%%", '
                        '"no regression > 1", "aime25 significant"')
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--trigger", action="store_true", help="when the gate passes, trigger a Netlify build through "
                   "VIBEDASH_BUILD_HOOK_URL (the check-and-deploy pattern, done properly)")
    p.add_argument("--branch", help="with --trigger: the branch to build")

    p = add("export", cmd_export, "Export the whole registry as JSON or CSV, or a version's results in the "
            "Every Eval Ever schema.")
    p.add_argument("--format", choices=("json", "csv", "every-eval-ever"), default="json")
    p.add_argument("-o", "--output", metavar="FILE", help="write to a file instead of stdout (every-eval-ever: the "
                   "aggregate JSON; per-sample records go to a .jsonl beside it)")
    p.add_argument("--commit", metavar="SHA", help="every-eval-ever: the version to export (required)")

    add("demo-data", cmd_demo_data, "Fill an empty registry with a sample history (clearly labelled synthetic).")

    p = add("settings", cmd_settings, "Show every setting, its environment variable and where its value comes "
            "from (secrets shown only as set or not set).", needs_db=False)
    p.add_argument("--json", action="store_true")

    _add_optional_commands(sub, verb)
    return parser


def _add_optional_commands(sub: argparse._SubParsersAction, verb: str | None = None) -> None:
    """Commands that live in their own modules register themselves here."""
    from vibedash.cli import commands, eval_commands, maintenance

    commands.register(sub, verb=verb)
    maintenance.register(sub)
    eval_commands.register(sub)


def _verb_of(argv: Sequence[str]) -> str | None:
    """The verb a command line runs (the first word that is neither an option nor --db's value), if plain."""
    previous = None
    for word in argv:
        if not word.startswith("-") and previous != "--db":
            return word
        previous = word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_verb_of(argv))
    args, extra = parser.parse_known_args(argv)
    if args.command == "netlify-sim":  # its options belong to the simulator's own parser
        args.sim_args = extra + args.sim_args
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    settings = None
    try:
        settings = load_settings({"db_url": args.db})
        if args.command not in READ_ONLY_VERBS:
            settings.actor  # noqa: B018  (no name for the audit log: stop before writing anything)
        engine = None
        if args.needs_db:
            from vibedash.registry.db import open_registry

            engine = open_registry(settings.db_url)
        code = args.handler(args, settings, engine)
        sys.stdout.flush()  # inside the try: a reader that went away shows up here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`list | head`): not an error. Point stdout at devnull so the interpreter's
        # final flush does not fail again on the closed pipe.
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:  # one clear line, never a traceback, for every known failure
        code, message = classify_error(exc)
        if code is None:
            raise
        print(f"error: {redact(message, settings)}", file=sys.stderr)
        return code


# Verbs that never write an audit event, so they run even where no user name is known.
READ_ONLY_VERBS = frozenset({"init", "list", "show", "export", "settings", "backup", "restore", "netlify-sim"})


def classify_error(exc: BaseException) -> tuple[int | None, str]:
    from vibedash.importers.base import ResultFileError
    from vibedash.registry.db import DatabaseError, DatabaseUnavailable, explain_database_failure
    from vibedash.registry.records import NotFound, RegistryError

    if isinstance(exc, CliError):
        return exc.code, str(exc)
    if isinstance(exc, NotFound):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, (RegistryError, ResultFileError, ConfigError)):
        return EXIT_BAD_INPUT, str(exc)
    # A database that is unreachable, damaged or busy is "unavailable" (3), like Netlify; a URL or file the
    # user chose that cannot be a registry is bad input (2).
    explained = explain_database_failure(exc)
    if isinstance(explained, DatabaseUnavailable):
        return EXIT_UNAVAILABLE, str(explained)
    if isinstance(explained, DatabaseError):
        return EXIT_BAD_INPUT, str(explained)
    try:
        from vibedash.netlify.client import (
            NetlifyError,
            NetlifyNotFound,
            NetlifyRequestError,
        )
    except ImportError:
        return None, ""
    if isinstance(exc, NetlifyNotFound):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, NetlifyRequestError):
        return EXIT_BAD_INPUT, str(exc)
    if isinstance(exc, NetlifyError):
        return EXIT_UNAVAILABLE, str(exc)
    if isinstance(exc, ValueError):
        return EXIT_BAD_INPUT, str(exc)
    return None, ""
