"""The code sandbox: correct programs pass, hostile programs fail without harming anything outside."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vibedash.registry.db import open_registry
from vibedash.solve import _sandbox_launcher
from vibedash.solve.grading import Grader
from vibedash.solve.problems import BUILTIN_PROBLEMS, TestCase
from vibedash.solve.sandbox import (
    SandboxLimits,
    landlock_abi,
    namespace_support,
    processes_marked,
    run_python,
)

FAST = SandboxLimits(timeout_s=1.5, memory_mb=256)
FALLBACK = SandboxLimits(timeout_s=1.5, memory_mb=256, namespaces=False)
needs_namespaces = pytest.mark.skipif(not namespace_support()[0],
                                      reason=f"this kernel forbids namespaces: {namespace_support()[1]}")

# Reference solutions of the built-in code problems, written for these tests.
REFERENCE_SOLUTIONS = {
    "code-01": """
        import sys
        data = sys.stdin.read().split()
        n, t = int(data[0]), int(data[1])
        seen, pairs = {}, 0
        for x in map(int, data[2:2 + n]):
            pairs += seen.get(t - x, 0)
            seen[x] = seen.get(x, 0) + 1
        print(pairs)
    """,
    "code-02": """
        import sys
        lines = sys.stdin.read().split("\\n")
        closing = {")": "(", "]": "[", "}": "{"}
        for s in lines[1:1 + int(lines[0])]:
            stack, ok = [], True
            for ch in s.strip():
                if ch in "([{":
                    stack.append(ch)
                elif not stack or stack.pop() != closing[ch]:
                    ok = False
                    break
            print("YES" if ok and not stack else "NO")
    """,
    "code-03": """
        import sys
        lines = sys.stdin.read().split("\\n")
        r, c = map(int, lines[0].split())
        grid = lines[1:1 + r]
        seen, islands = set(), 0
        for i in range(r):
            for j in range(c):
                if grid[i][j] == "#" and (i, j) not in seen:
                    islands += 1
                    stack = [(i, j)]
                    seen.add((i, j))
                    while stack:
                        x, y = stack.pop()
                        for u, v in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                            if 0 <= u < r and 0 <= v < c and grid[u][v] == "#" and (u, v) not in seen:
                                seen.add((u, v))
                                stack.append((u, v))
        print(islands)
    """,
    "code-04": """
        n, amount = map(int, input().split())
        coins = list(map(int, input().split()))
        best = [0] + [float("inf")] * amount
        for value in range(1, amount + 1):
            best[value] = min([best[value - c] + 1 for c in coins if c <= value] or [float("inf")])
        print(best[amount] if best[amount] != float("inf") else -1)
    """,
}


def fenced(program: str) -> str:
    return f"Here is my solution.\n```python\n{textwrap.dedent(program).strip()}\n```\n"


@pytest.fixture(scope="module")
def grader():
    grader = Grader(sandbox_limits=FAST)
    yield grader
    grader.close()


@pytest.mark.parametrize("problem", [p for p in BUILTIN_PROBLEMS if p.kind == "code"], ids=lambda p: p.id)
def test_reference_solutions_pass_the_builtin_tests(grader, problem):
    grade = grader.grade_code(fenced(REFERENCE_SOLUTIONS[problem.id]), problem.tests)
    assert grade.correct is True, grade.detail
    assert grade.detail == f"passed all {len(problem.tests)} tests"


def test_a_wrong_program_fails_with_the_test_it_failed(grader):
    tests = [TestCase("2\n", "4\n"), TestCase("3\n", "9\n")]
    grade = grader.grade_code(fenced("n = int(input())\nprint(n + n)"), tests)
    assert grade.correct is False
    assert grade.detail.startswith("test 2 of 2: wrong output '6'")


def test_no_code_block_is_wrong_and_no_tests_is_ungraded(grader):
    assert grader.grade_code("I would loop over the input.", [TestCase("1\n", "1\n")]).correct is False
    assert grader.grade_code(fenced("print(1)"), []).correct is None


# -- hostile programs --------------------------------------------------------------------------------------

def test_infinite_loop_times_out():
    result = run_python("while True:\n    pass\n", limits=FAST)
    assert result.timed_out and result.failure() == "timed out"
    assert result.elapsed_s < FAST.timeout_s + 2


def test_memory_hog_hits_the_limit():
    result = run_python("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n", limits=FAST)
    assert not result.ok and result.failure() == "memory limit"


@pytest.mark.parametrize("attempt", [
    "import os\nos.fork()",
    "import subprocess\nsubprocess.run(['touch', MARKER])",
    "import os\nos.system('touch ' + MARKER)",
    "import os\nos.posix_spawn('/bin/touch', ['touch', MARKER], {})",
    "import multiprocessing\nmultiprocessing.Process(target=print).start()",
])
def test_process_creation_is_refused(tmp_path, attempt):
    marker = tmp_path / "spawned"
    result = run_python(f"MARKER = {str(marker)!r}\n{attempt}\n", limits=FAST)
    assert not result.ok and "not allowed" in result.stderr
    assert not marker.exists()


# The usual way contest programs get deep recursion: a thread with a big stack.
THREADED_RECURSION = """
import sys, threading

