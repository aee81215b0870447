"""Warming the dashboard's server before the first browser session, so the first page is drawn sooner.

A Streamlit server runs a page's script only when a browser connects; on a cold process that first run spends
about a second importing pandas, pyarrow, altair and the registry's code and reading the registry's first
facts, all while the person waits. The server's lifespan (``app`` in app.py, an ``st.App``) starts
:func:`warm_up` on a background thread instead, while the browser is still loading Streamlit's scripts: the
imports land in ``sys.modules`` and the overview's reads land in the registry's generation caches
(:mod:`vibedash.registry.generation`), so the first session finds both ready.

Warming is best effort and invisible: the server answers at once (nothing waits for it), and a failure here
(no registry yet, a bad URL, a database that is down) is left for the page, which explains it properly. It
never imports torch or transformers (only the Solve page does, when asked to solve).
"""

from __future__ import annotations

import ast
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# What runs first: the router (app.py) and its default page.
FIRST_SCRIPTS = ("app.py", "app_pages/overview.py")
# What Streamlit itself imports when it first draws the frame (the page icon, material icons) and a table or a
# chart's data; a name a later Streamlit no longer has is skipped.
DRAWING_MODULES = ("pandas", "pyarrow", "pyarrow.pandas_compat", "pandas.io.formats.string", "PIL.Image",
                   "PIL.PngImagePlugin", "streamlit.material_icon_names")
NEVER_WARMED = ("torch", "transformers")
THREAD_NAME = "vibedash-warm-up"


def imported_modules(script: Path) -> list[str]:
    """The absolute modules a page file imports, in order, those inside its functions included (``from x import
    y`` gives x and x.y, in case y is a module)."""
    tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.append(node.module)
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
    return [m for m in dict.fromkeys(modules) if m != "__future__"]


def _import_all(modules: Iterable[str]) -> list[str]:
    """Import each module that exists (a ``from x import name`` names are often not modules); return those done."""
    done = []
    for name in modules:
        if name.split(".")[0] in NEVER_WARMED:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # a name imported from a module, not a module: its module was imported already
        done.append(name)
    return done


def _read_first_facts() -> None:
    """Read the overview's facts from the configured registry once, filling the process's generation caches.

    Only a registry that exists and is at the code's schema: creating a SQLite file or migrating (with its
    backup) is the page's to do, once, and never twice at the same time. The engine is closed again (pages
    keep their own)."""
    from sqlalchemy.engine import make_url

    from vibedash.decisions.policies import gate_policy
    from vibedash.registry import queries
    from vibedash.registry.db import code_head_revision, create_registry_engine, stored_revision, unit_of_work
    from vibedash.ui.state import settings

    current = settings()
    url = make_url(current.db_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).expanduser().is_file()):
        return
    policy = gate_policy(current)
    engine = create_registry_engine(current.db_url)
    try:
        head = code_head_revision()
        if head is None or stored_revision(engine) != head:
            return
        with unit_of_work(engine) as session:
            queries.overview(session, policy)  # the overview page asks for the same trend and events
    finally:
        engine.dispose()


def warm_up(root: Path) -> None:
    """Import what the first page needs and read its facts once; never raises (the page reports problems)."""
    try:
        modules = list(DRAWING_MODULES)
        for page in FIRST_SCRIPTS:
            modules += imported_modules(root / page)
        _import_all(modules)
        _read_first_facts()
    except Exception as exc:  # noqa: BLE001  (best effort: the page shows the real error, worded)
        # the type only: a database error's text can carry its URL
        logger.info("vibedash warm-up stopped early (%s); the first page will do the work", type(exc).__name__)


def start(root: Path) -> threading.Thread:
    thread = threading.Thread(target=warm_up, args=(root,), name=THREAD_NAME, daemon=True)
    thread.start()
    return thread


def lifespan_for(root: Path):
    """The server's lifespan: starts :func:`warm_up` in the background and lets the server answer at once."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        start(root)
        yield

    return lifespan
