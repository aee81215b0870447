"""The code sandbox: correct programs pass, hostile programs fail without harming anything outside."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vibedash.registry.db import open_registry
from vibedash.solve import _sandbox_launcher
from vibedash.solve.grading import Grader
from vibedash.solve.problems import BUILTIN_PROBLEMS, TestCase
from vibedash.solve.sandbox import SandboxLimits, landlock_abi, run_python

FAST = SandboxLimits(timeout_s=1.5, memory_mb=256)

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
    names, listing, cwd = __import__("json").loads(result.stdout)
    assert names == ["HOME", "LANG", "OMP_NUM_THREADS", "PATH", "TMPDIR"]
    assert listing == [] and "vibedash-sandbox-" in cwd and cwd != os.getcwd()


def test_network_ctypes_and_tracing_are_refused():
    for program in ("import socket\nsocket.create_connection(('127.0.0.1', 9))", "import ctypes",
                    "import sys\nsys.settrace(lambda *args: None)", "import gc\ngc.get_objects()"):
        result = run_python(program, limits=FAST)
        assert not result.ok and "not allowed" in result.stderr, program


def test_endless_output_is_capped():
    result = run_python("while True:\n    print('x' * 4096)\n", limits=SandboxLimits(timeout_s=5, output_mb=1))
    assert not result.ok and not result.timed_out
    assert len(result.stdout) <= 1024 * 1024


def test_a_timed_out_program_is_killed():
    result = run_python("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(30)",
                        limits=SandboxLimits(timeout_s=0.5))
    assert result.timed_out
    assert not Path(f"/proc/{int(result.stdout)}").exists()  # the whole process group was killed


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
