"""Settings: environment over secrets.toml over defaults; secrets never shown."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from vibedash.config import SETTINGS, ConfigError, load_settings, secret_values

REPO = Path(__file__).resolve().parents[1]


def test_environment_wins_over_secrets_file_over_default(tmp_path: Path) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        'NETLIFY_SITE_ID = "from-file"\nNETLIFY_AUTH_TOKEN = "nfp_secret_from_file"\n')
    settings = load_settings(environ={"NETLIFY_SITE_ID": "from-env"}, cwd=tmp_path)
    assert settings.netlify_site_id == "from-env"
    assert settings.netlify_auth_token == "nfp_secret_from_file"
    assert settings.db_url == "sqlite:///vibedash.db"
    assert settings.sources["netlify_site_id"] == "environment"
    assert settings.sources["netlify_auth_token"] == "secrets.toml"


def test_flags_win_over_everything(tmp_path: Path) -> None:
    settings = load_settings({"db_url": "sqlite:///x.db"}, environ={"VIBEDASH_DB_URL": "sqlite:///y.db"},
                             cwd=tmp_path)
    assert settings.db_url == "sqlite:///x.db"


def test_secrets_never_appear_in_describe_or_repr(tmp_path: Path) -> None:
    token = "nfp_VERY_SECRET_token_value"
    hook = "https://api.netlify.com/build_hooks/secret-hook-id"
    settings = load_settings(environ={"NETLIFY_AUTH_TOKEN": token, "VIBEDASH_BUILD_HOOK_URL": hook}, cwd=tmp_path)
    shown = repr(settings) + str(settings.describe())
    assert token not in shown and hook not in shown
    assert {"setting": "netlify_auth_token", "value": "set"}.items() <= next(
        r for r in settings.describe() if r["setting"] == "netlify_auth_token").items()


def test_missing_required_setting_says_how_to_set_it(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="NETLIFY_AUTH_TOKEN is not set; it is needed to talk to Netlify"):
        settings.require("netlify_auth_token", "talk to Netlify")


def test_broken_secrets_file_is_named(tmp_path: Path) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text("NETLIFY = [broken")
    with pytest.raises(ConfigError, match="secrets.toml is not valid TOML"):
        load_settings(environ={}, cwd=tmp_path)


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in readme]
    assert missing == [], f"document these settings in README.md: {missing}"


def test_a_database_password_is_masked_and_unset_settings_say_not_set(tmp_path: Path) -> None:
    url = "postgresql+psycopg://team:s3cr%40t-pw@db.example.com:5432/vibedash"
    settings = load_settings(environ={"VIBEDASH_DB_URL": url}, cwd=tmp_path)
    rows = {r["env"]: r["value"] for r in settings.describe()}
    assert rows["VIBEDASH_DB_URL"] == "postgresql+psycopg://team:***@db.example.com:5432/vibedash"
    assert "s3cr" not in repr(settings) + str(settings.describe())
    assert rows["NETLIFY_SITE_ID"] == rows["NETLIFY_AUTH_TOKEN"] == rows["VIBEDASH_ALLOWED_USERS"] == "not set"
    assert {"s3cr@t-pw", "s3cr%40t-pw"} <= set(secret_values(settings))


def test_login_settings_show_only_whether_credentials_are_set(tmp_path: Path) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        '[auth]\nredirect_uri = "https://dash.example.com/oauth2callback"\ncookie_secret = "cookie-0123456789"\n'
        'client_id = "client-abcdef"\nclient_secret = ""\n'
        'server_metadata_url = "https://login.example.com/.well-known/openid-configuration"\n')
    settings = load_settings(environ={}, cwd=tmp_path)
    rows = {r["setting"]: r["value"] for r in settings.describe()}
    assert rows["login.cookie_secret"] == rows["login.client_id"] == "set"
    assert rows["login.client_secret"] == "not set"
    assert rows["login.redirect_uri"] == "https://dash.example.com/oauth2callback"
    assert "cookie-0123456789" not in str(settings.describe()) + repr(settings)
    assert "cookie-0123456789" in secret_values(settings)


def test_the_actor_is_the_login_name_or_a_clear_request_to_set_it(tmp_path: Path, monkeypatch) -> None:
    assert load_settings(environ={"LOGNAME": "ada"}, cwd=tmp_path).actor == "ada"
    assert load_settings(environ={"LOGNAME": "ada", "VIBEDASH_ACTOR": "ci"}, cwd=tmp_path).actor == "ci"
    monkeypatch.setattr("pwd.getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    nobody = load_settings(environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="set VIBEDASH_ACTOR"):
        _ = nobody.actor


def test_read_only_is_a_yes_or_no(tmp_path: Path) -> None:
    assert load_settings(environ={"VIBEDASH_READ_ONLY": "TRUE"}, cwd=tmp_path).read_only_mode
    assert not load_settings(environ={}, cwd=tmp_path).read_only_mode
    with pytest.raises(ConfigError, match="VIBEDASH_READ_ONLY='maybe' is not a yes/no value"):
        _ = load_settings(environ={"VIBEDASH_READ_ONLY": "maybe"}, cwd=tmp_path).read_only_mode


def test_the_dashboard_listens_on_this_machine_only_by_default() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


def test_cli_without_a_known_user_asks_for_vibedash_actor(tmp_path: Path, monkeypatch, capsys) -> None:
    from vibedash.cli import main

    for name in ("VIBEDASH_ACTOR", "LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("pwd.getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["--db", url, "record", "--commit", "c" * 40]) == 2
    assert "set VIBEDASH_ACTOR" in capsys.readouterr().err
    assert main(["--db", url, "list", "--json"]) == 0  # reading needs no name
    assert '"total": 0' in capsys.readouterr().out  # and the refused record wrote nothing


def test_redact_removes_every_secret_in_force_from_a_message(tmp_path: Path) -> None:
    from vibedash.config import redact

    settings = load_settings(environ={"VIBEDASH_DB_URL": "postgresql+psycopg://u:pw-9f8e7d@h/db",
                                      "NETLIFY_AUTH_TOKEN": "nfp_token_abcdef"}, cwd=tmp_path)
    message = "driver said: login u:pw-9f8e7d refused; header Bearer nfp_token_abcdef"
    assert redact(message, settings) == "driver said: login u:*** refused; header Bearer ***"
    assert redact(message, None) == message
