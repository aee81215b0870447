"""First stage of the sandbox, run as ``python -I -S -B -X utf8 _sandbox_launcher.py CONFIG_JSON``.

It runs in the child process, never in the app. It locks the process down and then replaces itself
(``execv``) with a fresh interpreter that installs the audit-hook guard (``_sandbox_guard.py``) and runs the
program. Doing the locking in a separate interpreter keeps ctypes, which the kernel calls need, out of the
process that runs untrusted code.

Layers, each on its own incomplete, together a sandbox that also holds native code (a shared object the
program manages to load, or ctypes reached some other way):
- namespaces (``_sandbox_namespaces``; when the config asks for them): this process unshares user (unless
  root), mount, PID, network, IPC and UTS namespaces and forks the program's process, PID 1 of the new PID
  namespace, so every descendant dies with it; the program sees a read-only root holding only the interpreter
  and its libraries, its work folder as a size-limited ``noexec`` tmpfs, no network, and runs as uid 65534
  with no capabilities. This process stays outside as the supervisor: it waits, passes the exit status on,
  and on SIGTERM (the app's timeout) kills the namespace;
- resource limits (inherited across exec): address space, CPU seconds, file size, open files, no core
  dumps, a few tasks (RLIMIT_NPROC: the main thread and ``threads`` more; the kernel exempts only the real
  root user, which the program never is when namespaces or a drop to ``nobody`` are available). Threads are
  allowed because contest programs recurse in one with a big stack; new processes are refused by seccomp and
  the audit hook, and on a machine without seccomp filters RLIMIT_NPROC still bounds how many there can be;
- Landlock (Linux >= 5.13, when the kernel offers it): reading only the Python installation and system
  libraries, writing only the work folder (nothing in the fallback), (ABI >= 4) no TCP, (ABI >= 6) no
  signals or abstract sockets outside the sandbox; the guard adds a layer that forbids every execve;
- seccomp (added by the guard, which starts as the exec'd interpreter): no new process, socket, exec,
  namespace, ptrace or signal to another process;
- the guard's audit hook: no fork/exec/spawn, no sockets, no ctypes, no file access outside those folders.
The parent adds a wall-clock timeout, a new session (the whole process group is killed), a scrubbed
environment and closed file descriptors.

Exit code 125 with a message on stderr means the sandbox itself could not be set up.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import sys

SETUP_FAILED_EXIT_CODE = 125

# Landlock ABI (include/uapi/linux/landlock.h); the syscall numbers are the same on every architecture.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1_ALL = (1 << 13) - 1  # execute .. make_sym
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_ONLY_ACCESS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is missing or disabled."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _handled_fs_access(abi: int) -> int:
    access = _FS_ABI1_ALL
    if abi >= 2:
        access |= _FS_REFER
    if abi >= 3:
        access |= _FS_TRUNCATE
    if abi >= 5:
        access |= _FS_IOCTL_DEV
    return access


def restrict_filesystem(abi: int, read_roots: list[str], write_roots: list[str]) -> None:
    """Landlock this process (and everything it execs): read and execute only under ``read_roots``, anything
    under ``write_roots``, nothing else; no TCP and no signals or abstract sockets outside, where the ABI
    allows. Raises OSError when the kernel refuses."""
    import ctypes

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                    ("scoped", ctypes.c_uint64)]

    class PathBeneathAttr(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> int:
        if result < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")
        return result

    handled = _handled_fs_access(abi)
    attr = RulesetAttr(handled_access_fs=handled,
                       handled_access_net=(_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0,
                       scoped=(_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    # Older kernels accept the larger struct as long as the fields they do not know are zero.
    ruleset_fd = check(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                                    ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        read_access = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        for roots, access in ((read_roots, read_access), (write_roots, handled)):
            for root in roots:
                try:
                    fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                try:
                    allowed = access & handled
                    if not os.path.isdir(root):
                        allowed &= _FILE_ONLY_ACCESS
                    rule = PathBeneathAttr(allowed_access=allowed, parent_fd=fd)
                    check(libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH),
                                       ctypes.byref(rule), ctypes.c_uint32(0)), f"landlock_add_rule {root}")
                finally:
                    os.close(fd)
        check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        check(libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset_fd)


def set_limits(memory_bytes: int, cpu_seconds: int, file_bytes: int, open_files: int, threads: int = 0) -> None:
    """Hard limits (soft = hard, so the program cannot raise them back)."""
    limits = [
        (resource.RLIMIT_AS, memory_bytes),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_FSIZE, file_bytes),
        (resource.RLIMIT_NOFILE, open_files),
        (resource.RLIMIT_CORE, 0),
        # The tasks of the program's user: its main thread and ``threads`` more. Binds every user but the real
        # root (namespaces drop the program to uid 65534). The kernel counts per user and user namespace: with
        # namespaces every run has a user namespace of its own, so concurrent runs do not share the count; the
        # fallback's ``nobody`` shares it with every other process of that user on the machine.
        (resource.RLIMIT_NPROC, 1 + max(0, threads)),
    ]
    for which, value in limits:
        resource.setrlimit(which, (value, value))


def _no_new_privileges() -> None:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def _lock_down(config: dict, write_roots: list[str]) -> None:
    if sys.platform == "linux":
        _no_new_privileges()
    if config["landlock_abi"] > 0:
        restrict_filesystem(config["landlock_abi"], [*config["read_roots"], config["workdir"]], write_roots)
    set_limits(config["memory_bytes"], config["cpu_seconds"], config["file_bytes"], config["open_files"],
               config.get("threads", 0))


def _exec_guard(config: dict, program_fd: int, writable_workdir: bool) -> None:
    guard_config = json.dumps({"workdir": config["workdir"], "read_roots": config["read_roots"],
                               "writable_workdir": writable_workdir, "landlock_abi": config["landlock_abi"]})
    os.execv(sys.executable, [sys.executable, "-I", "-B", "-X", "utf8", "-c", config["guard_source"],
                              str(program_fd), guard_config])


def _load_namespaces():
    """``_sandbox_namespaces`` from beside this file (``-I`` keeps this folder off sys.path)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_namespaces.py")
    spec = importlib.util.spec_from_file_location("_sandbox_namespaces", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fail(exc: BaseException) -> int:
    print(f"sandbox setup failed: {exc}", file=sys.stderr, flush=True)
    return SETUP_FAILED_EXIT_CODE


def _run_in_namespaces(config: dict, program_fd: int) -> int:
    namespaces = _load_namespaces()
    rootless = os.geteuid() != 0
    namespaces.die_with_parent()  # the app's thread that started us is gone: take the program down too
    namespaces.enter(rootless)
    child: list[int] = []

    def stop(signum, frame):  # the app's timeout: SIGKILL from outside reaches even a PID 1
        if child:
            os.kill(child[0], signal.SIGKILL)
        else:
            child.append(-signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    pid = os.fork()
    if pid == 0:
        exit_code = SETUP_FAILED_EXIT_CODE
        try:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            namespaces.die_with_parent()
            proc_dir = namespaces.build_root(config["new_root"], config["read_roots"], config["workdir"],
                                             rootless=rootless, disk_bytes=config["disk_bytes"],
                                             files=config["disk_files"])
            namespaces.become_unprivileged(rootless, proc_dir)
            namespaces.die_with_parent()  # a change of credentials clears it
            _lock_down(config, [config["workdir"]])
            _exec_guard(config, program_fd, writable_workdir=True)
        except BaseException as exc:  # noqa: BLE001 (a forked child must never return into the caller)
            exit_code = _fail(exc)
        finally:
            os._exit(exit_code)
    if child:  # stopped before the fork returned
        os.kill(pid, signal.SIGKILL)
    child[:] = [pid]
    # When the PID namespace's first process exits, the kernel kills and reaps everything else in it before
    # this wait returns: no descendant outlives the run.
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # die the same way, so the app reads the same verdict
        os._exit(128 + signum)
    os._exit(os.WEXITSTATUS(status))  # nothing to flush or finalize: skip the interpreter's shutdown


def _reachable_by_others(path: str) -> bool:
    """Whether a user with no relation to the file's owner can read it (and enter it, for a folder)."""
    path = os.path.realpath(path)
    mode = os.stat(path).st_mode
    if not mode & stat.S_IROTH or stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
        return False
    while path != "/":
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
    return True


def _drop_root_if_possible(needed: list[str]) -> bool:
    """Fallback only, as root: become ``nobody`` (which makes RLIMIT_NPROC bind) when ``nobody`` can still
    reach the interpreter and its libraries; an installation under /root (mode 0700) is out of its reach."""
    if not all(_reachable_by_others(path) for path in needed if os.path.exists(path)):
        return False
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
    return True


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    try:
        os.chdir(config["workdir"])
        program_fd = os.open(config["program"], os.O_RDONLY)
        os.set_inheritable(program_fd, True)
        if config["namespaces"]:
            return _run_in_namespaces(config, program_fd)
        # Fallback without namespaces: nothing could bound the folder's size or stop a shared object written
        # there from being loaded, so the program may not write at all (stricter, and weaker).
        if os.geteuid() == 0:
            _drop_root_if_possible([*config["read_roots"], sys.executable])
        _lock_down(config, [])
    except (OSError, ValueError) as exc:
        return _fail(exc)
    _exec_guard(config, program_fd, writable_workdir=False)
    return SETUP_FAILED_EXIT_CODE  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
