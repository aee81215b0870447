"""The loop every live-changing action shares: read Netlify, do the one missing step, read back, decide.

A step is one idempotent write (publish, lock, unlock). After it, whatever its answer was, the site is read
back: the read-back, not the answer, says whether the step landed. So an answer lost after Netlify applied
the change still counts as done, and an answer that says "done" while Netlify shows otherwise is never
reported as success. A step is sent at most once per run (the client already retries what is safe to
retry); what is still missing after that is reported, and running the same command again carries on from
Netlify's real state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from vibedash.actions.observe import LiveState, note_live, pause, read_live
from vibedash.actions.outcomes import (
    PARTIAL,
    REFUSED,
    UNKNOWN,
    ActionConflict,
    ActionError,
    outcome_of_netlify_error,
)
from vibedash.netlify.client import (
    NetlifyAuthError,
    NetlifyClient,
    NetlifyError,
    NetlifyNotFound,
    NetlifyRateLimited,
    NetlifyRequestError,
    NetlifyUnavailable,
)
from vibedash.registry import audit

# Refusals: Netlify answered and did nothing, so the step certainly did not happen.
_REFUSALS = (NetlifyRateLimited, NetlifyRequestError, NetlifyNotFound, NetlifyAuthError)


@dataclass(frozen=True)
class Step:
    name: str                                    # "publish", "lock", "unlock"
    doing: str                                   # "publishing abc" (for messages)
    send: Callable[[], Any]
    landed: Callable[[LiveState], bool]          # does Netlify's state show it done?
    needed: Callable[[LiveState], bool]          # is it still missing?


@dataclass
class Attempt:
    error: NetlifyError | None = None            # the write's own error, if any
    state: LiveState | None = None               # read back after it (None: the read-back failed)
    read_error: NetlifyError | None = None
    landed: bool | None = None                   # None: unknown (could not read back)


def attempt(client: NetlifyClient, site_id: str, step: Step) -> Attempt:
    """Send one step, then read the site back (confirming a "not landed" once: a read can be stale)."""
    result = Attempt()
    try:
        step.send()
    except NetlifyError as exc:
        result.error = exc
    try:
        state = read_live(client, site_id)
        if not step.landed(state):
            pause()
            state = read_live(client, site_id)
    except NetlifyError as exc:
        result.read_error = exc
        return result
    result.state, result.landed = state, step.landed(state)
    return result


def no_answer(error: NetlifyError | None) -> bool:
    """No HTTP answer came at all (timeout, dropped connection): the request may still arrive late."""
    return isinstance(error, NetlifyUnavailable) and error.status is None


@dataclass
class Run:
    """One run of a live-changing action towards its goal, audited as ``event_id``."""

    engine: Engine
    client: NetlifyClient
    site_id: str
    kind: str                                    # "promote", "rollback", "lock", "unlock"
    target: str
    expected_live: set[str | None]               # live deploys this intent may find (else someone else acted)
    event_id: int
    retry_hint: str = "Run the same command again: it reads Netlify first and only does what is missing."
    finished: bool = False

    def finish(self, status: str, *, error: str | None = None, detail: dict[str, Any] | None = None) -> None:
        audit.finish_event(self.engine, self.event_id, status, error=error, detail=detail)
        self.finished = True

    def fail(self, status: str, message: str, outcome: str, steps: dict[str, Any],
             error_type: type[ActionError] = ActionError) -> ActionError:
        self.finish(status, error=message, detail={"steps": steps})
        return error_type(message, event_id=self.event_id, outcome=outcome)

    def read_first(self, steps: dict[str, Any]) -> LiveState:
        try:
            return read_live(self.client, self.site_id)
        except NetlifyError as exc:
            raise self.fail(audit.FAILED, f"could not read the site before acting ({exc}); nothing was changed. "
                            f"{self.retry_hint}", outcome_of_netlify_error(exc), steps) from None

    def conflict(self, state: LiveState, changed: bool, steps: dict[str, Any]) -> ActionError:
        """Someone else published another deploy: nothing this action wanted holds, and it will not fight."""
        note_live(self.engine, self.site_id, state)
        expected = " or ".join(str(e or "nothing") for e in sorted(self.expected_live, key=str))
        what = (f"This {self.kind} did publish {self.target}, then {state.live_id or 'nothing'} replaced it"
                if changed else "Nothing was changed")
        message = (f"the live deploy changed under this {self.kind}: Netlify now shows "
                   f"{state.live_id or 'nothing'} live ({'locked' if state.locked else 'unlocked'}), not the "
                   f"expected {expected}; someone else published it. {what}. Look at the site, then run the "
                   f"{self.kind} again if it is still wanted")
        steps["conflict"] = state.live_id
        return self.fail(audit.FAILED if changed else audit.REFUSED, message, REFUSED, steps, ActionConflict)

    def converge(self, steps_to_do: list[Step], goal: Callable[[LiveState], bool],
                 steps: dict[str, Any]) -> LiveState:
        """Do what is missing of ``steps_to_do`` until ``goal`` holds; raise ActionError (event finished) if not.

        ``steps`` collects what happened, for the audit event's detail.
        """
        state = self.read_first(steps)
        changed = False
        for step in steps_to_do:
            if goal(state):
                break
            if state.live_id not in self.expected_live | {self.target}:
                raise self.conflict(state, changed, steps)
            if not step.needed(state):
                continue
            result = attempt(self.client, self.site_id, step)
            if result.landed:
                steps[step.name] = "done" if result.error is None else "done (its answer was lost; read back)"
                state, changed = result.state, True
                continue
            if result.state is not None and result.state.live_id not in self.expected_live | {self.target}:
                # An answered step did happen, even though someone else's change has replaced it since.
                raise self.conflict(result.state, changed or result.error is None, steps)
            raise self.step_failed(step, result, changed, steps)
        if not goal(state):  # the steps ran out (e.g. a lock that does not stick): say what holds
            note_live(self.engine, self.site_id, state)
            raise self.fail(PARTIAL if changed else audit.FAILED,
                            f"Netlify reports {state.describe()} after {self.kind}: {self.retry_hint}",
                            PARTIAL if changed else REFUSED, steps)
        note_live(self.engine, self.site_id, state)
        return state

    def step_failed(self, step: Step, result: Attempt, changed: bool, steps: dict[str, Any]) -> ActionError:
        error = result.error
        said = f" ({error})" if error is not None else ""
        if result.state is not None:
            note_live(self.engine, self.site_id, result.state)
            now = f"Read back from Netlify: {result.state.describe()}"
            if error is None:
                steps[step.name] = "answered ok, but not seen on Netlify"
                return self.fail(UNKNOWN, f"Netlify accepted {step.doing} but still reports that "
                                 f"{result.state.describe()}; it may not have taken effect yet. {self.retry_hint}",
                                 UNKNOWN, steps)
            if no_answer(error):
                steps[step.name] = "no answer; not seen on Netlify"
                return self.fail(UNKNOWN, f"{step.doing} got no answer{said}. {now}; the request may still "
                                 f"arrive late. {self.retry_hint}", UNKNOWN, steps)
            steps[step.name] = "failed"
            if changed:
                return self.partial_message(step, said, now, steps)
            return self.fail(audit.FAILED, f"{step.doing} failed{said}. {now}: nothing changed. "
                             f"{self.retry_hint}", outcome_of_netlify_error(error), steps)
        read = f"reading the site back failed too ({result.read_error})"
        if error is not None and isinstance(error, _REFUSALS):
            steps[step.name] = "refused"
            if changed:
                return self.partial_message(step, said, f"And {read}", steps)
            return self.fail(audit.FAILED, f"{step.doing} was refused{said}: nothing changed. "
                             f"{self.retry_hint}", outcome_of_netlify_error(error), steps)
        steps[step.name] = "unknown"
        answered = "Netlify accepted it, but" if error is None else f"it got no clear answer{said}, and"
        return self.fail(UNKNOWN, f"unknown whether {step.doing} took effect: {answered} {read}. Check the "
                         f"site's Deploys page on Netlify. {self.retry_hint}", UNKNOWN, steps)

    def partial_message(self, step: Step, said: str, now: str, steps: dict[str, Any]) -> ActionError:
        message = (f"{self.target} is live but NOT locked{said}: the next git build may replace it. {now}. "
                   f"Retry the same command, or run `python -m vibedash lock {self.target}`"
                   if step.name == "lock" else f"{step.doing} failed{said} after earlier steps worked. {now}. "
                   f"{self.retry_hint}")
        return self.fail(audit.PARTIAL, message, PARTIAL, steps)

    def guard(self, error: BaseException) -> None:
        """Called when anything unexpected escapes: no event is ever left ``started``."""
        if not self.finished:
            self.finish(audit.UNKNOWN, error=f"interrupted ({type(error).__name__}: {error}); Netlify's state "
                        f"was not read back. {self.retry_hint}")