def main():
    sys.setrecursionlimit(1 << 20)
    def depth(n):
        return 0 if n == 0 else 1 + depth(n - 1)
    print(depth(int(input())))

threading.stack_size(1 << 27)
threading.Thread(target=main).start()
"""


@pytest.mark.parametrize("limits", [FAST, FALLBACK], ids=["namespaces", "fallback"])
def test_the_threading_idiom_for_deep_recursion_runs(limits):
    result = run_python(THREADED_RECURSION, "200000\n", limits=limits)
    assert result.ok, result.stderr
    assert result.stdout == "200000\n"


@pytest.mark.parametrize("limits", [FAST, FALLBACK], ids=["namespaces", "fallback"])
def test_a_thread_cannot_start_a_process_either(tmp_path, limits):
    marker = tmp_path / "spawned"
    program = f"""
import os, threading
outcomes = []
def attempt(action):
    try:
        action()
        outcomes.append("started")
    except PermissionError as exc:
        outcomes.append(str(exc))
def both():
    attempt(os.fork)
    attempt(lambda: os.posix_spawn("/bin/touch", ["touch", {str(marker)!r}], {{}}))
worker = threading.Thread(target=both)
worker.start()
worker.join()
print(outcomes)
"""
    result = run_python(program, limits=limits)
    assert result.ok, result.stderr
    assert result.stdout.strip() == ("['sandbox: os.fork is not allowed', "
                                     "'sandbox: os.posix_spawn is not allowed']")
    assert not marker.exists()


# Starts threads until one is refused, says how many it got, and holds them while the other runs do the same.
COUNT_THREADS = """
import threading, time
hold, started = threading.Event(), 0
try:
    while started < 200:
        threading.Thread(target=hold.wait, daemon=True).start()
        started += 1
except RuntimeError as exc:
    print("refused:", exc)
print("threads", started, flush=True)
time.sleep(1.0)
hold.set()
"""


@needs_namespaces
def test_threads_are_bounded_for_each_run_apart():
    limits = SandboxLimits(timeout_s=5, memory_mb=256, threads=3)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: run_python(COUNT_THREADS, limits=limits), range(3)))
    for result in results:
        assert result.ok, result.stderr
        # Exactly the limit, whatever runs at the same time (the count is per run, not per user on the machine).
        assert result.stdout.splitlines() == ["refused: can't start new thread", "threads 3"]


def test_writes_outside_the_work_directory_are_refused(tmp_path):
    outside = tmp_path / "outside.txt"
    program = f"""
