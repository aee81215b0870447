"""Shared fixtures: a real registry (SQLite file built through the real migrations), the sample registry,
and an environment that never leaks the developer's settings or secrets into a test."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

# huggingface_hub reads this once, at its first import: set before any test module imports transformers.
os.environ["HF_HUB_OFFLINE"] = "1"

from vibedash.config import SETTINGS
from vibedash.registry.db import open_registry, unit_of_work

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--e2e", action="store_true", help="also run the browser (Playwright + chromium) tests")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end browser test (needs --e2e and chromium)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--e2e"):
        return
    skip = pytest.mark.skip(reason="browser test: run with --e2e")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    return f"sqlite {sqlite3.sqlite_version}"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))  # no ~/.streamlit/secrets.toml of the developer
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VIBEDASH_ACTOR", "tester")


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def engine(registry_url: str):
    engine = open_registry(registry_url)
    yield engine
    engine.dispose()


@pytest.fixture
def demo_engine(registry_url: str):
    from vibedash.registry.demo import build_demo

    engine = open_registry(registry_url)
    with unit_of_work(engine) as session:
        build_demo(session)
    yield engine
    engine.dispose()


SIM_TOKEN = "nfp_test_token_that_must_never_leak"


@pytest.fixture
def sim():
    """A loopback Netlify simulator (real HTTP), stopped after the test."""
    from vibedash.netlify.simulator import NetlifySimulator

    with NetlifySimulator(token=SIM_TOKEN) as simulator:
        yield simulator


@pytest.fixture
def client(sim):
    """A Netlify client for the simulator and the sample registry's site; short waits on rate limits."""
    from vibedash.netlify.client import NetlifyClient
    from vibedash.registry.demo import DEMO_SITE_ID

    with NetlifyClient(SIM_TOKEN, site_id=DEMO_SITE_ID, api_url=sim.api_url, max_wait_s=3) as netlify:
        yield netlify


@pytest.fixture
def demo(demo_engine, sim):
    """The sample registry and a simulator serving the same deploys (same ids, same one live and locked)."""
    from vibedash.registry.demo import seed_simulator

    seed_simulator(sim, demo_engine)
    return demo_engine


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """An empty working folder for an AppTest (pages write nothing outside it)."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder
