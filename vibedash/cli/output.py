"""What every CLI verb shares: exit codes, the one error type, tables and JSON on stdout, the gate policy
from flags. Both the parser (main) and the verbs (commands) import this; it imports neither."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
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