import os
for attempt in (lambda: open({str(outside)!r}, "w").write("x"),
                lambda: os.open({str(outside)!r}, os.O_WRONLY | os.O_CREAT),
                lambda: open("../../escape.txt", "w"),
                lambda: os.symlink({str(outside)!r}, "link"),
                lambda: os.rename("nothing", {str(outside)!r})):
    try:
        attempt()
        print("escaped")
    except PermissionError:
        print("refused")
with open("inside.txt", "w") as handle:  # its own work directory is fine
    handle.write("ok")
print(open("inside.txt").read())
"""
    result = run_python(program, limits=FAST)
    assert result.ok, result.stderr
    assert result.stdout.split() == ["refused"] * 5 + ["ok"]
    assert not outside.exists()


def test_rebinding_builtins_and_os_does_not_switch_the_guard_off(tmp_path):
    outside = tmp_path / "outside.txt"
    program = f"""
import builtins, os, posixpath
builtins.type = lambda value: int          # would make every path look like an open descriptor
builtins.any = lambda values: True
os.fspath = os.fsdecode = lambda path: "inside.txt"
posixpath.realpath = os.path.realpath = lambda path, **kwargs: os.getcwd()
open({str(outside).encode()!r}, "w").write("escaped")
"""
    result = run_python(program, limits=FAST)
    assert not result.ok and "not allowed" in result.stderr
    assert not outside.exists()


def test_the_registry_file_cannot_be_read(tmp_path):
    registry = tmp_path / "registry.db"
    open_registry(f"sqlite:///{registry}").dispose()
    secret = registry.read_bytes()[:16]
    program = f"""
import sys
for reader in (lambda p: open(p, "rb").read(16), lambda p: __import__("sqlite3").connect(p)):
    try:
        print("read", reader({str(registry)!r}))
    except PermissionError as error:
        print("refused:", error, file=sys.stderr)
