"""The command line's parser: the registry verbs declared here, the other verbs registered by their modules."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from vibedash import __version__
from vibedash.cli.registry_verbs import (
    cmd_demo_data,
    cmd_export,
    cmd_import,
    cmd_init,
    cmd_list,
    cmd_record,
    cmd_settings,
)
from vibedash.cli.version_verbs import cmd_gate, cmd_show
from vibedash.config import Settings

Handler = Callable[[argparse.Namespace, Settings, Engine], int]


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
