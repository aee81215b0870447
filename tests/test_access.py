"""Who may act: the pure decision, and the dashboard through AppTest with a signed-in user (AppTest.user), a
user not on the allow list, read-only mode, and no login at all (the local user)."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from e2e_support import TOKEN, netlify_environment
from pagetest import clear_streamlit_caches, page_test, texts
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from vibedash.access import AccessPolicy, Action, Identity, decide, on_allow_list, parse_allow_list
from vibedash.netlify.simulator import NetlifySimulator
from vibedash.registry import records as registry
from vibedash.registry.db import unit_of_work
from vibedash.registry.demo import seed_simulator
from vibedash.ui import frame

ADA = {"is_logged_in": True, "email": "ada@example.com", "name": "Ada Lovelace"}
MALLORY = {"is_logged_in": True, "email": "mallory@elsewhere.org", "name": "Mallory"}
ACTION_KEYS = {"promote_open", "rollback_open", "lock", "unlock", "apply_open", "pin", "unpin", "load_sample",
               "overview_sync", "settings_sync", "first_run_sync"}


# --- the decision ----------------------------------------------------------------------------------------

def test_allow_list_entries_name_people_domains_or_everyone() -> None:
    allowed = parse_allow_list(" Ada@Example.com; @team.org\n grace ,,")
    assert allowed == ("ada@example.com", "@team.org", "grace")
    assert on_allow_list(Identity(email="ada@example.com", signed_in=True), allowed)
    assert on_allow_list(Identity(email="bob@team.org", signed_in=True), allowed)
    assert on_allow_list(Identity(name="grace"), allowed)
    assert not on_allow_list(Identity(email="bob@team.org.evil.com", signed_in=True), allowed)
    assert not on_allow_list(Identity(email="ada@example.com.evil", signed_in=True), allowed)
    assert on_allow_list(Identity(email="x@y.z", signed_in=True), ("*",))
    assert not on_allow_list(Identity(), ("*",))


@pytest.mark.parametrize(("policy", "identity", "allowed", "why"), [
    (AccessPolicy(login_configured=False), Identity(name="ci"), True, None),
    (AccessPolicy(login_configured=False), Identity(name=None), False, "set VIBEDASH_ACTOR"),
    (AccessPolicy(login_configured=False, allowed=("ada",)), Identity(name="root"), False, "not on"),
    (AccessPolicy(login_configured=False, read_only=True), Identity(name="ci"), False, "Read-only"),
    (AccessPolicy(login_configured=True, allowed=("*",)), None, False, "Sign in to promote"),
    (AccessPolicy(login_configured=True), Identity(email="a@b.c", signed_in=True), False, "Nobody may act"),
    (AccessPolicy(login_configured=True, allowed=("a@b.c",)), Identity(email="a@b.c", signed_in=True), True, None),
    # a local name never passes for a signed-in identity when login is on
    (AccessPolicy(login_configured=True, allowed=("root",)), Identity(name="root"), False, "Sign in"),
    (AccessPolicy(login_configured=True, allowed=("a@b.c",), read_only=True),
     Identity(email="a@b.c", signed_in=True), False, "Read-only"),
])
def test_decide(policy: AccessPolicy, identity: Identity | None, allowed: bool, why: str | None) -> None:
    decision = decide(policy, identity, Action.PROMOTE)
    assert decision.allowed is allowed
    if why:
        assert why in decision.reason


def test_a_signed_in_user_is_audited_by_email() -> None:
    assert Identity(name="Ada Lovelace", email="ada@example.com", signed_in=True).actor == "ada@example.com"
    assert Identity(name="Ada Lovelace", signed_in=True).actor == "Ada Lovelace"


# --- the dashboard ---------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    # Streamlit also keeps the secrets.toml it read (with [auth]) for the process: drop it with the caches.
    from streamlit.runtime.secrets import secrets_singleton

    clear_streamlit_caches()
    secrets_singleton._reset()
    yield
    clear_streamlit_caches()
    secrets_singleton._reset()


@pytest.fixture
def netlify_env(demo_engine: Engine, monkeypatch: pytest.MonkeyPatch):
    sim = NetlifySimulator(token=TOKEN).start()
    try:
        site_id = seed_simulator(sim, demo_engine)
        env = netlify_environment(sim, site_id)
        yield env
        assert not sim.internal_errors
    finally:
        sim.stop()


def open_app(page: str, registry_url: str, monkeypatch, scratch: Path, *, user: dict | None = None,
             env: dict[str, str] | None = None) -> AppTest:
    at = page_test(page, registry_url, monkeypatch, scratch, env=env)
    if user is not None:
        at.user = dict(user)
    return run(at)


def run(target) -> AppTest:
    at = target.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def sidebar_text(at: AppTest) -> str:
    """The sidebar's words as a person reads them (names are shown escaped: Markdown would render them)."""
    return "\n".join(m.value for m in at.sidebar.markdown).replace("\\", "")