"""
    result = run_python(program, limits=FAST)
    assert "read" not in result.stdout and str(secret) not in result.stdout
    assert result.stderr.count("refused:") == 2


def test_environment_is_scrubbed_and_cwd_is_an_empty_temp_dir(monkeypatch):
    monkeypatch.setenv("VIBEDASH_DB_URL", "sqlite:////secret/registry.db")
    monkeypatch.setenv("NETLIFY_AUTH_TOKEN", "nfp_secret")
    result = run_python("import os, json\nprint(json.dumps([sorted(os.environ), os.listdir('.'), os.getcwd()]))",
                        limits=FAST)
    assert result.ok, result.stderr
    names, listing, cwd = json.loads(result.stdout)
    assert names == ["HOME", "LANG", "OMP_NUM_THREADS", "PATH", "TMPDIR"]
    assert listing == [] and "vibedash-sandbox-" in cwd and cwd != os.getcwd()


def test_network_ctypes_and_tracing_are_refused():
    for program in ("import socket\nsocket.create_connection(('127.0.0.1', 9))", "import ctypes",
                    "import sys\nsys.settrace(lambda *args: None)", "import gc\ngc.get_objects()"):
        result = run_python(program, limits=FAST)
        assert not result.ok and "not allowed" in result.stderr, program


def test_numpy_loads_although_ctypes_is_refused():
    pytest.importorskip("numpy")
    program = ("import numpy\nprint(int(numpy.arange(5).sum()))\n"
               "try:\n    import ctypes\nexcept ImportError as e:\n    print(e)")
    result = run_python(program, limits=FAST)
    assert result.ok, result.stderr
    assert result.stdout.splitlines() == ["10", "sandbox: importing ctypes is not allowed"]


def test_endless_output_is_capped():
    result = run_python("while True:\n    print('x' * 4096)\n", limits=SandboxLimits(timeout_s=5, output_mb=1))
    assert not result.ok and not result.timed_out
    assert len(result.stdout) <= 1024 * 1024
    assert result.failure() == "output size limit (OSError: [Errno 27] File too large)"


def processes_of_run(workdir: str) -> list[int]:
    """Processes on this machine that belong to the run whose work folder is ``workdir``."""
    return processes_marked(f"HOME={workdir}".encode())


@pytest.mark.parametrize("limits", [SandboxLimits(timeout_s=2), SandboxLimits(timeout_s=2, namespaces=False)],
                         ids=["namespaces", "fallback"])
def test_a_timed_out_program_is_killed(limits):
    result = run_python("import os, time\nprint(os.getcwd(), flush=True)\ntime.sleep(30)", limits=limits)
    assert result.timed_out
    assert result.stdout.strip().endswith("/work")
    assert processes_of_run(result.stdout.strip()) == []  # the program and everything it started are gone


@pytest.mark.skipif(landlock_abi() == 0, reason="this kernel has no Landlock")
def test_landlock_alone_confines_the_filesystem(tmp_path):
    """The kernel layer on its own (no audit hook): reads and writes outside the allowed folders fail."""
    workdir, outside = tmp_path / "work", tmp_path / "outside.txt"
    workdir.mkdir()
    outside.write_text("secret")
    program = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(_sandbox_launcher.__file__).parent)!r})
        import _sandbox_launcher as launcher
        launcher.restrict_filesystem(launcher.landlock_abi(), [sys.prefix, sys.base_prefix], [{str(workdir)!r}])
        open({str(workdir / "ok.txt")!r}, "w").write("fine")
        for action in (lambda: open({str(outside)!r}).read(), lambda: open({str(outside)!r}, "w")):
            try:
                action()
                print("escaped")
            except PermissionError:
                print("refused")
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
    assert done.stdout.split() == ["refused", "refused"], done.stderr
    assert outside.read_text() == "secret" and (workdir / "ok.txt").read_text() == "fine"


# -- native code: the kernel layers hold where the audit hook cannot see --------------------------------------

NATIVE_ATTACK_SOURCE = Path(__file__).with_name("sandbox_native_attack.c")


@pytest.fixture(scope="module")
def attack_library(tmp_path_factory) -> bytes:
    """tests/sandbox_native_attack.c built with the system C compiler: a shared object whose constructor
    runs the attack named on its stdin the moment it is loaded."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc/gcc) to build the hostile shared object")
    output = tmp_path_factory.mktemp("native") / "attack.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(output), str(NATIVE_ATTACK_SOURCE)],
                   check=True, capture_output=True, timeout=120)
    return output.read_bytes()


@pytest.fixture(scope="module")
def preinstalled_attack(attack_library):
    """The hostile library placed inside the interpreter's own folders, which the sandbox may read and map:
    stands for native code that got loaded some way we did not foresee, to test every layer below it."""
    site = sysconfig.get_paths()["purelib"]
    try:
        folder = tempfile.mkdtemp(prefix="vibedash-attack-", dir=site)
    except OSError:
        pytest.skip(f"cannot write into {site} to stand in for unforeseen native code")
    os.chmod(folder, 0o755)
    library = Path(folder) / "attack.so"
    library.write_bytes(attack_library)
    library.chmod(0o755)
    yield str(library)
    shutil.rmtree(folder, ignore_errors=True)


def load_attack(library: str | None = None, library_bytes: bytes | None = None) -> str:
    """A program that loads the hostile library (which reads its plan from stdin): the one at ``library``, or
    ``library_bytes`` written into its work folder first."""
    write_library = ""
    if library_bytes is not None:
        encoded = base64.b64encode(library_bytes).decode()
        write_library = (f"open('attack.so', 'wb').write(base64.b64decode({encoded!r}))\n"
                         "library = os.path.abspath('attack.so')\n")
    return (f"import base64, importlib.util, os\nprint('cwd', os.getcwd(), flush=True)\n"
            f"library = {library!r}\n{write_library}"
            "importlib.util.module_from_spec(importlib.util.spec_from_file_location('attack', library))\n")


def report(result) -> dict[str, str]:
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert "escaped" not in result.stdout, result.stdout
    return lines


