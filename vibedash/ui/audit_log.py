"""The audit log section of the Promote page: filters, one page of events at a time, and their deep link.

Filters and page live in the session (and in the URL through :func:`link_params`), so a link names the exact
view; changing a filter goes back to the first page.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from vibedash.registry.audit_log_queries import AUDIT_PAGE_SIZE, EventFilterChoices, audit_log_page
from vibedash.ui import deeplink, frame, tables

ALL = "all"
AUDIT_LIMIT = AUDIT_PAGE_SIZE  # events per page of the audit log
KIND_KEY, ACTOR_KEY, STATUS_KEY, LOG_PAGE_KEY = "audit_kind", "audit_actor", "audit_status", "audit_page"
KEEP = "session"  # the audit log's filters survive a visit to another page and back


def audit_table(events: list[dict[str, Any]]) -> tables.Table:
    """The dashboard's audit-log table, plus the gate's outcome where the action judged a version."""
    table = tables.events_table(events)
    table.frame.insert(table.frame.columns.get_loc("reason") + 1, "gate",
                       [e["verdict"].get("summary", "") if isinstance(e["verdict"], dict) else "" for e in events])
    return table


def link_params(choices: EventFilterChoices) -> list[deeplink.Param]:
    """What the URL keeps of the audit log: its filters (?action=, ?who=, ?result=) and page (?log_page=)."""
    return [deeplink.choice("action", KIND_KEY, [ALL, *choices.kinds], what="an action in the log"),
            deeplink.choice("who", ACTOR_KEY, [ALL, *choices.actors], what="someone in the log"),
            deeplink.choice("result", STATUS_KEY, [ALL, *choices.statuses], what="a result in the log", listed=True),
            deeplink.page_number("log_page", LOG_PAGE_KEY)]


def first_log_page() -> None:
    st.session_state[LOG_PAGE_KEY] = 1


def turn_log_page(step: int) -> None:
    st.session_state[LOG_PAGE_KEY] = max(1, st.session_state.get(LOG_PAGE_KEY, 1) + step)


def audit_section(choices: EventFilterChoices) -> None:
    st.subheader("Audit log")
    kind_col, actor_col, status_col = st.columns(3)
    kind = kind_col.selectbox("Action", [ALL, *choices.kinds], key=KIND_KEY, persist_state=KEEP,
                              on_change=first_log_page)
    who = actor_col.selectbox("Who", [ALL, *choices.actors], key=ACTOR_KEY, persist_state=KEEP,
                              on_change=first_log_page)
    result = status_col.selectbox("Result", [ALL, *choices.statuses], key=STATUS_KEY, persist_state=KEEP,
                                  on_change=first_log_page)
    requested = st.session_state.get(LOG_PAGE_KEY) or 1
    with frame.read_session() as session:
        shown = audit_log_page(session, kind=None if kind == ALL else kind, actor=None if who == ALL else who,
                               status=None if result == ALL else result, page=requested, page_size=AUDIT_LIMIT)
    if shown.page != requested:  # fewer events than the page a link named: the last page there is
        st.session_state[LOG_PAGE_KEY] = shown.page
    if not shown.events:
        frame.empty_state("No events match these filters.")
        return
    if shown.page > 1 or shown.has_older:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.space("stretch")
            st.markdown(f"page {shown.page} · events {shown.first_number:,} to "
                        f"{shown.first_number + len(shown.events) - 1:,}, newest first", width="content")
            st.button("Newer", key="audit_newer", icon=":material/chevron_left:", disabled=shown.page <= 1,
                      on_click=turn_log_page, args=(-1,))
            st.button("Older", key="audit_older", icon=":material/chevron_right:", disabled=not shown.has_older,
                      on_click=turn_log_page, args=(1,))
    tables.show(audit_table(shown.events), key="promote_audit_log")
