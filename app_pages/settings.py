"""Settings: the database in use, the Netlify connection, the gate and retention policies in force, every setting.

Secrets never appear: only whether they are set (Settings.describe); a database password shows as ***.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from vibedash.config import ConfigError
from vibedash.decisions.policies import gate_policy, policy_source, retention_policy
from vibedash.registry.db import DatabaseError, schema_revisions
from vibedash.ui import auth, deeplink, frame, state, tables

TEST_RESULT_KEY = "settings_connection_result"


def registry_section() -> None:
    current = state.settings()
    with st.container(border=True):
        st.subheader("Registry")
        st.markdown(f"Database: `{frame.database_label(current.db_url)}`",
                    help="Set VIBEDASH_DB_URL (environment or .streamlit/secrets.toml) to use another one.")
        problem = frame.open_registry_or_explain()
        if problem is not None:
            st.error(problem, icon=":material/error:")
            return
        try:
            revision, head = schema_revisions(state.engine())
        except DatabaseError as exc:
            st.error(f"Cannot read the schema revision: {exc}", icon=":material/error:")
            return
        if revision == head:
            st.markdown(f"Schema revision: `{revision}` (up to date)")
        else:
            st.warning(f"Schema revision `{revision}`, code expects `{head}`: restart the dashboard to migrate "
                       "(a backup of a SQLite file is made first).", icon=":material/warning:")


def test_connection() -> None:
    """Button callback: ask Netlify for the site and keep the answer to show it."""
    from vibedash.netlify.client import NetlifyError

    client = state.netlify_client()
    if client is None:
        st.session_state[TEST_RESULT_KEY] = ("error", state.netlify_status())
        return
    try:
        site = client.get_site()
    except NetlifyError as exc:
        st.session_state[TEST_RESULT_KEY] = ("error", f"Netlify answered with an error: {exc}")
        return
    published = site.get("published_deploy") or {}
    live = (f"live deploy {published['id']}" + (" (locked)" if published.get("locked") else " (not locked)")
            if published.get("id") else "nothing live yet")
    st.session_state[TEST_RESULT_KEY] = (
        "success", f"Connected to site **{site.get('name') or site.get('id')}** "
                   f"({site.get('ssl_url') or site.get('url') or 'no URL yet'}): {live}.")


def netlify_section() -> None:
    current = state.settings()
    reason = state.netlify_status(current)
    with st.container(border=True):
        st.subheader("Netlify")
        token = "set" if current.netlify_auth_token else "not set"
        st.markdown(f"Site: `{current.netlify_site_id or 'not set'}` · API: `{current.netlify_api_url}` · "
                    f"token: {token}")
        if reason is not None:
            st.info(reason, icon=":material/cloud_off:")
        with st.container(horizontal=True):
            st.button("Test connection", key="settings_test", icon=":material/network_check:",
                      disabled=reason is not None, on_click=test_connection,
                      help=reason or "Read the site from Netlify: its name and live deploy")
            if frame.open_registry_or_explain() is None:
                frame.sync_button(key="settings_sync")
        frame.show_notice(TEST_RESULT_KEY)


def access_section() -> None:
    """Who may act here and how this dashboard is reached: login, allow list, read-only, the address."""
    current = state.settings()
    with st.container(border=True):
        st.subheader("Access")
        address = st.get_option("server.address") or "every interface"
        if auth.login_configured():
            providers = [k for k, v in (current.login or {}).items() if isinstance(v, dict)]
            login = "configured" + (f" ({', '.join(providers)})" if providers else "")
        else:
            login = "not configured: the local user acts"
        allowed = current.allowed_users or "not set"
        st.markdown(f"Login: {login} · listening on `{address}` · who may act (VIBEDASH_ALLOWED_USERS): "
                    f"`{allowed}` · read-only: {'yes' if current.read_only_mode else 'no'}")
        verdict = auth.decision(auth.Action.PROMOTE)
        if verdict:
            st.caption("You may act here; the audit log records you as shown in the sidebar.")
        else:
            st.caption(f"View only: {verdict.reason}")
        if not auth.login_configured() and address not in ("127.0.0.1", "localhost", "::1"):
            st.warning("This dashboard listens beyond this machine without login: anyone who reaches it acts as "
                       "the local user. Configure login (README, Access) or set server.address to 127.0.0.1.",
                       icon=":material/warning:")


def policies_section() -> None:
    current = state.settings()
    gate_col, retention_col = st.columns(2)
    with gate_col.container(border=True, height="stretch"):
        st.subheader("Gate policy")
        st.caption(policy_source(current, "gate"))
        try:
            policy = gate_policy(current)
        except ValueError as exc:
            st.error(f"The gate policy cannot be read: {exc}", icon=":material/error:")
        else:
            st.markdown(f"Policy **{policy.name}**: a candidate may go live when every rule passes.")
            st.markdown("\n".join(f"- {rule.describe()}  (`{rule.text}`)" for rule in policy.rules))
    with retention_col.container(border=True, height="stretch"):
        st.subheader("Retention policy")
        st.caption(policy_source(current, "retention"))
        try:
            policy = retention_policy(current)
        except ValueError as exc:
            st.error(f"The retention policy cannot be read: {exc}", icon=":material/error:")
        else:
            table = pd.DataFrame({"rule": list(asdict(policy)),
                                  "value": [setting_text(v) for v in asdict(policy).values()]})
            st.dataframe(table, hide_index=True, width="stretch")
            st.caption("The live and pinned deploys are always kept.")


def setting_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value)) or "every benchmark"
    return str(value)


def all_settings() -> None:
    st.subheader("All settings")
    # An unset value reads "not set" here as everywhere else, never an empty cell.
    rows = [{**row, "value": row["value"] if row.get("value") not in (None, "") else "not set"}
            for row in state.settings().describe()]
    st.dataframe(pd.DataFrame.from_records(rows, columns=["env", "value", "from", "help", "setting"]),
                 hide_index=True, width="stretch", height=tables.fitted_height(len(rows), len(rows)),
                 column_config={"env": st.column_config.TextColumn("env", pinned=True),
                                "value": st.column_config.TextColumn("value", width="medium"),
                                "help": st.column_config.TextColumn("help", width="large")})
    st.caption("Values come from the environment first, then .streamlit/secrets.toml, then the defaults. "
               "Secrets show only as set or not set. `python -m vibedash settings` prints the same table.")


frame.header("Settings", "Where vibedash keeps its data, which site it manages, and the policies in force.")
deeplink.own_only(frame.SETTINGS)  # nothing to keep: drop what the previous page left
try:
    state.settings()
except ConfigError as exc:
    st.error(f"The settings cannot be read: {exc}", icon=":material/error:")
else:
    registry_section()
    netlify_section()
    access_section()
    policies_section()
    all_settings()
