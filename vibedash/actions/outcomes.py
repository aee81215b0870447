"""How an action ends: a result, or an :class:`ActionError` that says what holds now and what to do.

Every error carries an ``outcome`` the CLI turns into the README's exit code and a page into a colour:

========== ============================================================================ =====
outcome    meaning                                                                      exit
========== ============================================================================ =====
refused    nothing was attempted: gate failed, not found, the site changed, busy          1
bad_input  the request itself is wrong (no reason, deploy not ready, not a version)      2
unavailable Netlify failed or could not be reached and nothing changed                    3
partial    some steps happened, the goal is not reached yet: run the same command again  4
unknown    a change may have happened and could not be read back: run the same again     4
========== ============================================================================ =====
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vibedash.decisions.gate import Verdict
from vibedash.netlify.client import NetlifyError, NetlifyNotFound, NetlifyRequestError
from vibedash.redact import redact

REFUSED, BAD_INPUT, UNAVAILABLE, PARTIAL, UNKNOWN = "refused", "bad_input", "unavailable", "partial", "unknown"
EXIT_CODES = {REFUSED: 1, BAD_INPUT: 2, UNAVAILABLE: 3, PARTIAL: 4, UNKNOWN: 4}


class ActionError(RuntimeError):
    """An action did not (fully) happen; the message says what state things are in and what to do."""

    def __init__(self, message: str, *, event_id: int | None = None, partial: bool = False,
                 verdict: Verdict | None = None, outcome: str | None = None):
        super().__init__(redact(message))
        self.event_id = event_id
        self.outcome = outcome or (PARTIAL if partial else REFUSED)
        # partial: the caller should run the same command again (some steps may have happened).
        self.partial = self.outcome in (PARTIAL, UNKNOWN)
        self.verdict = verdict

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


class GateRefused(ActionError):
    """The gate failed and no override reason was given."""


class ActionConflict(ActionError):
    """Someone else changed the site while (or since) the action was prepared; nothing of ours holds."""


def outcome_of_netlify_error(exc: NetlifyError) -> str:
    """Which outcome a Netlify failure means when nothing changed."""
    if isinstance(exc, NetlifyNotFound):
        return REFUSED
    if isinstance(exc, NetlifyRequestError):
        return BAD_INPUT
    return UNAVAILABLE


@dataclass(frozen=True)
class ActionResult:
    kind: str
    event_id: int
    message: str
    live_deploy_id: str | None = None
    verdict: Verdict | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromotePreview:
    """What a promote would do, for the confirmation dialog: nothing is changed."""

    deploy_id: str
    sha: str | None
    live_deploy_id: str | None
    live_sha: str | None
    verdict: Verdict
