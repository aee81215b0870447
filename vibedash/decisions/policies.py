"""Which gate and retention policies are in force: a file named by a flag or setting, else the defaults."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vibedash.config import Settings


def gate_policy(settings: Settings, path: str | None = None, rules: Sequence[str] | None = None):
    from vibedash.decisions import gate

    if rules:
        return gate.policy_from_strings(list(rules))
    file = Path(path or settings.gate_policy)
    if file.is_file():
        return gate.load_policy(file)
    if path:
        raise ValueError(f"gate policy file {file} does not exist")
    return gate.DEFAULT_POLICY


def retention_policy(settings: Settings, path: str | None = None):
    from vibedash.decisions import retention

    file = Path(path or settings.retention_policy)
    if file.is_file():
        return retention.load_retention_policy(file)
    if path:
        raise ValueError(f"retention policy file {file} does not exist")
    return retention.DEFAULT_RETENTION_POLICY


def policy_source(settings: Settings, kind: str) -> str:
    """One sentence on where the ``kind`` ("gate" or "retention") policy in force comes from."""
    path = settings.gate_policy if kind == "gate" else settings.retention_policy
    env = "VIBEDASH_GATE_POLICY" if kind == "gate" else "VIBEDASH_RETENTION_POLICY"
    if path and Path(path).is_file():
        return f"{kind.capitalize()} policy from `{path}`."
    return (f"{kind.capitalize()} policy: the built-in defaults (there is no `{path}`; "
            f"`examples/vibedash-{kind}.toml` shows every setting, and {env} can name another file).")
