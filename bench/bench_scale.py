"""Speed at scale: every page, the CLI and a cold start, on a small, a large and a heavy registry.

    python bench/bench_scale.py                       # 100 and 100,000 versions, and the heavy registry
    python bench/bench_scale.py --quick               # a smoke run: small sizes, one run each, no browser
    python bench/bench_scale.py --sizes small,large --runs 5 --pages overview,retention
    python bench/bench_scale.py --large 20000 --heavy-deploys 200000 --heavy-events 200000

Registries (bench/scale_data.py, seeded, built in seconds by bulk inserts, reused while the schema and the
size are the same; --rebuild forces a new build):

    small  100 versions, one deploy each
    large  100,000 versions (--large), one deploy each
    heavy  100,000 versions with 1,000,000 deploys (--heavy-deploys) and 1,000,000 audit events (--heavy-events)

Each page runs in its own process through AppTest (the real app.py router): "first" is a new session on a
cold process (engine opened, modules imported), "fresh" reruns after st.cache_data.clear() (what a change or the
read TTL does: every read hits the database again), "warm" reruns with the cache in place, "after a write"
reruns just after one small real write through the product's code (a pin or an unpin of the newest deploy,
with its audit line: the registry generation moves, so every value cached for the old one misses; the page's
own cache is cleared as the app does after a change). Medians of --runs. Pages run on a scratch copy of each
registry (the writes never touch the kept one; --no-after-write skips both).
"peak" is the process's peak resident memory (VmHWM) after the page's runs; then one process per size opens every
page in turn (AppTest, as a person browsing) and its peak is printed with the ratio to small (--no-browse skips). The tables print each size and the
ratio large/small and heavy/small; a page that imports torch or transformers is flagged.

The CLI's `list` and `show` are timed as a person runs them (a new process each). Cold start: `streamlit run`
until the overview is drawn in an open Chromium with an empty cache (Playwright, /usr/bin/chromium), on the
heavy registry if built; beside it, alternated, a one-line Streamlit app timed the same way (the floor that
Streamlit's own start and the browser loading its scripts set).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scale_data import Shape, build_registry, deploy_id_of, live_sha, newest_sha  # noqa: E402

PAGE_NAMES = ("overview", "history", "version", "compare", "promote", "retention", "settings", "solve")
HEAVY_MODULES = ("torch", "transformers")
SLOW_PAGE_S = 20.0  # a page whose first run takes longer runs once fresh and once warm (keeps runs bounded)


# --- one page in its own process ----------------------------------------------------------------------------

def page_worker(db: Path, page: str, runs: int, shape: Shape, after_write: bool = False) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from vibedash.ui import frame

    files = {"overview": frame.OVERVIEW, "history": frame.HISTORY, "version": frame.VERSION,
             "compare": frame.COMPARE, "promote": frame.PROMOTE, "retention": frame.RETENTION,
             "settings": frame.SETTINGS, "solve": frame.SOLVE}
    params = {"version": {"commit": newest_sha(shape)},
              "compare": {"commits": f"{live_sha(shape)},{newest_sha(shape)}"}}.get(page, {})
    os.environ["VIBEDASH_DB_URL"] = f"sqlite:///{db}"
    os.chdir(tempfile.mkdtemp(prefix="vibedash-scale-cwd-"))  # no checkout secrets or policy files
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    if page != "overview":
        at.switch_page(files[page])
    for key, value in params.items():
        at.query_params[key] = value

    def run_once(clear: bool) -> float:
        if clear:
            st.cache_data.clear()
        began = time.perf_counter()
        at.run()
        elapsed = (time.perf_counter() - began) * 1000
        if at.exception:
            raise RuntimeError(f"{page}: {[e.value for e in at.exception][:1]}")
        return elapsed

    first = run_once(False)
    repeat = runs if first < SLOW_PAGE_S * 1000 else 1
    fresh = [run_once(True) for _ in range(repeat)]
    warm = [run_once(False) for _ in range(repeat)]
    out = {"first_ms": first, "fresh_ms": statistics.median(fresh), "warm_ms": statistics.median(warm)}
    if after_write:
        out["after_write_ms"] = statistics.median(after_writes(db, shape, repeat, run_once))
    return {**out, "peak_mib": _peak_rss_mib(), "heavy_imports": [m for m in HEAVY_MODULES if m in sys.modules],
            "runs": repeat}


def after_writes(db: Path, shape: Shape, repeat: int, run_once) -> list[float]:
    """Each rerun just after a pin or an unpin of the newest deploy (set_pin: the deploy row and its audit
    line, one transaction each, through an engine of its own as another client's would be)."""
    from vibedash.actions.deploys import set_pin
    from vibedash.registry.db import open_registry

    writer = open_registry(f"sqlite:///{db}")
    target = deploy_id_of(shape.n_deploys - 1)
    times = []
    try:
        for k in range(repeat):
            pinned = k % 2 == 0
            set_pin(writer, target, pinned=pinned, actor="bench", reason="bench: a write between reruns" if pinned
                    else None)
            times.append(run_once(True))
        if repeat % 2:
            set_pin(writer, target, pinned=False, actor="bench")
    finally:
        writer.dispose()
    return times


def browse_worker(db: Path, shape: Shape) -> dict:
    """One server-like process that opens every page in turn, as a person browsing the dashboard: its peak
    resident memory at the end (what the issue's "after browsing every page" means)."""
    import streamlit as st  # noqa: F401  (imported before the clock, as in page_worker)
    from streamlit.testing.v1 import AppTest

    from vibedash.ui import frame

    os.environ["VIBEDASH_DB_URL"] = f"sqlite:///{db}"
    os.chdir(tempfile.mkdtemp(prefix="vibedash-scale-cwd-"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600)
    visits = [(frame.OVERVIEW, {}), (frame.HISTORY, {}), (frame.VERSION, {"commit": newest_sha(shape)}),
              (frame.COMPARE, {"commits": f"{live_sha(shape)},{newest_sha(shape)}"}), (frame.PROMOTE, {}),
              (frame.RETENTION, {}), (frame.SETTINGS, {}), (frame.SOLVE, {}), (frame.OVERVIEW, {})]
    after: dict[str, float] = {}
    for page, params in visits:
        at.switch_page(page)
        at.query_params.clear()
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        if at.exception:
            raise RuntimeError(f"{page}: {[e.value for e in at.exception][:1]}")
        after[Path(page).stem] = _peak_rss_mib()
    return {"peak_mib": _peak_rss_mib(), "peak_after_mib": after}


def measure_browse(db: Path, shape: Shape, timeout_s: float) -> dict:
    return run_worker([sys.executable, __file__, "--worker-browse", "--worker-db", str(db),
                       "--worker-shape", json.dumps([shape.versions, shape.deploys, shape.events])], timeout_s)


def run_worker(cmd: list[str], timeout_s: float) -> dict:
    """A worker process's JSON result (its last line that is an object), or {"error": why}."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout_s:.0f} s (stopped)"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail) or f"exit {done.returncode}"}


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_page(db: Path, shape: Shape, page: str, runs: int, timeout_s: float, after_write: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--worker-page", page, "--worker-db", str(db), "--runs", str(runs),
           "--worker-shape", json.dumps([shape.versions, shape.deploys, shape.events])]
    if after_write:
        cmd.append("--worker-after-write")
    return run_worker(cmd, timeout_s)


# --- the CLI, as a person runs it ---------------------------------------------------------------------------

def measure_cli(db: Path, shape: Shape, runs: int) -> dict[str, float]:
    env = {**os.environ, "VIBEDASH_DB_URL": f"sqlite:///{db}", "PYTHONPATH": str(REPO)}
    out = {}
    for name, args in (("list", ["list"]), ("show", ["show", newest_sha(shape)[:12]])):
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "vibedash", *args], capture_output=True, text=True,
                                  env=env, cwd=tempfile.gettempdir())
            times.append((time.perf_counter() - began) * 1000)
            if done.returncode != 0:
                raise RuntimeError(f"vibedash {name} failed: {done.stderr.strip()[:300]}")
        out[name] = statistics.median(times)
    return out


# --- cold start in a real browser ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FLOOR_APP = 'import streamlit as st\n\nst.write("Live now")\n'


def cold_start(db: Path, script: Path | None = None) -> dict[str, float]:
    """Seconds from `streamlit run` to health ok, and to an overview drawn in Chromium ("Live now" visible, the
    script done). The browser is started first, outside the clock: a person's browser is already open (its
    cache is empty, as on a first visit). ``script``: another app to time the same way (the floor below)."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    log = open(Path(tempfile.gettempdir()) / f"vibedash-scale-streamlit-{port}.log", "w")
    env = {**os.environ, "VIBEDASH_DB_URL": f"sqlite:///{db}", "PYTHONPATH": str(REPO)}
    server = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            began = time.perf_counter()
            server = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(script or REPO / "app.py"), "--server.headless",
                 "true", "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats",
                 "false", "--server.fileWatcherType", "none"], stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=tempfile.mkdtemp(prefix="vibedash-scale-cwd-"))
            health = None
            while time.perf_counter() - began < 120:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                        if r.read().strip() == b"ok":
                            health = time.perf_counter() - began
                            break
                except OSError:
                    time.sleep(0.02)
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text("Live now").first.wait_for(timeout=120_000)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)
            drawn = time.perf_counter() - began
            browser.close()
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()
    return {"health_s": health or float("nan"), "drawn_s": drawn}


