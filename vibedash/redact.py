"""Keeping secrets out of every message, audit row and page: one helper every layer can import.

Secrets reach text in ways no single caller can foresee: Netlify quotes a build hook id back in its error,
requests puts a bad header value (the bearer token) into its exception, a database URL carries its password.
So the places that write text a person or a file will see (error messages, the audit log, pages) pass it
through :func:`redact`, which removes

- every value registered with :func:`register_secret` (the Netlify token, build hook ids, API keys),
- the id part of any build hook URL (``…/build_hooks/<hook id>``): the URL is itself a credential,
- bearer tokens in ``Authorization``-like text, and
- the password in any ``scheme://user:password@host`` URL.

This module imports nothing from vibedash, so config, registry, netlify, actions and ui can all use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

HIDDEN = "<redacted>"
# Shorter values are too likely to occur by chance in ordinary text (and too weak to be real secrets).
_MIN_SECRET_LENGTH = 6

_HOOK_URL = re.compile(r"(/build_hooks/)[A-Za-z0-9_-]+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.\-]*://[^/\s:@]*:)([^@/\s]+)(@)", re.IGNORECASE)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value for this process, so :func:`redact` removes it from any text."""
    if not value:
        return
    for candidate in {value, value.strip()}:
        if len(candidate) >= _MIN_SECRET_LENGTH:
            with _lock:
                _secrets.add(candidate)


def hook_id_of(hook_url: str | None) -> str | None:
    """The secret id at the end of a build hook URL (``https://api.netlify.com/build_hooks/<id>``)."""
    if not hook_url:
        return None
    path = hook_url.split("?", 1)[0].rstrip("/")
    tail = path.rpartition("/")[2]
    return tail or None


def redact(text: Any, extra: Iterable[str | None] = ()) -> Any:
    """``text`` with every known secret replaced; non-strings pass through unchanged."""
    if not isinstance(text, str) or not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in [*(s for s in extra if s and len(s) >= _MIN_SECRET_LENGTH), *known]:
        if secret in text:
            text = text.replace(secret, HIDDEN)
    text = _HOOK_URL.sub(r"\1<hook id>", text)
    text = _BEARER.sub(r"\1" + HIDDEN, text)
    return _URL_PASSWORD.sub(r"\1***\3", text)


def redact_data(value: Any) -> Any:
    """:func:`redact` applied to every string inside dicts, lists and tuples (audit details, JSON exports)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(item) for item in value)
    return value


def mask_url_password(url: str | None) -> str | None:
    """A URL with its password shown as ``***`` (``postgresql://me:***@db/registry``)."""
    return _URL_PASSWORD.sub(r"\1***\3", url) if url else url


def url_password(url: str | None) -> str | None:
    """The password written in ``url`` (as written, percent-encoding kept), or None."""
    match = _URL_PASSWORD.search(url or "")
    return match.group(2) if match else None


def token_problem(token: str | None, name: str = "NETLIFY_AUTH_TOKEN", what: str = "token") -> str | None:
    """Why ``token`` cannot be sent in an HTTP header, or None. The message never quotes the token.

    Leading and trailing whitespace is forgiven (a token pasted with its newline); whitespace or control
    characters inside are not: they would break the header, and requests would then quote it in its error.
    """
    cleaned = (token or "").strip()
    for position, char in enumerate(cleaned, 1):
        if char.isspace() or ord(char) < 32 or ord(char) == 127:
            found = "a line break" if char in "\r\n" else "a space" if char == " " else "a control character"
            return (f"{name} contains {found} (character {position} of {len(cleaned)}): copy the {what} again "
                    "as one line, without spaces")
        if ord(char) > 126:
            return (f"{name} contains a character that is not plain ASCII (character {position} of "
                    f"{len(cleaned)}): copy the {what} again from Netlify")
    return None
