"""Is a math answer equivalent to the reference? Integers are compared directly; everything else goes to
math-verify in a long-lived worker process.

Why a process: math-verify enforces its timeouts with ``signal.alarm``, which only works on the main
thread (Streamlit runs pages elsewhere), and sympy can hang, which a thread cannot be stopped from doing. The
worker (``_math_worker``) is started on first use, answers one request at a time, and is killed and
restarted when a check runs past its wall-clock timeout.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vibedash.solve.answers import as_integer

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Equivalence:
    equal: bool | None  # None: could not be decided (timeout, worker error)
    how: str  # "integer", "math-verify", or why it could not be decided


class MathVerifier:
    """Thread-safe; one worker process shared by every caller of this instance. Call :meth:`close` when done
    (an atexit-safe no-op when the worker never started)."""

    def __init__(self, timeout_s: float = 20.0, startup_timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s  # wall clock per check, worker killed after it
        self._startup_timeout_s = startup_timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None

    def equivalent(self, gold: str, answer: str) -> Equivalence:
        gold_int, answer_int = as_integer(gold), as_integer(answer)
        if gold_int is not None and answer_int is not None:
            return Equivalence(gold_int == answer_int, "integer")  # AIME-style answers need no sympy
        with self._lock:
            try:
                process = self._ensure_started()
                reply = self._ask(process, {"gold": gold, "answer": answer}, self.timeout_s)
            except TimeoutError:
                self._stop()
                return Equivalence(None, f"math-verify took longer than {self.timeout_s:.0f} s")
            except (OSError, ValueError) as exc:
                self._stop()
                return Equivalence(None, f"math-verify worker failed: {exc}")
        if "error" in reply:
            return Equivalence(None, f"math-verify error: {reply['error']}")
        return Equivalence(bool(reply["equal"]), "math-verify")

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id while it runs (it starts on the first non-integer check)."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ensure_started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        env = {key: value for key, value in os.environ.items() if not key.startswith("VIBEDASH_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
        self._process = subprocess.Popen([sys.executable, "-m", "vibedash.solve._math_worker"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, env=env, close_fds=True)
        ready = self._read_reply(self._process, self._startup_timeout_s)
        if not ready.get("ready"):
            raise ValueError(f"unexpected first line {ready!r}")
        return self._process

    def _ask(self, process: subprocess.Popen[str], request: dict, timeout_s: float) -> dict:
        assert process.stdin is not None
        deadline = time.monotonic() + timeout_s  # the budget covers the whole exchange, the request's write too
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        return self._read_reply(process, deadline - time.monotonic())

    @staticmethod
    def _read_reply(process: subprocess.Popen[str], timeout_s: float) -> dict:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([process.stdout], [], [], remaining)
            if readable:
                line = process.stdout.readline()  # the worker writes whole lines and flushes
                if not line:
                    raise OSError(f"worker exited with code {process.wait()}")
                return json.loads(line)

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
