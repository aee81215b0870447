"""Linux namespaces for the sandbox launcher: loaded by ``_sandbox_launcher`` (by path, in the child process),
never imported by the app.

The launcher calls :func:`enter` (new user — unless it runs as root —, mount, PID, network, IPC and UTS
namespaces), forks the program's process (PID 1 of the new PID namespace, so when it exits the kernel kills
every process it left behind), and that process calls :func:`build_root`, :func:`become_unprivileged` and then
execs the interpreter. The program then sees:

- a read-only root holding only the interpreter, its libraries and a few device files (bind mounts), so no
  registry, no home folders, no Unix sockets of the host: nothing outside those folders exists for it;
- its work folder as a size-limited tmpfs mounted ``noexec,nosuid,nodev``: the only writable place, and
  nothing written there can be executed or loaded as a shared object (no writable-and-executable path);
- no ``/proc``, ``/tmp`` or ``/dev/shm`` (TMPDIR is the work folder);
- a network namespace whose only interface, loopback, is down: no TCP, UDP or abstract Unix socket reaches
  anything;
- an unprivileged user (uid 65534 as seen inside; the app's own uid, or ``nobody`` when the app runs as root,
  as seen from outside) with no capabilities, so RLIMIT_NPROC holds and mounts cannot be undone.
"""

from __future__ import annotations

import ctypes
import os
import stat

UNPRIVILEGED_ID = 65534  # "nobody" on Debian, Fedora, Alpine...

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC = 32, 1024, 2048, 4096, 16384
_MS_PRIVATE, _MS_RELATIME, _MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
_MNT_DETACH = 2
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
# statvfs f_flag bits -> mount flags; a bind remount inside a user namespace must keep the locked ones.
_ST_TO_MS = ((os.ST_NOSUID, _MS_NOSUID), (os.ST_NODEV, _MS_NODEV), (os.ST_NOEXEC, _MS_NOEXEC),
             (os.ST_NOATIME, _MS_NOATIME), (os.ST_NODIRATIME, _MS_NODIRATIME), (os.ST_RELATIME, _MS_RELATIME))
_PIVOT_ROOT = {"x86_64": 155, "amd64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203,
               "s390x": 217, "i686": 217, "i386": 217, "armv7l": 218, "loongarch64": 41}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
           f"mount {target}")


def _write(path: str, text: str, dir_fd: int | None = None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _map_self(inside: int, outside_uid: int, outside_gid: int, proc_dir: int | None = None) -> None:
    """Map one id into the user namespace this process just created (the only mapping an unprivileged process
    may write for itself)."""
    prefix = "" if proc_dir is not None else "/proc/self/"
    _write(prefix + "setgroups", "deny", proc_dir)
    _write(prefix + "uid_map", f"{inside} {outside_uid} 1", proc_dir)
    _write(prefix + "gid_map", f"{inside} {outside_gid} 1", proc_dir)


def enter(rootless: bool) -> None:
    """Unshare every namespace but the PID one's first process (the next fork is PID 1 there). As root, no
    user namespace: the program's process drops to ``nobody`` instead, which is what makes RLIMIT_NPROC bind
    (the kernel exempts the real root user from it)."""
    flags = _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(ctypes.c_int(flags | (_CLONE_NEWUSER if rootless else 0))), "unshare")
    if rootless:
        _map_self(0, uid, gid)


