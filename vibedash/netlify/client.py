"""A small, careful client for the parts of Netlify's REST API the dashboard uses.

It speaks the official API (https://api.netlify.com/api/v1, spec in tests/fixtures/netlify-openapi.yml) and
the token-less build hook URLs. What it adds over bare ``requests``:

- every call has connect and read timeouts;
- retries with backoff on 429 and 5xx, waiting for ``X-RateLimit-Reset`` (Unix seconds) or ``Retry-After``,
  but never longer in total than ``max_wait_s``: a page must not hang, so a longer rate-limit wait becomes a
  :class:`NetlifyRateLimited` right away, saying when to try again;
- retries on broken connections only where repeating the request cannot do harm (see ``_Safety``);
- errors a person can act on (``str(error)`` is a full sentence with Netlify's own message), and the token
  appears in none of them, nor in ``repr(client)``.

One client owns one ``requests.Session``. requests never promised that a Session is thread-safe, so give each
thread (each Streamlit session) its own client.
"""

from __future__ import annotations

import email.utils
import enum
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from vibedash import __version__
from vibedash.redact import hook_id_of, redact, register_secret, token_problem

DEFAULT_API_URL = "https://api.netlify.com/api/v1"
MAX_PER_PAGE = 100  # Netlify's documented page-size ceiling; larger values are silently cut to it.
USER_AGENT = f"vibedash/{__version__} (deploy registry dashboard)"

# A server that stayed silent for a whole read timeout is unlikely to answer the third time: retrying read
# timeouts more than once would keep an interactive page waiting for minutes (4 x 30 s).
_MAX_READ_TIMEOUT_RETRIES = 1
# Network failures worth another try (a malformed URL or header, also a RequestException, is not).
_TRANSIENT_FAILURES = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                       requests.exceptions.ChunkedEncodingError)
# The shortest pause after a 429, also when the reset time has already passed by our clock (clock skew).
_MIN_RATE_LIMIT_WAIT_S = 1.0


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


