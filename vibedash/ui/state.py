"""Shared resources for pages: settings, the registry engine and the Netlify client, built once."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from vibedash.config import Settings, load_settings
from vibedash.registry.db import open_registry


def settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner="Opening the registry…")
def _engine(url: str) -> Engine:
    return open_registry(url)


def engine() -> Engine:
    """The registry engine for the configured VIBEDASH_DB_URL (migrated on first use)."""
    return _engine(settings().db_url)


def netlify_status(current: Settings | None = None) -> str | None:
    """None when Netlify actions can run; otherwise the sentence that says how to connect it."""
    current = current or settings()
    missing = [name for name, value in (("NETLIFY_AUTH_TOKEN", current.netlify_auth_token),
                                        ("NETLIFY_SITE_ID", current.netlify_site_id)) if not value]
    if missing:
        return (f"Netlify is not connected: set {' and '.join(missing)} in the environment or in "
                ".streamlit/secrets.toml, then reload. To try things without an account, run "
                "`python -m vibedash netlify-sim --seed-demo` and use the values it prints.")
    from vibedash.redact import token_problem

    return token_problem(current.netlify_auth_token)  # never quotes the token


@st.cache_resource(scope="session", show_spinner=False)
def _client(token: str, site_id: str, api_url: str):
    from vibedash.netlify.client import NetlifyClient

    # One client (one requests.Session) per browser session: Session objects are not thread-safe.
    return NetlifyClient(token, site_id=site_id, api_url=api_url, max_wait_s=10.0)


def netlify_client():
    """The Netlify client, or None when not configured (see netlify_status for the reason)."""
    current = settings()
    if netlify_status(current) is not None:
        return None
    return _client(current.netlify_auth_token, current.netlify_site_id, current.netlify_api_url)


def refresh() -> None:
    """After a change: drop cached reads so every page shows the new truth at once."""
    st.cache_data.clear()