@needs_namespaces
def test_a_shared_object_written_to_the_work_folder_cannot_be_loaded(attack_library):
    result = run_python(load_attack(library_bytes=attack_library), "survivor -\n", limits=FAST)
    assert "native code runs" not in result.stdout
    assert not result.ok and "failed to map segment from shared object" in result.failure()  # noexec tmpfs
    assert processes_of_run(report(result)["cwd"]) == []


def test_the_fallback_cannot_write_a_shared_object_at_all(attack_library):
    result = run_python(load_attack(library_bytes=attack_library), "survivor -\n", limits=FALLBACK)
    assert "native code runs" not in result.stdout
    assert result.failure() == ("exit code 1: PermissionError: sandbox: open on 'attack.so' is not allowed "
                                "(this sandbox is read-only)")
    assert "fallback" in result.isolation


@pytest.fixture
def listeners(tmp_path):
    """A UDP and a TCP listener on loopback, and a Unix socket anyone may connect to in a folder anyone may
    enter: what a program would reach without a network namespace and a mount namespace."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    folder = tempfile.mkdtemp(prefix="vibedash-open-")
    os.chmod(folder, 0o777)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(f"{folder}/app.sock")
    os.chmod(f"{folder}/app.sock", 0o777)
    unix.listen()
    for listener in (udp, tcp, unix):
        listener.settimeout(0.3)
    secret = Path(folder) / "secret.txt"
    secret.write_text("registry-password")
    secret.chmod(0o644)
    yield {"udp": udp, "tcp": tcp, "unix": unix, "folder": folder}
    for listener in (udp, tcp, unix):
        listener.close()
    shutil.rmtree(folder, ignore_errors=True)


def nothing_arrived(listener) -> bool:
    try:
        listener.recv(64) if listener.type == socket.SOCK_DGRAM else listener.accept()
    except TimeoutError:
        return True
    return False


# What each attack reports from inside: the kernel's answer (errno) to the native call, in each mode.
NATIVE_VERDICTS = {
    "survivor": "fork -1 errno 11",  # EAGAIN: seccomp (RLIMIT_NPROC leaves room for threads, not for a fork bomb)
    "threadfork": "threadfork -1 errno 11",  # the thread started ("thread 0"), its fork did not
    "forkbomb": "forked 0 errno 11",
    "exec": "exec failed errno 13",  # EACCES: seccomp, and the guard's Landlock layer granting no execute right
    "udp": "udp socket -1 sent -1 errno 9",  # no socket at all (seccomp); the network namespace has no route either
    "tcp": "tcp connect -1 errno 9",
    "unix": "unix connect -1 errno 9",
    "kill": "kill -1 errno 1",  # EPERM: signals only to itself (and no process outside the PID namespace has a pid)
    "iouring": "io_uring_setup -1 errno 38",  # ENOSYS: seccomp
}
NAMESPACE_FILE_VERDICTS = {"read": "read fd -1 errno 2", "write": "write fd -1 errno 2"}  # not in the mount ns
FALLBACK_FILE_VERDICTS = {"read": "read fd -1 errno 13", "write": "write fd -1 errno 13"}  # Landlock


@pytest.mark.parametrize("limits", [FAST, FALLBACK], ids=["namespaces", "fallback"])
@pytest.mark.parametrize("attack", ["survivor", "threadfork", "forkbomb", "exec", "udp", "tcp", "unix", "read",
                                    "write", "kill", "iouring"])
def test_native_code_cannot_escape(preinstalled_attack, listeners, attack, limits):
    if limits.namespaces and not namespace_support()[0]:
        pytest.skip("this kernel forbids namespaces")
    if not limits.namespaces and (os.uname().machine not in ("x86_64", "aarch64") or landlock_abi() == 0):
        pytest.skip("the fallback holds native code only with seccomp (x86-64, arm64) and Landlock")
    arguments = {"survivor": "-", "threadfork": "-", "forkbomb": "-", "exec": sys.executable,
                 "udp": str(listeners["udp"].getsockname()[1]), "tcp": str(listeners["tcp"].getsockname()[1]),
                 "unix": f"{listeners['folder']}/app.sock", "read": f"{listeners['folder']}/secret.txt",
                 "write": f"{listeners['folder']}/escaped.txt", "kill": str(os.getpid()), "iouring": "-"}
    result = run_python(load_attack(library=preinstalled_attack), f"{attack} {arguments[attack]}\n", limits=limits)
    lines = report(result)
    assert lines.get("native") == f"code runs: {attack}", result.stdout + result.stderr  # the attack really ran
    assert result.ok, result.failure()  # and reported what it could do: nothing
    assert processes_of_run(lines["cwd"]) == []
    assert all(nothing_arrived(listeners[kind]) for kind in ("udp", "tcp", "unix"))
    assert not Path(arguments["write"]).exists()
    verdicts = NATIVE_VERDICTS | (NAMESPACE_FILE_VERDICTS if limits.namespaces else FALLBACK_FILE_VERDICTS)
    head, rest = verdicts[attack].split(" ", 1)
    assert lines[head] == rest, result.stdout
    if attack == "threadfork":
        assert lines["thread"] == "0", result.stdout  # threads are allowed: the fork was refused, not the thread


NAMESPACES_ALONE = """
import json, os, socket, sys, time
sys.path.insert(0, {launcher_dir!r})
import _sandbox_namespaces as namespaces
rootless = os.geteuid() != 0
namespaces.enter(rootless)
if os.fork() == 0:  # the first process of the new PID namespace
    proc = namespaces.build_root({new_root!r}, {read_roots!r}, {workdir!r}, rootless=rootless,
                                 disk_bytes=8 * 2**20, files=64)
    namespaces.become_unprivileged(rootless, proc)
    found = {{"ids": [os.getuid(), os.getpid()], "root": sorted(os.listdir("/"))}}
    if os.fork() == 0:  # no RLIMIT_NPROC, no seccomp here: only the PID namespace can end this one
        os.setsid()
        time.sleep(60)
        os._exit(0)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        found["udp"] = udp.sendto(b"escaped", ("127.0.0.1", {udp_port}))
    except OSError as error:
        found["udp"] = error.strerror
    unix = socket.socket(socket.AF_UNIX)
    try:
        found["unix"] = unix.connect({unix_path!r})
    except OSError as error:
        found["unix"] = error.strerror
    written = 0
    try:
        for number in range(100):
            with open(f"fill{{number}}", "wb") as handle:
                handle.write(b"x" * 2**20)
                written += 2**20
    except OSError as error:
        found["disk"] = [written, error.strerror]
    for path in ("fill0", "/tmp/escape", "/escape"):  # exec from the work folder; writing outside it
        try:
            os.chmod(path, 0o755) if path == "fill0" else open(path, "w")
            if path == "fill0":
                os.execv(os.path.abspath(path), [path])
            found[path] = "allowed"
        except OSError as error:
            found[path] = error.strerror
    print(json.dumps(found), flush=True)
    os._exit(0)
