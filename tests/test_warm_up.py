"""The server's warm-up: `streamlit run app.py` finds the st.App, and its lifespan readies the first page.

The warm-up runs in a fresh interpreter here (a subprocess), as it does in a new server process: what it imports
and caches is read from that process, not from this test run's already-populated ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from streamlit.web.server.app_discovery import discover_asgi_app

from vibedash.ui.warm_up import FIRST_SCRIPTS, imported_modules

REPO = Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys, logging
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from pathlib import Path
from vibedash.ui import warm_up
from vibedash.registry import generation
warm_up.warm_up(Path({root!r}))
print(json.dumps({{"modules": sorted(m for m in sys.modules if m.split(".")[0] in
                   ("pandas", "pyarrow", "altair", "torch", "transformers", "vibedash")),
                  "misses": generation.CACHE.misses}}))
"""


def _warm_in_new_process(db_url: str, cwd: Path) -> tuple[dict, str]:
    env = {**os.environ, "VIBEDASH_DB_URL": db_url, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _PROBE.format(root=str(REPO))], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_streamlit_run_finds_the_server_app_in_app_py():
    found = discover_asgi_app(REPO / "app.py")
    assert found.is_asgi_app and found.app_name == "app"


def test_app_py_imported_as_a_module_builds_the_app_and_draws_nothing(tmp_path):
    probe = ("import runpy, streamlit as st; ns = runpy.run_path('app.py', run_name='app'); "
             "print(type(ns['app']).__name__, 'route' in ns)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["App", "True"]


def test_the_first_pages_imports_are_read_from_the_page_file():
    modules = imported_modules(REPO / FIRST_SCRIPTS[1])
    assert "streamlit" in modules and "vibedash.registry.queries" in modules
    assert "vibedash.ui.eval_runs_view" in modules  # imported inside the page, where it is drawn
    assert "__future__" not in modules
    assert "vibedash.ui.frame" in imported_modules(REPO / FIRST_SCRIPTS[0])  # the router's, inside route()


def test_warm_up_imports_the_first_page_and_fills_the_registry_caches(demo_engine, registry_url, scratch):
    warmed, _ = _warm_in_new_process(registry_url, scratch)
    modules = set(warmed["modules"])
    assert {"pandas", "pyarrow", "vibedash.ui.frame", "vibedash.registry.queries"} <= modules
    # the first page draws without a chart library; torch and transformers are the Solve page's alone
    assert not {m for m in modules if m.split(".")[0] in ("altair", "torch", "transformers")}
    assert warmed["misses"] > 0  # the overview's facts were computed, and so are cached for the first session


def test_warm_up_never_fails_the_server_and_never_prints_the_database_url(tmp_path, scratch):
    for url in ("postgresql://vibedash:hunter2-do-not-print@127.0.0.1:1/registry",  # nobody listening
                "nosuchdriver://vibedash:hunter2-do-not-print@127.0.0.1:1/registry"):  # no such database kind
        warmed, log = _warm_in_new_process(url, scratch)
        assert "vibedash.ui.frame" in warmed["modules"]  # the imports still happened
        assert warmed["misses"] == 0
        assert "hunter2" not in log and "127.0.0.1:1" not in log
    assert "warm-up stopped early (DatabaseError)" in log


def test_warm_up_never_creates_or_migrates_a_registry(tmp_path, scratch):
    missing = tmp_path / "not-yet.db"
    warmed, _ = _warm_in_new_process(f"sqlite:///{missing}", scratch)
    assert not missing.exists() and warmed["misses"] == 0

    from alembic import command

    from vibedash.registry.db import alembic_config, create_registry_engine, stored_revision

    old = tmp_path / "old.db"
    engine = create_registry_engine(f"sqlite:///{old}")
    command.upgrade(alembic_config(engine), "0009")
    _warm_in_new_process(f"sqlite:///{old}", scratch)
    assert stored_revision(engine) == "0009"  # left for the page, which migrates with a backup
    engine.dispose()


_FIRST_RUN_AFTER_WARM_UP = """
import json, sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
from vibedash.ui import warm_up
warm_up.warm_up(Path({root!r}))
before = set(sys.modules)
at = AppTest.from_file({app!r}, default_timeout=120)
at.run()
assert not at.exception, [e.value for e in at.exception]
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("vibedash", "pandas", "altair",
                                                                                  "sqlalchemy", "requests"))))
"""


def test_after_the_warm_up_the_first_overview_imports_nothing_of_its_own(demo_engine, registry_url, scratch):
    env = {**os.environ, "VIBEDASH_DB_URL": registry_url, "PYTHONPATH": str(REPO)}
    code = _FIRST_RUN_AFTER_WARM_UP.format(root=str(REPO), app=str(REPO / "app.py"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=scratch,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
