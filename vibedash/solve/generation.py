"""What every backend takes and gives back: a generation job in, text events out, an outcome at the end.

A backend's ``generate`` is blocking and runs on a worker thread of the engine; it reports progress by
calling ``emit`` (thread-safe) and checks ``stop`` so that the Stop button ends generation within a token.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from vibedash.solve.pacing import Lockstep
from vibedash.solve.prompts import SamplingSettings


@dataclass(frozen=True)
class GenerationJob:
    messages: tuple[dict[str, str], ...]
    settings: SamplingSettings
    # Versions side by side on one machine take turns step by step (local backend only); None: run freely.
    pacer: Lockstep | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Phase:
    """The backend moved to another phase (loading the model, generating)."""

    name: str
    detail: str = ""


@dataclass(frozen=True)
class TextDelta:
    """New text of one sample (0-based), in order."""

    sample: int
    text: str


@dataclass(frozen=True)
class LiveFigures:
    """A run's figures so far, sent a few times a second while it generates. Times are seconds from the
    request (model load or queue included); token counts are over all samples."""

    elapsed_s: float
    load_s: float | None
    time_to_first_token_s: float | None
    time_to_first_answer_s: float | None
    thinking_tokens: int
    answer_tokens: int
    decode_tokens_per_second: float | None  # this version's own rate (time waiting for the other side excluded)
    answering: bool  # sample 0 has closed its thinking


@dataclass(frozen=True)
class GpuReading:
    """One NVML sample of the GPU a run uses."""

    utilisation_pct: float
    memory_used_mb: float
    memory_total_mb: float
    power_w: float | None


GenerationEvent = Phase | TextDelta | LiveFigures | GpuReading
Emit = Callable[[GenerationEvent], None]


@dataclass
class GenerationOutcome:
    texts: list[str]  # one per sample
    tokens: list[int]  # generated tokens per sample
    device: str  # where it ran, e.g. "cpu float32", "cuda:0 bfloat16", "openai http://host:8000/v1"
    time_to_first_token_s: float | None = None  # from the request: model load or queue included
    elapsed_s: float = 0.0  # from the start of generation (model already loaded) to the last token
    stopped: bool = False
    notes: list[str] = field(default_factory=list)
    load_s: float | None = None  # request to generation start: model load, worker queue, server queue
    time_to_first_answer_s: float | None = None  # request to the first token after </think> (earliest sample)
    total_s: float | None = None  # request to the last token
    thinking_tokens: list[int] = field(default_factory=list)  # per sample
    answer_tokens: list[int] = field(default_factory=list)  # per sample
    samples_cut: int = 0  # samples a token cap (total or answer) ended before they finished
    samples_forced: int = 0  # samples whose thinking the budget closed
    own_decode_s: float | None = None  # generation time after the first token, waiting for the other side excluded
    energy_j: float | None = None  # GPU energy over the run (NVML), when a GPU did the work
    gpu_utilisation_pct: float | None = None  # mean over the run
    gpu_memory_mb: float | None = None  # peak over the run
    gpu_power_w: float | None = None  # mean over the run
    # Per sample, seconds from the request (like the run's figures): first token, first answer token, last
    # token. A batch's samples share the request but each ends (and closes its thinking) at its own step.
    sample_first_token_s: list[float | None] = field(default_factory=list)
    sample_first_answer_s: list[float | None] = field(default_factory=list)
    sample_last_token_s: list[float | None] = field(default_factory=list)
    model_load_s: float | None = None  # the part of load_s spent loading the model (0 when it was loaded)

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)

    @property
    def tokens_per_second(self) -> float | None:
        return self.total_tokens / self.elapsed_s if self.elapsed_s > 0 and self.total_tokens else None

    @property
    def decode_tokens_per_second(self) -> float | None:
        """Tokens after each sample's first, over this version's own decode time."""
        decoded = self.total_tokens - sum(1 for count in self.tokens if count)
        if not self.own_decode_s or self.own_decode_s <= 0 or decoded <= 0:
            return None
        return decoded / self.own_decode_s


def since(moment: float | None, origin: float) -> float | None:
    """Seconds from ``origin`` to ``moment`` (monotonic clock), None when the moment never came."""
    return None if moment is None else moment - origin


class Backend(Protocol):
    name: str  # stored with each solve run and part of its cache key

    def generate(self, model_ref: str, job: GenerationJob, emit: Emit, stop: threading.Event) -> GenerationOutcome:
        """Generate ``job.settings.samples`` completions; raise ModelLoadError or GenerationError."""
        ...
