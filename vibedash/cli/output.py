"""What every CLI verb shares: exit codes, the one error type, tables and JSON on stdout, the gate policy
from flags. Both the parser (main) and the verbs (commands) import this; it imports neither."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from vibedash.config import Settings

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out=None) -> None:
    out = out or sys.stdout
    if not rows:
        print("(nothing)", file=out)
        return
    text = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(), file=out)
    for t in text:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip(), file=out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _dump_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=_json_default, ensure_ascii=False)
    print()


def _load_gate_policy(args: argparse.Namespace, settings: Settings):
    from vibedash.decisions.policies import gate_policy

    return gate_policy(settings, getattr(args, "policy", None), getattr(args, "rule", None))


# --- input and output errors as one line (never a traceback) ---------------------------------------------

def _write_output(path: Path, text: str) -> None:
    """Write an export file, or a CliError saying what to change (never a traceback)."""
    if path.is_dir():
        raise CliError(f"-o {path}: is a folder; give a file name, e.g. -o {path / 'registry.json'}")
    if not path.parent.is_dir():
        raise CliError(f"-o {path}: the folder {path.parent} does not exist; create it first or write elsewhere")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"-o {path}: cannot be written ({exc.strerror or exc}); check its permissions, or write "
                       "elsewhere") from None


def _check_rule_benchmarks(policy, in_registry: Sequence[str]) -> None:
    """A rule that names a benchmark nobody has ever scored is a typo, not a failed gate: bad input (exit 2)."""
    from vibedash.decisions.benchmarks import HEADLINE_BENCHMARKS

    known = dict.fromkeys([*HEADLINE_BENCHMARKS, *in_registry])
    for rule in policy.rules:
        named = [getattr(rule, "benchmark", None), *(getattr(rule, "benchmarks", None) or ())]
        unknown = [name for name in named if name and name not in known]
        if unknown:
            raise CliError(f"rule '{rule.text}' names benchmark {unknown[0]}, which no version has; "
                           f"known benchmarks: {', '.join(known)}")


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in a test): nothing to flush into a pipe
        pass
    finally:
        os.close(devnull)
