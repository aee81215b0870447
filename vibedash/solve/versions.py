"""Which versions can be put to work: looked up by commit prefix, listed for pickers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from vibedash.registry.db import unit_of_work
from vibedash.registry.models import Version
from vibedash.solve.errors import SolveInputError, VersionLookupError

_COMMIT_PREFIX = re.compile(r"[0-9a-f]{4,40}")


@dataclass(frozen=True)
class VersionRef:
    id: int
    sha: str
    model_ref: str | None
    branch: str | None = None
    message: str | None = None
    created_at: datetime | None = None

    @property
    def short(self) -> str:
        return self.sha[:7]

    @property
    def label(self) -> str:
        parts = [self.short]
        if self.branch:
            parts.append(self.branch)
        if self.message:
            first_line = self.message.strip().splitlines()[0] if self.message.strip() else ""
            if first_line:
                parts.append(first_line[:60])
        return " · ".join(parts)


def _ref(version: Version) -> VersionRef:
    return VersionRef(id=version.id, sha=version.sha, model_ref=version.model_ref, branch=version.branch,
                      message=version.message, created_at=version.created_at)


def resolve_version(engine: Engine, commit: str) -> VersionRef:
    """The one version whose commit starts with ``commit`` (4 to 40 hex digits)."""
    prefix = commit.strip().lower()
    if not _COMMIT_PREFIX.fullmatch(prefix):
        raise SolveInputError(f"{commit!r} is not a commit: give 4 to 40 hexadecimal digits of its sha")
    with unit_of_work(engine) as session:
        matches = list(session.scalars(select(Version).where(Version.sha.like(f"{prefix}%"))
                                       .order_by(Version.created_at.desc()).limit(6)))
        refs = [_ref(version) for version in matches]
    if not refs:
        raise VersionLookupError(f"no version with commit {prefix}: record it with "
                                 f"`python -m vibedash record --commit SHA --model PATH_OR_HUB_ID`")
    if len(refs) > 1:
        shown = ", ".join(ref.sha[:12] for ref in refs[:5]) + (", ..." if len(refs) > 5 else "")
        raise VersionLookupError(f"commit {prefix} is ambiguous ({shown}): give more digits")
    return refs[0]


_REF_COLUMNS = (Version.id, Version.sha, Version.model_ref, Version.branch, Version.message, Version.created_at)


def list_versions(engine: Engine, limit: int = 500) -> list[VersionRef]:
    """Newest first (the columns a reference needs, not whole versions: the Solve page lists hundreds)."""
    with unit_of_work(engine) as session:
        rows = session.execute(select(*_REF_COLUMNS).order_by(Version.created_at.desc(), Version.id.desc())
                               .limit(limit))
        return [VersionRef(id=id_, sha=sha, model_ref=model_ref, branch=branch, message=message, created_at=created_at)
                for id_, sha, model_ref, branch, message, created_at in rows]
