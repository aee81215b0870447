"""Benchmark names: one canonical key per benchmark, whatever a result file calls it.

Evaluation tools name the same benchmark many ways ("aime25.parquet", "lighteval|aime25|0",
"custom|aime25_avg|0", "AIME 2025", "release_v6", "gpqa:diamond", "HuggingFaceH4/MATH-500"...).
The registry stores one key per benchmark so that versions scored by different tools line up.
A name this module does not know becomes a lowercase slug, so a new benchmark still imports.
"""

from __future__ import annotations

import re

# Canonical key -> display name, in the order the dashboard shows them.
_HEADLINE_NAMES: dict[str, str] = {
    "aime24": "AIME24",
    "aime25": "AIME25",
    "hmmt25": "HMMT25",
    "lcb_v5": "LCB v5",
    "lcb_v6": "LCB v6",
    "gpqa_diamond": "GPQA-D",
    "math500": "MATH-500",
}

HEADLINE_BENCHMARKS: tuple[str, ...] = tuple(_HEADLINE_NAMES)
"""The benchmarks of the VibeThinker report, in its order: the dashboard's default columns."""

# How many problems each known benchmark has, so that a headline-only score (a published number, a summary
# CSV) still gets an honest interval. AIME and HMMT rounds have 30 (AIME I + II: 15 + 15).
KNOWN_PROBLEM_COUNTS: dict[str, int] = {
    "aime24": 30,
    "aime25": 30,
    "hmmt25": 30,
    "lcb_v5": 279,
    "lcb_v6": 131,
    "gpqa_diamond": 198,
    "math500": 500,
}
_THIRTY_PROBLEM_FAMILY = re.compile(r"^(?:aime|hmmt)\d{2}$")


def known_problem_count(key: str) -> int | None:
    """The number of problems of a known benchmark (aime25 -> 30, lcb_v6 -> 131), else None."""
    if key in KNOWN_PROBLEM_COUNTS:
        return KNOWN_PROBLEM_COUNTS[key]
    return 30 if _THIRTY_PROBLEM_FAMILY.match(key) else None

# LiveCodeBench scores only mean something with their release (v5: 2024-08..2025-01, 279 problems;
# v6: 2025-02..2025-05, 131 problems), so a LiveCodeBench name without a version gets this key.
UNVERSIONED_LIVECODEBENCH = "livecodebench"

_MAX_KEY_LENGTH = 64  # the registry's benchmark column is String(64)
_FILE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".yaml", ".yml")

# Applied to the slug (lowercase, runs of other characters turned into "_"). Trailing parts after
# "_" are variants of the same benchmark ("aime25_avg", "gpqa_diamond_cot_zeroshot").
_AIME = re.compile(r"^aime_?(?:20)?(\d{2})(?:_|$)")
# HMMT February only: HMMT25 in the VibeThinker report is the February 2025 round; "hmmt_nov_2025"
# is a different competition and keeps its own slug.
_HMMT = re.compile(r"^hmmt_?(?:feb(?:ruary)?_?)?(?:20)?(\d{2})(?:_|$)")
_GPQA_DIAMOND = re.compile(r"^gpqa_(?:.*_)?diamond(?:_|$)|^gpqa_d$")
_MATH500 = re.compile(r"(?:^|_)math_?500(?:_|$)")
_LIVECODEBENCH = re.compile(
    r"livecodebench|live_code_bench|(?:^|_)lcb(?:_|$)|codegeneration|code_generation|^release_v\d"
)
_LCB_VERSION = re.compile(r"(?:^|_)v(\d+)(?:_|$)")
_FAMILY_KEY = re.compile(r"^(aime|hmmt)(\d{2})$|^lcb_v(\d+)$")


def slugify(raw: str) -> str:
    """Lowercase, with every run of characters other than letters and digits turned into one "_"."""
    return re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_")


def _task_name(raw: str) -> str:
    """The benchmark part of a task id or dataset path.

    lighteval ids are "suite|task|fewshot" ("lighteval|aime25|0") or "task|fewshot"; dataset ids and
    paths carry an owner or folder ("HuggingFaceH4/MATH-500", "data/aime25.parquet").
    """
    parts = [part.strip() for part in raw.split("|")]
    while len(parts) > 1 and parts[-1].isdigit():
        parts.pop()
    name = parts[-1]
    name = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    lowered = name.lower()
    for suffix in _FILE_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def canonical_benchmark(raw: str) -> str:
    """The canonical key for a benchmark name as found in a result file.

    Known benchmarks map to their key ("lighteval|aime25|0" -> "aime25", "release_v6" -> "lcb_v6",
    "gpqa:diamond" -> "gpqa_diamond", "hmmt_feb_2025" -> "hmmt25"); AIME and HMMT of any year and
    any LiveCodeBench release follow the same pattern ("aime26", "lcb_v7"). Anything else becomes its
    slug ("GSM8K" -> "gsm8k"). Raises ValueError for a name with no letters or digits.
    """
    slug = slugify(_task_name(raw))
    if not slug:
        raise ValueError(f"benchmark name {raw!r} has no letters or digits")
    if match := _AIME.match(slug):
        return f"aime{match.group(1)}"
    if match := _HMMT.match(slug):
        return f"hmmt{match.group(1)}"
    if _GPQA_DIAMOND.search(slug):
        return "gpqa_diamond"
    if _MATH500.search(slug):
        return "math500"
    if _LIVECODEBENCH.search(slug):
        version = _LCB_VERSION.search(slug)
        return f"lcb_v{int(version.group(1))}" if version else UNVERSIONED_LIVECODEBENCH
    return slug[:_MAX_KEY_LENGTH].rstrip("_")


def display_name(key: str) -> str:
    """How the dashboard writes a benchmark: "AIME25", "LCB v6", "GPQA-D"; an unknown key as it is."""
    if key in _HEADLINE_NAMES:
        return _HEADLINE_NAMES[key]
    if match := _FAMILY_KEY.match(key):
        family, year, release = match.groups()
        return f"LCB v{release}" if release else f"{family.upper()}{year}"
    if key == UNVERSIONED_LIVECODEBENCH:
        return "LiveCodeBench"
    return key
