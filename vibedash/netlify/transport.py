"""How the Netlify client sends a request: timeouts, retries with backoff as far as each call's safety allows
(waiting out the rate limit within a total budget), and failures turned into errors a person can act on.

:class:`RetryingTransport` is the base of :class:`vibedash.netlify.client.NetlifyClient`, which sets the
attributes it declares; the API methods live there.
"""

from __future__ import annotations

import enum
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from vibedash import __version__
from vibedash.netlify.errors import (
    NetlifyAuthError,
    NetlifyError,
    NetlifyNotFound,
    NetlifyRateLimited,
    NetlifyRequestError,
    NetlifyUnavailable,
)
from vibedash.netlify.rate_limits import (
    RateLimit,
    pause_after_429,
    rate_limit_of,
    retry_after_seconds,
)
from vibedash.redact import redact

USER_AGENT = f"vibedash/{__version__} (deploy registry dashboard)"

# A server that stayed silent for a whole read timeout is unlikely to answer the third time: retrying read
# timeouts more than once would keep an interactive page waiting for minutes (4 x 30 s).
_MAX_READ_TIMEOUT_RETRIES = 1
# Network failures worth another try (a malformed URL or header, also a RequestException, is not).
_TRANSIENT_FAILURES = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                       requests.exceptions.ChunkedEncodingError)


class Safety(enum.Enum):
    """How safe it is to send a request again when we do not know whether the first one arrived."""

    # Repeating has the same effect as sending once: GET, DELETE, lock/unlock, restore (publishing the same
    # deploy twice leaves the same deploy live). Retry on 5xx and broken connections.
    IDEMPOTENT = "idempotent"
    # Each request that reaches Netlify starts a build (build hooks). Retry only when we know it was not
    # acted on: the connection was never opened, or Netlify answered 429 (refused, nothing started).
    # Never after a read timeout, a dropped connection or a 5xx: the build may already be running, and a
    # retry would start a second one.
    ONCE_ONLY = "once-only"
    # Like IDEMPOTENT, except after a read timeout: the first request may still be on its way and land late,
    # after whatever the caller does next. Publishing (restore) is such a call: a late duplicate publish that
    # lands after the lock that followed it can clear that lock. The caller reads back instead.
    NOT_AFTER_TIMEOUT = "not-after-timeout"


class _BearerAuth(AuthBase):
    """Sets the bearer header; as an auth object it also stops requests from applying ~/.netrc over it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<hidden>)"


class _NoAuth(AuthBase):
    """Sends no credentials at all: a build hook URL is its own credential (and ~/.netrc must not add one)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


@dataclass
class _Tally:
    """What the attempts of one call have done so far."""

    waited: float = 0.0          # seconds slept between attempts
    read_timeouts: int = 0
    maybe_applied: bool = False  # an attempt may have reached Netlify without us seeing its answer


@dataclass(frozen=True)
class Call:
    """One logical API call: what it is (for messages) and how it may be retried."""

    method: str
    url: str
    doing: str                       # "restoring deploy abc" - used in messages
    missing: str                     # "deploy abc" - what a 404 means is missing
    safety: Safety = Safety.IDEMPOTENT
    authenticated: bool = True
    params: dict[str, Any] | None = None
    data: bytes | None = None
    content_type: str | None = None
    display_url: str | None = None   # shown instead of url in messages (build hook ids are secret)


