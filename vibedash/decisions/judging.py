"""The policy's settings while the gate's rules are checked: how noise is judged, whether an undecided check
fails or warns, and what the baseline is called. Rules keep their ``check(candidate, live)`` form and read
these from a context variable that :func:`judging` sets around a policy's evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from vibedash.decisions.noise import NoiseSettings

FAIL, WARN = "fail", "warn"
UNDECIDED_CHOICES = (FAIL, WARN)


@dataclass(frozen=True)
class _Judging:
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    undecided_improvement: str = FAIL
    undecided_regression: str = WARN
    baseline: str = "live"


# The policy's noise settings while its rules are checked (rules keep their check(candidate, live) form).
_JUDGING: ContextVar[_Judging] = ContextVar("gate_judging", default=_Judging())


def _judging() -> _Judging:
    return _JUDGING.get()


def _baseline() -> str:
    return _JUDGING.get().baseline


@contextmanager
def judging(noise: NoiseSettings, undecided_improvement: str, undecided_regression: str,
            baseline: str = "live") -> Iterator[None]:
    """Within this block, rules judge noise with these settings and call the baseline ``baseline``."""
    token = _JUDGING.set(_Judging(noise, undecided_improvement, undecided_regression, baseline))
    try:
        yield
    finally:
        _JUDGING.reset(token)
