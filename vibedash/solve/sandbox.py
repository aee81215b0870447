"""Run a model-written Python program on one input, in a separate locked-down process.

Generated code never runs inside the app. Each run gets:
- a fresh ``python -I`` (no user site, no PYTHON* variables, the app's folders not on sys.path), started
  through ``_sandbox_launcher`` (namespaces, resource limits, Landlock when the kernel has it, then a guard
  that adds seccomp and an audit hook);
- its own user, mount, PID, network, IPC and UTS namespaces (``_sandbox_namespaces``): uid 65534 with no
  capabilities, a read-only root holding only the interpreter, a work folder that is a size-limited
  ``noexec`` tmpfs, no network at all, and every descendant killed when the program ends. Where the kernel
  forbids namespaces (some containers, locked-down user namespaces) runs fall back, with a warning logged
  once, to a stricter but weaker mode: the same limits minus the namespaces, a read-only work folder, and a
  sweep of leftover processes by their HOME;
- an empty temporary work directory as cwd, the only place it may write;
- a scrubbed environment (no VIBEDASH_DB_URL, no tokens: only PATH, LANG, HOME and TMPDIR);
- no inherited file descriptors except stdin, stdout and stderr, which are files the app owns, so a
  program that prints forever hits RLIMIT_FSIZE instead of filling the app's memory;
- a wall-clock timeout, after which the whole process group is killed (so are any stragglers after a
  normal exit);
- threads, up to ``SandboxLimits.threads`` (the common ``threading.stack_size(1 << 27)`` idiom for deep
  recursion works), but no new process.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vibedash.solve import _sandbox_launcher

_log = logging.getLogger(__name__)
_LAUNCHER = Path(_sandbox_launcher.__file__).resolve()
_GUARD = _LAUNCHER.with_name("_sandbox_guard.py")
# System folders the interpreter needs to start and to load extension modules' shared libraries.
_SYSTEM_READ_ROOTS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/usr/share/zoneinfo",
                      "/etc/ld.so.cache", "/etc/localtime", "/dev/null", "/dev/urandom", "/dev/zero")


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 6.0  # wall clock per run; LiveCodeBench uses 6 s per test
    memory_mb: int = 512  # address space, interpreter included
    output_mb: int = 8  # largest file the program may write, stdout included
    open_files: int = 64
    disk_mb: int = 64  # all of the work folder together (a tmpfs: it counts as memory while the run lasts)
    disk_files: int = 1024  # files and folders in the work folder
    # Threads besides the main one (RLIMIT_NPROC; new processes stay refused by seccomp and the audit hook):
    # contest programs recurse deeply in a thread with a big stack (threading.stack_size(1 << 27)).
    threads: int = 32
    namespaces: bool = True  # False: always the fallback (no namespaces, read-only work folder)


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None  # None when killed by the timeout
    stdout: str
    stderr: str
    timed_out: bool
    elapsed_s: float
    isolation: str  # what enforced the limits, e.g. "namespaces (...) + rlimits + landlock abi 7 + audit hook"

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.exit_code == 0

    @property
    def setup_failed(self) -> bool:
        return self.exit_code == _sandbox_launcher.SETUP_FAILED_EXIT_CODE and "sandbox setup failed" in self.stderr

    def failure(self) -> str | None:
        """Why the run failed, in a few words (None when it exited cleanly)."""
        if self.timed_out:
            return "timed out"
        if self.exit_code == 0:
            return None
        if self.exit_code is not None and self.exit_code < 0:
            name = signal.Signals(-self.exit_code).name if -self.exit_code in signal.valid_signals() else "?"
            reasons = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "output size limit", "SIGKILL": "killed",
                       "SIGSEGV": "crashed (memory limit?)"}
            return f"{reasons.get(name, 'killed by ' + name)} ({name})"
        last_line = self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ""
        if "MemoryError" in last_line:
            return "memory limit"
        if "[Errno 28]" in last_line:  # ENOSPC: the work folder (a size-limited tmpfs) is full
            return f"disk limit of the work folder ({last_line[:160]})"
        if "[Errno 27]" in last_line:  # EFBIG: one file (stdout included) reached RLIMIT_FSIZE
            return f"output size limit ({last_line[:160]})"
        return f"exit code {self.exit_code}" + (f": {last_line[:200]}" if last_line else "")


@functools.cache
def landlock_abi() -> int:
    """Landlock ABI of this kernel (0: unavailable); probed once, in a throwaway process so that the app
    never loads the syscall wrapper."""
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import _sandbox_launcher as l; print(l.landlock_abi())"
    try:
        done = subprocess.run([sys.executable, "-I", "-c", probe, str(_LAUNCHER.parent)], capture_output=True,
                              text=True, timeout=30, env=_scrubbed_environment("/"))
        return int(done.stdout.strip() or 0)
    except (OSError, ValueError, subprocess.SubprocessError):
        return 0


def isolation_summary(limits: SandboxLimits | None = None) -> str:
    """What isolates runs with these limits on this machine (probes the kernel once)."""
    return _describe(namespaces=(limits or SandboxLimits()).namespaces and namespace_support()[0])


def _describe(namespaces: bool) -> str:
    abi = landlock_abi() if sys.platform == "linux" else 0
    seccomp = sys.platform == "linux" and os.uname().machine in ("x86_64", "aarch64")
    kernel = "rlimits + " + (f"landlock abi {abi} + " if abi else "") + ("seccomp + " if seccomp else "") + "audit hook"
    if namespaces:
        return f"namespaces (user, pid, net, mount, ipc; uid 65534, noexec tmpfs work folder) + {kernel}"
    return f"fallback without namespaces (read-only work folder) + {kernel}"


@functools.cache
def namespace_support() -> tuple[bool, str]:
    """Whether runs get their own namespaces here, and if not why; probed once with a real run. Logs a warning
    the first time they cannot."""
    if sys.platform != "linux":
        supported, reason = False, f"namespaces are Linux only, this is {sys.platform}"
    else:
        probe = _run("import os\nprint(os.getuid(), os.getpid())", "", SandboxLimits(timeout_s=20), namespaces=True)
        supported = probe.ok and probe.stdout.split() == ["65534", "1"]
        reason = "" if supported else (probe.stderr.strip().splitlines() or [probe.failure() or "?"])[-1][:300]
    if not supported:
        _log.warning("vibedash sandbox: namespaces unavailable (%s); generated programs run without their own "
                     "PID, network and mount namespaces, with a read-only work folder. Allow unprivileged user "
                     "namespaces (or run the app as root, outside a seccomp-filtered container) to restore them.",
                     reason)
    return supported, reason


@functools.cache
def _python_read_roots() -> tuple[str, ...]:
    roots: set[str] = set()
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        roots.add(os.path.realpath(prefix))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path))
    roots.add(os.path.dirname(os.path.realpath(sys.executable)))
    return tuple(sorted(roots)) + tuple(root for root in _SYSTEM_READ_ROOTS if os.path.exists(root))


def _scrubbed_environment(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home, "OMP_NUM_THREADS": "1"}


def run_python(source: str, stdin: str = "", limits: SandboxLimits | None = None) -> SandboxResult:
    """Run ``source`` as a Python program with ``stdin`` as its input; never raises for the program's faults."""
    limits = limits or SandboxLimits()
    namespaces = limits.namespaces and namespace_support()[0]
    return _run(source, stdin, limits, namespaces=namespaces)