def action_keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key} & ACTION_KEYS


def promote_links(at: AppTest) -> list[str]:
    return [link.label for link in at.get("page_link") if "Promote" in str(link.label)]


def events(engine: Engine, kind: str) -> list[dict]:
    with unit_of_work(engine) as session:
        return registry.events(session, kind=kind)


def test_a_signed_in_user_on_the_allow_list_acts_and_is_audited_by_name(
        demo_engine: Engine, registry_url: str, netlify_env: dict, monkeypatch, scratch: Path) -> None:
    env = {**netlify_env, "VIBEDASH_ALLOWED_USERS": "grace@example.com, ada@example.com"}
    at = open_app(frame.PROMOTE, registry_url, monkeypatch, scratch, user=ADA, env=env)
    assert {"promote_open", "rollback_open", "unlock"} <= action_keys(at)
    assert "Ada Lovelace (ada@example.com)" in sidebar_text(at)

    run(at.button(key="unlock").click())
    (event,) = events(demo_engine, "unlock")
    assert (event["actor"], event["status"]) == ("ada@example.com", "succeeded")

    at = open_app(frame.RETENTION, registry_url, monkeypatch, scratch, user=ADA, env=env)
    assert {"apply_open", "pin"} <= action_keys(at)


def test_a_signed_in_user_not_on_the_list_sees_no_actions(
        demo_engine: Engine, registry_url: str, netlify_env: dict, monkeypatch, scratch: Path) -> None:
    env = {**netlify_env, "VIBEDASH_ALLOWED_USERS": "ada@example.com"}
    for page in (frame.PROMOTE, frame.RETENTION, frame.OVERVIEW, frame.SETTINGS):
        at = open_app(page, registry_url, monkeypatch, scratch, user=MALLORY, env=env)
        assert action_keys(at) == set(), page
        assert promote_links(at) == []
        sidebar = sidebar_text(at)
        assert "View only" in sidebar and "Mallory (mallory@elsewhere.org) may view but not promote" in sidebar
    # the registry itself stays readable
    at = open_app(frame.PROMOTE, registry_url, monkeypatch, scratch, user=MALLORY, env=env)
    assert "Audit log" in [s.value for s in at.subheader] and len(at.dataframe) >= 1


def test_login_without_an_allow_list_lets_nobody_act(
        demo_engine: Engine, registry_url: str, netlify_env: dict, monkeypatch, scratch: Path) -> None:
    at = open_app(frame.PROMOTE, registry_url, monkeypatch, scratch, user=ADA, env=netlify_env)
    assert action_keys(at) == set()
    assert "VIBEDASH_ALLOWED_USERS" in sidebar_text(at)


def test_read_only_mode_hides_every_action_on_every_page(
        demo_engine: Engine, registry_url: str, netlify_env: dict, monkeypatch, scratch: Path) -> None:
    env = {**netlify_env, "VIBEDASH_READ_ONLY": "true"}
    for page in (frame.OVERVIEW, frame.HISTORY, frame.PROMOTE, frame.RETENTION, frame.SETTINGS):
        at = open_app(page, registry_url, monkeypatch, scratch, env=env)
        assert action_keys(at) == set(), page
        assert promote_links(at) == []
    assert "Read-only mode" in sidebar_text(at)


def test_read_only_hides_loading_the_sample_registry(registry_url: str, monkeypatch, scratch: Path) -> None:
    at = open_app(frame.OVERVIEW, registry_url, monkeypatch, scratch)
    assert "load_sample" in action_keys(at)
    at = open_app(frame.OVERVIEW, registry_url, monkeypatch, scratch, env={"VIBEDASH_READ_ONLY": "yes"})
    assert action_keys(at) == set()