os.wait()
"""


@needs_namespaces
def test_the_namespaces_alone_confine_native_code(tmp_path, listeners):
    """The namespace layer on its own (no audit hook, seccomp, Landlock or rlimits), as Python code with
    every native call it wants: no network, no host folders, a bounded noexec work folder, and the
    process it left behind in a session of its own dies with the namespace."""
    from vibedash.solve.sandbox import _python_read_roots

    (tmp_path / "root").mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()
    program = NAMESPACES_ALONE.format(
        launcher_dir=str(Path(_sandbox_launcher.__file__).parent), new_root=str(tmp_path / "root"),
        read_roots=list(_python_read_roots()), workdir=str(workdir), udp_port=listeners["udp"].getsockname()[1],
        unix_path=f"{listeners['folder']}/app.sock")
    marker = f"vibedash-test-{os.getpid()}-{id(tmp_path)}"
    done = subprocess.run([sys.executable, "-I", "-c", program], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": marker}, check=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["ids"] == [65534, 1]
    tops = {root.split("/")[1] for root in [*_python_read_roots(), str(workdir)]}
    assert set(found["root"]) <= tops and "proc" not in found["root"]  # only what the interpreter needs
    assert found["udp"] == "Network is unreachable" and found["unix"] == "No such file or directory"
    assert found["disk"][0] <= 8 * 2**20 and found["disk"][1] == "No space left on device"
    assert found["fill0"] == "Permission denied"  # noexec
    assert found["/tmp/escape"] in ("Read-only file system", "No such file or directory")
    assert found["/escape"] == "Read-only file system"
    assert nothing_arrived(listeners["udp"]) and nothing_arrived(listeners["unix"])
    assert processes_of_run(marker) == []  # the setsid child died with the namespace


@needs_namespaces
def test_native_disk_fill_is_bounded_by_the_work_folder_size(preinstalled_attack):
    limits = SandboxLimits(timeout_s=5, memory_mb=256, disk_mb=16)
    result = run_python(load_attack(library=preinstalled_attack), "diskfill 1024\n", limits=limits)
    written, errno = report(result)["wrote"].split(" errno ")
    assert 8 * 2**20 < int(written) <= 16 * 2**20 and errno == "28"  # ENOSPC once the folder is full


@pytest.mark.parametrize("limits", [SandboxLimits(timeout_s=5, memory_mb=256, disk_mb=16, output_mb=4), FALLBACK],
                         ids=["namespaces", "fallback"])
def test_python_disk_fill_gets_a_clear_verdict(limits):
    if limits.namespaces and not namespace_support()[0]:
        pytest.skip("this kernel forbids namespaces")
    program = """
