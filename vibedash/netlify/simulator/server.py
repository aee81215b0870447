"""NetlifySimulator: the simulated Netlify served over real HTTP on loopback, with its request log and the
faults tests inject into the next matching requests."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from vibedash.netlify.simulator.api import NetlifyApi
from vibedash.netlify.simulator.api_answers import Reply, error_reply
from vibedash.netlify.simulator.faults import Fault, fault_reply, new_fault
from vibedash.netlify.simulator.http_front import make_server
from vibedash.netlify.simulator.records import (
    API_PREFIX,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    HOOK_PREFIX,
    LoggedRequest,
)


class NetlifySimulator(NetlifyApi):
    """A thread-safe, in-memory Netlify with a real HTTP front end on ``host:port``."""

    def __init__(self, port: int = 0, token: str = "test-token", *, host: str = "127.0.0.1",
                 build_seconds: float = 0.0, rate_limit_per_minute: int | None = DEFAULT_RATE_LIMIT_PER_MINUTE,
                 restore_keeps_lock: bool = True, echo: Callable[[str], None] | None = None) -> None:
        """``build_seconds``: how long a hook-triggered build stays "building" (0: ready at once).

        ``restore_keeps_lock``: Simulator choice for a point Netlify does not document: when a locked site
        publishes another deploy through restore, the site stays locked (the newly published deploy is the
        pinned one). False models the older docs' "publishing a deploy unlocks".
        """
        if not token:
            raise ValueError("the simulator needs a token to check bearer auth against")
        super().__init__(token=token, build_seconds=build_seconds, rate_limit_per_minute=rate_limit_per_minute,
                         restore_keeps_lock=restore_keeps_lock)
        self._echo = echo
        self._stopping = threading.Event()
        self._log: list[LoggedRequest] = []
        self._faults: list[Fault] = []
        self._last_answers: dict[str, Reply] = {}   # latest 200 answer per GET path
        self._stale_answers: dict[str, Reply] = {}  # the answer before it: what a "stale" fault serves
        self.internal_errors: list[str] = []
        self._server = make_server(host, port, self)
        self._thread: threading.Thread | None = None
        self.host = host
        self.port: int = self._server.server_address[1]

    # ---------------------------------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def hook_base(self) -> str:
        return self.base_url + HOOK_PREFIX.rstrip("/")

    def start(self) -> NetlifySimulator:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="netlify-sim", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()   # wakes requests sleeping in a "slow" fault
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> NetlifySimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        """Serve in the calling thread until Ctrl-C, then close the socket."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._stopping.set()
            self._server.server_close()

    # -------------------------------------------------------------------------------------------- faults

    def inject(self, kind: str, count: int = 1, path_contains: str | None = None, **opts: Any) -> None:
        """Make the next ``count`` requests whose path contains ``path_contains`` fail in a chosen way.

        Kinds: "429" (opts ``reset_in`` seconds for X-RateLimit-Reset, default 1; ``retry_after`` seconds,
        default ``reset_in``, None leaves the header out), "500", "503" (opts ``message``, ``retry_after``),
        "slow" (opt ``seconds``, then answered normally),
        "drop" (close the connection with no answer),
        "transient-404" (a 404 for something that exists, as a lagging replica may answer),
        "stale" (a GET answered with the previous answer this path got, as a stale cache would: a read-back
        that lies; answered normally when the path has no earlier answer),
        "interleave" (opt ``action``, a callable taking the simulator: another actor acts just before the
        request is handled, or just after it with ``after_handling=True``; the request is then served).
        ``after_handling=True`` on "500", "503", "slow" and "drop" acts on the request first: the change
        happens, but the answer is an error, comes too late, or never comes. Opt ``method`` limits the fault to
        one HTTP method; opt ``after_path`` arms it only once a request whose path contains that text has been
        handled (e.g. a stale read-back of the site only after the restore).
        """
        fault = new_fault(kind, count, path_contains, opts)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------------------------------ the log

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def record_request(self, method: str, target: str, status: int) -> None:
        """Log a request as answered (status 0: dropped without an answer); the CLI echoes it."""
        with self._lock:
            self._log.append(LoggedRequest(method, target, status))
        if self._echo is not None:
            self._echo(f"{method} {target} -> {status or 'dropped'}")

    # --------------------------------------------------------------------------------- answering requests

    def respond(self, method: str, target: str, headers: Any, body: bytes) -> Reply | None:
        """The answer to one request with the next matching fault applied; None: drop the connection unanswered."""
        fault = self._take_fault(method, target)
        if fault is not None and fault.kind == "interleave":
            # Another actor acts around this request, which is then served normally.
            if not fault.after_handling:
                with self._lock:
                    fault.action(self)
            reply = self._answer_safely(method, target, headers, body)
            if fault.after_handling:
                with self._lock:
                    fault.action(self)
            return reply
        if fault is not None and fault.kind == "stale" and method == "GET":
            stale = self._stale_answer(target)
            return stale if stale is not None else self._answer_safely(method, target, headers, body)
        handled = None
        if fault is not None and fault.after_handling:
            handled = self._answer_safely(method, target, headers, body)   # the change happens...
        if fault is not None and fault.kind == "slow":
            self._stopping.wait(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "drop":
            return None                                                    # ...but its answer is lost
        if fault is not None:
            reply = fault_reply(fault)
            if target.startswith(API_PREFIX):   # every API answer carries the rate-limit headers
                reply.headers = {**self._rate_headers(), **reply.headers}
            return reply
        return handled or self._answer_safely(method, target, headers, body)

    def _answer_safely(self, method: str, target: str, headers: Any, body: bytes) -> Reply:
        try:
            reply = self._remember_answer(method, target, self._handle(method, target, headers, body))
            self._arm_faults(target)
            return reply
        except Exception:  # a simulator bug: answer 500 and keep it visible to tests
            details = traceback.format_exc()
            with self._lock:
                self.internal_errors.append(details)
            print(details, file=sys.stderr)
            return error_reply(500, "simulator bug; see its standard error")

    def _arm_faults(self, target: str) -> None:
        """A request was handled: arm the faults waiting for it (``after_path``)."""
        with self._lock:
            for fault in self._faults:
                if not fault.armed and fault.after_path is not None and fault.after_path in target:
                    fault.armed = True

    def _remember_answer(self, method: str, target: str, reply: Reply) -> Reply:
        if method == "GET" and reply.status == 200:
            with self._lock:
                previous = self._last_answers.get(target)
                self._last_answers[target] = reply
                # "stale" serves the answer before the latest: keep it one step behind.
                self._stale_answers[target] = previous or reply
        return reply

    def _stale_answer(self, target: str) -> Reply | None:
        with self._lock:
            return self._stale_answers.get(target)

    def _take_fault(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, target):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
            return None
