"""The retention plan's vocabulary: actions, the short tags of why a deploy is kept or pruned, the Netlify
states that matter, and the small wording helpers every part of the plan shares (pure, no I/O)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

Action = Literal["keep", "prune", "expired"]
ACTIONS: tuple[Action, ...] = ("keep", "prune", "expired")

# Tags: short labels of why a deploy is kept or pruned, for counting and filtering.
LIVE, PINNED, ROLLBACK, GRACE, BUILDING = "live", "pinned", "rollback", "grace", "building"
BRANCH, NEW_BEST, FRONTIER, GATE = "newest on branch", "new best", "frontier", "gate passed"
FAILED, DUPLICATE, DOMINATED, UNSCORED, NO_RULE = "failed", "duplicate", "dominated", "no scores", "no rule"
EXPIRED = "expired"

KEEP_TAG_ORDER = (LIVE, PINNED, ROLLBACK, GRACE, BRANCH, BUILDING, NEW_BEST, FRONTIER, GATE)
PRUNE_TAG_ORDER = (FAILED, DUPLICATE, DOMINATED, UNSCORED, NO_RULE)

# Netlify states of a deploy one can roll back to ("old": previously published; "current": after a restore)
RESTORABLE_STATES = frozenset({"ready", "old", "current"})
# states of a build that ended without a site
FAILED_STATES = frozenset({"error", "failed", "rejected", "canceled", "cancelled"})


def switch(on: bool, text: str, name: str) -> str:
    return text if on else f"{name}: off"


def newest(n: int) -> str:
    return "newest version" if n == 1 else f"{n} newest versions"


def days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def score_text(x: float) -> str:
    text = f"{x:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def short(sha: str | None, key: str) -> str:
    """How a reason names a version: its short sha, else its key (a deploy without a commit)."""
    return sha[:7] if sha else key
