"""Shared by the action-page tests and the browser tests: the settings that point vibedash at a Netlify
simulator (seed it with vibedash.registry.demo.seed_simulator), a `streamlit run` server on a free loopback port,
the chromium a browser test drives, and the walk that looks at every page.

The walk (:func:`walk`) opens each view, looks at it at 1440 px and at 800 px wide, saves a screenshot of the whole
page (under $VIBEDASH_SCREENSHOTS when set, else a pytest temporary folder; ``index.txt`` there lists them) and
returns what is wrong with it:

- an exception box (Streamlit's stException);
- a table wider than the column it sits in, a page that scrolls sideways as a whole, or a wide table that scrolls
  its first column out of view (it must be pinned, so a row stays recognisable) or cannot reach its last one;
- an emoji anywhere in the interface (a stock chromium without an emoji font draws them all as the same box);
- a favicon fetched from elsewhere (it must work offline).

The checks look at structure (test ids, geometry, characters), not wording, so pages may change their text."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from vibedash.netlify.simulator import NetlifySimulator

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token"


def netlify_environment(sim: NetlifySimulator, site_id: str) -> dict[str, str]:
    """The settings that point vibedash at the simulator."""
    return {"NETLIFY_AUTH_TOKEN": sim.token, "NETLIFY_SITE_ID": site_id, "VIBEDASH_NETLIFY_API_URL": sim.api_url}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def streamlit_server(env: Mapping[str, str], log_path: Path, *, script: Path = REPO / "app.py",
                     timeout_s: float = 60.0) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port; yields its base URL once /_stcore/health says ok.

    It runs in the repository (its .streamlit/config.toml applies). Output goes to ``log_path``: a pipe nobody
    reads can fill up and block the server.
    """
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false"]
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(base_url, process, log_path, timeout_s)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_healthy(base_url: str, process: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if requests.get(f"{base_url}/_stcore/health", timeout=2).text.strip() == "ok":
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"streamlit did not become healthy within {timeout_s:.0f} s:\n"
                       f"{log_path.read_text(errors='replace')}")


def chromium_path() -> str | None:
    """The chromium to drive: CHROMIUM_PATH, else the one on PATH (Debian's `chromium` package)."""
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


# Without the background-networking flags chromium tries to reach the internet at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


# --- looking at every page ------------------------------------------------------------------------------

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
WIDTHS = (1440, 800)
HEIGHT = 900
TIMEOUT_MS = 30_000
ROW_PX = 35

# What the page must not show; returns a list of problems (empty when the view is fine). Run in the page.
PROBLEMS = r"""() => {
    const problems = [];
    const visible = el => el.checkVisibility() && el.getBoundingClientRect().width > 0;
    for (const box of document.querySelectorAll("[data-testid='stException']")) {
        if (visible(box)) problems.push("exception box: " + box.innerText.slice(0, 200));
    }
    const main = document.querySelector("[data-testid='stMain']");
    if (main && main.scrollWidth > main.clientWidth + 1) {
        problems.push(`the page scrolls sideways: ${main.scrollWidth} px of content in ${main.clientWidth} px`);
    }
    for (const table of document.querySelectorAll("[data-testid='stDataFrame']")) {
        if (!visible(table)) continue;
        const rect = table.getBoundingClientRect();
        const name = (table.innerText || "").split("\n")[0].slice(0, 40);
        // The nearest block that lays it out (a column, a container, the main area): the table must fit in it.
        const holder = table.parentElement.closest(
            "[data-testid='stVerticalBlock'], [data-testid='stColumn'], [data-testid='stMainBlockContainer']");
        if (holder) {
            const box = holder.getBoundingClientRect();
            if (rect.right > box.right + 1 || rect.left < box.left - 1) {
                problems.push(`table "${name}" is ${Math.round(rect.width)} px wide ` +
                              `in a ${Math.round(box.width)} px column`);
            }
        }
        if (rect.right > window.innerWidth + 1) problems.push(`table "${name}" runs past the window's right edge`);
        // Wider than its own area: it must scroll there, not clip.
        const scroller = table.querySelector(".dvn-scroller");
        if (scroller && scroller.scrollWidth > scroller.clientWidth + 1) {
            const overflow = getComputedStyle(scroller).overflowX;
            if (overflow !== "auto" && overflow !== "scroll") {
                problems.push(`table "${name}" is cut off: ${scroller.scrollWidth} px of columns ` +
                              `in ${scroller.clientWidth} px, no scroll bar`);
            }
        }
    }
    // Emoji: characters drawn as colour emoji by default, and the emoji variation selector.
    const emoji = /\p{Emoji_Presentation}|\uFE0F/u;
    const cells = [...document.querySelectorAll("[id^='glide-cell'], [role='columnheader']")].map(c => c.textContent);
    const alts = [...document.querySelectorAll("[title], [aria-label], [placeholder]")].map(el =>
        [el.getAttribute("title"), el.getAttribute("aria-label"), el.getAttribute("placeholder")].join(" "));
    for (const text of [document.body.innerText, ...cells, ...alts]) {
        const found = text && text.match(new RegExp(emoji.source, "gu"));
        if (found) { problems.push("emoji in the interface: " + [...new Set(found)].join(" ")); break; }
    }
    for (const link of document.querySelectorAll("link[rel~='icon']")) {
        const href = link.getAttribute("href") || "";
        if (/^(https?:)?\/\//.test(href) && !href.startsWith(location.origin)) {
            problems.push("favicon from elsewhere: " + href.slice(0, 80));
        }
    }
    return problems;
}"""

