"""Who may act: the pure decision "may this identity do this action", from the access settings.

No Streamlit here: the dashboard (vibedash.ui.auth) finds out who is looking (the signed-in user, or the
local operating-system user when no login is configured) and asks :func:`decide` before it shows an action.

The rules, in order:
1. Read-only mode (VIBEDASH_READ_ONLY) hides every action from everyone.
2. With login configured, only a signed-in user may act, and only when the allow list (VIBEDASH_ALLOWED_USERS)
   names them: their email, their email's domain (``@example.com``), or ``*`` (anyone signed in). An empty
   list lets nobody act: turning login on must never hand the site to every account of the provider.
3. Without login (the dashboard listens on 127.0.0.1 only), the local user acts; an allow list, if set, must
   name them. When no local user name is known at all, nobody acts until VIBEDASH_ACTOR names one: the audit
   log must say who did it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(str, Enum):
    """Everything the dashboard can change. Each button that changes something asks about one of these."""

    PROMOTE = "promote"
    ROLLBACK = "roll back"
    LOCK = "lock or unlock"
    TRIGGER = "trigger a build"
    PIN = "pin or unpin"
    RETENTION = "apply retention"
    SYNC = "sync with Netlify"
    LOAD_SAMPLE = "load the sample registry"


@dataclass(frozen=True)
class Identity:
    """Who is looking at the dashboard.

    ``signed_in``: authenticated by the login provider (email and name come from it); otherwise a local user
    named by the operating system or VIBEDASH_ACTOR.
    """

    name: str | None = None
    email: str | None = None
    signed_in: bool = False

    @property
    def actor(self) -> str | None:
        """What the audit log records: the email of a signed-in user (unique, stable), else the name."""
        return (self.email or self.name) if self.signed_in else self.name

    @property
    def label(self) -> str:
        if self.signed_in and self.name and self.email and self.name != self.email:
            return f"{self.name} ({self.email})"
        return self.actor or "unknown"


@dataclass(frozen=True)
class AccessPolicy:
    login_configured: bool
    allowed: tuple[str, ...] = ()
    read_only: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None = None  # why not, in words that say what to change

    def __bool__(self) -> bool:
        return self.allowed


def parse_allow_list(text: str | None) -> tuple[str, ...]:
    """"ada@example.com, @example.org; grace" -> ("ada@example.com", "@example.org", "grace") (lowercased)."""
    if not text:
        return ()
    entries = (part.strip().lower() for part in text.replace(";", ",").replace("\n", ",").split(","))
    return tuple(dict.fromkeys(e for e in entries if e))


def on_allow_list(identity: Identity, allowed: tuple[str, ...]) -> bool:
    names = {n.strip().lower() for n in (identity.email, identity.name) if n and n.strip()}
    if not names:
        return False
    if "*" in allowed:
        return True
    email = (identity.email or "").strip().lower()
    domain = email.rpartition("@")[2] if "@" in email else None
    for entry in allowed:
        if entry in names:
            return True
        if domain and entry.lstrip("*") == f"@{domain}":  # "@example.com" or "*@example.com"
            return True
    return False


def decide(policy: AccessPolicy, identity: Identity | None, action: Action) -> Decision:
    """May ``identity`` do ``action`` under ``policy``? Denials carry the sentence to show."""
    if policy.read_only:
        return Decision(False, "Read-only mode (VIBEDASH_READ_ONLY): actions are hidden.")
    if policy.login_configured:
        if identity is None or not identity.signed_in:
            return Decision(False, f"Sign in to {action.value}.")
        if not policy.allowed:
            return Decision(False, "Nobody may act yet: list who may in VIBEDASH_ALLOWED_USERS.")
        if not on_allow_list(identity, policy.allowed):
            return Decision(False, f"{identity.label} may view but not {action.value}: ask an admin to add you "
                                   "to VIBEDASH_ALLOWED_USERS.")
        return Decision(True)
    if identity is None or not identity.actor:
        return Decision(False, "No user name is known on this machine, so the audit log could not say who "
                               "acted: set VIBEDASH_ACTOR.")
    if policy.allowed and not on_allow_list(identity, policy.allowed):
        return Decision(False, f"{identity.label} is not on VIBEDASH_ALLOWED_USERS.")
    return Decision(True)
