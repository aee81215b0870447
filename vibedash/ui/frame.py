"""The page frame: how every page opens the registry, names things, shows times, empty states and errors.

Pages read through :func:`read_session` inside functions cached with ``st.cache_data(ttl=READ_TTL_S)``
whose first argument is the database URL (:func:`db_url`), so two registries never share a cache entry and
:func:`vibedash.ui.state.refresh` drops every cached read at once after a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import streamlit as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from vibedash.config import ConfigError, mask_url_password
from vibedash.registry.db import DatabaseError, DatabaseUnavailable, unit_of_work
from vibedash.ui import auth, state
from vibedash.ui import format as fmt

# Reads are cheap but not free on a big registry; a short TTL keeps pages fast while other people's changes
# (a CLI import, a CI promotion) still show up within half a minute without a reload.
READ_TTL_S = 30

# Page files, as registered in app.py: pages link to each other through these names.
OVERVIEW = "app_pages/overview.py"
HISTORY = "app_pages/history.py"
VERSION = "app_pages/version.py"
COMPARE = "app_pages/compare.py"
SOLVE = "app_pages/solve.py"
PROMOTE = "app_pages/promote.py"
RETENTION = "app_pages/retention.py"
SETTINGS = "app_pages/settings.py"
# The version page's URL path (st.Page url_path), for links inside tables, which take URLs, not pages.
VERSION_URL_PATH = "version"


def db_url() -> str:
    """The database URL in use: the first argument of every cached read, so registries never mix."""
    return state.settings().db_url


def database_label(url: str) -> str:
    """The URL with any password hidden, as shown to a person (also when it does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return mask_url_password(url)


def open_registry_or_explain() -> str | None:
    """Open (and migrate) the registry once; None when it works, else the sentence that says what to do."""
    try:
        state.engine()
    except ConfigError as exc:
        return f"The settings cannot be read: {exc}"
    except DatabaseUnavailable as exc:  # damaged, busy, unreachable, a failed migration: the message says what to do
        return f"The registry cannot be used now: {exc}."
    except DatabaseError as exc:
        return (f"The registry cannot be opened: {exc}. Set VIBEDASH_DB_URL (environment or "
                ".streamlit/secrets.toml) to a database you can write, e.g. sqlite:///vibedash.db, then reload. "
                "Settings shows the value in use.")
    return None


def require_registry() -> None:
    """Stop the page with the explanation when the registry cannot be opened.

    app.py already stops before a page when it can; a page run on its own (AppTest of one file) must not end
    in a traceback either.
    """
    problem = open_registry_or_explain()
    if problem is not None:
        st.error(problem, icon=":material/error:")
        st.stop()


@contextmanager
def read_session() -> Iterator[Session]:
    """A session on the registry for one read (a transaction that is never asked to write)."""
    with unit_of_work(state.engine()) as session:
        yield session


# --- the frame --------------------------------------------------------------------------------------------

def sidebar_status() -> None:
    """Which database this is and whether Netlify is connected: always visible, on every page."""
    try:
        current = state.settings()
    except ConfigError as exc:
        st.sidebar.error(f"Settings: {exc}", icon=":material/error:")
        return
    reason = state.netlify_status(current)
    st.sidebar.caption(f":material/database: {database_label(current.db_url)}",
                       help="The registry in use (VIBEDASH_DB_URL).")
    if reason is None:
        st.sidebar.caption(f":material/cloud_done: Netlify connected · site {current.netlify_site_id}",
                           help=f"API: {current.netlify_api_url}")
    else:
        st.sidebar.caption(":material/cloud_off: Netlify not connected", help=reason)


def header(title: str, caption: str | None = None) -> None:
    st.title(title)
    if caption:
        st.caption(caption)


def moment(prefix: str, when: datetime | None) -> None:
    """'created 3 days ago' as a caption, the exact time on hover."""
    st.caption(f"{prefix}{fmt.relative_time(when)}", help=fmt.exact_time(when) if when else None)


def empty_state(message: str, *, icon: str = ":material/info:") -> None:
    """Nothing to show: say why and what to do, never an empty table."""
    st.info(message, icon=icon)


def version_url(sha: str) -> str:
    """A relative link to the version page for a table cell (table cells take URLs, not pages)."""
    return f"{VERSION_URL_PATH}?commit={sha}"


def version_link(sha: str, *, label: str | None = None, icon: str = ":material/commit:") -> None:
    st.page_link(VERSION, label=label or fmt.short(sha), icon=icon, query_params={"commit": sha})


# --- syncing ----------------------------------------------------------------------------------------------

SYNC_NOTICE_KEY = "sync_notice"


def show_notice(key: str) -> None:
    """Show (once) a ("success" | "error", text) notice a callback left in session state under ``key``."""
    notice = st.session_state.pop(key, None)
    if notice is not None:
        kind, text = notice
        if kind == "success":
            st.success(text, icon=":material/cloud_done:")
        else:
            st.error(text, icon=":material/error:")


def sync_button(*, key: str) -> None:
    """'Sync now': disabled with the reason when Netlify is not connected; shows its progress when it runs.

    After a sync the page reruns, so everything on it shows the new truth; the outcome stays visible next to
    the button.
    """
    if not auth.may(auth.Action.SYNC):
        return
    reason = state.netlify_status()
    full = reason is None and next_sync_is_full()
    clicked = st.button("Sync now (full)" if full else "Sync now", key=key, icon=":material/sync:",
                        disabled=reason is not None,
                        help=reason or ("A full sync: reads every deploy of the site from Netlify and marks the ones "
                                        "Netlify no longer has as expired (the first sync, then once a day)."
                                        if full else "Reads what changed on Netlify since the last sync."))
    show_notice(SYNC_NOTICE_KEY)
    if clicked:
        st.session_state[SYNC_NOTICE_KEY] = run_sync()
        st.rerun()


def next_sync_is_full() -> bool:
    """Whether "Sync now" will read every deploy: the first sync of the site, or a day after the last full one
    (vibedash.netlify.sync decides the same way)."""
    from vibedash.netlify.sync import FULL_SYNC_EVERY
    from vibedash.registry.models import Site, utcnow

    try:
        with read_session() as session:
            site = session.get(Site, state.settings().netlify_site_id)
            last_full = site.last_full_sync_at if site is not None else None
    except DatabaseError:
        return True
    return last_full is None or utcnow() - last_full > FULL_SYNC_EVERY


def run_sync() -> tuple[str, str]:
    """Sync with progress shown as it goes; returns ("success" or "error", the sentence to show)."""
    from vibedash.netlify.client import NetlifyError
    from vibedash.netlify.sync import sync_site

    current = state.settings()
    client = state.netlify_client()
    if client is None:
        return "error", state.netlify_status(current) or "Netlify is not connected."
    with st.status("Syncing with Netlify…", expanded=True) as status:
        pages = st.empty()

        def on_page(page: int, seen: int) -> None:
            pages.write(f"page {page}: {seen} deploys read")

        try:
            report = sync_site(state.engine(), client, current.netlify_site_id, actor=auth.actor(),
                               progress=on_page)
        except NetlifyError as exc:
            status.update(label="Sync failed", state="error")
            return "error", f"Sync failed: {exc}"
        status.update(label="Synced", state="complete")
    state.refresh()
    return "success", f"Synced: {report.summary()}"
