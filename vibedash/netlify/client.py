"""A small, careful client for the parts of Netlify's REST API the dashboard uses.

It speaks the official API (https://api.netlify.com/api/v1, spec in tests/fixtures/netlify-openapi.yml) and
the token-less build hook URLs. What it adds over bare ``requests``:

- every call has connect and read timeouts;
- retries with backoff on 429 and 5xx, waiting for ``X-RateLimit-Reset`` (Unix seconds) or ``Retry-After``,
  but never longer in total than ``max_wait_s``: a page must not hang, so a longer rate-limit wait becomes a
  :class:`NetlifyRateLimited` right away, saying when to try again;
- retries on broken connections only where repeating the request cannot do harm (see
  :class:`vibedash.netlify.transport.Safety`);
- errors a person can act on (``str(error)`` is a full sentence with Netlify's own message), and the token
  appears in none of them, nor in ``repr(client)``.

One client owns one ``requests.Session``. requests never promised that a Session is thread-safe, so give each
thread (each Streamlit session) its own client.

Layers: :mod:`vibedash.netlify.errors` (the errors), :mod:`vibedash.netlify.rate_limits` (reading the rate
limit), :mod:`vibedash.netlify.transport` (sending, retrying, failing clearly) and this module (the API calls).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from vibedash.netlify.errors import (
    InvalidToken,
    NetlifyAuthError,
    NetlifyError,
    NetlifyNotFound,
    NetlifyRateLimited,
    NetlifyRequestError,
    NetlifyUnavailable,
)
from vibedash.netlify.rate_limits import RateLimit
from vibedash.netlify.transport import (
    USER_AGENT,
    Call,
    RetryingTransport,
    Safety,
    decode_json,
    new_session,
)
from vibedash.redact import hook_id_of, register_secret, token_problem

__all__ = ["DEFAULT_API_URL", "MAX_PER_PAGE", "USER_AGENT", "InvalidToken", "NetlifyAuthError", "NetlifyClient",
           "NetlifyError", "NetlifyNotFound", "NetlifyRateLimited", "NetlifyRequestError", "NetlifyUnavailable",
           "RateLimit"]

DEFAULT_API_URL = "https://api.netlify.com/api/v1"
MAX_PER_PAGE = 100  # Netlify's documented page-size ceiling; larger values are silently cut to it.


class NetlifyClient(RetryingTransport):
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
        self._session = session if session is not None else new_session()

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
        return self._json_object(self._send(Call(
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
            response = self._send(Call("GET", url, params=params, doing=f"listing deploys of site {site}",
                                        missing=f"site {site}"))
            items = decode_json(response, doing=f"listing deploys of site {site}")
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
        return self._json_object(self._send(Call(
            "GET", self._api("deploys", deploy), doing=f"reading deploy {deploy}", missing=f"deploy {deploy}")))

    def restore_deploy(self, deploy_id: str, site_id: str | None = None) -> dict[str, Any]:
        """Publish an existing deploy (Netlify's "Publish deploy": no rebuild). Returns the deploy.

        Whether a restore keeps or clears a lock is not documented: read ``get_site()['published_deploy']``
        afterwards and lock again if the site should stay pinned.
        """
        site, deploy = self._site(site_id), _require_id(deploy_id, "deploy id")
        return self._json_object(self._send(Call(
            "POST", self._api("sites", site, "deploys", deploy, "restore"), safety=Safety.NOT_AFTER_TIMEOUT,
            doing=f"publishing deploy {deploy}", missing=f"deploy {deploy} of site {site}")))

    def lock_deploy(self, deploy_id: str) -> dict[str, Any]:
        """Stop auto publishing: the site stays on this (published) deploy until unlocked."""
        deploy = _require_id(deploy_id, "deploy id")
        return self._json_object(self._send(Call(
            "POST", self._api("deploys", deploy, "lock"), doing=f"locking deploy {deploy}",
            missing=f"deploy {deploy}")))

    def unlock_deploy(self, deploy_id: str) -> dict[str, Any]:
        """Start auto publishing again (new production deploys go live as they finish)."""
        deploy = _require_id(deploy_id, "deploy id")
        return self._json_object(self._send(Call(
            "POST", self._api("deploys", deploy, "unlock"), doing=f"unlocking deploy {deploy}",
            missing=f"deploy {deploy}")))

    def delete_deploy(self, deploy_id: str, site_id: str | None = None) -> None:
        """Delete a deploy for good (it can no longer be published).

        Scoped to the site when one is known, so a mistyped id cannot delete another site's deploy.
        """
        deploy = _require_id(deploy_id, "deploy id")
        site = _optional_id(site_id) or self.site_id
        url = self._api("sites", site, "deploys", deploy) if site else self._api("deploys", deploy)
        self._send(Call("DELETE", url, doing=f"deleting deploy {deploy}", missing=f"deploy {deploy}"),
                   gone_is_success_after_retry=True)

    # ----------------------------------------------------------------------------------------- build hooks

    def list_build_hooks(self, site_id: str | None = None) -> list[dict[str, Any]]:
        site = self._site(site_id)
        response = self._send(Call("GET", self._api("sites", site, "build_hooks"),
                                    doing=f"listing build hooks of site {site}", missing=f"site {site}"))
        hooks = decode_json(response, doing=f"listing build hooks of site {site}")
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
        self._send(Call("POST", hook_url.strip(), params=params or None,
                         data=payload.encode("utf-8") if payload is not None else b"",
                         content_type="text/plain; charset=utf-8", safety=Safety.ONCE_ONLY,
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
        body = decode_json(response, doing=f"{response.request.method} {urlsplit(response.url).path}")
        if not isinstance(body, dict):
            raise NetlifyError(f"Netlify answered {urlsplit(response.url).path} with a {type(body).__name__}, "
                               "not an object; is VIBEDASH_NETLIFY_API_URL the API address (ending in /api/v1)?")
        return body


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
