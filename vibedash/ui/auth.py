"""Who is looking, and whether they may act: Streamlit's login (st.login / st.user) on top of vibedash.access.

Login is configured by an ``[auth]`` section in ``.streamlit/secrets.toml`` (an OIDC provider: Google,
Microsoft Entra, Okta, Auth0, Keycloak, ...). Then every page needs a signed-in user, and only those on
VIBEDASH_ALLOWED_USERS see the actions. Without it the dashboard is for the machine it runs on (the committed
.streamlit/config.toml binds 127.0.0.1) and the local user acts.

Pages ask one question per action: ``if auth.may(Action.PROMOTE): ...``, and name the actor with
``auth.actor()``. Hidden, not disabled: a widget that is never drawn cannot be clicked, so this also holds
against a crafted browser session.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from vibedash.access import AccessPolicy, Action, Decision, Identity, decide, parse_allow_list
from vibedash.config import ConfigError
from vibedash.ui import state

__all__ = ["Action", "actor", "identity", "login_configured", "may", "require_sign_in", "sidebar"]


def _user() -> dict[str, Any]:
    try:
        return st.user.to_dict()
    except Exception:  # st.user outside a session (a bare script): nobody signed in through Streamlit
        return {}


def login_configured() -> bool:
    """An [auth] section exists: Streamlit then always reports ``is_logged_in`` (AppTest sets it directly)."""
    if "is_logged_in" in _user():
        return True
    try:
        return state.settings().login is not None
    except ConfigError:
        return False


def identity() -> Identity | None:
    """The signed-in user with login; the local user (VIBEDASH_ACTOR or the login name) without."""
    user = _user()
    if login_configured():
        if not user.get("is_logged_in"):
            return None
        name, email = user.get("name"), user.get("email")
        return Identity(name=str(name) if name else None, email=str(email) if email else None, signed_in=True)
    try:
        name = state.settings().values.get("actor")
    except ConfigError:
        return None
    return Identity(name=name) if name else None


def policy() -> AccessPolicy:
    try:
        current = state.settings()
        return AccessPolicy(login_configured=login_configured(),
                            allowed=parse_allow_list(current.allowed_users),
                            read_only=current.read_only_mode)
    except ConfigError:  # settings that cannot be read: show, never act
        return AccessPolicy(login_configured=login_configured(), read_only=True)


def decision(*actions: Action) -> Decision:
    """The first refusal among ``actions`` (all allowed: allowed)."""
    current, who = policy(), identity()
    for action in actions:
        verdict = decide(current, who, action)
        if not verdict:
            return verdict
    return Decision(True)


def may(*actions: Action) -> bool:
    """Whether to show the control for ``actions`` (one call per action, or for a bar of them)."""
    return decision(*actions).allowed


def actor() -> str:
    """The name the audit log records for an action done now. Only called behind :func:`may`."""
    who = identity()
    if who is None or not who.actor:
        raise ConfigError(decision(Action.PROMOTE).reason or "cannot tell who is acting: set VIBEDASH_ACTOR")
    return who.actor


# --- the frame: sign in, who you are ---------------------------------------------------------------------

def _providers() -> list[str | None]:
    """Named providers ([auth.google], [auth.okta], ...) or [None] for the single unnamed one."""
    try:
        auth = state.settings().login or {}
    except ConfigError:
        auth = {}
    named = [key for key, value in auth.items() if isinstance(value, dict)]
    return named or [None]


def _login(provider: str | None) -> None:
    try:
        if provider:
            st.login(provider)
        else:
            st.login()
    except Exception as exc:  # StreamlitAuthError: Authlib missing or [auth] incomplete; say which
        st.error(f"Sign-in is configured but cannot start: {exc}", icon=":material/error:")


def require_sign_in() -> None:
    """With login configured, stop every page for a visitor who has not signed in, offering to sign in."""
    if not login_configured() or _user().get("is_logged_in"):
        return
    st.title("vibedash")
    st.write("Sign in to see the registry of model versions, their deploys and benchmark results.")
    with st.container(horizontal=True):
        for provider in _providers():
            label = f"Sign in with {provider.capitalize()}" if provider else "Sign in"
            if st.button(label, key=f"sign_in_{provider or 'default'}", type="primary", icon=":material/login:"):
                _login(provider)
    st.stop()


def _escaped(text: str) -> str:
    """A name from the login provider (or anyone's VIBEDASH_ACTOR) shown literally, never as Markdown."""
    return "".join(f"\\{ch}" if ch in _MARKDOWN_SPECIAL else ch for ch in text)


_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()#+-.!|<>:~$")


def sidebar() -> None:
    """Who is acting (and whether they may), on every page."""
    who = identity()
    refusal = decision(Action.PROMOTE)
    if login_configured() and who is not None:
        st.sidebar.markdown(f":small[:material/account_circle: {_escaped(who.label)}]",
                            help="Signed in; actions are recorded in the audit log under this name.")
        st.sidebar.button("Sign out", key="sign_out", icon=":material/logout:", on_click=st.logout)
    elif who is not None:
        st.sidebar.markdown(f":small[:material/person: {who.label} (local)]",
                            help="No login is configured: this dashboard is for this machine, and actions are "
                                 "recorded under the local user name (VIBEDASH_ACTOR to change it).")
    if not refusal:
        st.sidebar.markdown(f":small[:material/visibility: View only. {_escaped(refusal.reason or '')}]")