def cold_starts(db: Path, runs: int) -> dict[str, float]:
    """Medians of ``runs`` cold starts of the dashboard, each beside one of a one-line Streamlit app (the floor:
    Streamlit's own start and the browser loading its scripts), alternated so both see the same machine."""
    floor_dir = Path(tempfile.mkdtemp(prefix="vibedash-scale-floor-"))
    (floor_dir / "floor_app.py").write_text(FLOOR_APP)
    app, floor = [], []
    for _ in range(runs):
        app.append(cold_start(db))
        floor.append(cold_start(db, floor_dir / "floor_app.py"))
    shutil.rmtree(floor_dir, ignore_errors=True)
    return {"health_s": statistics.median(r["health_s"] for r in app),
            "drawn_s": statistics.median(r["drawn_s"] for r in app),
            "floor_drawn_s": statistics.median(r["drawn_s"] for r in floor), "runs": runs}


# --- registries ---------------------------------------------------------------------------------------------

def schema_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(REPO / "migrations")).get_current_head() or "none"


def schema_fingerprint() -> str:
    """A short hash of what a built registry depends on: the whole revision chain (ids and their parents, so a
    branch whose 0007 had another history differs), every table, column and index the models declare, the
    migrations' own source (triggers and fills are schema too) and the generator's own source. A registry is
    reused only when all of these match, never on the head id alone."""
    import hashlib

    from alembic.script import ScriptDirectory

    from vibedash.registry.models import Base

    chain = sorted(f"{r.revision}<{r.down_revision}" for r in ScriptDirectory(str(REPO / "migrations")).walk_revisions())
    tables = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        columns = ",".join(sorted(f"{c.name}:{c.type}" for c in table.columns))
        indexes = ",".join(sorted(f"{i.name}({','.join(c.name for c in i.columns)})" for i in table.indexes))
        tables.append(f"{table.name}[{columns}][{indexes}]")
    digest = hashlib.sha256("\n".join([*chain, *tables]).encode())
    for migration in sorted((REPO / "migrations" / "versions").glob("*.py")):
        digest.update(migration.read_bytes())
    digest.update((REPO / "bench" / "scale_data.py").read_bytes())
    return digest.hexdigest()[:12]


