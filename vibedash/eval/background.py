"""Evaluations started from a page run as their own process (``python -m vibedash eval``), so they survive
page reloads and navigation and never block the server; pages follow them through the registry (the eval
run's counters) and cancel them there.

The database URL reaches the child through its environment, never its command line (where ``ps`` would show
a password); its output goes to a log file beside the uploaded problem sets.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vibedash.eval.problem_sets import ProblemSet, load_problem_set


def work_folder() -> Path:
    folder = Path(os.environ.get("VIBEDASH_EVAL_DIR") or Path(tempfile.gettempdir()) / "vibedash-eval")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_upload(name: str, data: bytes) -> Path:
    """Keep an uploaded problem file under a name made of its content (the same upload, the same file: a
    resumed evaluation finds its protocol again)."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(name).name)[:80] or "problems.jsonl"
    stem, dot, suffix = safe.partition(".")
    path = work_folder() / "problem_sets" / f"{stem}.{digest}{dot}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path


@dataclass(frozen=True)
class Started:
    pid: int
    log: Path
    problem_set: ProblemSet


def start(db_url: str, commit: str, problems: Path, *, k: int, budgets: str | None = None,
          max_new_tokens: int | None = None, benchmark: str | None = None, actor: str | None = None) -> Started:
    """Check the problem file (ProblemFileError, one line, when unreadable) and start the evaluation."""
    problem_set = load_problem_set(problems)
    argv = [sys.executable, "-m", "vibedash", "eval", "--commit", commit, "--problems", str(problems), "--k", str(k)]
    if budgets:
        argv += ["--thinking-budget", budgets]
    if max_new_tokens:
        argv += ["--max-new-tokens", str(max_new_tokens)]
    if benchmark:
        argv += ["--benchmark", benchmark]
    env = {**os.environ, "VIBEDASH_DB_URL": db_url}
    if actor:
        env["VIBEDASH_ACTOR"] = actor
    log = work_folder() / f"eval-{commit[:12]}-{problem_set.digest[:8]}.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   cwd=str(Path(__file__).resolve().parents[2]), start_new_session=True)
    return Started(pid=process.pid, log=log, problem_set=problem_set)
