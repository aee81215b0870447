"""Faults the simulator can inject into the next matching requests, and the error answers they give."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vibedash.netlify.simulator.api_answers import Reply, error_reply
from vibedash.netlify.simulator.records import DEFAULT_RATE_LIMIT_PER_MINUTE

FAULT_KINDS = ("429", "500", "503", "slow", "drop", "transient-404", "stale", "interleave")
# Kinds that may act on the request before failing it (the change happens, the answer says otherwise).
_AFTER_HANDLING_KINDS = ("500", "503", "slow", "drop")


@dataclass
class Fault:
    kind: str
    remaining: int
    path_contains: str | None
    method: str | None
    reset_in: float = 1.0                 # 429: X-RateLimit-Reset this many seconds ahead
    retry_after: float | None = None      # Retry-After seconds (None: header left out)
    seconds: float = 1.0                  # slow: delay before answering
    after_handling: bool = False          # act on the request first, then fail (answer lost or misleading)
    message: str | None = None
    after_path: str | None = None         # armed only once a request whose path contains this was handled
    armed: bool = True
    action: Callable[[Any], None] | None = None   # interleave: what another actor does to the simulator

    def matches(self, method: str, target: str) -> bool:
        if self.kind == "stale" and method != "GET":   # only a read can be answered from a stale cache
            return False
        return (self.remaining > 0 and self.armed and (self.method is None or self.method == method)
                and (self.path_contains is None or self.path_contains in target))


def new_fault(kind: str, count: int, path_contains: str | None, opts: dict[str, Any]) -> Fault:
    """The fault :meth:`NetlifySimulator.inject` describes, or ValueError saying what is wrong with it."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
    if count < 1:
        raise ValueError("count must be at least 1")
    allowed = {"reset_in", "retry_after", "seconds", "after_handling", "message", "method", "after_path",
               "action"}
    unknown = set(opts) - allowed
    if unknown:
        raise ValueError(f"unknown fault options {sorted(unknown)}; use {sorted(allowed)}")
    if opts.get("after_handling") and kind not in _AFTER_HANDLING_KINDS + ("interleave",):
        raise ValueError(f"after_handling applies to {', '.join(_AFTER_HANDLING_KINDS)} and interleave, "
                         f"not {kind!r} (a 429 means nothing was done)")
    if (kind == "interleave") != callable(opts.get("action")):
        raise ValueError("an interleave fault needs action=callable(simulator), and only it takes one")
    opts["armed"] = opts.get("after_path") is None
    method = opts.pop("method", None)
    if kind == "429":
        opts.setdefault("reset_in", 1.0)
        opts.setdefault("retry_after", opts["reset_in"])
    return Fault(kind=kind, remaining=count, path_contains=path_contains, method=method.upper() if method else None,
                 **opts)


def fault_reply(fault: Fault) -> Reply:
    """The error answer of a 429, 500, 503 or transient-404 fault."""
    status = 404 if fault.kind == "transient-404" else int(fault.kind)
    messages = {429: "API rate limit exceeded", 500: "Internal Server Error", 503: "Service Unavailable",
                404: "Not Found"}
    reply = error_reply(status, fault.message or messages[status])
    if status == 429:
        reply.headers.update({"X-RateLimit-Limit": str(DEFAULT_RATE_LIMIT_PER_MINUTE),
                              "X-RateLimit-Remaining": "0",
                              "X-RateLimit-Reset": str(math.ceil(time.time() + fault.reset_in))})
    if fault.retry_after is not None:
        reply.headers["Retry-After"] = str(math.ceil(fault.retry_after))
    return reply
