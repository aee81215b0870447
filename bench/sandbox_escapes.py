"""Escape attempts against the code sandbox, and how many got out: every attack of
tests/sandbox_native_attack.c (a shared object whose constructor runs outside Python's audit hook), loaded
two ways: written into the program's work folder and imported (what a model-written program can do), and
preinstalled in the interpreter's own folders (standing for native code loaded some way nobody foresaw, to
test the kernel layers on their own). The verdict is read on the host: processes left, packets and
connections received, files written outside, bytes written, an interpreter run without the guard.

    python bench/sandbox_escapes.py             # needs a C compiler; writes a temporary folder into site-packages
    python bench/sandbox_escapes.py --fallback  # the same against the fallback used where namespaces are refused
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vibedash.solve.sandbox import SandboxLimits, isolation_summary, processes_marked, run_python

SOURCE = Path(__file__).resolve().parent.parent / "tests" / "sandbox_native_attack.c"
DISK_MB = 64  # the sandbox's default size of the work folder
ATTACKS = ["survivor", "threadfork", "forkbomb", "exec", "udp", "tcp", "unix", "read", "write", "kill", "diskfill", "iouring"]


def program(library: str | None, library_bytes: bytes | None) -> str:
    write = ""
    if library_bytes is not None:
        write = (f"open('attack.so', 'wb').write(base64.b64decode({base64.b64encode(library_bytes).decode()!r}))\n"
                 "library = os.path.abspath('attack.so')\n")
    return (f"import base64, importlib.util, os\nprint('cwd', os.getcwd(), flush=True)\n"
            f"library = {library!r}\n{write}"
            "importlib.util.module_from_spec(importlib.util.spec_from_file_location('attack', library))\n")


def survivors(workdir: str) -> list[int]:
    return processes_marked(f"HOME={workdir}".encode())


def received(listener: socket.socket) -> bool:
    try:
        listener.recv(64) if listener.type == socket.SOCK_DGRAM else listener.accept()[0].close()
    except TimeoutError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fallback", action="store_true", help="force the fallback without namespaces")
    limits = SandboxLimits(timeout_s=10, namespaces=not parser.parse_args().fallback)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        sys.exit("no C compiler (cc or gcc) to build the hostile shared object")
    scratch = Path(tempfile.mkdtemp(prefix="vibedash-escapes-"))
    scratch.chmod(0o777)
    installed = Path(tempfile.mkdtemp(prefix="vibedash-attack-", dir=sysconfig.get_paths()["purelib"]))
    try:
        library = scratch / "attack.so"
        subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(SOURCE)], check=True)
        installed.chmod(0o755)
        shutil.copy(library, installed / "attack.so")
        (installed / "attack.so").chmod(0o755)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket()
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        unix = socket.socket(socket.AF_UNIX)
        unix.bind(str(scratch / "app.sock"))
        (scratch / "app.sock").chmod(0o777)
        unix.listen()
        for listener in (udp, tcp, unix):
            listener.settimeout(0.2)
        (scratch / "secret.txt").write_text("registry-password")
        (scratch / "secret.txt").chmod(0o644)
        arguments = {"survivor": "-", "threadfork": "-", "forkbomb": "-", "exec": sys.executable, "udp": str(udp.getsockname()[1]),
                     "tcp": str(tcp.getsockname()[1]), "unix": str(scratch / "app.sock"),
                     "read": str(scratch / "secret.txt"), "write": str(scratch / "escaped.txt"),
                     "kill": str(os.getpid()), "diskfill": str(4 * DISK_MB), "iouring": "-"}
        print(f"isolation: {isolation_summary(limits)}")
        tried = escaped = 0
        for placement in ("work folder", "preinstalled"):
            for name in ATTACKS:
                source = program(str(installed / "attack.so") if placement == "preinstalled" else None,
                                 library.read_bytes() if placement == "work folder" else None)
                result = run_python(source, f"{name} {arguments[name]}\n", limits=limits)
                lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
                time.sleep(0.3)  # a SIGKILL'd process takes a moment to go: count only those really left
                left = survivors(lines.get("cwd", "?"))
                wrote = int(lines.get("wrote", "0 errno 0").split(" ")[0])
                started = (int(lines.get("forked", "0").split()[0]) + (int(lines.get("fork", "-1").split()[0]) > 0)
                           + (int(lines.get("threadfork", "-1").split()[0]) > 0))
                out = {"processes started": started > 0, "processes left": bool(left),
                       "udp received": received(udp), "tcp accepted": received(tcp),
                       "unix accepted": received(unix), "file written outside": (scratch / "escaped.txt").exists(),
                       "secret read": "registry-password" in result.stdout,
                       "interpreter without guard": "escaped: an interpreter" in result.stdout,
                       "work folder over its size": wrote > DISK_MB * 2**20,
                       "process outside signalled": lines.get("kill", "").startswith("0 "),
                       "io_uring ring": lines.get("io_uring_setup", "-1").split()[0] != "-1"}
                for pid in left:
                    os.kill(pid, 9)
                (scratch / "escaped.txt").unlink(missing_ok=True)
                broke = [what for what, happened in out.items() if happened]
                tried += 1
                escaped += bool(broke)
                ran = "native code ran" if "native code runs" in result.stdout else "did not load"
                print(f"{placement:12s} {name:9s} {ran:15s} {'ESCAPED: ' + ', '.join(broke) if broke else 'held'}")
        print(f"escapes tried: {tried}, succeeded: {escaped}")
    finally:
        shutil.rmtree(installed, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
