"""Shared by the action-page tests and the browser test: the settings that point vibedash at a Netlify
simulator (seed it with vibedash.registry.demo.seed_simulator), a `streamlit run` server on a free loopback port, and
the chromium a browser test drives."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from vibedash.netlify.simulator import NetlifySimulator

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token"


def netlify_environment(sim: NetlifySimulator, site_id: str) -> dict[str, str]:
    """The settings that point vibedash at the simulator."""
    return {"NETLIFY_AUTH_TOKEN": sim.token, "NETLIFY_SITE_ID": site_id, "VIBEDASH_NETLIFY_API_URL": sim.api_url}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def streamlit_server(env: Mapping[str, str], log_path: Path, *, script: Path = REPO / "app.py",
                     timeout_s: float = 60.0) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port; yields its base URL once /_stcore/health says ok.

    It runs in the repository (its .streamlit/config.toml applies). Output goes to ``log_path``: a pipe nobody
    reads can fill up and block the server.
    """
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(base_url, process, log_path, timeout_s)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_healthy(base_url: str, process: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if requests.get(f"{base_url}/_stcore/health", timeout=2).text.strip() == "ok":
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"streamlit did not become healthy within {timeout_s:.0f} s:\n"
                       f"{log_path.read_text(errors='replace')}")


def chromium_path() -> str | None:
    """The chromium to drive: CHROMIUM_PATH, else the one on PATH (Debian's `chromium` package)."""
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


# Without the background-networking flags chromium tries to reach the internet at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
