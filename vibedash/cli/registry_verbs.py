"""The registry's own verbs: init, record, import, list, export, demo-data and settings."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from sqlalchemy import Engine

from vibedash.cli.output import EXIT_OK, CliError, _dump_json, _json_default, _print_table, _write_output
from vibedash.config import Settings


def cmd_init(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.registry.db import schema_revisions

    current, _ = schema_revisions(engine)
    print(f"registry ready at {engine.url.render_as_string(hide_password=True)} (schema {current})")
    return EXIT_OK


def cmd_record(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.registry import records as registry
    from vibedash.registry.audit import record_event_in
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
        # The audit line commits with the record, or neither does.
        record_event_in(session, kind="record", actor=settings.actor, target=deploy_id or sha, version_sha=sha)
    print(f"recorded {registry.short(sha)}" + (f" with deploy {deploy_id}" if deploy_id else ""))
    return EXIT_OK


def cmd_import(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.importers import load_results
    from vibedash.registry import records as registry
    from vibedash.registry.audit import record_event_in
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
        record_event_in(session, kind="import", actor=settings.actor, target=sha, version_sha=sha,
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


def cmd_settings(args: argparse.Namespace, settings: Settings, engine: Engine | None) -> int:
    rows = settings.describe()
    if args.json:
        _dump_json(rows)
    else:
        _print_table(rows, ["env", "value", "from"])
    return EXIT_OK