def test_without_login_the_local_user_acts_and_is_audited(
        demo_engine: Engine, registry_url: str, netlify_env: dict, monkeypatch, scratch: Path) -> None:
    monkeypatch.delenv("VIBEDASH_ACTOR")
    local = getpass.getuser()
    at = open_app(frame.PROMOTE, registry_url, monkeypatch, scratch, env=netlify_env)
    assert f"{local} (local)" in sidebar_text(at)
    run(at.button(key="unlock").click())
    (event,) = events(demo_engine, "unlock")
    assert event["actor"] == local


def test_without_any_user_name_nobody_acts_and_the_fix_is_named(
        demo_engine: Engine, registry_url: str, netlify_env: dict, monkeypatch, scratch: Path) -> None:
    for name in ("VIBEDASH_ACTOR", "LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("pwd.getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    at = open_app(frame.PROMOTE, registry_url, monkeypatch, scratch, env=netlify_env)
    assert action_keys(at) == set()
    assert "set VIBEDASH_ACTOR" in sidebar_text(at)


def test_with_login_configured_nothing_shows_before_signing_in(
        demo_engine: Engine, registry_url: str, monkeypatch, scratch: Path) -> None:
    (scratch / ".streamlit").mkdir()
    (scratch / ".streamlit" / "secrets.toml").write_text(
        '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "cookie-secret-value"\n'
        '[auth.google]\nclient_id = "client-id-value"\nclient_secret = "client-secret-value"\n'
        'server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"\n')
    at = open_app(frame.PROMOTE, registry_url, monkeypatch, scratch, user={"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in with Google"]
    assert [s.value for s in at.subheader] == [] and len(at.dataframe) == 0
    # Signing in hands over to the provider (Authlib is installed and the [auth] section is complete): no error,
    # and still nothing of the registry on this page.
    run(at.button(key="sign_in_google").click())
    assert [e.value for e in at.error] == [] and len(at.dataframe) == 0

    at = open_app(frame.SETTINGS, registry_url, monkeypatch, scratch, env={"VIBEDASH_ALLOWED_USERS": "*"},
                  user={**ADA})
    shown = at.dataframe[-1].value
    login = dict(zip(shown["setting"], shown["value"], strict=True))
    assert login["login.cookie_secret"] == "set" and login["login.google.client_secret"] == "set"
    assert login["login.google.client_id"] == "set"
    assert login["login.redirect_uri"] == "http://localhost:8501/oauth2callback"
    page_text = texts(at) + shown.to_csv()
    for secret in ("cookie-secret-value", "client-id-value", "client-secret-value"):
        assert secret not in page_text


def test_settings_page_masks_the_database_password_and_says_not_set(monkeypatch, scratch: Path,
                                                                    tmp_path: Path) -> None:
    url = "postgresql+psycopg://vibedash:pa55-word-secret@127.0.0.1:1/vibedash"
    at = open_app(frame.SETTINGS, url, monkeypatch, scratch)
    shown = at.dataframe[-1].value
    page_text = texts(at) + shown.to_csv() + "\n".join(c.value for c in at.sidebar.caption)
    assert "pa55-word-secret" not in page_text
    assert "vibedash:***@127.0.0.1:1/vibedash" in page_text
    values = dict(zip(shown["env"], shown["value"], strict=True))
    assert values["NETLIFY_SITE_ID"] == "not set" and values["NETLIFY_AUTH_TOKEN"] == "not set"
    assert values["VIBEDASH_OPENAI_BASE_URL"] == "not set"
    # The Access section: no login here, so the local user acts; AppTest has no server.address, which the
    # page reads as every interface and warns about.
    assert "Login: not configured: the local user acts" in page_text
    assert any("listens beyond this machine without login" in w.value for w in at.warning)


def test_a_name_from_the_login_provider_is_shown_literally(
        demo_engine: Engine, registry_url: str, monkeypatch, scratch: Path) -> None:
    hostile = {"is_logged_in": True, "email": "eve@example.com", "name": "[click me](https://evil.example)"}
    at = open_app(frame.OVERVIEW, registry_url, monkeypatch, scratch, user=hostile,
                  env={"VIBEDASH_ALLOWED_USERS": "eve@example.com"})
    shown = "\n".join(m.value for m in at.sidebar.markdown)
    assert r"\[click me\]\(https\://evil\.example\)" in shown
