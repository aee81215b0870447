"""Every setting, declared once: name, environment variable, default, help.

Values come from, in order: explicit overrides (CLI flags), the environment, ``.streamlit/secrets.toml``
(project folder, then the user's home), then the default. Secret values are never printed: use
:meth:`Settings.describe` for anything a person sees.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from vibedash.redact import mask_url_password, url_password  # one masking rule for every layer; re-exported for callers of config


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str | None
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("db_url", "VIBEDASH_DB_URL", "sqlite:///vibedash.db",
            "SQLAlchemy URL of the registry (SQLite file by default, e.g. postgresql+psycopg://... for a team)."),
    Setting("netlify_auth_token", "NETLIFY_AUTH_TOKEN", None,
            "Netlify personal access token (User settings > Applications). Never shown or stored.", secret=True),
    Setting("netlify_site_id", "NETLIFY_SITE_ID", None,
            "Netlify site id (Site configuration > Site information > Site ID)."),
    Setting("netlify_api_url", "VIBEDASH_NETLIFY_API_URL", "https://api.netlify.com/api/v1",
            "Netlify API base URL; point it at `python -m vibedash netlify-sim` to try things locally."),
    Setting("build_hook_url", "VIBEDASH_BUILD_HOOK_URL", None,
            "Build hook URL used by `trigger` (the URL is itself a credential, so it is treated as secret).",
            secret=True),
    Setting("actor", "VIBEDASH_ACTOR", None,
            "Name written to the audit log for CLI actions and for the dashboard without login (defaults to the "
            "operating system's login name). With login, the dashboard records the signed-in user instead."),
    Setting("allowed_users", "VIBEDASH_ALLOWED_USERS", None,
            "Who may act (promote, roll back, lock/unlock, trigger, pin/unpin, sync, apply retention) in the "
            "dashboard: comma-separated emails or login names, @example.com for a whole domain, * for everyone "
            "signed in. With login configured and this unset, nobody may act; without login, unset means the "
            "local user may."),
    Setting("read_only", "VIBEDASH_READ_ONLY", "false",
            "true: the dashboard shows the registry but hides every action, on every page."),
    Setting("gate_policy", "VIBEDASH_GATE_POLICY", "vibedash-gate.toml",
            "TOML file with the promotion gate's rules (built-in defaults when the file is missing)."),
    Setting("retention_policy", "VIBEDASH_RETENTION_POLICY", "vibedash-retention.toml",
            "TOML file with the retention policy (built-in defaults when the file is missing)."),
    Setting("model_cache_gb", "VIBEDASH_MODEL_CACHE_GB", "24",
            "Memory budget in GiB for models the solve panel keeps loaded (least recently used evicted)."),
    Setting("solve_device", "VIBEDASH_SOLVE_DEVICE", "auto",
            "Device for local solve runs: auto (CUDA with bf16 when present, else CPU), cuda, cpu."),
    Setting("openai_base_url", "VIBEDASH_OPENAI_BASE_URL", None,
            "Base URL of an OpenAI-compatible server (vLLM, SGLang) used for versions whose model reference "
            "starts with openai:"),
    Setting("openai_api_key", "VIBEDASH_OPENAI_API_KEY", None,
            "API key for that server, if it needs one.", secret=True),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def _secrets_files(cwd: Path) -> list[Path]:
    return [cwd / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"]


def _read_secrets(cwd: Path) -> dict[str, Any]:
    """Root keys of the first secrets.toml found (env-var names or setting names both work)."""
    merged: dict[str, Any] = {}
    for path in reversed(_secrets_files(cwd)):
        if path.is_file():
            try:
                merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it") from None
    return merged


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


NOT_SET = "not set"
# [auth] keys that are addresses or names, safe to show; every other key (client_id, client_secret,
# cookie_secret, ...) shows only as set or not set.
LOGIN_PLAIN_KEYS = frozenset({"redirect_uri", "server_metadata_url", "expose_tokens", "client_kwargs"})


def parse_flag(value: str | None, env: str) -> bool:
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{env}={value!r} is not a yes/no value: use true or false")


def secret_values(settings: Settings | None) -> list[str]:
    """Every secret value in force, longest first, for scrubbing messages: tokens, hook URLs, API keys,
    the database password, login client secrets."""
    if settings is None:
        return []
    found = [settings.values.get(s.name) for s in SETTINGS if s.secret]
    password = url_password(settings.values.get("db_url"))
    if password:
        found += [password, quote(password, safe=""), unquote(password)]
    for section in [settings.login or {}, *((settings.login or {}).values())]:
        if isinstance(section, dict):
            found += [str(v) for k, v in section.items() if k not in LOGIN_PLAIN_KEYS and not isinstance(v, dict)]
    # Short values (a 1-character password) would blank out ordinary words; they are not worth scrubbing for.
    return sorted({v for v in found if v and len(v) >= 4}, key=len, reverse=True)


def redact(message: str, settings: Settings | None) -> str:
    """``message`` with every secret value in force (token, hook URL, API key, database password) replaced."""
    for value in secret_values(settings):
        message = message.replace(value, "***")
    return message


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, str | None]
    sources: Mapping[str, str]
    login: Mapping[str, Any] | None = None

    def __getattr__(self, name: str) -> str | None:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def require(self, name: str, why: str) -> str:
        value = self.values.get(name)
        if not value:
            setting = BY_NAME[name]
            raise ConfigError(f"{setting.env} is not set; it is needed to {why}. "
                              f"Set it in the environment or in .streamlit/secrets.toml.")
        return value

    @property
    def actor(self) -> str:
        """Who the audit log names for an action run here (CLI, or the dashboard without login)."""
        value = self.values.get("actor")
        if not value:
            raise ConfigError("cannot tell who is acting (no login name is known on this machine): set "
                              "VIBEDASH_ACTOR to the name the audit log should record")
        return value

    @property
    def read_only_mode(self) -> bool:
        return parse_flag(self.values.get("read_only"), "VIBEDASH_READ_ONLY")

    def describe(self) -> list[dict[str, str]]:
        """Rows safe to show a person: secrets appear only as set or not set, a database password as ***,
        an unset setting as "not set"."""
        rows = []
        for s in SETTINGS:
            value = self.values.get(s.name)
            if s.secret:
                shown = "set" if value else "not set"
            elif not value:
                shown = NOT_SET
            elif s.name == "db_url":
                shown = mask_url_password(value)
            else:
                shown = value
            rows.append({"setting": s.name, "env": s.env, "value": shown,
                         "from": self.sources.get(s.name, "default"), "help": s.help})
        return rows + self.login_rows()

    def login_rows(self) -> list[dict[str, str]]:
        """The dashboard's login ([auth] in secrets.toml): what is configured, credentials only as set/not set."""
        auth = self.login or {}
        if not auth:
            return [{"setting": "login", "env": "[auth] in secrets.toml", "value": NOT_SET, "from": "default",
                     "help": "Streamlit's built-in OIDC login (st.login); see the README, Access."}]
        rows = []
        sections = {"": {k: v for k, v in auth.items() if not isinstance(v, dict)},
                    **{f".{k}": v for k, v in auth.items() if isinstance(v, dict)}}
        for suffix, section in sections.items():
            for key, value in section.items():
                shown = value if key in LOGIN_PLAIN_KEYS and isinstance(value, str) else ("set" if value else NOT_SET)
                rows.append({"setting": f"login{suffix}.{key}", "env": f"[auth{suffix}] {key}",
                             "value": mask_url_password(shown) if key in LOGIN_PLAIN_KEYS else shown,
                             "from": "secrets.toml", "help": "Streamlit login (OIDC) setting."})
        return rows

    def __repr__(self) -> str:  # never leak a secret through a repr in a log or traceback
        shown = {r["setting"]: r["value"] for r in self.describe()}
        return f"Settings({shown})"


def load_settings(overrides: Mapping[str, str | None] | None = None,
                  environ: Mapping[str, str] | None = None,
                  cwd: Path | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    secrets = _read_secrets(cwd or Path.cwd())
    values: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    for s in SETTINGS:
        if overrides and overrides.get(s.name) is not None:
            values[s.name], sources[s.name] = overrides[s.name], "flag"
        elif environ.get(s.env):
            values[s.name], sources[s.name] = environ[s.env], "environment"
        elif s.env in secrets or s.name in secrets:
            raw = secrets.get(s.env, secrets.get(s.name))
            values[s.name], sources[s.name] = (str(raw) if raw is not None else None), "secrets.toml"
        else:
            values[s.name], sources[s.name] = s.default, "default"
    if not values.get("actor"):
        values["actor"] = local_login_name(environ)
        sources["actor"] = "login name" if values["actor"] else "default"
    auth = secrets.get("auth")
    return Settings(values=values, sources=sources, login=auth if isinstance(auth, dict) and auth else None)


def local_login_name(environ: Mapping[str, str]) -> str | None:
    """The operating system user running this (what getpass.getuser() finds), or None when there is none:
    a container user without a passwd entry and no LOGNAME/USER."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if environ.get(name):
            return environ[name]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return None
