"""The progress and ETA of a running evaluation, worded for the CLI and the pages (light: no model, no solve
code, so the overview can show running evaluations without importing the runner)."""

from __future__ import annotations

from dataclasses import dataclass


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    correct: int
    elapsed_s: float  # this session's generation time
    rate: float | None  # samples per second this session
    eta_s: float | None
    resumed: int = 0  # samples found already recorded when the run started

    def line(self) -> str:
        percent = 100 * self.done / self.total if self.total else 100.0
        eta = f", about {format_duration(self.eta_s)} left" if self.eta_s is not None else ""
        rate = f", {self.rate:.1f} samples/s" if self.rate else ""
        accuracy = f", {100 * self.correct / self.done:.1f}% correct" if self.done else ""
        return f"{self.done}/{self.total} samples ({percent:.0f}%){accuracy}{rate}{eta}"
