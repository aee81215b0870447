"""One way to show numbers, times and names on every page."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from vibedash.decisions.benchmarks import display_name

if TYPE_CHECKING:
    from vibedash.decisions.gate import Verdict


def score(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def delta(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "–"
    return f"[{low:+.1f}, {high:+.1f}]"


def short(sha: str | None) -> str:
    return (sha or "")[:7] or "–"


def exact_time(moment: datetime | None) -> str:
    if moment is None:
        return "–"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def relative_time(moment: datetime | None, now: datetime | None = None) -> str:
    """'3 days ago', 'in 2 hours', 'just now'."""
    if moment is None:
        return "never"
    now = now or datetime.now(timezone.utc)
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600),
                       ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {sec} s"


def live_for(since: datetime | None, now: datetime | None = None) -> str:
    """'just went live' or 'live for 2 h 5 min', counted from when the deploy went live this time."""
    if since is None:
        return "live"
    seconds = ((now or datetime.now(timezone.utc)) - since).total_seconds()
    return "just went live" if seconds < 60 else f"live for {duration(seconds)}"


# Registry keys as they appear inside generated sentences (gate details, retention reasons); whole words only,
# so "aime25_extra" or a sha are left alone.
_BENCHMARK_KEY = re.compile(r"(?<![\w/.-])(aime\d{2}|hmmt\d{2}|lcb_v\d+|gpqa_diamond|math500|livecodebench)(?![\w/-])")


@functools.lru_cache(maxsize=8192)  # a chart words thousands of reasons, the same ones rerun after rerun
def benchmark_words(text: str) -> str:
    """A sentence with benchmark keys written as the product writes them: 'lcb_v6' -> 'LCB v6'."""
    return _BENCHMARK_KEY.sub(lambda m: display_name(m.group(1)), text)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&])")


def plain(text: str) -> str:
    """Text from a URL or a person, safe inside st.markdown, captions and alerts: shown as typed, never as
    Markdown, links, icons or LaTeX."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


# Pass and fail marks: Material icons in Markdown (they render without an emoji font); plain text glyphs in
# table cells, which draw text only.
PASS_ICON = ":green[:material/check_circle:]"
FAIL_ICON = ":red[:material/cancel:]"
PASS_MARK, FAIL_MARK = "✓", "✗"


def with_plain(message: str, *typed: str) -> str:
    """A sentence of ours that quotes text from a URL or a person: the quoted parts shown as typed (never as
    Markdown), the rest of the sentence (code spans, say) as written. When a quote is not found verbatim (repr
    escaped it), the whole sentence is shown as typed."""
    for text in (t for t in typed if t):
        if text not in message:
            return plain(message)
        message = message.replace(text, plain(text))
    return message


WARN_ICON = ":orange[:material/warning:]"
_MARK_ICONS = {PASS_MARK: PASS_ICON, "⚠": WARN_ICON, FAIL_MARK: FAIL_ICON}


def mark_icon(mark: str) -> str:
    """The Markdown icon of a gate check's mark ("✓", "⚠" passes with a warning, "✗")."""
    return _MARK_ICONS.get(mark, mark)


# --- the gate's verdict -----------------------------------------------------------------------------------

def verdict_lines(verdict: Verdict) -> str:
    """Markdown: every rule of the verdict with its icon (passes, passes with a warning, fails) and the numbers
    behind it, benchmarks by their display names."""
    return "\n".join(f"- {mark_icon(check.mark)} **{benchmark_words(check.rule)}**: "
                     f"{benchmark_words(check.detail)}" for check in verdict.checks)


def verdict_headline(verdict: Verdict) -> str:
    return f"gate passes ({verdict.summary()})" if verdict.passed else f"gate fails ({verdict.summary()})"
