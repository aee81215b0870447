"""Second stage of the sandbox: passed as ``python -I -B -X utf8 -c <this source> PROGRAM_FD CONFIG_JSON``.

First adds the kernel rules the launcher could not (it had to exec this interpreter): a Landlock layer that
forbids every further execve, and a seccomp filter against new processes, sockets, exec, namespaces and
ptrace; native code that got past everything else still cannot exec a fresh interpreter without this guard,
start a process or open a socket. Then installs an audit hook (PEP 578) that refuses process creation,
signals, sockets, ctypes, databases, tracing, and file access outside the work directory (write) or the
Python installation (read), then runs the program read from PROGRAM_FD as ``__main__``.

An audit hook cannot be removed once installed, but Python's documentation is clear that it is not a
security boundary on its own. So the hook keeps everything it relies on in its closure (captured builtins,
pure string path checks, no module globals a program could patch), refuses the tools that could reach it
(ctypes, gc introspection, trace and profile functions), and the launcher puts namespaces, Landlock and resource
limits underneath.

This file is never imported by the app; it must stay self-contained.
"""

import json
import os
import sys

# seccomp: per architecture, its audit id and the syscalls the filter answers itself (fork and vfork exist on
# x86-64 only; arm64 forks through clone). Numbers from the kernel's syscall tables.
_SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, {"socket": 41, "socketpair": 53, "clone": 56, "fork": 57, "vfork": 58, "execve": 59,
                            "ptrace": 101, "unshare": 272, "setns": 308, "execveat": 322, "clone3": 435,
                            "kill": 62, "tkill": 200, "tgkill": 234, "pidfd_send_signal": 424,
                            "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
                            "bpf": 321, "perf_event_open": 298, "io_uring_setup": 425, "io_uring_enter": 426,
                            "io_uring_register": 427}),
    "aarch64": (0xC00000B7, {"socket": 198, "socketpair": 199, "clone": 220, "execve": 221, "ptrace": 117,
                             "unshare": 97, "setns": 268, "execveat": 281, "clone3": 435,
                             "kill": 129, "tkill": 130, "tgkill": 131, "pidfd_send_signal": 424,
                             "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
                             "bpf": 280, "perf_event_open": 241, "io_uring_setup": 425, "io_uring_enter": 426,
                             "io_uring_register": 427}),
}
_EPERM, _EAGAIN, _EACCES, _ENOSYS = 1, 11, 13, 38
_NAMESPACE_FLAGS = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00020000


def _seccomp_program(arch_id, numbers, own_pid):
    """A classic-BPF seccomp filter: threads yes, new processes no (EAGAIN), no sockets (nor io_uring), no
    exec, no namespaces, no ptrace or other process's memory, signals only to itself; any other ABI (i386
    via int 0x80, x32) is refused."""
    ld_w_abs, jeq_k, jset_k, jge_k, ret_k = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, errno_base = 0x7FFF0000, 0x00050000
    verdicts = [("socket", _EACCES), ("socketpair", _EACCES), ("fork", _EAGAIN), ("vfork", _EAGAIN),
                ("execve", _EACCES), ("execveat", _EACCES), ("ptrace", _EPERM), ("unshare", _EPERM),
                ("setns", _EPERM), ("clone3", _ENOSYS),  # glibc falls back to clone for threads on ENOSYS
                ("tkill", _EPERM), ("pidfd_send_signal", _EPERM),
                # another process's memory or descriptors; io_uring (it opens sockets without the socket
                # syscall); kernel programs and performance counters
                ("process_vm_readv", _EPERM), ("process_vm_writev", _EPERM), ("kcmp", _EPERM),
                ("pidfd_getfd", _EPERM), ("io_uring_setup", _ENOSYS), ("io_uring_enter", _ENOSYS),
                ("io_uring_register", _ENOSYS), ("bpf", _EPERM), ("perf_event_open", _EPERM)]
    verdicts = [(numbers[name], errno) for name, errno in verdicts if name in numbers]
    program = [(ld_w_abs, 0, 0, 4), (jeq_k, 1, 0, arch_id), (ret_k, 0, 0, errno_base | _EPERM),
               (ld_w_abs, 0, 0, 0), (jge_k, 0, 1, 0x40000000), (ret_k, 0, 0, errno_base | _EPERM)]
    for number, errno in verdicts:
        program += [(jeq_k, 0, 1, number), (ret_k, 0, 0, errno_base | errno)]
    # kill and tgkill: only this process (pid 0 is its own group; raise() and pthread_kill() use tgkill).
    for name in ("kill", "tgkill"):
        program += [(jeq_k, 0, 5, numbers[name]), (ld_w_abs, 0, 0, 16), (jeq_k, 2, 0, own_pid), (jeq_k, 1, 0, 0),
                    (ret_k, 0, 0, errno_base | _EPERM), (ret_k, 0, 0, allow)]
    # clone: only with CLONE_THREAD (a thread of this process) and no namespace flag.
    program += [(jeq_k, 0, 5, numbers["clone"]), (ld_w_abs, 0, 0, 16), (jset_k, 0, 2, 0x00010000),
                (jset_k, 1, 0, _NAMESPACE_FLAGS), (ret_k, 0, 0, allow), (ret_k, 0, 0, errno_base | _EAGAIN),
                (ret_k, 0, 0, allow)]
    return program


