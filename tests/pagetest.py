"""AppTest helpers: the real app (app.py, the router) opened on one page against a given registry.

Every AppTest here starts from clean Streamlit caches: ``st.cache_resource`` and ``st.cache_data`` outlive an
AppTest in the same process, so without clearing, one test's registry engine or cached reads would leak into
the next.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from vibedash.ui import frame

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
RUN_TIMEOUT_S = 30.0


def clear_streamlit_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


def page_test(page: str, db_url: str, monkeypatch: pytest.MonkeyPatch, scratch: Path, *,
              query_params: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
              timeout: float = RUN_TIMEOUT_S) -> AppTest:
    """An AppTest of the app with VIBEDASH_DB_URL=``db_url`` on ``page`` (e.g. frame.HISTORY); not yet run.

    Every page runs through app.py, the router and frame (the page files live in app_pages/, not pages/, so
    Streamlit's older pages-folder mode never runs a page without the router).

    The working directory becomes ``scratch`` so no .streamlit/secrets.toml or policy file of the checkout
    changes what the test sees.
    """
    monkeypatch.setenv("VIBEDASH_DB_URL", db_url)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(scratch)
    if str(REPO) not in sys.path:  # the app imports vibedash wherever pytest was started
        monkeypatch.syspath_prepend(str(REPO))
    clear_streamlit_caches()
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    if page != frame.OVERVIEW:
        at.switch_page(page)
    for name, value in (query_params or {}).items():
        at.query_params[name] = value
    return at


def texts(at: AppTest) -> str:
    """Everything a person reads on the page (markdown, captions, alerts, metrics), as one string."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success",
                 "expander"):
        for element in getattr(at, kind):
            parts.append(str(getattr(element, "label", None) or element.value))
    for metric in at.metric:
        parts.append(f"{metric.label} {metric.value}")
    return "\n".join(parts)


def run_clean(at: AppTest, timeout: float | None = None) -> AppTest:
    """Run the page and fail on any exception box, naming what it said."""
    at.run(timeout=timeout)
    assert not at.exception, [e.value for e in at.exception]
    return at