def _run(source: str, stdin: str, limits: SandboxLimits, *, namespaces: bool) -> SandboxResult:
    base = Path(tempfile.mkdtemp(prefix="vibedash-sandbox-"))
    try:
        io_dir, workdir, new_root = base / "io", base / "work", base / "root"
        io_dir.mkdir(mode=0o700)
        workdir.mkdir()
        new_root.mkdir()
        # The fallback may run the program as nobody: it must reach (and only read) its work folder.
        base.chmod(0o711)
        workdir.chmod(0o755)
        program = io_dir / "main.py"
        program.write_text(source, encoding="utf-8")
        (io_dir / "stdin").write_text(stdin, encoding="utf-8")
        abi = landlock_abi() if sys.platform == "linux" else 0
        config = {
            "workdir": str(workdir), "program": str(program), "guard_source": _GUARD.read_text(encoding="utf-8"),
            "landlock_abi": abi, "read_roots": list(_python_read_roots()),
            "memory_bytes": limits.memory_mb * 1024 * 1024, "cpu_seconds": int(limits.timeout_s) + 1,
            "file_bytes": limits.output_mb * 1024 * 1024, "open_files": limits.open_files,
            "namespaces": namespaces, "new_root": str(new_root), "disk_bytes": limits.disk_mb * 1024 * 1024,
            "disk_files": limits.disk_files, "threads": limits.threads,
        }
        # -S: the launcher needs only the standard library, so it skips site-packages' .pth files (their code
        # runs at every interpreter start); the program's interpreter keeps them, and site's exit() and quit().
        command = [sys.executable, "-I", "-S", "-B", "-X", "utf8", str(_LAUNCHER), json.dumps(config)]
        started = time.monotonic()
        with open(io_dir / "stdin", "rb") as stdin_file, open(io_dir / "stdout", "wb") as stdout_file, \
                open(io_dir / "stderr", "wb") as stderr_file:
            process = subprocess.Popen(command, stdin=stdin_file, stdout=stdout_file, stderr=stderr_file,
                                       cwd=workdir, env=_scrubbed_environment(str(workdir)), close_fds=True,
                                       start_new_session=True)
            timed_out = False
            try:
                exit_code: int | None = process.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out, exit_code = True, None
                if namespaces:  # the launcher kills the namespace's first process, and with it every other
                    with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                        process.send_signal(signal.SIGTERM)
                        process.wait(timeout=5)
            finally:
                _kill_group(process)
                if not namespaces:
                    _sweep_marked_processes(f"HOME={workdir}".encode())
        elapsed = time.monotonic() - started
        return SandboxResult(exit_code=exit_code, stdout=_read_text(io_dir / "stdout"),
                             stderr=_read_text(io_dir / "stderr"), timed_out=timed_out, elapsed_s=elapsed,
                             isolation=_describe(namespaces))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _kill_group(process: subprocess.Popen) -> None:
    # The launcher ran in its own session: its process group id is its pid. Kill everything left in it (with
    # namespaces, nothing is: the kernel has already killed the PID namespace; this is the fallback's sweep).
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left to kill
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def processes_marked(marker: bytes) -> list[int]:
    """The processes whose environment holds ``marker`` (``HOME=<work folder>``: every process of a run, and
    every process it starts, has its own work folder as HOME, a path no other process has)."""
    if not os.path.isdir("/proc"):
        return []
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                environment = handle.read().split(b"\0")
        except OSError:  # gone, or not ours to read (then not ours to kill either)
            continue
        if marker in environment:
            found.append(int(entry.name))
    return found


def _sweep_marked_processes(marker: bytes) -> None:
    """Fallback sweep for processes that left the process group (setsid)."""
    for pid in processes_marked(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _read_text(path: Path, limit: int = 1 << 20) -> str:
    with open(path, "rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")