def _seal_kernel(landlock_abi, machine):
    """Kernel rules the launcher could not set, because it had to exec this interpreter first:
    - a Landlock layer handling only the execute right and granting it nowhere: execve fails from now on;
    - a seccomp filter (x86-64 and arm64): no new process, socket, exec, namespace, ptrace or signal to
      another process, whatever the namespaces, the user or the Landlock ABI; threads stay possible where
      RLIMIT_NPROC allows them.
    So native code that got past everything else still cannot exec an interpreter without this guard, reach
    a socket, or start a process. ctypes is loaded for this and unloaded again before the hook goes in; the
    hook refuses importing it and every foreign call (``ctypes.call_function``), so what is left of it in
    memory is of no use."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if landlock_abi > 0:
        attr = (ctypes.c_uint64 * 3)(1, 0, 0)  # handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE, nothing else
        # Older kernels accept the larger struct as long as the fields they do not know are zero.
        ruleset = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
        if ruleset < 0:
            raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
        try:
            if libc.syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
                raise OSError(ctypes.get_errno(), "landlock_restrict_self")
        finally:
            os.close(ruleset)
    if machine in _SECCOMP_ARCHES:
        class SockFilter(ctypes.Structure):
            _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                        ("k", ctypes.c_uint32)]

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]

        instructions = _seccomp_program(*_SECCOMP_ARCHES[machine], os.getpid())
        filters = (SockFilter * len(instructions))(*[SockFilter(*instruction) for instruction in instructions])
        program = SockFprog(len(instructions), filters)
        # PR_SET_SECCOMP, SECCOMP_MODE_FILTER; no_new_privs is already set by the launcher.
        if libc.prctl(22, 2, ctypes.byref(program), 0, 0) != 0 and ctypes.get_errno() != 22:
            # EINVAL: a kernel built without seccomp filters; the other layers still stand
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    for name in [name for name in sys.modules if name in ("ctypes", "_ctypes") or name.startswith("ctypes.")]:
        del sys.modules[name]


def _install_guard(workdir, read_roots, writable_workdir):
    forbidden_events = frozenset({
        "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "subprocess.Popen",
        "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn",
        "socket.__new__", "socket.bind", "socket.connect", "socket.getaddrinfo", "socket.sendto",
        "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function",
        "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames",
        "sys.settrace", "sys.setprofile", "sys.addaudithook",
        "sqlite3.connect", "sqlite3.enable_load_extension",
        "os.chroot", "os.setuid", "os.setgid", "os.chown", "os.chflags", "os.lchflags",
    })
    forbidden_modules = frozenset({"ctypes", "_ctypes", "_posixsubprocess", "_multiprocessing", "_posixshmem",
                                   "_gdbm", "_dbm", "_sqlite3", "_ssl", "_socket"})
    # Events whose first arguments (one or two) are paths the program changes or lists.
    write_path_events = {"os.mkdir": 1, "os.remove": 1, "os.rmdir": 1, "os.rename": 2, "os.symlink": 2,
                         "os.link": 2, "os.chmod": 1, "os.truncate": 1, "os.utime": 1, "shutil.rmtree": 1,
                         "shutil.move": 2, "shutil.copyfile": 2, "shutil.copytree": 2, "os.chdir": 1}
    read_path_events = {"os.listdir": 1, "os.scandir": 1, "glob.glob": 1}
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    directory_flag = os.O_DIRECTORY
    # Captured now: the program may rebind these names in their modules or in builtins, but cannot reach this
    # closure. Everything below uses only these, closures, and methods of built-in types (which cannot be patched).
    stat, s_isdir = os.stat, __import__("stat").S_ISDIR  # C functions
    type_of, str_type, bytes_type, int_type, bool_type = type, str, bytes, int, bool
    permission_error, os_error = PermissionError, OSError

    class ImportRefused(ImportError):
        """Refusing ctypes: an ImportError, so libraries that import it optionally (numpy does) still load."""

    ImportRefused.__module__, ImportRefused.__qualname__ = "builtins", "ImportError"  # reads as ImportError
    write_roots = (workdir,) if writable_workdir else ()
    readable_roots = (workdir, *read_roots)

    def normalize(path):
        # Pure string normalisation (no symlink resolution, which would call patchable Python code);
        # symlinks pointing outside cannot be made: os.symlink's target is checked like a write.
        if not path.startswith("/"):
            path = workdir + "/" + path
        parts = []
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return "/" + "/".join(parts)

    def within(path, roots):
        for root in roots:  # noqa: SIM110 (a plain loop: the builtin any() could be rebound by the program)
            if path == root or path.startswith(root + "/"):
                return True
        return False

    def check_path(event, path, write, flags=0):
        if type_of(path) is int_type:
            return  # an already open descriptor
        if type_of(path) is bytes_type:
            path = path.decode("utf-8", "surrogateescape")
        if type_of(path) is not str_type:
            # A custom path object could answer differently when the file is really opened.
            raise permission_error(f"sandbox: {event} needs a str path, got {type_of(path).__name__}")
        resolved = normalize(path)
        if within(resolved, write_roots):
            return
        if not write and within(resolved, readable_roots):
            # A directory descriptor outside the work directory would let os.open(..., dir_fd=) escape.
            try:
                is_directory = bool_type(flags & directory_flag) or s_isdir(stat(resolved).st_mode)
            except os_error:
                is_directory = False
            if is_directory:
                raise permission_error(f"sandbox: opening the directory {path!r} is not allowed")
            return
        where = "only the work directory" if write_roots else "this sandbox is read-only"
        raise permission_error(f"sandbox: {event} on {path!r} is not allowed ({where})")

    def check_listing(event, path):
        if type_of(path) is int_type:
            return
        if type_of(path) is bytes_type:
            path = path.decode("utf-8", "surrogateescape")
        if type_of(path) is not str_type or not within(normalize(path), readable_roots):
            raise permission_error(f"sandbox: {event} on {path!r} is not allowed")

    def guard(event, args):
        if event in forbidden_events:
            raise permission_error(f"sandbox: {event} is not allowed")
        if event == "import":
            if args[0] in forbidden_modules:
                refusal = ImportRefused if args[0] in ("ctypes", "_ctypes") else permission_error
                raise refusal(f"sandbox: importing {args[0]} is not allowed")
            return
        if event == "open":
            path, mode, flags = args
            if path is None:
                return
            write = bool_type(mode and ("w" in mode or "a" in mode or "x" in mode or "+" in mode))
            write = write or bool_type(flags and flags & write_flags)
            check_path(event, path, write, flags or 0)
            return
        count = write_path_events.get(event)
        if count:
            for path in args[:count]:
                if path is not None:
                    check_path(event, path, True)
            return
        count = read_path_events.get(event)
        if count:
            for path in args[:count]:
                if path is not None:
                    check_listing(event, path)

    sys.addaudithook(guard)


def _main(seal_kernel, install_guard):
    program_fd, config = int(sys.argv[1]), json.loads(sys.argv[2])
    with os.fdopen(program_fd, "r", encoding="utf-8") as handle:
        source = handle.read()
    code = compile(source, "main.py", "exec")
    if sys.platform == "linux":
        try:
            seal_kernel(config["landlock_abi"], os.uname().machine)
        except OSError as exc:
            print(f"sandbox setup failed: {exc}", file=sys.stderr, flush=True)
            os._exit(125)
    # An anonymous in-memory file could be loaded as a shared object through /proc/self/fd where /proc shows.
    for module in (os, sys.modules.get("posix")):
        if module is not None and hasattr(module, "memfd_create"):
            delattr(module, "memfd_create")
    install_guard(os.path.realpath(config["workdir"]), tuple(os.path.realpath(root) for root in config["read_roots"]),
                  config["writable_workdir"])
    sys.argv = ["main.py"]
    return code


# Only the compiled program is left in this module's namespace when it runs.
_code = _main(_seal_kernel, _install_guard)
del _main, _seal_kernel, _install_guard
exec(_code, {"__name__": "__main__", "__builtins__": __builtins__})