@dataclass(frozen=True)
class RateLimit:
    """Netlify's ``X-RateLimit-*`` headers from the latest API response."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None


class _Safety(enum.Enum):
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
class _Call:
    """One logical API call: what it is (for messages) and how it may be retried."""

    method: str
    url: str
    doing: str                       # "restoring deploy abc" - used in messages
    missing: str                     # "deploy abc" - what a 404 means is missing
    safety: _Safety = _Safety.IDEMPOTENT
    authenticated: bool = True
    params: dict[str, Any] | None = None
    data: bytes | None = None
    content_type: str | None = None
    display_url: str | None = None   # shown instead of url in messages (build hook ids are secret)


class NetlifyClient:
    """Client for one Netlify account token and, optionally, a default site.

    ``request_count`` counts HTTP requests actually sent (retries included; not attempts whose connection was
    refused), so callers can measure what a sync costs. ``rate_limit`` holds the latest ``X-RateLimit-*``.
    """

    def __init__(self, token: str | None, site_id: str | None = None, api_url: str = DEFAULT_API_URL, *,
                 timeout: tuple[float, float] = (3.05, 30.0), max_retries: int = 4,
                 max_wait_s: float = 20.0, session: requests.Session | None = None,
                 backoff_s: float = 0.5) -> None:
        """``token`` may be empty when only :meth:`trigger_build_hook` will be used (hooks need no token).

        ``max_wait_s`` bounds the total time one call spends sleeping between retries; ``backoff_s`` is the
        first backoff step (doubled each retry, with jitter) when Netlify gives no wait time itself.
        """
        problem = token_problem(token)
        if problem:
            raise InvalidToken(problem)
        self._token = (token or "").strip()
        register_secret(self._token)
        self.site_id = (site_id or "").strip() or None
        self.api_url = _validated_base_url(api_url)
        if len(timeout) != 2 or min(timeout) <= 0:
            raise ValueError(f"timeout must be (connect_seconds, read_seconds), both above 0, not {timeout!r}")
        if max_retries < 0 or max_wait_s < 0 or backoff_s < 0:
            raise ValueError("max_retries, max_wait_s and backoff_s must not be negative")
        self.timeout = (float(timeout[0]), float(timeout[1]))
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.backoff_s = backoff_s
        self.request_count = 0
        self.rate_limit: RateLimit | None = None
        self._owns_session = session is None
        self._session = session if session is not None else _new_session()

    def __repr__(self) -> str:
        token = "set" if self._token else "not set"
        return f"NetlifyClient(api_url={self.api_url!r}, site_id={self.site_id!r}, token={token})"

    @property
    def has_token(self) -> bool:
        """Whether API calls can be made (a build hook alone needs no token)."""
        return bool(self._token)

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> NetlifyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------- sites

    def get_site(self, site_id: str | None = None) -> dict[str, Any]:
        """The site, including ``published_deploy`` (the live deploy, with its ``locked`` flag)."""
        site = self._site(site_id)
        return self._json_object(self._send(_Call(
            "GET", self._api("sites", site), doing=f"reading site {site}", missing=f"site {site}")))

    # --------------------------------------------------------------------------------------------- deploys

    def list_site_deploys(self, site_id: str | None = None, *, per_page: int = MAX_PER_PAGE,
                          on_page: Callable[[int, int], None] | None = None) -> Iterator[dict[str, Any]]:
        """Yield the site's deploys, newest first, fetching one page at a time only as the caller iterates.

        Follows ``Link: rel="next"``; without a Link header it stops at the first short page. Stop iterating
        early (an incremental sync that reached known deploys) and no further page is requested.
        ``on_page(page_number, items_so_far)`` is called after each page arrives, before its items are yielded.
        """
        site = self._site(site_id)
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, not {per_page}")
        return self._iter_deploy_pages(site, per_page, on_page)

    def _iter_deploy_pages(self, site: str, per_page: int,
                           on_page: Callable[[int, int], None] | None) -> Iterator[dict[str, Any]]:
        url: str | None = self._api("sites", site, "deploys")
        params: dict[str, Any] | None = {"page": 1, "per_page": per_page}
        page_number, seen = 0, 0
        while url is not None:
            page_number += 1
            response = self._send(_Call("GET", url, params=params, doing=f"listing deploys of site {site}",
                                        missing=f"site {site}"))
            items = _decode_json(response, doing=f"listing deploys of site {site}")
            if not isinstance(items, list):
                raise NetlifyError(f"Netlify answered the deploy list of site {site} with a "
                                   f"{type(items).__name__}, not a list; is the API URL right?")
            seen += len(items)
            if on_page is not None:
                on_page(page_number, seen)
            yield from items
            url, params = self._next_page(response, url, params, page_number, len(items), per_page)

    def _next_page(self, response: requests.Response, url: str, params: dict[str, Any] | None,
                   page_number: int, count: int, per_page: int) -> tuple[str | None, dict[str, Any] | None]:
        if count == 0:
            return None, None
        if "Link" in response.headers:
            next_url = response.links.get("next", {}).get("url")
            if not next_url or next_url == response.url:
                return None, None
            if not self._same_origin(next_url):
                # Never send the bearer token to a host the user did not configure; page by number instead.
                return url, {"page": page_number + 1, "per_page": per_page}
            return next_url, None  # the Link URL already carries page and per_page
        if count < per_page:
            return None, None
        base = url if params is not None else url.split("?", 1)[0]
        return base, {"page": page_number + 1, "per_page": per_page}

    def get_deploy(self, deploy_id: str) -> dict[str, Any]:
        deploy = _require_id(deploy_id, "deploy id")
        return self._json_object(self._send(_Call(
            "GET", self._api("deploys", deploy), doing=f"reading deploy {deploy}", missing=f"deploy {deploy}")))

    def restore_deploy(self, deploy_id: str, site_id: str | None = None) -> dict[str, Any]:
        """Publish an existing deploy (Netlify's "Publish deploy": no rebuild). Returns the deploy.

        Whether a restore keeps or clears a lock is not documented: read ``get_site()['published_deploy']``
        afterwards and lock again if the site should stay pinned.
        """
        site, deploy = self._site(site_id), _require_id(deploy_id, "deploy id")
        return self._json_object(self._send(_Call(
            "POST", self._api("sites", site, "deploys", deploy, "restore"), safety=_Safety.NOT_AFTER_TIMEOUT,
            doing=f"publishing deploy {deploy}", missing=f"deploy {deploy} of site {site}")))

    def lock_deploy(self, deploy_id: str) -> dict[str, Any]:
        """Stop auto publishing: the site stays on this (published) deploy until unlocked."""
        deploy = _require_id(deploy_id, "deploy id")
        return self._json_object(self._send(_Call(
            "POST", self._api("deploys", deploy, "lock"), doing=f"locking deploy {deploy}",
            missing=f"deploy {deploy}")))

    def unlock_deploy(self, deploy_id: str) -> dict[str, Any]:
        """Start auto publishing again (new production deploys go live as they finish)."""
        deploy = _require_id(deploy_id, "deploy id")
        return self._json_object(self._send(_Call(
            "POST", self._api("deploys", deploy, "unlock"), doing=f"unlocking deploy {deploy}",
            missing=f"deploy {deploy}")))

    def delete_deploy(self, deploy_id: str, site_id: str | None = None) -> None:
        """Delete a deploy for good (it can no longer be published).

        Scoped to the site when one is known, so a mistyped id cannot delete another site's deploy.
        """
        deploy = _require_id(deploy_id, "deploy id")
        site = _optional_id(site_id) or self.site_id
        url = self._api("sites", site, "deploys", deploy) if site else self._api("deploys", deploy)
        self._send(_Call("DELETE", url, doing=f"deleting deploy {deploy}", missing=f"deploy {deploy}"),
                   gone_is_success_after_retry=True)

    # ----------------------------------------------------------------------------------------- build hooks

    def list_build_hooks(self, site_id: str | None = None) -> list[dict[str, Any]]:
        site = self._site(site_id)
        response = self._send(_Call("GET", self._api("sites", site, "build_hooks"),
                                    doing=f"listing build hooks of site {site}", missing=f"site {site}"))
        hooks = _decode_json(response, doing=f"listing build hooks of site {site}")
        if not isinstance(hooks, list):
            raise NetlifyError(f"Netlify answered the build hook list of site {site} with a "
                               f"{type(hooks).__name__}, not a list; is the API URL right?")
        return hooks

    def trigger_build_hook(self, hook_url: str, *, title: str | None = None, branch: str | None = None,
                           payload: str | None = None) -> None:
        """Start a build through a build hook URL (no token is sent: the URL itself is the credential).

        ``title`` replaces the deploy message, ``branch`` overrides the hook's branch and ``payload`` reaches
        the build as ``INCOMING_HOOK_BODY``. The hook answers with no deploy id: find the new deploy by
        listing deploys (a unique ``title`` makes it easy to spot).
        """
        shown = _redacted_hook_url(hook_url)
        register_secret(hook_id_of(hook_url))  # Netlify may quote the id back in an error message
        params = {key: value for key, value in (("trigger_title", title), ("trigger_branch", branch))
                  if value is not None}
        self._send(_Call("POST", hook_url.strip(), params=params or None,
                         data=payload.encode("utf-8") if payload is not None else b"",
                         content_type="text/plain; charset=utf-8", safety=_Safety.ONCE_ONLY,
                         authenticated=False, doing="triggering the build hook", missing=f"build hook {shown}",
                         display_url=shown))

    # ------------------------------------------------------------------------------------------- internals

    def _site(self, site_id: str | None) -> str:
        site = _optional_id(site_id) or self.site_id
        if not site:
            raise NetlifyError("No Netlify site id: set NETLIFY_SITE_ID (Site configuration > Site information "
                               "> Site ID) or pass site_id.")
        return site

    def _api(self, *segments: str) -> str:
        return self.api_url + "/" + "/".join(quote(segment, safe="") for segment in segments)

    def _same_origin(self, url: str) -> bool:
        mine, theirs = urlsplit(self.api_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    def _json_object(self, response: requests.Response) -> dict[str, Any]:
        body = _decode_json(response, doing=f"{response.request.method} {urlsplit(response.url).path}")
        if not isinstance(body, dict):
            raise NetlifyError(f"Netlify answered {urlsplit(response.url).path} with a {type(body).__name__}, "
                               "not an object; is VIBEDASH_NETLIFY_API_URL the API address (ending in /api/v1)?")
        return body

    def _send(self, call: _Call, *, gone_is_success_after_retry: bool = False) -> requests.Response:
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
                    self.rate_limit = _rate_limit_of(response) or self.rate_limit
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

    def _after_exception(self, call: _Call, exc: requests.RequestException, attempt: int,
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
        late = call.safety is _Safety.NOT_AFTER_TIMEOUT and isinstance(exc, requests.exceptions.ReadTimeout)
        retryable = ((never_sent or call.safety in (_Safety.IDEMPOTENT, _Safety.NOT_AFTER_TIMEOUT))
                     and not late
                     and isinstance(exc, _TRANSIENT_FAILURES)
                     and not isinstance(exc, requests.exceptions.SSLError)   # retrying will not fix TLS
                     and tally.read_timeouts <= _MAX_READ_TIMEOUT_RETRIES)
        return (self._backoff(attempt) if retryable else None), failure

    def _after_status(self, call: _Call, response: requests.Response, attempt: int,
                      tally: _Tally) -> tuple[float | None, NetlifyError]:
        """Like :meth:`_after_exception`, for an answer with a status of 300 or more."""
        status = response.status_code
        if status == 429:
            # Refused before any work was done, so even a build hook may be sent again.
            delay = _rate_limit_wait(response)
            retry_at = _retry_at(response, delay)
            if delay is None:
                delay = max(_MIN_RATE_LIMIT_WAIT_S, self._backoff(attempt))
            return delay, self._rate_limited(call, response, retry_at, delay)
        if status >= 500:
            tally.maybe_applied = True
            retryable = call.safety in (_Safety.IDEMPOTENT, _Safety.NOT_AFTER_TIMEOUT)   # it answered: done
            delay = _retry_after_seconds(response) or self._backoff(attempt)
            return (delay if retryable else None), self._server_error(call, response)
        return None, self._client_error(call, response)

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter, so several dashboard sessions hitting a hiccup do not retry in lockstep.
        return self.backoff_s * (2 ** attempt) * random.uniform(0.5, 1.0)

    # Error construction: every message names what we were doing and what the person can do about it.

    def _where(self, call: _Call) -> str:
        return call.display_url or urlsplit(call.url).path

    def _unavailable(self, call: _Call, reason: str, never_sent: bool) -> NetlifyUnavailable:
        if call.safety is _Safety.ONCE_ONLY and not never_sent:
            advice = ("The build may or may not have started: check the deploy list before triggering again "
                      "(a second trigger would start a second build).")
        elif never_sent:
            advice = "Nothing was sent; check the network or VIBEDASH_NETLIFY_API_URL and try again."
        else:
            advice = "Try again in a moment; https://www.netlifystatus.com shows Netlify's own incidents."
        return NetlifyUnavailable(self._redact(f"Netlify could not be reached while {call.doing} "
                                               f"({reason}). {advice}"))

    def _rate_limited(self, call: _Call, response: requests.Response, retry_at: datetime | None,
                      delay: float) -> NetlifyRateLimited:
        message = _netlify_message(response)
        when = (f"at {retry_at.strftime('%H:%M:%S')} UTC (in {math.ceil(delay)} s)" if retry_at
                else f"in about {math.ceil(delay)} s")
        return NetlifyRateLimited(self._redact(
            f"Netlify's rate limit is used up while {call.doing}"
            f"{f' ({message})' if message else ''}; it resets {when}. Try again then."),
            retry_at=retry_at, netlify_message=message)

    def _server_error(self, call: _Call, response: requests.Response) -> NetlifyUnavailable:
        message = _netlify_message(response)
        detail = _status_detail(response, message)
        if call.safety is _Safety.ONCE_ONLY:
            advice = ("The build may or may not have started: check the deploy list before triggering again "
                      "(a second trigger would start a second build).")
        else:
            advice = "Netlify is having trouble; try again in a few minutes (https://www.netlifystatus.com)."
        return NetlifyUnavailable(self._redact(f"Netlify failed while {call.doing} ({detail}). {advice}"),
                                  status=response.status_code, netlify_message=message)

    def _client_error(self, call: _Call, response: requests.Response) -> NetlifyError:
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


# ------------------------------------------------------------------------------------------------ helpers


def _new_session() -> requests.Session:
    session = requests.Session()
    # Retries live in NetlifyClient._send, where they can honour X-RateLimit-Reset, a total wait budget and
    # per-call safety. urllib3's own Retry must stay off (0, read=False is requests' default) so nothing is
    # retried twice or behind our back.
    adapter = HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _validated_base_url(api_url: str) -> str:
    parts = urlsplit((api_url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"Netlify API URL must look like {DEFAULT_API_URL}, not {api_url!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _require_id(value: str | None, what: str) -> str:
    cleaned = _optional_id(value)
    if not cleaned:
        raise ValueError(f"A Netlify {what} is needed (got {value!r}).")
    return cleaned


def _optional_id(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"Netlify ids are strings, not {type(value).__name__}")
    return value.strip() or None


def _redacted_hook_url(hook_url: str) -> str:
    parts = urlsplit((hook_url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("The build hook URL must look like https://api.netlify.com/build_hooks/<id> "
                         "(Site configuration > Build & deploy > Build hooks).")
    problem = token_problem(hook_url, "The build hook URL (VIBEDASH_BUILD_HOOK_URL)", what="URL")
    if problem:
        raise ValueError(problem)
    head, _, _ = parts.path.rstrip("/").rpartition("/")
    return f"{parts.scheme}://{parts.netloc}{head}/<hook id>"


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


def _decode_json(response: requests.Response, *, doing: str) -> Any:
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


def _header_float(response: requests.Response, name: str) -> float | None:
    raw = response.headers.get(name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _retry_after_seconds(response: requests.Response) -> float | None:
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
    retry_after = _retry_after_seconds(response)
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


def _rate_limit_of(response: requests.Response) -> RateLimit | None:
    limit = _header_float(response, "X-RateLimit-Limit")
    remaining = _header_float(response, "X-RateLimit-Remaining")
    reset = _header_float(response, "X-RateLimit-Reset")
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimit(limit=int(limit) if limit is not None else None,
                     remaining=int(remaining) if remaining is not None else None,
                     reset_at=datetime.fromtimestamp(reset, tz=UTC) if reset is not None else None)
