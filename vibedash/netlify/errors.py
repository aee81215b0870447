"""The errors of the Netlify client: each ``str(error)`` is a sentence a person can act on, never holding the
token."""

from __future__ import annotations

from datetime import datetime


class NetlifyError(Exception):
    """Base class. ``str(error)`` is a sentence a person can act on; it never contains the token."""

    def __init__(self, message: str, *, status: int | None = None, netlify_message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.netlify_message = netlify_message


class NetlifyAuthError(NetlifyError):
    """401/403: the token is wrong, expired, or its user lacks access to the site."""


class NetlifyNotFound(NetlifyError):
    """404: no such site or deploy (deploys disappear when retention deletes them)."""


class NetlifyRateLimited(NetlifyError):
    """429 after the retries we were allowed to wait for; ``retry_at`` says when the limit resets."""

    def __init__(self, message: str, *, retry_at: datetime | None = None, status: int | None = 429,
                 netlify_message: str | None = None) -> None:
        super().__init__(message, status=status, netlify_message=netlify_message)
        self.retry_at = retry_at


class NetlifyUnavailable(NetlifyError):
    """Netlify could not be reached, did not answer in time, or kept failing with 5xx."""


class NetlifyRequestError(NetlifyError):
    """Netlify refused the request (422 and other 4xx); the message carries Netlify's reason."""


class InvalidToken(ValueError):
    """The token cannot be sent as a header (whitespace or control characters inside); never quotes it."""
