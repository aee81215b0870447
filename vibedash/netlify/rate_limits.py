"""Netlify's rate limit as its answers describe it: ``X-RateLimit-*`` headers and ``Retry-After``, and how long
to pause after a 429."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

# The shortest pause after a 429, also when the reset time has already passed by our clock (clock skew).
_MIN_RATE_LIMIT_WAIT_S = 1.0


@dataclass(frozen=True)
class RateLimit:
    """Netlify's ``X-RateLimit-*`` headers from the latest API response."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None


def pause_after_429(response: requests.Response, fallback_s: Callable[[], float]) -> tuple[float, datetime | None]:
    """(seconds to wait, when the limit resets): the later of X-RateLimit-Reset and Retry-After, or
    ``fallback_s()`` (a backoff) when Netlify gives neither; never under the shortest pause."""
    delay = _rate_limit_wait(response)
    retry_at = _retry_at(response, delay)
    if delay is None:
        delay = max(_MIN_RATE_LIMIT_WAIT_S, fallback_s())
    return delay, retry_at


def _header_float(response: requests.Response, name: str) -> float | None:
    raw = response.headers.get(name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` as seconds from now: either a number of seconds or an HTTP date."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


def _rate_limit_wait(response: requests.Response) -> float | None:
    """Seconds to wait after a 429: the later of X-RateLimit-Reset (Unix seconds) and Retry-After."""
    waits = []
    reset = _header_float(response, "X-RateLimit-Reset")
    if reset is not None:
        waits.append(reset - time.time())
    retry_after = retry_after_seconds(response)
    if retry_after is not None:
        waits.append(retry_after)
    if not waits:
        return None
    # A reset already in the past means the clocks disagree a little; still pause briefly before retrying.
    return max(_MIN_RATE_LIMIT_WAIT_S, *waits)


def _retry_at(response: requests.Response, delay: float | None) -> datetime | None:
    reset = _header_float(response, "X-RateLimit-Reset")
    if reset is not None and reset > time.time():
        return datetime.fromtimestamp(reset, tz=UTC)
    if delay is not None:
        return datetime.fromtimestamp(time.time() + delay, tz=UTC)
    return None


def rate_limit_of(response: requests.Response) -> RateLimit | None:
    limit = _header_float(response, "X-RateLimit-Limit")
    remaining = _header_float(response, "X-RateLimit-Remaining")
    reset = _header_float(response, "X-RateLimit-Reset")
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimit(limit=int(limit) if limit is not None else None,
                     remaining=int(remaining) if remaining is not None else None,
                     reset_at=datetime.fromtimestamp(reset, tz=UTC) if reset is not None else None)