class RetryingTransport:
    """Sends :class:`Call` s for a client, counting requests and keeping the latest rate-limit headers."""

    _token: str
    timeout: tuple[float, float]      # (connect, read) seconds
    max_retries: int
    max_wait_s: float                 # total sleep between the retries of one call
    backoff_s: float                  # first backoff step when Netlify gives no wait time
    request_count: int
    rate_limit: RateLimit | None
    _session: requests.Session

    def _send(self, call: Call, *, gone_is_success_after_retry: bool = False) -> requests.Response:
        """Send ``call``, retrying as its safety allows, and return the successful response or raise."""
        if call.authenticated and not self._token:
            raise NetlifyAuthError(f"No Netlify access token for {call.doing}: set NETLIFY_AUTH_TOKEN "
                                   "(User settings > Applications > Personal access tokens).")
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if call.content_type:
            headers["Content-Type"] = call.content_type
        auth = _BearerAuth(self._token) if call.authenticated else _NoAuth()
        tally = _Tally()
        for attempt in range(self.max_retries + 1):
            try:
                response = self._session.request(
                    call.method, call.url, params=call.params, data=call.data, headers=headers, auth=auth,
                    timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                delay, failure = self._after_exception(call, exc, attempt, tally)
            else:
                self.request_count += 1
                if call.authenticated:
                    self.rate_limit = rate_limit_of(response) or self.rate_limit
                if response.status_code < 300:
                    return response
                if response.status_code == 404 and gone_is_success_after_retry and tally.maybe_applied:
                    # An earlier DELETE most likely worked but its answer was lost: the deploy is gone, as asked.
                    return response
                delay, failure = self._after_status(call, response, attempt, tally)
            if delay is None or attempt == self.max_retries or tally.waited + delay > self.max_wait_s:
                raise failure
            time.sleep(delay)
            tally.waited += delay
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _after_exception(self, call: Call, exc: requests.RequestException, attempt: int,
                         tally: _Tally) -> tuple[float | None, NetlifyError]:
        """(seconds to wait before retrying or None to give up, the error to raise when giving up)."""
        never_sent = _never_sent(exc)
        if not never_sent:
            self.request_count += 1
            tally.maybe_applied = True
        if isinstance(exc, requests.exceptions.ReadTimeout):
            tally.read_timeouts += 1
        failure = self._unavailable(call, _describe_failure(exc, self.timeout), never_sent)
        # Chain the low-level error for debugging, except for build hooks: its text holds the secret hook URL.
        failure.__cause__ = None if call.display_url else exc
        failure.__suppress_context__ = True
        late = call.safety is Safety.NOT_AFTER_TIMEOUT and isinstance(exc, requests.exceptions.ReadTimeout)
        retryable = ((never_sent or call.safety in (Safety.IDEMPOTENT, Safety.NOT_AFTER_TIMEOUT))
                     and not late
                     and isinstance(exc, _TRANSIENT_FAILURES)
                     and not isinstance(exc, requests.exceptions.SSLError)   # retrying will not fix TLS
                     and tally.read_timeouts <= _MAX_READ_TIMEOUT_RETRIES)
        return (self._backoff(attempt) if retryable else None), failure

    def _after_status(self, call: Call, response: requests.Response, attempt: int,
                      tally: _Tally) -> tuple[float | None, NetlifyError]:
        """Like :meth:`_after_exception`, for an answer with a status of 300 or more."""
        status = response.status_code
        if status == 429:
            # Refused before any work was done, so even a build hook may be sent again.
            delay, retry_at = pause_after_429(response, lambda: self._backoff(attempt))
            return delay, self._rate_limited(call, response, retry_at, delay)
        if status >= 500:
            tally.maybe_applied = True
            retryable = call.safety in (Safety.IDEMPOTENT, Safety.NOT_AFTER_TIMEOUT)   # it answered: done
            delay = retry_after_seconds(response) or self._backoff(attempt)
            return (delay if retryable else None), self._server_error(call, response)
        return None, self._client_error(call, response)

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter, so several dashboard sessions hitting a hiccup do not retry in lockstep.
        return self.backoff_s * (2 ** attempt) * random.uniform(0.5, 1.0)

    # Error construction: every message names what we were doing and what the person can do about it.

    def _where(self, call: Call) -> str:
        return call.display_url or urlsplit(call.url).path

    def _unavailable(self, call: Call, reason: str, never_sent: bool) -> NetlifyUnavailable:
        if call.safety is Safety.ONCE_ONLY and not never_sent:
            advice = ("The build may or may not have started: check the deploy list before triggering again "
                      "(a second trigger would start a second build).")
        elif never_sent:
            advice = "Nothing was sent; check the network or VIBEDASH_NETLIFY_API_URL and try again."
        else:
            advice = "Try again in a moment; https://www.netlifystatus.com shows Netlify's own incidents."
        return NetlifyUnavailable(self._redact(f"Netlify could not be reached while {call.doing} "
                                               f"({reason}). {advice}"))

    def _rate_limited(self, call: Call, response: requests.Response, retry_at: datetime | None,
                      delay: float) -> NetlifyRateLimited:
        message = _netlify_message(response)
        when = (f"at {retry_at.strftime('%H:%M:%S')} UTC (in {math.ceil(delay)} s)" if retry_at
                else f"in about {math.ceil(delay)} s")
        return NetlifyRateLimited(self._redact(
            f"Netlify's rate limit is used up while {call.doing}"
            f"{f' ({message})' if message else ''}; it resets {when}. Try again then."),
            retry_at=retry_at, netlify_message=message)

    def _server_error(self, call: Call, response: requests.Response) -> NetlifyUnavailable:
        message = _netlify_message(response)
        detail = _status_detail(response, message)
        if call.safety is Safety.ONCE_ONLY:
            advice = ("The build may or may not have started: check the deploy list before triggering again "
                      "(a second trigger would start a second build).")
        else:
            advice = "Netlify is having trouble; try again in a few minutes (https://www.netlifystatus.com)."
        return NetlifyUnavailable(self._redact(f"Netlify failed while {call.doing} ({detail}). {advice}"),
                                  status=response.status_code, netlify_message=message)

    def _client_error(self, call: Call, response: requests.Response) -> NetlifyError:
        status, message = response.status_code, _netlify_message(response)
        detail = _status_detail(response, message)
        where = self._where(call)
        if status in (401, 403):
            text = (f"Netlify refused the access token while {call.doing} ({detail}). Check NETLIFY_AUTH_TOKEN: "
                    "it may be wrong or expired, or its user may lack access to this site.")
            return NetlifyAuthError(self._redact(text), status=status, netlify_message=message)
        if status == 404:
            if call.missing.startswith("site"):
                hint = "Check NETLIFY_SITE_ID (Site configuration > Site information > Site ID)."
            elif call.missing.startswith("build hook"):
                hint = "The hook may have been deleted; check VIBEDASH_BUILD_HOOK_URL."
            else:
                hint = "It may have been deleted by retention or by hand; refresh the deploy list."
            return NetlifyNotFound(self._redact(f"Netlify has no {call.missing} ({detail} while {call.doing}). "
                                                f"{hint}"), status=status, netlify_message=message)
        if 300 <= status < 400:
            target = response.headers.get("Location", "another address")
            return NetlifyRequestError(self._redact(
                f"Netlify answered {where} with a redirect ({status}) to {target}; set "
                "VIBEDASH_NETLIFY_API_URL to the API's real address."), status=status)
        return NetlifyRequestError(self._redact(f"Netlify refused {call.doing} ({detail})."),
                                   status=status, netlify_message=message)

    def _redact(self, text: str) -> str:
        # Belt and braces: no message we build contains the token, but Netlify's own text is echoed verbatim
        # (and may quote a build hook id back).
        text = text.replace(self._token, "<token>") if len(self._token) >= 4 else text
        return redact(text)


def new_session() -> requests.Session:
    session = requests.Session()
    # Retries live in NetlifyClient._send, where they can honour X-RateLimit-Reset, a total wait budget and
    # per-call safety. urllib3's own Retry must stay off (0, read=False is requests' default) so nothing is
    # retried twice or behind our back.
    adapter = HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (so even a build hook may be retried)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return True  # the TLS handshake failed before any HTTP was sent (and retrying will not fix it)
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        # requests wraps urllib3's MaxRetryError(reason=NewConnectionError) for refused / unresolvable
        # connections; a ProtocolError (connection dropped after sending) is wrapped directly and is *not* safe.
        reason = getattr(exc.args[0], "reason", None)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _describe_failure(exc: requests.RequestException, timeout: tuple[float, float]) -> str:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {timeout[0]:g} s"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"no answer within {timeout[1]:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if _never_sent(exc):
        return "could not connect: connection refused or host not found"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "the connection closed before an answer came"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    return type(exc).__name__  # not str(exc): it may quote a build hook URL, which is a secret


def decode_json(response: requests.Response, *, doing: str) -> Any:
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        raise NetlifyError(f"Netlify's answer to {doing} is not JSON ({response.status_code}, {kind}); is "
                           "VIBEDASH_NETLIFY_API_URL the API address (ending in /api/v1)?") from None


def _netlify_message(response: requests.Response) -> str | None:
    """Netlify's ``{code, message}`` error text, or a short plain-text body; never an HTML page."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if text and "html" not in response.headers.get("Content-Type", "") and len(text) <= 300:
            return text
        return None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body.get("errors")
        return str(message) if message else None
    return None


def _status_detail(response: requests.Response, message: str | None) -> str:
    """'422 Unprocessable Entity: <Netlify's message>' (the message left out when it only repeats the reason)."""
    detail = f"{response.status_code} {response.reason or ''}".strip()
    if message and message.strip().lower() != (response.reason or "").strip().lower():
        detail += f": {message}"
    return detail