def die_with_parent() -> None:
    _check(_libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def _bind_flags(source: str, device: bool) -> int:
    """Read-only and nosuid, nodev unless it is a device file (/dev/null stays writable, as everywhere), plus
    every flag the source mount has: a user namespace may not clear them."""
    flags = _MS_NOSUID | (0 if device else _MS_NODEV | _MS_RDONLY)
    vfs_flags = os.statvfs(source).f_flag
    for st_flag, ms_flag in _ST_TO_MS:
        if vfs_flags & st_flag:
            flags |= ms_flag
    if not flags & (_MS_NOATIME | _MS_RELATIME):
        flags |= _MS_STRICTATIME  # otherwise the remount would switch the source's atime mode to relatime
    return flags


def _through_link(new_root: str, path: str) -> bool:
    """Whether ``path`` inside the new root passes through a symlink already made there: creating folders
    through it would follow the link out to the host's own folders."""
    current = new_root
    for part in path.strip("/").split("/")[:-1]:
        current += "/" + part
        if os.path.islink(current):
            return True
    return False


def _make_target(new_root: str, path: str, directory: bool) -> str:
    target = new_root + path
    os.makedirs(target if directory else os.path.dirname(target), mode=0o755, exist_ok=True)
    if not directory and not os.path.exists(target):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    return target


def build_root(new_root: str, read_roots: list[str], workdir: str, *, rootless: bool, disk_bytes: int,
               files: int) -> int:
    """Make ``new_root`` (an empty folder) the root of this mount namespace, holding only ``read_roots``
    (read-only) and ``workdir`` (a ``noexec`` tmpfs of ``disk_bytes``), then chdir to ``workdir``. Returns a
    descriptor of this process's /proc folder, which :func:`become_unprivileged` needs once /proc is gone."""
    proc_dir = os.open("/proc/self", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing mounted here propagates back to the host
    _mount("tmpfs", new_root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    mounted: list[str] = []
    for root in sorted(read_roots, key=len):
        if not os.path.lexists(root) or any(root.startswith(done + "/") for done in mounted) \
                or _through_link(new_root, root):  # reachable through the link's target, if that is a root
            continue
        if os.path.islink(root):  # e.g. /lib -> usr/lib on merged-/usr systems: keep the link, mount its target
            _make_target(new_root, os.path.dirname(root), directory=True)
            os.symlink(os.readlink(root), new_root + root)
            continue
        mode = os.stat(root).st_mode
        target = _make_target(new_root, root, stat.S_ISDIR(mode))
        _mount(root, target, None, _MS_BIND | _MS_REC)
        _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _bind_flags(root, device=stat.S_ISCHR(mode)))
        mounted.append(root)
    owner = 0 if rootless else UNPRIVILEGED_ID  # the tmpfs options speak this namespace's ids
    work_target = _make_target(new_root, workdir, directory=True)
    _mount("tmpfs", work_target, "tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
           f"size={max(disk_bytes // 1024, 64)}k,nr_inodes={files},mode=0700,uid={owner},gid={owner}")
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the new root.
    os.chdir(new_root)
    number = _PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(f"pivot_root: unknown syscall number on {os.uname().machine}")
    _check(_libc.syscall(ctypes.c_long(number), b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", ctypes.c_int(_MNT_DETACH)), "umount old root")
    _mount(None, "/", None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    os.chdir(workdir)
    return proc_dir


def become_unprivileged(rootless: bool, proc_dir: int) -> None:
    """Drop to uid/gid 65534 with no capabilities anywhere. As root: setuid to ``nobody``, then a user
    namespace of its own (below). Rootless (already uid 0 of a user namespace mapped to the app's user): a
    nested user namespace mapping 65534 to it, so the interpreter exec'd next keeps no capability (exec clears
    them for a non-root uid)."""
    if rootless:
        _check(_libc.unshare(ctypes.c_int(_CLONE_NEWUSER)), "unshare(user)")
        _map_self(UNPRIVILEGED_ID, 0, 0, proc_dir)
    else:
        os.setgroups([])
        os.setresgid(UNPRIVILEGED_ID, UNPRIVILEGED_ID, UNPRIVILEGED_ID)
        os.setresuid(UNPRIVILEGED_ID, UNPRIVILEGED_ID, UNPRIVILEGED_ID)
        _count_tasks_apart(proc_dir)
    os.close(proc_dir)


def _count_tasks_apart(proc_dir: int) -> None:
    """As ``nobody`` of the host's user namespace, RLIMIT_NPROC (which bounds the program's threads) would
    count every task of ``nobody`` on the machine, other runs' included, so concurrent runs would take threads
    from each other. In a user namespace of its own, mapping ``nobody`` to itself, the kernel counts this
    run's tasks apart. Capabilities gained there over that namespace only are cleared by the exec that
    follows (a non-root uid). Where unprivileged user namespaces are disabled the count stays shared, as
    before: a missing thread is no escape."""
    # The uid change made this process non-dumpable, which gives its /proc files to root; the exec that
    # follows makes it dumpable again anyway.
    _check(_libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    if _libc.unshare(ctypes.c_int(_CLONE_NEWUSER)) != 0:
        return
    _map_self(UNPRIVILEGED_ID, UNPRIVILEGED_ID, UNPRIVILEGED_ID, proc_dir)
