"""The Solve page through Streamlit's AppTest, on a seeded registry with two tiny local models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: tests never download

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import update
from streamlit.testing.v1 import AppTest
from tiny_model import save_tiny_model

from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.models import SolveRun, Version
from vibedash.ui import solve_view

PAGE = Path(__file__).resolve().parents[1] / "app_pages" / "solve.py"
SHA_A, SHA_B, SHA_GONE = "a1" * 20, "b2" * 20, "c3" * 20


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return save_tiny_model(root / "one", seed=1), save_tiny_model(root / "two", seed=2)


@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()  # closes the page's solve engine (on_release)
    st.cache_data.clear()


@pytest.fixture
def registry_url(tmp_path, models, monkeypatch):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = open_registry(url)
    with unit_of_work(engine) as session:
        session.add_all([
            Version(sha=SHA_A, branch="main", message="first try", model_ref=str(models[0])),
            Version(sha=SHA_B, branch="main", message="second try", model_ref=str(models[1])),
            Version(sha=SHA_GONE, branch="dev", message="lost weights", model_ref=str(tmp_path / "gone")),
        ])
    engine.dispose()
    monkeypatch.setenv("VIBEDASH_DB_URL", url)
    monkeypatch.setenv("VIBEDASH_SOLVE_DEVICE", "cpu")
    monkeypatch.chdir(tmp_path)  # no stray .streamlit/secrets.toml
    return url


def page(**query) -> AppTest:
    app = AppTest.from_file(str(PAGE), default_timeout=60)
    for name, value in query.items():
        app.query_params[name] = value
    app.run()
    assert not app.exception, app.exception
    return app


def run_once(app: AppTest, max_new_tokens: int = 16) -> AppTest:
    app.number_input(key="solve_max_tokens").set_value(max_new_tokens)
    app.button(key="solve_run").click().run()
    assert not app.exception, app.exception
    return app


def metrics(app: AppTest) -> dict[str, list[str]]:
    """The figures tables under each result (label, **value**, label, **value** rows), value lists by label."""
    found: dict[str, list[str]] = {}
    for block in app.markdown:
        for line in block.value.splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) == 4 and cells[1].startswith("**"):
                for label, value in (cells[:2], cells[2:]):
                    if label:
                        found.setdefault(label, []).append(value.strip("*"))
    return found


def test_deep_link_picks_versions_and_problem(registry_url):
    app = page(a=SHA_B[:7], b=SHA_A[:5], problem="math-03")
    assert app.selectbox(key="solve_a").value == SHA_B
    assert app.selectbox(key="solve_b").value == SHA_A
    assert app.selectbox(key="solve_problem").value == "math-03"
    assert any("How many ordered pairs" in m.value for m in app.markdown)


def test_run_streams_both_columns_then_shows_grade_speed_and_the_log(registry_url):
    app = run_once(page(a=SHA_A[:7], b=SHA_B[:7]))
    assert not app.error
    shown = metrics(app)
    assert len(shown["Tokens"]) == 2 and shown["Tokens"] == ["16", "16"]
    assert len(shown["Tokens/s"]) == 2 and len(shown["First token"]) == 2
    # Thinking-aware figures on both sides: a random model never closes its thinking in 16 tokens.
    assert shown["Thinking tokens"] == ["16", "16"] and shown["Answer tokens"] == ["0", "0"]
    assert shown["Cut by token cap"] == ["yes", "yes"] and shown["First answer token"] == ["–", "–"]
    assert shown["Thinking budget"] == ["none", "none"]
    assert all(value.endswith(" s") for value in shown["Load"] + shown["Total"])
    assert [c.value for c in app.caption].count(solve_view.NO_GPU_TEXT) == 2  # on a CPU the panel says so
    verdicts = [m.value for m in app.markdown if m.value.startswith("**Answer**")]
    assert verdicts == ["**Answer** no answer · **:material/cancel: wrong**"] * 2
    log = app.dataframe[0].value
    assert sorted(log["version"]) == [SHA_A[:7], SHA_B[:7]] and set(log["problem"]) == {"math-01"}

    assert list(log["served from log"]) == ["", ""]

    run_once(app)  # the same request again: answered from the log
    verdicts = [m.value for m in app.markdown if m.value.startswith("**Answer**")]
    assert verdicts == ["**Answer** no answer · **:material/cancel: wrong** · :material/bolt: cached"] * 2
    log = app.dataframe[0].value
    assert len(log) == 2 and list(log["served from log"]) == ["1×, last just now"] * 2
    assert list(log["thinking"]) == [16, 16] and list(log["cut"]) == ["yes", "yes"]


def test_the_log_shows_runs_served_in_earlier_sessions(registry_url):
    run_once(page(a=SHA_A[:7], b=SHA_B[:7]))
    for _ in range(3):  # other sessions ask the same of version A alone: answered from the log
        alone = page(a=SHA_A[:7])
        alone.selectbox(key="solve_b").set_value("").run()
        run_once(alone)
    engine = open_registry(registry_url)
    with unit_of_work(engine) as session:  # the last of them two hours ago
        session.execute(update(SolveRun).where(SolveRun.cache_hits > 0)
                        .values(last_served_at=datetime.now(timezone.utc) - timedelta(hours=2, minutes=5)))
    engine.dispose()

    app = page(a=SHA_A[:7])  # a new session: it has answered nothing itself
    assert not [m.value for m in app.markdown if m.value.startswith("**Answer**")]
    log = app.dataframe[0].value
    assert dict(zip(log["version"], log["served from log"])) == {SHA_A[:7]: "3×, last 2 hours ago",
                                                                 SHA_B[:7]: ""}


def test_versions_without_a_model_are_not_preselected_and_block_run_with_a_reason(registry_url):
    engine = open_registry(registry_url)
    with unit_of_work(engine) as session:  # the two newest versions have no model reference
        session.add_all([Version(sha="d4" * 20, message="no model yet"), Version(sha="e5" * 20, message="nor this")])
    engine.dispose()
    app = page()
    chosen = {app.selectbox(key="solve_a").value, app.selectbox(key="solve_b").value}
    assert len(chosen) == 2 and chosen <= {SHA_A, SHA_B, SHA_GONE}  # never the newest two, which have no model
    assert not app.button(key="solve_run").disabled
    app.selectbox(key="solve_b").set_value("e5" * 20).run()
    assert app.button(key="solve_run").disabled
    assert any(c.value.startswith("Run is off: e5e5e5e has no model reference") for c in app.caption)


def test_no_version_with_a_model_says_what_to_do_and_run_stays_off(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'no-models.db'}"
    engine = open_registry(url)
    with unit_of_work(engine) as session:
        session.add(Version(sha="f6" * 20, message="weights not recorded"))
    engine.dispose()
    monkeypatch.setenv("VIBEDASH_DB_URL", url)
    monkeypatch.chdir(tmp_path)
    app = page()
    assert app.info[0].value.startswith("No version has a model reference yet, so none can answer.")
    assert app.button(key="solve_run").disabled
    assert any(c.value.startswith("Run is off: f6f6f6f has no model reference") for c in app.caption)


def test_thinking_budget_control_reaches_the_run(registry_url):
    app = page(a=SHA_A[:7])
    app.selectbox(key="solve_b").set_value("").run()
    app.toggle(key="solve_budget_on").set_value(True).run()
    app.number_input(key="solve_budget").set_value(4)
    app.number_input(key="solve_answer_cap").set_value(3)
    run_once(app, max_new_tokens=400)
    shown = metrics(app)
    assert shown["Thinking tokens"] == ["4"]
    assert shown["Thinking budget"] == ["4 tokens, closed the thinking"]
    # Only the answer part is Markdown; the thinking is plain text.
    assert any(c.value.startswith("**Final Answer**") for c in app.markdown)
    assert app.dataframe[0].value["budget"][0] == 4


def test_a_missing_model_gets_a_clear_message_not_a_traceback(registry_url):
    app = run_once(page(a=SHA_A[:7], b=SHA_GONE[:7]))
    assert not app.exception
    assert [e.value for e in app.error] == [
        f"model reference {Path(registry_url.removeprefix('sqlite:///')).parent / 'gone'} for version "
        f"{SHA_GONE[:7]} cannot be found (no such folder): set it with "
        f"`python -m vibedash record --commit {SHA_GONE[:7]} --model PATH_OR_HUB_ID`"]
    assert metrics(app)["Tokens"] == ["16"]  # the other side still ran


def test_free_text_vote_with_one_version(registry_url):
    app = page(a=SHA_A[:7])
    app.selectbox(key="solve_b").set_value("").run()
    app.radio(key="solve_source").set_value("Free text").run()
    app.text_area(key="solve_question").set_value("What is 2+2?")
    app.text_input(key="solve_expected").set_value("4")
    app.radio(key="solve_mode").set_value("vote").run()
    app.number_input(key="solve_k").set_value(3)
    run_once(app, max_new_tokens=8)
    shown = metrics(app)
    assert shown["Agreement"] == ["0%"] and shown["Tokens"] == ["24"]
    assert any("no answer in any of 3 samples" in c.value for c in app.caption)
    log = app.dataframe[0].value
    assert list(log["mode"]) == ["vote k=3"] and log["problem"][0].startswith("What is 2+2?")


def test_run_is_disabled_without_a_question(registry_url):
    app = page(a=SHA_A[:7])
    app.radio(key="solve_source").set_value("Free text").run()
    assert app.button(key="solve_run").disabled


def test_after_stop_the_partial_output_is_shown(registry_url):
    app = AppTest.from_file(str(PAGE), default_timeout=60)
    app.session_state["solve_partial"] = {"a": "The answer is probably"}  # what an interrupted run leaves
    app.run()
    assert any(w.value.startswith("Stopped.") for w in app.warning)
    assert any(c.value == "The answer is probably" for c in app.code)  # still thinking: shown as text
    app.run()
    assert not app.warning  # shown once
    app.button(key="solve_stop").click().run()
    assert [i.value for i in app.info] == ["Nothing is running."]


def test_empty_registry_explains_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBEDASH_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.chdir(tmp_path)
    app = page()
    assert app.info[0].value == ("No versions in the registry yet. Record one with "
                                 "`python -m vibedash record --commit SHA --model PATH_OR_HUB_ID`.")


def test_imported_problems_can_be_picked_and_bad_files_are_explained(registry_url):
    app = page(a=SHA_A[:7])
    line = b'{"id": "mine-1", "kind": "math", "prompt": "What is six times seven?", "answer": "42"}\n'
    app.file_uploader(key="solve_upload").set_value(("mine.jsonl", line, "application/jsonl")).run()
    assert not app.error
    app.selectbox(key="solve_problem").set_value("mine-1").run()
    assert any(m.value == "What is six times seven?" for m in app.markdown)
    app.file_uploader(key="solve_upload").set_value(("bad.jsonl", b"{oops\n", "application/jsonl")).run()
    assert [e.value for e in app.error] == [
        "bad.jsonl line 1: not valid JSON (Expecting property name enclosed in double quotes); "
        "write one JSON object per line"]


def url(app: AppTest) -> dict[str, str]:
    return {name: (value[-1] if isinstance(value, list) else value) for name, value in app.query_params.items()}


def test_deep_link_sets_the_settings_and_the_url_follows_every_choice(registry_url):
    app = page(a=SHA_B[:7], b="none", problem="math-02", mode="vote", k="4", tokens="512", temperature="0.2",
               seed="7", budget="256", cap="64")
    assert (app.selectbox(key="solve_a").value, app.selectbox(key="solve_b").value) == (SHA_B, "")
    assert app.radio(key="solve_mode").value == "vote" and app.number_input(key="solve_k").value == 4
    assert app.number_input(key="solve_max_tokens").value == 512
    assert app.number_input(key="solve_temperature").value == 0.2 and app.number_input(key="solve_seed").value == 7
    assert app.toggle(key="solve_budget_on").value is True
    assert (app.number_input(key="solve_budget").value, app.number_input(key="solve_answer_cap").value) == (256, 64)
    assert url(app) == {"a": SHA_B[:12], "b": "none", "problem": "math-02", "mode": "vote", "k": "4",
                        "tokens": "512", "temperature": "0.2", "seed": "7", "budget": "256", "cap": "64"}

    app.toggle(key="solve_budget_on").set_value(False).run()
    app.number_input(key="solve_max_tokens").set_value(2048).run()
    app.radio(key="solve_source").set_value("Free text").run()
    assert not app.exception
    shown = url(app)
    assert "budget" not in shown and shown["tokens"] == "2048" and shown["question"] == "free"


def test_a_plain_solve_page_has_a_plain_url(registry_url):
    app = page()
    assert url(app) == {}  # the newest runnable versions and the first problem are what a plain link opens


def test_a_second_link_in_the_same_session_is_followed(registry_url):
    app = page(a=SHA_A[:7])
    assert app.selectbox(key="solve_a").value == SHA_A
    app.query_params["a"] = SHA_B[:7]  # the version page's "Solve with it" for another version, same session
    app.run()
    assert app.selectbox(key="solve_a").value == SHA_B


def test_a_link_with_values_the_page_cannot_use_says_so(registry_url):
    app = page(a="ffff", tokens="lots", temperature="9", problem="math-99", k="1")
    notice = " ".join(c.value for c in app.caption if "Ignored from the link" in c.value).replace("\\", "")
    for part in ("a=ffff (not a version in the registry)", "tokens=lots (not a whole number)",
                 "temperature=9 (not between 0 and 2)", "problem=math-99 (not a problem on offer)"):
        assert part in notice
    assert app.number_input(key="solve_max_tokens").value == 4096
    assert not {"a", "tokens", "temperature", "problem", "k"} & set(url(app))
