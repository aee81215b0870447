"""The retention policy: which rules keep deploys beyond the live and pinned ones, read from a TOML file.

Pure: a policy is plain data, validated when made; ``load_retention_policy`` reads a file and nothing else.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vibedash.decisions.retention.terms import days, newest, switch


class RetentionPolicyError(ValueError):
    """A retention policy cannot be used; the message names the setting and says what to fix."""


@dataclass(frozen=True)
class RetentionPolicy:
    """What to keep beyond the live and pinned deploys, which are always kept.

    Each rule is switched off by ``False`` (or ``0`` for the counts).
    """

    # the last N deploys that were live before the current one (rollback targets)
    keep_last_live: int = 3
    # every version that set a new best on a benchmark when it appeared
    keep_new_bests: bool = True
    # the Pareto frontier of ``benchmarks``
    keep_frontier: bool = True
    # the benchmarks that matter, for the frontier and for new bests; empty: every benchmark with a score
    benchmarks: tuple[str, ...] = ()
    # versions whose gate verdict passed
    keep_gate_passed: bool = True
    # on every branch, the newest deploy of each of the N newest versions
    keep_newest_per_branch: int = 1
    # deploys younger than this are never pruned
    grace_days: int = 14

    def __post_init__(self) -> None:
        for name in ("keep_last_live", "keep_newest_per_branch", "grace_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RetentionPolicyError(f"{name} must be a whole number, 0 or more (0 switches it off); "
                                           f"got {value!r}")
        for name in ("keep_new_bests", "keep_frontier", "keep_gate_passed"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise RetentionPolicyError(f"{name} must be true or false; got {value!r}")
        benchmarks = self.benchmarks
        if isinstance(benchmarks, str) or not all(isinstance(b, str) and b.strip() for b in benchmarks):
            raise RetentionPolicyError(f"benchmarks must be a list of benchmark names such as "
                                       f'["aime25", "hmmt25"]; got {benchmarks!r}')
        # a list from TOML becomes a tuple, in the given order without repeats, so the policy stays hashable
        object.__setattr__(self, "benchmarks", tuple(dict.fromkeys(b.strip() for b in benchmarks)))

    def describe(self) -> list[str]:
        """One line per rule, switched-off rules included, for pages and the CLI."""
        of = f"any of {', '.join(self.benchmarks)}" if self.benchmarks else "any benchmark"
        over = ", ".join(self.benchmarks) if self.benchmarks else "all benchmarks with scores"
        lines = [
            "keep the live deploy (always)",
            "keep pinned deploys (always)",
            switch(self.keep_last_live > 0,
                    f"keep the last {self.keep_last_live} deploys that were live before the current one "
                    "(rollback targets)", "rollback targets"),
            switch(self.grace_days > 0, f"never touch deploys younger than {days(self.grace_days)} "
                    "(grace period)", "grace period"),
            switch(self.keep_newest_per_branch > 0,
                    f"keep the {newest(self.keep_newest_per_branch)} on every branch",
                    "newest per branch"),
            switch(self.keep_new_bests, f"keep every version that set a new best on {of} when it appeared",
                    "new bests"),
            switch(self.keep_frontier, f"keep the Pareto frontier over {over}", "frontier"),
            switch(self.keep_gate_passed, "keep versions that passed the gate", "gate passed"),
        ]
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The policy as TOML-ready data (what :func:`parse_retention_policy` reads back)."""
        data: dict[str, Any] = {"keep_live": True, "keep_pinned": True}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = list(value) if isinstance(value, tuple) else value
        return data


DEFAULT_RETENTION_POLICY = RetentionPolicy()

# rules that cannot be switched off: the file may say so (as documentation), never the opposite
_ALWAYS_ON = {
    "keep_live": "the live deploy is never pruned",
    "keep_pinned": "a pin is always honoured; unpin the deploy instead",
}


def parse_retention_policy(data: Mapping[str, Any], source: str = "retention policy") -> RetentionPolicy:
    """A policy from plain data (a parsed TOML file); unknown keys and wrong types are errors."""
    known = {f.name for f in fields(RetentionPolicy)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _ALWAYS_ON:
            if value is not True:
                raise RetentionPolicyError(f"{source}: {key} cannot be switched off ({_ALWAYS_ON[key]}); "
                                           f"remove the line or set it to true")
        elif key in known:
            values[key] = value
        else:
            raise RetentionPolicyError(f"{source}: unknown setting {key!r}; known settings: "
                                       f"{', '.join(sorted(known | _ALWAYS_ON.keys()))}")
    if "benchmarks" in values:
        if not isinstance(values["benchmarks"], list):
            raise RetentionPolicyError(f'{source}: benchmarks must be a list such as ["aime25", "hmmt25"]; '
                                       f"got {values['benchmarks']!r}")
        values["benchmarks"] = tuple(values["benchmarks"])
    try:
        return RetentionPolicy(**values)
    except RetentionPolicyError as exc:
        raise RetentionPolicyError(f"{source}: {exc}") from None


def load_retention_policy(path: str | Path, *, missing_ok: bool = False) -> RetentionPolicy:
    """Read a policy from a TOML file (see ``examples/vibedash-retention.toml``).

    With ``missing_ok`` a missing file gives :data:`DEFAULT_RETENTION_POLICY` (for the default path, which
    a project need not have); a path the user named should exist.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return DEFAULT_RETENTION_POLICY
        raise RetentionPolicyError(f"retention policy file {path} does not exist; create it (see "
                                   "examples/vibedash-retention.toml) or point VIBEDASH_RETENTION_POLICY "
                                   "at another file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RetentionPolicyError(f"{path} is not valid TOML ({exc}); fix the file") from None
    return parse_retention_policy(data, source=str(path))