import os
block, total = b"x" * 2**20, 0
try:
    for number in range(10_000):
        with open(f"fill{number}", "wb") as handle:  # 2 MB each: far under the per-file limit
            for _ in range(2):
                handle.write(block)
                total += len(block)
finally:
    print(total, flush=True)
"""
    result = run_python(program, limits=limits)
    assert not result.ok
    if limits.namespaces:
        assert int(result.stdout) <= 16 * 2**20
        assert result.failure().startswith("disk limit of the work folder (OSError: [Errno 28] No space left")
    else:
        assert int(result.stdout) == 0 and "this sandbox is read-only" in result.failure()


@needs_namespaces
def test_the_program_sees_only_its_own_namespaces():
    program = """
import os
print(os.getuid(), os.getgid(), os.getpid())
print(sorted(os.listdir(os.getcwd())), len(os.listdir(os.path.dirname(os.__file__))) > 100)
"""
    result = run_python(program, limits=FAST)
    assert result.ok, result.stderr
    ids, listing = result.stdout.splitlines()
    assert ids == "65534 65534 1"  # unprivileged, and the first process of its own PID namespace
    assert listing == "[] True"
    assert result.isolation.startswith("namespaces (user, pid, net, mount, ipc")


@pytest.mark.parametrize("limits", [FAST, FALLBACK], ids=["namespaces", "fallback"])
def test_grading_is_unchanged_in_both_modes(limits):
    grader = Grader(sandbox_limits=limits)
    try:
        problem = next(p for p in BUILTIN_PROBLEMS if p.id == "code-01")
        grade = grader.grade_code(fenced(REFERENCE_SOLUTIONS[problem.id]), problem.tests)
        assert grade.correct is True, grade.detail
    finally:
        grader.close()


def _run_in_a_user_namespace(python_code: str, *, uid: int, before: str = "") -> subprocess.CompletedProcess:
    """Run ``python_code`` as ``uid`` inside a user namespace of its own (``unshare`` from util-linux), the
    way the app runs when it is not root."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-U", "true"], capture_output=True,
                                                                     check=False).returncode:
        pytest.skip("cannot create a user namespace here to run the app as an unprivileged user")
    inner = (f"unshare --user --map-user={uid} --map-group={uid} {sys.executable} -c {shlex.quote(python_code)}")
    command = ["unshare", "--user", "--map-root-user", "sh", "-c", f"{before}{inner}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parent.parent)


PROBE_AS_APP = """
import json, logging
logging.basicConfig(format="%(levelname)s %(message)s")
from vibedash.solve.sandbox import namespace_support, run_python
result = run_python("import os\\nprint(os.getuid(), os.getpid())\\nopen('f', 'w').write('x')\\nprint(open('f').read())")
print(json.dumps([namespace_support()[0], result.stdout, result.isolation, result.failure()]))
"""


@needs_namespaces
def test_an_app_that_is_not_root_gets_the_same_namespaces():
    done = _run_in_a_user_namespace(PROBE_AS_APP, uid=1000)
    assert done.returncode == 0, done.stderr
    supported, stdout, isolation, failure = json.loads(done.stdout.splitlines()[-1])
    assert supported and stdout == "65534 1\nx\n" and failure is None
    assert isolation.startswith("namespaces")


def test_where_the_kernel_refuses_namespaces_runs_fall_back_with_a_warning():
    # A user namespace allowed to hold only one more: the sandbox's own unshare is refused (ENOSPC).
    done = _run_in_a_user_namespace(PROBE_AS_APP, uid=1000,
                                    before="echo 1 > /proc/sys/user/max_user_namespaces && ")
    assert done.returncode == 0, done.stderr
    supported, stdout, isolation, failure = json.loads(done.stdout.splitlines()[-1])
    assert not supported and stdout.startswith("1000 ")  # ran, as the app's own user
    assert failure == "exit code 1: PermissionError: sandbox: open on 'f' is not allowed (this sandbox is read-only)"
    assert isolation.startswith("fallback without namespaces")
    assert "WARNING vibedash sandbox: namespaces unavailable" in done.stderr


@needs_namespaces
def test_grading_hostile_programs_gives_a_verdict_that_says_why(grader, attack_library):
    tests = [TestCase("1 2\n", "3\n")]
    disk_fill = "while True:\n    open(f'f{__import__(\"os\").urandom(4).hex()}', 'wb').write(b'x' * 2**22)"
    verdicts = {
        "native import": (load_attack(library_bytes=attack_library),
                          "test 1 of 1: exit code 1: ImportError: "),
        "disk fill": (disk_fill, "test 1 of 1: disk limit of the work folder (OSError: [Errno 28] No space left"),
        "endless loop": ("while True:\n    pass", "test 1 of 1: timed out"),
    }
    for name, (program, detail) in verdicts.items():
        grade = grader.grade_code(fenced(program), tests)
        assert grade.correct is False and grade.detail.startswith(detail), (name, grade.detail)


def test_the_fallback_drops_root_only_where_nobody_can_reach_the_interpreter():
    """As root without namespaces the launcher becomes ``nobody`` (RLIMIT_NPROC then binds) unless that would
    leave the interpreter out of reach, as under /root (mode 0700)."""
    base = Path(tempfile.mkdtemp(prefix="vibedash-reach-"))
    try:
        base.chmod(0o755)
        if not all(os.stat(parent).st_mode & 0o001 for parent in base.parents):
            pytest.skip(f"{base.parent} is not open to other users")
        open_folder, closed_folder = base / "open", base / "closed"
        for folder, mode in ((open_folder, 0o755), (closed_folder, 0o700)):
            (folder / "lib").mkdir(parents=True)
            (folder / "lib" / "python").write_text("")
            (folder / "lib" / "python").chmod(0o755)
            folder.chmod(mode)
        assert _sandbox_launcher._reachable_by_others(str(open_folder / "lib" / "python")) is True
        assert _sandbox_launcher._reachable_by_others(str(closed_folder / "lib" / "python")) is False
        assert _sandbox_launcher._reachable_by_others(str(closed_folder)) is False
    finally:
        shutil.rmtree(base, ignore_errors=True)
