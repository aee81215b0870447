"""How the simulator answers an API request: the route table (each route names the spec path it implements
and the handler that serves it), the reply and error types, and the query and paging rules handlers share."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from vibedash.netlify.simulator.records import MAX_PER_PAGE


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Reply:
    status: int
    body: Any = None                      # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    template: str                         # spec path, relative to basePath
    handler: str                          # NetlifyApi method name

    def pattern(self) -> str:
        parts = []
        for piece in self.template.strip("/").split("/"):
            parts.append(f"(?P<{piece[1:-1]}>[^/]+)" if piece.startswith("{") else piece)
        return "^/" + "/".join(parts) + "/?$"


# Every API route, with the spec path it implements (tests check each against the spec).
API_ROUTES: tuple[Route, ...] = (
    Route("GET", "/sites", "_list_sites"),
    Route("GET", "/sites/{site_id}", "_get_site"),
    Route("GET", "/sites/{site_id}/deploys", "_list_site_deploys"),
    Route("GET", "/sites/{site_id}/deploys/{deploy_id}", "_get_site_deploy"),
    Route("DELETE", "/sites/{site_id}/deploys/{deploy_id}", "_delete_site_deploy"),
    Route("POST", "/sites/{site_id}/deploys/{deploy_id}/restore", "_restore_site_deploy"),
    Route("GET", "/deploys/{deploy_id}", "_get_deploy"),
    Route("DELETE", "/deploys/{deploy_id}", "_delete_deploy"),
    Route("POST", "/deploys/{deploy_id}/lock", "_lock_deploy"),
    Route("POST", "/deploys/{deploy_id}/unlock", "_unlock_deploy"),
    Route("GET", "/sites/{site_id}/build_hooks", "_list_build_hooks"),
    Route("POST", "/sites/{site_id}/build_hooks", "_create_build_hook"),
    Route("GET", "/sites/{site_id}/build_hooks/{id}", "_get_build_hook"),
    Route("DELETE", "/sites/{site_id}/build_hooks/{id}", "_delete_build_hook"),
)

COMPILED_ROUTES = [(route, re.compile(route.pattern())) for route in API_ROUTES]


def guarded(action: Callable[[], Reply]) -> Reply:
    try:
        return action()
    except ApiError as exc:
        return error_reply(exc.status, exc.message)


def error_reply(status: int, message: str) -> Reply:
    return Reply(status, {"code": status, "message": message})


def query_int(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(422, f"{name} must be a whole number, not {raw!r}") from None


def query_bool(query: dict[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "1", ""):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiError(422, f"{name} must be true or false, not {raw!r}")


def paged(items: list[Any], render: Callable[[Any], dict[str, Any]], query: dict[str, str],
          link_base: str) -> Reply:
    """One page of ``items``, as Netlify pages: ``page`` and ``per_page`` (at most 100), ``Link`` headers."""
    page = query_int(query, "page", 1)
    per_page = min(query_int(query, "per_page", MAX_PER_PAGE), MAX_PER_PAGE)
    if page < 1 or per_page < 1:
        raise ApiError(422, "page and per_page must be at least 1")
    last = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    keep = {k: v for k, v in query.items() if k not in ("page", "per_page")}

    def link(number: int, rel: str) -> str:
        return f'<{link_base}?{urlencode({**keep, "page": number, "per_page": per_page})}>; rel="{rel}"'

    links = []
    if page < last:
        links.append(link(page + 1, "next"))
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    links.append(link(last, "last"))
    return Reply(200, [render(item) for item in chunk], {"Link": ", ".join(links)})
