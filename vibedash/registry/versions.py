"""Versions: find one by sha or prefix, record one, and the registry's input errors.

Writers take a ``Session`` (the caller owns the transaction, one per unit of work).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from vibedash.registry.models import Version, utcnow

T = TypeVar("T")

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


# Built once: a statement object keeps its cache key, so each use skips building and hashing it again.
_VERSION_BY_SHA = select(Version).where(Version.sha == bindparam("sha"))
_VERSION_ID_BY_SHA = select(Version.id).where(Version.sha == bindparam("sha"))
_VERSIONS_BY_PREFIX = select(Version).where(Version.sha.like(bindparam("prefix"))).limit(bindparam("n"))
_INSERT_VERSION = insert(Version)


def find_version(session: Session, sha_or_prefix: str) -> Version:
    """The version whose sha is, or starts with, the given text."""
    prefix = normalize_sha(sha_or_prefix)
    exact = session.scalars(_VERSION_BY_SHA, {"sha": prefix}).first()
    if exact is not None:
        return exact
    matches = session.scalars(_VERSIONS_BY_PREFIX, {"prefix": prefix + "%", "n": 3}).all()
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
    """Create the version, or update the fields given for an existing one. Returns it (its id known)."""
    sha = normalize_sha(sha)
    if session.autoflush:
        session.flush()  # what a query would flush first (the Core read below does not)
    # The id alone, read with Core: an import usually records a version the registry has not seen, and the
    # ORM's query machinery costs more than the lookup itself.
    found = session.connection().execute(_VERSION_ID_BY_SHA, {"sha": sha}).first()
    version = session.get(Version, found[0]) if found is not None else None
    if version is None and len(sha) < 40:
        # A short sha is accepted but must not silently duplicate a known full one.
        known = session.scalars(_VERSIONS_BY_PREFIX, {"prefix": sha + "%", "n": 2}).all()
        if len(known) == 1:
            version = known[0]
    if version is None:
        # A new version is one INSERT on the session's connection (ingestion records one per import), then
        # joins the session as if loaded: the caller gets the same persistent Version the ORM would give.
        fields = {"sha": sha, "branch": branch, "message": message, "model_ref": model_ref,
                  "synthetic": synthetic, "created_at": created_at or utcnow()}
        result = session.connection().execute(_INSERT_VERSION, fields)
        version = attach_persistent(session, Version, {"id": result.inserted_primary_key[0], **fields})
        new_versions_in_transaction(session).add(sha)
        return version
    for name, value in (("branch", branch), ("message", message), ("model_ref", model_ref)):
        if value is not None:
            setattr(version, name, value)
    session.flush()
    return version


def attach_persistent(session: Session, model: type[T], row: dict[str, Any]) -> T:
    """An instance of ``model`` for a row just written with Core, in ``session`` as if a query had loaded it
    (the identity map knows it, nothing is pending, unset relationships load on first use)."""
    # The row goes straight into the instance's state (as a load does): no attribute events, no history.
    instance = sa_inspect(model).class_manager.new_instance()
    instance.__dict__.update(row)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


# On a session: (its transaction, shas of the versions created in it that have no results yet).
_NEW_VERSIONS = "vibedash_new_versions"


def new_versions_in_transaction(session: Session) -> set[str]:
    transaction = session.get_transaction()
    held = session.info.get(_NEW_VERSIONS)
    if held is None or held[0] is not transaction:
        held = session.info[_NEW_VERSIONS] = (transaction, set())
    return held[1]
