"""CLI verbs that talk to Netlify (sync, promote, rollback, lock, unlock, trigger), retention, pins,
the solve panel and the Netlify simulator. Each handler takes (args, settings, engine) and returns an exit code.

Exit codes (README): 0 done; 1 refused (gate failed, not found, the site changed under the action, another
action running); 2 bad input or a missing setting; 3 Netlify (or the database) unavailable and nothing
changed; 4 partly done or unknown (run the same command again: it reads Netlify first and finishes the job).
Errors go to stderr, one line each.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine

from vibedash.config import Settings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE, EXIT_PARTIAL = 0, 1, 2, 3, 4


def client_from_settings(settings: Settings):
    token = settings.require("netlify_auth_token", "talk to Netlify")
    site_id = settings.require("netlify_site_id", "know which Netlify site to manage")
    return _client(token, site_id, settings.netlify_api_url, settings)


def _client(token: str | None, site_id: str | None, api_url: str, settings: Settings | None = None):
    from vibedash.cli.output import CliError
    from vibedash.config import secret_values
    from vibedash.netlify.client import InvalidToken, NetlifyClient
    from vibedash.redact import register_secret

    for value in secret_values(settings):  # so no audit row or message can carry one (hook URL, API keys...)
        register_secret(value)

    try:
        return NetlifyClient(token, site_id=site_id, api_url=api_url)
    except InvalidToken as exc:  # its message never quotes the token
        raise CliError(str(exc), EXIT_BAD_INPUT) from None


def _progress(page: int, seen: int) -> None:
    print(f"  page {page}: {seen} deploys read", file=sys.stderr)


def _report_action(run) -> int:
    from vibedash.actions.deploys import ActionError, GateRefused

    try:
        result = run()
    except GateRefused as exc:
        if exc.verdict is not None:
            print(exc.verdict.format_text())
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ActionError as exc:
        label = {"refused": "refused", "partial": "partly done", "unknown": "unknown"}.get(exc.outcome, "error")
        print(f"{label}: {exc}", file=sys.stderr)
        return exc.exit_code
    if result.verdict is not None:
        print(result.verdict.format_text())
    print(result.message)
    return EXIT_OK


def cmd_sync(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.netlify.sync import sync_site

    client = client_from_settings(settings)
    report = sync_site(engine, client, settings.netlify_site_id, actor=settings.actor,
                       full=True if args.full else None, progress=None if args.quiet else _progress)
    print(report.summary())
    return EXIT_OK


def cmd_promote(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.actions import deploys as actions
    from vibedash.cli.output import _load_gate_policy

    client = client_from_settings(settings)
    policy = _load_gate_policy(args, settings)
    return _report_action(lambda: actions.promote(engine, client, settings.netlify_site_id, args.target,
                                                  actor=settings.actor, reason=args.reason, policy=policy,
                                                  override=args.override))


def cmd_rollback(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.actions import deploys as actions

    client = client_from_settings(settings)
    return _report_action(lambda: actions.rollback(engine, client, settings.netlify_site_id, actor=settings.actor,
                                                   reason=args.reason, to=args.to))


def _cmd_lock(locked: bool):
    def handler(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
        from vibedash.actions import deploys as actions

        client = client_from_settings(settings)
        return _report_action(lambda: actions.set_lock(engine, client, settings.netlify_site_id, locked=locked,
                                                       actor=settings.actor, target=args.target,
                                                       reason=args.reason))
    return handler


def cmd_trigger(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    return run_trigger(args, settings, engine, sha=args.commit)


def run_trigger(args: argparse.Namespace, settings: Settings, engine: Engine, *, sha: str | None,
                verdict=None) -> int:
    from vibedash.actions import deploys as actions

    branch = getattr(args, "branch", None)
    if settings.build_hook_url:
        # A build hook needs no token: the hook URL is the credential.
        client = _client(settings.netlify_auth_token or "", settings.netlify_site_id, settings.netlify_api_url,
                         settings)
        hook = settings.build_hook_url
    elif settings.netlify_auth_token and settings.netlify_site_id:
        client = client_from_settings(settings)
        try:
            hook = actions.find_build_hook(client, settings.netlify_site_id, branch)
        except actions.ActionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    else:
        settings.require("build_hook_url", "trigger a build (Netlify: Site configuration > Build hooks), or set "
                         "NETLIFY_AUTH_TOKEN and NETLIFY_SITE_ID to use the site's own hook")
    return _report_action(lambda: actions.trigger_build(engine, client, hook, actor=settings.actor, sha=sha,
                                                        branch=branch, reason=getattr(args, "reason", None),
                                                        verdict=verdict, site_id=settings.netlify_site_id,
                                                        again=bool(getattr(args, "again", False))))


def cmd_pin(pinned: bool):
    def handler(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
        from vibedash.actions import deploys as actions

        return _report_action(lambda: actions.set_pin(engine, args.target, pinned=pinned, actor=settings.actor,
                                                      reason=args.reason))
    return handler


def cmd_retention(args: argparse.Namespace, settings: Settings, engine: Engine) -> int:
    from vibedash.actions import retention_apply

    # Applying needs Netlify: say so before printing a plan that cannot be carried out.
    client = client_from_settings(settings) if args.action == "apply" else None
    plan = retention_apply.current_plan(engine, settings, policy_path=args.policy)
    if args.json:
        from vibedash.cli.output import _dump_json

        _dump_json({"summary": plan.summary(), "decisions": list(plan.iter_rows("all"))})
    else:
        from vibedash.cli.output import _print_table

        rows = list(plan.iter_rows("all" if args.all else "prune"))
        _print_table(rows, ["sha", "netlify_id", "branch", "created_at", "action", "reasons"])
        print(plan.summary()["text"])
    if args.action == "plan":
        return EXIT_OK
    if not plan.count("prune"):
        print("nothing to prune")
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: retention apply deletes deploys on Netlify: confirm with --yes (no terminal to ask)",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        answer = input(f"Delete {plan.count('prune')} deploys on Netlify? Type 'delete' to confirm: ")
        if answer.strip() != "delete":
            print("nothing deleted")
            return EXIT_FAILED
    report = retention_apply.apply_plan(engine, client, settings.netlify_site_id, plan, actor=settings.actor,
                                        progress=lambda i, n, d: print(f"  [{i}/{n}] deleted {d}", file=sys.stderr))
    if report.complete:
        print(report.summary())
        return EXIT_OK
    print(f"deleted {len(report.deleted)} deploys", file=sys.stdout)
    print(f"{'partly done' if report.deleted else 'error'}: {report.error}; not done: {len(report.not_done)} "
          "deploys (run apply again: it checks Netlify first)", file=sys.stderr)
    return report.exit_code


def register(sub: argparse._SubParsersAction, *, verb: str | None = None) -> None:
    """Add these verbs to ``sub``. ``verb``: the one being run, when known; the solve parser (which loads the
    inference engine's modules) is then built only for `solve` itself, a one-line entry standing in for it
    otherwise (the verb list in --help names it all the same)."""
    def add(name: str, handler, help: str, needs_db: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler, needs_db=needs_db)
        return p

    p = add("sync", cmd_sync, "Pull the site's deploys from Netlify into the registry (incremental).")
    p.add_argument("--full", action="store_true", help="read every deploy and mark the ones Netlify no longer "
                   "has as expired")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    p = add("promote", cmd_promote, "Make a version's deploy live and lock it, if it passes the gate.")
    p.add_argument("target", metavar="DEPLOY_ID_OR_SHA")
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")
    p.add_argument("--override", action="store_true", help="go live even though the gate fails")
    p.add_argument("--policy", metavar="FILE", help="gate policy TOML")
    p.add_argument("--rule", action="append", metavar="RULE", help="gate rule instead of the policy file")

    p = add("rollback", cmd_rollback, "Publish (and lock) the deploy that was live before the current one.")
    p.add_argument("--to", metavar="DEPLOY_ID_OR_SHA", help="roll back to this deploy instead")
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")

    for name, locked, text in (("lock", True, "Lock a deploy (default: the live one) so builds stop auto "
                                "publishing."), ("unlock", False, "Unlock a deploy so builds auto publish again.")):
        p = add(name, _cmd_lock(locked), text)
        p.add_argument("target", nargs="?", metavar="DEPLOY_ID_OR_SHA")
        p.add_argument("--reason", help="why (kept in the audit log)")

    p = add("trigger", cmd_trigger, "Trigger a Netlify build through the build hook.")
    p.add_argument("--commit", metavar="SHA", help="the version the build is for (names it in the deploy title)")
    p.add_argument("--branch", help="branch to build (default: the hook's)")
    p.add_argument("--reason", help="why (kept in the audit log)")
    p.add_argument("--again", action="store_true", help="trigger even though an earlier trigger's outcome is "
                   "unknown and cannot be checked (no token): only after finding no such build on Netlify")

    for name, pinned, text in (("pin", True, "Pin a deploy so retention always keeps it."),
                               ("unpin", False, "Remove a pin.")):
        p = add(name, cmd_pin(pinned), text)
        p.add_argument("target", metavar="DEPLOY_ID_OR_SHA")
        p.add_argument("--reason", help="why (required to pin)")

    p = add("retention", cmd_retention, "Plan (default, a dry run) or apply the retention policy.")
    p.add_argument("action", choices=("plan", "apply"), nargs="?", default="plan")
    p.add_argument("--policy", metavar="FILE", help="retention policy TOML (default: VIBEDASH_RETENTION_POLICY)")
    p.add_argument("--yes", action="store_true", help="apply without asking (for CI)")
    p.add_argument("--all", action="store_true", help="list kept deploys too, not only the pruned ones")
    p.add_argument("--json", action="store_true", help="machine-readable plan")

    _add_solve(sub, lazy=verb is not None and verb != "solve")
    _add_netlify_sim(sub)


SOLVE_HELP = "put one question to a version (or two side by side), stream, grade and log the answer"


def _add_solve(sub: argparse._SubParsersAction, *, lazy: bool = False) -> None:
    if lazy:
        sub.add_parser("solve", help=SOLVE_HELP, add_help=False)
        return
    from vibedash.solve import command as solve_command

    solve_command.add_parser(sub)
    sub.choices["solve"].set_defaults(handler=solve_command.run, needs_db=True)


def _add_netlify_sim(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("netlify-sim", help="Run a local Netlify API simulator (loopback) to try promote and "
                       "rollback without a Netlify account (--help for its options).", add_help=False)
    p.add_argument("sim_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=_run_netlify_sim, needs_db=False)


def _run_netlify_sim(args: argparse.Namespace, settings: Settings, engine: Engine | None) -> int:
    from vibedash.netlify import simulator as netlify_sim

    def seed(sim) -> dict:
        """--seed-demo serves the registry's own deploys when it has some, else the simulator's demo site."""
        from sqlalchemy import select

        from vibedash.registry.db import open_registry
        from vibedash.registry.demo import seed_simulator
        from vibedash.registry.models import Deploy

        registry_engine = open_registry(settings.db_url)
        with registry_engine.connect() as conn:
            has_deploys = conn.execute(select(Deploy.id).limit(1)).first() is not None
        if not has_deploys:
            return netlify_sim.seed_demo(sim)
        return sim.site(seed_simulator(sim, registry_engine))

    return netlify_sim.main(args.sim_args, seed=seed)
