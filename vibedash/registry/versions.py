"""Versions: find one by sha or prefix, record one, and the registry's input errors.

Writers take a ``Session`` (the caller owns the transaction, one per unit of work).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vibedash.registry.models import Version, utcnow

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")


class RegistryError(ValueError):
    """Bad input for the registry; the message says what to fix."""


class NotFound(LookupError):
    """No version or deploy matches."""


def short(sha: str | None) -> str:
    return (sha or "")[:7]


def normalize_sha(text: str) -> str:
    """A lowercase hex commit sha (7 to 40 characters) or RegistryError."""
    sha = (text or "").strip().lower()
    if not SHA_RE.match(sha):
        raise RegistryError(f"{text!r} is not a git commit sha: use 7 to 40 hex characters (0-9, a-f), "
                            "e.g. the output of `git rev-parse HEAD`")
    return sha


def find_version(session: Session, sha_or_prefix: str) -> Version:
    """The version whose sha is, or starts with, the given text."""
    prefix = normalize_sha(sha_or_prefix)
    exact = session.scalar(select(Version).where(Version.sha == prefix))
    if exact is not None:
        return exact
    matches = session.scalars(select(Version).where(Version.sha.like(prefix + "%")).limit(3)).all()
    if not matches:
        raise NotFound(f"no version {prefix} in the registry: record it first with "
                       f"`python -m vibedash record --commit {prefix}`")
    if len(matches) > 1:
        raise RegistryError(f"{prefix} matches several versions ({', '.join(short(m.sha) for m in matches)}…): "
                            "give more characters of the sha")
    return matches[0]


def record_version(session: Session, sha: str, *, branch: str | None = None, message: str | None = None,
                   model_ref: str | None = None, created_at: datetime | None = None,
                   synthetic: bool = False) -> Version:
    """Create the version, or update the fields given for an existing one. Returns it."""
    sha = normalize_sha(sha)
    version = session.scalar(select(Version).where(Version.sha == sha))
    if version is None:
        if len(sha) < 40:
            # A short sha is accepted but must not silently duplicate a known full one.
            known = session.scalars(select(Version).where(Version.sha.like(sha + "%")).limit(2)).all()
            if len(known) == 1:
                version = known[0]
    if version is None:
        version = Version(sha=sha, created_at=created_at or utcnow(), synthetic=synthetic)
        session.add(version)
        new_versions_in_transaction(session).add(sha)
    for name, value in (("branch", branch), ("message", message), ("model_ref", model_ref)):
        if value is not None:
            setattr(version, name, value)
    session.flush()
    return version


# On a session: (its transaction, shas of the versions created in it that have no results yet).
_NEW_VERSIONS = "vibedash_new_versions"


def new_versions_in_transaction(session: Session) -> set[str]:
    transaction = session.get_transaction()
    held = session.info.get(_NEW_VERSIONS)
    if held is None or held[0] is not transaction:
        held = session.info[_NEW_VERSIONS] = (transaction, set())
    return held[1]