# Charts and tables draw themselves again after a resize; a screenshot waits until each has its size.
# Tables also wait for their accessible copy (the cells' text), which the checks read.
DRAWN = """() => [...document.querySelectorAll("[data-testid='stDataFrame'], [data-testid='stVegaLiteChart']")]
    .filter(el => el.checkVisibility())
    .every(el => el.getBoundingClientRect().width > 100 && el.getBoundingClientRect().height > 30
                 && (el.dataset.testid !== "stDataFrame" || el.querySelector("[role='columnheader']")))"""


# After a resize the grids and charts lay themselves out again, over several frames: the widths must read the
# same on two polls in a row before a width is judged (else a table still at the wider window's size looks cut).
LAYOUT_STILL = """() => { const widths = [...document.querySelectorAll(
        "[data-testid='stDataFrame'], [data-testid='stVegaLiteChart'], [data-testid='stMain']")]
    .map(el => Math.round(el.getBoundingClientRect().width)).join(",");
    const still = window.__vibedashWidths === widths; window.__vibedashWidths = widths; return still; }"""


def wait_for_still_layout(page) -> None:
    page.evaluate("() => { window.__vibedashWidths = null; }")
    page.wait_for_function(LAYOUT_STILL, polling=250, timeout=TIMEOUT_MS)


# Tables wider than their area, scrolled to their right end: the grid's accessible table lists the columns in
# view, so the first column must still be there (pinned: the row stays recognisable) and so must the last.
SCROLL_RIGHT = """() => [...document.querySelectorAll("[data-testid='stDataFrame']")].filter(t => t.checkVisibility())
    .map((table, i) => { const s = table.querySelector(".dvn-scroller");
        if (!s || s.scrollWidth <= s.clientWidth + 1) return null;
        s.scrollLeft = s.scrollWidth; s.dispatchEvent(new Event("scroll")); return i; })
    .filter(i => i !== null)"""
COLUMNS_IN_VIEW = """(indexes) => { const tables = [...document.querySelectorAll("[data-testid='stDataFrame']")]
    .filter(t => t.checkVisibility());
    return indexes.map(i => { const t = tables[i]; const grid = t.querySelector("table[role='grid']");
        const shown = [...t.querySelectorAll("[role='columnheader']")]
            .map(h => Number(h.getAttribute("aria-colindex")));
        const s = t.querySelector(".dvn-scroller"); s.scrollLeft = 0; s.dispatchEvent(new Event("scroll"));
        return {name: (shown.length ? t.querySelector("[role='columnheader']").textContent : "?"),
                count: grid ? Number(grid.getAttribute("aria-colcount")) : 0, shown}; }); }"""


def wide_tables_scroll_deliberately(page) -> list[str]:
    scrolled = page.evaluate(SCROLL_RIGHT)
    if not scrolled:
        return []
    page.wait_for_timeout(400)  # the grid redraws the columns in view on its next frames
    problems = []
    for table in page.evaluate(COLUMNS_IN_VIEW, scrolled):
        if 1 not in table["shown"]:
            problems.append(f"table starting \"{table['name']}\" scrolls its first column out of view (pin it)")
        if table["count"] and table["count"] not in table["shown"]:
            problems.append(f"table starting \"{table['name']}\" cannot be scrolled to its last column")
    return problems


def settle(page) -> None:
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


def screenshots_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("VIBEDASH_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def look_at(page, name: str, width: int, folder: Path) -> list[str]:
    """Check the view at ``width``, then save a screenshot of the whole page; returns the problems found."""
    page.set_viewport_size({"width": width, "height": HEIGHT})
    settle(page)
    page.wait_for_function(DRAWN, timeout=TIMEOUT_MS)
    wait_for_still_layout(page)
    problems = [f"{name} at {width} px: {p}" for p in page.evaluate(PROBLEMS) + wide_tables_scroll_deliberately(page)]
    # Streamlit scrolls inside its main section: grow the window to the page's height for a full screenshot.
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": width, "height": min(max(height, HEIGHT), 6000)})
    page.wait_for_function(DRAWN, timeout=TIMEOUT_MS)
    path = folder / f"{name}-{width}.png"
    page.screenshot(path=str(path))
    with (folder / "index.txt").open("a") as index:
        index.write(f"{path}\n")
    return problems


def walk(base_url: str, views: list[tuple[str, str]], folder: Path, extra=None) -> list[str]:
    """Open each (name, path) view, look at it at every width; ``extra(page, name)`` adds checks of its own."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_path()
    if chromium is None:
        pytest.fail("chromium not found: install it (apt-get install -y chromium) or set CHROMIUM_PATH")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTHS[0], "height": HEIGHT})
            page.set_default_timeout(TIMEOUT_MS)
            for name, path in views:
                page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
                page.goto(base_url + path)
                page.wait_for_selector("[data-testid='stMain'] h1", timeout=TIMEOUT_MS)
                settle(page)
                for width in WIDTHS:
                    problems += look_at(page, name, width, folder)
                if extra is not None:
                    problems += extra(page, name)
        finally:
            browser.close()
    return problems


def history_table_fits_its_rows(sha: str):
    """A search that leaves one version (``sha``): History's table is one row tall, not a fixed 15 rows."""
    return lambda page, name: _one_row_table(page, sha) if name == "history" else []


def _one_row_table(page, sha: str) -> list[str]:
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    search = page.get_by_role("textbox", name="Search")
    search.fill(sha[:9])
    search.press("Enter")
    settle(page)
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:  # the grid's accessible table counts its rows, the header included
        page.wait_for_function("""() => document.querySelector("[data-testid='stDataFrame'] [aria-rowcount='2']")""",
                               timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        return ["history: a search for one version did not leave one row"]
    height = page.evaluate("() => document.querySelector(\"[data-testid='stDataFrame']\").getBoundingClientRect()"
                           ".height")
    if height > 2 * ROW_PX + 10:
        return [f"history: one row in a table {height:.0f} px tall"]
    return []