def registry_for(workdir: Path, name: str, shape: Shape, rebuild: bool) -> Path:
    path = workdir / f"{name}-{shape.label}-rev{schema_head()}-{schema_fingerprint()}.db"
    marker = Path(f"{path}.built")
    if path.exists() and marker.exists() and not rebuild:
        print(f"  {name}: reusing {path.name}", flush=True)
        return path
    marker.unlink(missing_ok=True)
    began = time.perf_counter()
    timings = build_registry(path, shape)
    marker.write_text(json.dumps(timings))
    detail = ", ".join(f"{table} {seconds:.1f}s" for table, seconds in timings.items())
    print(f"  {name}: built {shape.versions:,} versions, {shape.n_deploys:,} deploys, {shape.events or 0:,} "
          f"extra events in {time.perf_counter() - began:.1f} s ({detail})", flush=True)
    return path


def scratch_copy(path: Path) -> Path:
    """A copy of the registry at ``path`` for pages that write (the SQLite backup API: a consistent copy even
    with a WAL beside it); the kept registry is never written."""
    import sqlite3

    copy = path.with_name(f"{path.stem}.scratch.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    source, target = sqlite3.connect(f"file:{path}?mode=ro", uri=True), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return copy


def remove_scratch(copy: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)


# --- the report ---------------------------------------------------------------------------------------------

def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(big: float | None, small: float | None) -> str:
    if big is None or small is None or small <= 0:
        return "-"
    return f"{big / small:.2f}x"


def print_report(results: dict[str, dict[str, dict]], sizes: list[str]) -> None:
    bigs = [s for s in sizes if s != "small"]
    metrics = [("fresh_ms", "rerun on fresh data (ms)"), ("warm_ms", "warm rerun (ms)"),
               ("after_write_ms", "rerun after a write (ms)"), ("first_ms", "first run, cold process (ms)"),
               ("peak_mib", "peak memory (MiB)")]
    for metric, title in metrics:
        if not any(metric in r for row in results.values() for r in row.values()):
            continue
        header = f"{'page':<10}" + "".join(f"{s:>11}" for s in sizes)
        if "small" in sizes:
            header += "".join(f"{s + '/small':>14}" for s in bigs)
        print(f"\n{title}\n{header}")
        for page in results:
            row = results[page]
            values = [row.get(s, {}).get(metric) for s in sizes]
            line = f"{page:<10}" + "".join(f"{_fmt_ms(v) if v is not None else 'error':>11}" for v in values)
            if "small" in sizes:
                small = row.get("small", {}).get(metric)
                line += "".join(f"{_ratio(row.get(s, {}).get(metric), small):>14}" for s in bigs)
            print(line)
    errors = [(page, size, r["error"]) for page, row in results.items() for size, r in row.items() if "error" in r]
    for page, size, error in errors:
        print(f"  error: {page} on {size}: {error}")
    heavy = sorted({page for page, row in results.items() for r in row.values() if r.get("heavy_imports")})
    print(f"\npages that import torch or transformers: {', '.join(heavy) or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="small,large,heavy", help="registries to measure (small,large,heavy)")
    parser.add_argument("--small", type=int, default=100, help="versions in the small registry")
    parser.add_argument("--large", type=int, default=100_000, help="versions in the large registry")
    parser.add_argument("--heavy-versions", type=int, default=100_000)
    parser.add_argument("--heavy-deploys", type=int, default=1_000_000)
    parser.add_argument("--heavy-events", type=int, default=1_000_000)
    parser.add_argument("--pages", default=",".join(PAGE_NAMES), help="pages to run (comma-separated)")
    parser.add_argument("--runs", type=int, default=3, help="timed reruns per measurement; the median is shown")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 100 / 10,000 versions / 10,000 versions with 100,000 deploys and "
                             "events, one run each, no browser")
    parser.add_argument("--page-timeout", type=float, default=600,
                        help="seconds one page's process may take before it is stopped and reported as such")
    parser.add_argument("--no-browser", action="store_true", help="skip the cold start in Chromium")
    parser.add_argument("--no-cli", action="store_true", help="skip timing the CLI")
    parser.add_argument("--no-after-write", action="store_true",
                        help="skip the reruns after a write (and the scratch copies of the registries they need)")
    parser.add_argument("--cold-start-runs", type=int, default=3,
                        help="cold starts timed (each beside a one-line app's); the median is shown")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vibedash-scale",
                        help="where the registries are built and kept")
    parser.add_argument("--rebuild", action="store_true", help="build the registries again even if present")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--no-browse", action="store_true",
                        help="skip the peak memory of one process that opens every page in turn")
    parser.add_argument("--worker-page", help=argparse.SUPPRESS)
    parser.add_argument("--worker-browse", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-shape", help=argparse.SUPPRESS)
    parser.add_argument("--worker-after-write", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker_browse:
        print(json.dumps(browse_worker(args.worker_db, Shape(*json.loads(args.worker_shape)))))
        return 0
    if args.worker_page:
        shape = Shape(*json.loads(args.worker_shape))
        print(json.dumps(page_worker(args.worker_db, args.worker_page, args.runs, shape, args.worker_after_write)))
        return 0

    if args.quick:
        args.large, args.heavy_versions, args.heavy_deploys, args.heavy_events = 10_000, 10_000, 100_000, 100_000
        args.runs, args.no_browser = 1, True
    shapes = {"small": Shape(args.small), "large": Shape(args.large),
              "heavy": Shape(args.heavy_versions, args.heavy_deploys, args.heavy_events)}
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in shapes]
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    if unknown or any(p not in PAGE_NAMES for p in pages):
        parser.error(f"sizes are {', '.join(shapes)}; pages are {', '.join(PAGE_NAMES)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"registries in {args.workdir} (schema {schema_head()}, fingerprint {schema_fingerprint()}):", flush=True)
    dbs = {size: registry_for(args.workdir, size, shapes[size], args.rebuild) for size in sizes}

    after_write = not args.no_after_write and bool(pages)  # no page, no rerun: no scratch copies either
    scratch = {size: scratch_copy(db) for size, db in dbs.items()} if after_write else dbs
    results: dict[str, dict[str, dict]] = {page: {} for page in pages}
    # Each page on every size in turn: on a shared machine the load drifts, and a page's ratios compare runs
    # made minutes apart rather than half an hour apart.
    for page in pages:
        for size in sizes:
            began = time.perf_counter()
            results[page][size] = measure_page(scratch[size], shapes[size], page, args.runs, args.page_timeout,
                                               after_write)
            outcome = results[page][size]
            written = f", after a write {outcome['after_write_ms']:,.1f} ms" if "after_write_ms" in outcome else ""
            print(f"  {size:<6} {page:<10} " + (f"error: {outcome['error']}" if "error" in outcome else
                  f"first {outcome['first_ms']:,.0f} ms, fresh {outcome['fresh_ms']:,.1f} ms, "
                  f"warm {outcome['warm_ms']:,.1f} ms{written}, peak {outcome['peak_mib']:,.0f} MiB") +
                  f"  ({time.perf_counter() - began:.0f} s)", flush=True)
    if after_write:
        for copy in scratch.values():
            remove_scratch(copy)
    print_report(results, sizes)

    browse: dict[str, dict] = {}
    if not args.no_browse:
        print("\nbrowsing every page in one process (overview, history, version, compare, promote, retention, "
              "settings, solve, overview): peak memory")
        for size in sizes:
            browse[size] = measure_browse(dbs[size], shapes[size], args.page_timeout)
            outcome = browse[size]
            ratio = (f"  ({outcome['peak_mib'] / browse['small']['peak_mib']:.2f}x small)"
                     if size != "small" and "peak_mib" in browse.get("small", {}) and "peak_mib" in outcome
                     else "")
            print(f"  {size:<6} " + (f"error: {outcome['error']}" if "error" in outcome else
                                     f"{outcome['peak_mib']:,.0f} MiB{ratio}"), flush=True)

    cli: dict[str, dict[str, float]] = {}
    if not args.no_cli:
        print("\nCLI (new process each, ms)")
        for size in sizes:
            cli[size] = measure_cli(dbs[size], shapes[size], args.runs)
            print(f"  {size:<6} list {cli[size]['list']:,.0f}   show {cli[size]['show']:,.0f}")
    start: dict[str, float] = {}
    if not args.no_browser:
        if not shutil.which("/usr/bin/chromium"):
            print("\ncold start: skipped (no /usr/bin/chromium)")
        else:
            target = "heavy" if "heavy" in dbs else sizes[-1]
            start = cold_starts(dbs[target], args.cold_start_runs)
            print(f"\ncold start on {target} (median of {start['runs']}): health {start['health_s']:.2f} s, "
                  f"overview drawn in Chromium {start['drawn_s']:.2f} s; a one-line Streamlit app, drawn the "
                  f"same way: {start['floor_drawn_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"pages": results, "browse": browse, "cli": cli, "cold_start": start,
                                         "shapes": {s: vars(shapes[s]) for s in sizes}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
