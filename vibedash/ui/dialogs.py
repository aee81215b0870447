"""Confirmation dialogs driven from session state, and the outcome of an action shown after the rerun.

A dialog opened straight from ``if st.button(...)`` vanishes on the next full rerun, so its Confirm button can
never be pressed in a test (and a stray rerun closes it in the browser). Here a button only *requests* a
dialog (``on_click=request, args=("pending_promote", deploy_id)``); every run then reopens the dialog while
the request stands, until Confirm, Cancel or the dialog's X clears it::

    st.button("Promote…", on_click=dialogs.request, args=("pending_promote", deploy_id))
    dialogs.show_pending("pending_promote", lambda d: f"Promote {d}?", promote_dialog)

Confirm runs the action through :func:`perform`, which keeps the outcome for the next run, drops cached reads
(:func:`vibedash.ui.state.refresh`) and reruns the whole app, so every page shows the new truth at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import streamlit as st

from vibedash.actions.deploys import ActionError, ActionResult
from vibedash.netlify.client import NetlifyError
from vibedash.registry import records as registry
from vibedash.ui import state
from vibedash.ui.format import verdict_headline, verdict_lines  # noqa: F401  (their old home)

OPEN_DIALOG_KEY = "open_dialog"  # which request key is open: Streamlit shows one dialog per run
OUTCOME_KEY = "action_outcome"

Level = Literal["success", "warning", "error"]


# --- requesting and showing a dialog ----------------------------------------------------------------------

def request(key: str, value: Any = True) -> None:
    """Button callback: open the dialog ``key`` for ``value`` (one dialog at a time: another open one is dropped)."""
    previous = st.session_state.get(OPEN_DIALOG_KEY)
    if previous and previous != key:
        dismiss(previous)
    st.session_state[key] = value
    st.session_state[OPEN_DIALOG_KEY] = key


def pending(key: str) -> Any | None:
    return st.session_state.get(key)


def dismiss(key: str) -> None:
    st.session_state.pop(key, None)
    if st.session_state.get(OPEN_DIALOG_KEY) == key:
        del st.session_state[OPEN_DIALOG_KEY]


def show_pending(key: str, title: str | Callable[[Any], str], body: Callable[[Any], None], *,
                 width: Literal["small", "medium", "large"] = "medium") -> bool:
    """Open the dialog while ``key`` is requested; True when it is open. Closing it (X) drops the request."""
    value = pending(key)
    if value is None:
        return False
    heading = title(value) if callable(title) else title
    st.dialog(heading, width=width, on_dismiss=lambda: dismiss(key))(body)(value)
    return True


def cancel_button(key: str, *, label: str = "Cancel") -> None:
    """A button that closes the dialog ``key`` without doing anything."""
    if st.button(label, key=f"{key}_cancel"):
        dismiss(key)
        st.rerun()


# --- carrying out an action -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What an action ended with, kept in session state across the rerun that follows it."""

    level: Level
    message: str
    details: tuple[str, ...] = ()


def report(level: Level, message: str, details: tuple[str, ...] | list[str] = ()) -> None:
    """Keep an outcome for :func:`show_outcome` on the next run (plain data: session state stays serialisable)."""
    st.session_state[OUTCOME_KEY] = asdict(Outcome(level, message, tuple(details)))


EXPECTED_FAILURES = (ActionError, NetlifyError, registry.RegistryError, registry.NotFound)


def describe_failure(exc: Exception) -> str:
    """One sentence about an expected failure (one of EXPECTED_FAILURES) that says what to do next."""
    if isinstance(exc, ActionError):
        # ActionError messages already say what state things are in and what to do next.
        prefix = {"partial": "Only partly done: ", "unknown": "Outcome unknown: "}.get(getattr(exc, "outcome", ""), "")
        return f"{prefix}{exc}"
    if isinstance(exc, NetlifyError):
        return f"Netlify refused or could not be reached, so nothing changed: {exc}"
    return str(exc)


def outcome_of(run: Callable[[], ActionResult]) -> Outcome:
    """Run an action and describe how it ended, in words a person can act on. Never raises for expected failures."""
    try:
        result = run()
    except EXPECTED_FAILURES as exc:
        partial = isinstance(exc, ActionError) and exc.partial
        return Outcome("warning" if partial else "error", describe_failure(exc))
    return Outcome("success", result.message)


def perform(run: Callable[[], ActionResult], *, close: str | None = None) -> None:
    """Run an action, keep its outcome, close the dialog ``close``, drop cached reads and rerun the app."""
    finish(outcome_of(run), close=close)


def finish(outcome: Outcome, *, close: str | None = None) -> None:
    """After an action: show ``outcome`` on the next run, close the dialog, refresh every page, rerun."""
    report(outcome.level, outcome.message, outcome.details)
    if close:
        dismiss(close)
    state.refresh()
    st.rerun()


def show_outcome() -> None:
    """Show (once) what the last action ended with. Call near the top of an action page."""
    data = st.session_state.pop(OUTCOME_KEY, None)
    if not data:
        return
    outcome = Outcome(data["level"], data["message"], tuple(data.get("details") or ()))
    show = {"success": st.success, "warning": st.warning, "error": st.error}[outcome.level]
    icon = {"success": ":material/check_circle:", "warning": ":material/warning:", "error": ":material/error:"}
    show(outcome.message, icon=icon[outcome.level])
    if outcome.details:
        with st.expander("Details", expanded=outcome.level != "success"):
            st.markdown("\n".join(f"- {line}" for line in outcome.details))
