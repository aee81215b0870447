"""A hand-written JSON object of scores, the way READMEs and reports give them.

Two shapes:

    {"aime25": 74.4, "hmmt25": 50.4}

    {"scores": {"aime25": 0.744}, "scale": "fraction",
     "protocol": {"samples": 64, "temperature": 0.6, "top_p": 0.95, "max_tokens": 40960}}

There is no agreed scale, so it is inferred: when every non-zero score is at most 1 they are
fractions, when every one is above 1 they are percentages. A file that mixes both (which also
happens for real: the base model's HMMT25 is 0.6 and its AIME24 6.7) must say "scale".
"""

from __future__ import annotations

from typing import Any

from vibedash.decisions.benchmarks import canonical_benchmark, display_name
from vibedash.importers.base import ParsedResult
from vibedash.importers.common import (
    SourceFile,
    as_count,
    as_number,
    benchmark_key,
    k_of,
    override_benchmark,
    short_repr,
)

NAME = "plain_json"
DESCRIPTION = 'a JSON object of scores: {"aime25": 74.4, ...} or {"scores": {...}, "protocol": {...}}'

_EXPECTED = 'a JSON object of scores such as {"aime25": 74.4, "hmmt25": 50.4}'
_NESTED_KEYS = ("scores", "protocol", "scale")
_SCALES = ("fraction", "percent")
# protocol key -> ParsedResult field; any other protocol key is kept in settings.
_COUNT_FIELDS = {
    "samples": "samples_per_problem",
    "samples_per_problem": "samples_per_problem",
    "n": "samples_per_problem",
    "k": "k",
    "max_tokens": "max_tokens",
    "problems": "problems",
}


def detect(source: SourceFile) -> bool:
    document = source.document
    if not isinstance(document, dict) or not document:
        return False
    if isinstance(document.get("scores"), dict):
        return True
    values = list(document.values())
    flat = not any(isinstance(value, (dict, list)) for value in values)
    # A flat object with a number, or one that names a benchmark vibedash knows ({"aime25": "high"}): the
    # latter is this format written wrongly, better told "not a number" than "not a result format".
    return flat and (any(as_number(value) is not None for value in values)
                     or any(_names_known_benchmark(name) for name in document))


def _names_known_benchmark(name: str) -> bool:
    try:
        key = canonical_benchmark(name)
    except ValueError:
        return False
    return display_name(key) != key


def parse(source: SourceFile, benchmark: str | None = None) -> list[ParsedResult]:
    document = source.require_document(_EXPECTED)
    if not isinstance(document, dict):
        raise source.error(f"holds a JSON {type(document).__name__}, not an object", f"write {_EXPECTED}")
    if "scores" in document:
        scores, protocol, scale = _nested_parts(source, document)
    else:
        scores, protocol, scale = document, {}, None
    if not scores:
        raise source.error("has no scores", f"write {_EXPECTED}")

    values = _numbers(source, scores)
    factor = _scale_factor(source, values, scale)
    fields, settings = _protocol(source, protocol)
    metric = fields.pop("metric", "pass@1")
    if "k" not in fields and k_of(metric) is not None:
        fields["k"] = k_of(metric)

    results: list[ParsedResult] = []
    seen: dict[str, str] = {}
    for raw_name, value in values.items():
        key = benchmark_key(source, raw_name, f"score name {raw_name!r}")
        if key in seen:
            raise source.error(
                f"{seen[key]!r} and {raw_name!r} are both benchmark {key}", "keep one score per benchmark"
            )
        seen[key] = raw_name
        results.append(
            ParsedResult(
                benchmark=key,
                score=round(value * factor, 10),
                metric=metric,
                settings=dict(settings),
                source_format=NAME,
                **fields,
            )
        )
    return override_benchmark(source, results, benchmark)


def _nested_parts(
    source: SourceFile, document: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    unknown = [key for key in document if key not in _NESTED_KEYS]
    if unknown:
        raise source.error(
            f"unknown top-level key {unknown[0]!r} next to \"scores\"",
            f"a file with \"scores\" may only have {', '.join(_NESTED_KEYS)}",
        )
    scores, protocol, scale = document["scores"], document.get("protocol", {}), document.get("scale")
    if not isinstance(scores, dict):
        raise source.error('"scores" is not an object', 'write "scores": {"aime25": 74.4, ...}')
    if not isinstance(protocol, dict):
        raise source.error('"protocol" is not an object', 'write "protocol": {"samples": 64, "temperature": 0.6}')
    if scale is not None and scale not in _SCALES:
        raise source.error(f'"scale" is {scale!r}', 'write "scale": "fraction" (0 to 1) or "percent" (0 to 100)')
    return scores, protocol, scale


def _numbers(source: SourceFile, scores: dict[str, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, raw in scores.items():
        value = as_number(raw)
        if value is None and isinstance(raw, int) and not isinstance(raw, bool):
            raise source.error(f"score {name!r} is {short_repr(raw)}, above 100",
                               "scores run from 0 to 1 or from 0 to 100")
        if value is None:
            raise source.error(
                f"score {name!r} is {short_repr(raw)}, not a number", "write it as a number such as 74.4 or 0.744"
            )
        if value < 0:
            raise source.error(f"score {name!r} is negative ({raw!r})", "scores run from 0 to 1 or from 0 to 100")
        values[name] = value
    return values


def _scale_factor(source: SourceFile, values: dict[str, float], scale: str | None) -> float:
    """100 for fractions, 1 for percentages; checks every value fits the scale."""
    over_100 = [name for name, value in values.items() if value > 100]
    if over_100:
        raise source.error(
            f"score {over_100[0]!r} is {values[over_100[0]]!r}, above 100",
            "scores run from 0 to 1 or from 0 to 100",
        )
    above_1 = [name for name, value in values.items() if value > 1]
    if scale == "fraction" and above_1:
        raise source.error(
            f'score {above_1[0]!r} is {values[above_1[0]]!r} but "scale" is "fraction"',
            'write fractions from 0 to 1, or "scale": "percent"',
        )
    if scale is None and above_1:
        fractions = [name for name, value in values.items() if 0 < value <= 1]
        if fractions:
            raise source.error(
                f"scores mix the 0-1 and 0-100 scales ({fractions[0]}={values[fractions[0]]!r}, "
                f"{above_1[0]}={values[above_1[0]]!r})",
                'use one scale, or say which with {"scores": {...}, "scale": "percent"}',
            )
    return 1.0 if scale == "percent" or above_1 else 100.0


def _protocol(source: SourceFile, protocol: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """ParsedResult fields named in "protocol", and the rest of it as settings."""
    fields: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for key, raw in protocol.items():
        if key in _COUNT_FIELDS:
            count = as_count(raw)
            if count is None:
                raise source.error(f'protocol "{key}" is {raw!r}', "write a whole number of at least 1")
            fields[_COUNT_FIELDS[key]] = count
        elif key in ("temperature", "top_p"):
            value = as_number(raw)
            if value is None or value < 0 or (key == "top_p" and value > 1):
                limit = "between 0 and 1" if key == "top_p" else "of at least 0"
                raise source.error(f'protocol "{key}" is {raw!r}', f"write a number {limit}")
            fields[key] = value
        elif key == "metric":
            if not isinstance(raw, str) or not raw.strip():
                raise source.error(f'protocol "metric" is {raw!r}', 'write a metric name such as "pass@1"')
            fields["metric"] = raw.strip()
        else:
            settings[key] = raw
    return fields, settings
