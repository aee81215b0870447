"""`python -m vibedash ...`: the registry, the gate and Netlify actions for terminals and CI pipelines.

Exit codes: 0 success, 1 gate failed or not found, 2 bad input (or a setting missing, or a database URL or
file that cannot be a registry), 3 Netlify or the database unavailable (unreachable, damaged, busy, a failed
migration), 4 an action only partly done.

This module runs a command line (:func:`main`) and turns failures into one line and an exit code. The parser
is :mod:`vibedash.cli.parser`; the registry's verbs are :mod:`vibedash.cli.registry_verbs` (init, record,
import, list, export, demo-data, settings) and :mod:`vibedash.cli.version_verbs` (show, gate); their names
stay importable from here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from vibedash.cli.output import (  # noqa: F401  (the exit codes and helpers, offered here as before)
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
from vibedash.cli.parser import Handler, _add_optional_commands, _verb_of, build_parser  # noqa: F401
from vibedash.cli.registry_verbs import (  # noqa: F401  (the verbs, importable from here as before)
    cmd_demo_data,
    cmd_export,
    cmd_import,
    cmd_init,
    cmd_list,
    cmd_record,
    cmd_settings,
)
from vibedash.cli.version_verbs import _interval_fields, cmd_gate, cmd_show  # noqa: F401
from vibedash.config import ConfigError, load_settings, redact


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
