"""What one sample of an evaluation is made of beyond its text: its seed, how many of its tokens were thinking,
and when its first token, first answer token and last token came out."""

from __future__ import annotations

import hashlib
from typing import Any

from vibedash.solve.answers import THINK_END
from vibedash.solve.generation import GenerationOutcome, TextDelta
from vibedash.solve.openai_compat import THINK_START


def sample_seed(seed: int, problem_id: str, index: int) -> int:
    """A per-sample seed: the same sample gets the same draw whichever run (or resume) generates it."""
    digest = hashlib.sha256(f"{seed}\0{problem_id}\0{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


class DeltaCounter:
    """Counts each sample's text deltas before ``</think>``: on an OpenAI-compatible stream a delta is one
    token, so this is the thinking length without a tokenizer."""

    def __init__(self, samples: int) -> None:
        self.thinking = [0] * samples
        self._closed = [False] * samples
        self._tail = [""] * samples

    def __call__(self, event: object) -> None:
        if not isinstance(event, TextDelta) or not 0 <= event.sample < len(self.thinking):
            return
        index = event.sample
        if self._closed[index]:
            return
        text = self._tail[index] + event.text
        if THINK_END in text:
            self._closed[index] = True
            if event.text.split(THINK_END, 1)[0].strip():  # the delta also carries thought before the marker
                self.thinking[index] += 1
            return
        self._tail[index] = text[-len(THINK_END):]
        if event.text not in (THINK_START,):  # the backend's own tag for a reasoning parser's split
            self.thinking[index] += 1


def thinking_tokens(text: str, output_tokens: int, *, tokenizer: Any = None, counted: int | None = None) -> int:
    """Tokens spent thinking: those before the last ``</think>`` (the solve panel's definition, which the
    backends count themselves as they generate: ``counted``); all of them when thinking never closed but began
    with ``<think>`` (cut by the token cap); none for an output without thinking tags."""
    end = text.rfind(THINK_END)
    if end < 0:
        return output_tokens if THINK_START in text else 0
    if counted is not None:
        return min(counted, output_tokens)
    if tokenizer is not None:
        return min(len(tokenizer.encode(text[:end], add_special_tokens=False)), output_tokens)
    return min(output_tokens, round(output_tokens * end / max(1, len(text))))


def sample_times(outcome: GenerationOutcome, row: int) -> tuple[float | None, float | None, float | None]:
    """One sample's seconds to its first token, first answer token and last token, from the request with the
    model's loading left out: an evaluation loads the model once, and its first batch should not carry that.
    A server's queue stays in (it is what a client waits for). Each sample of a local batch has its own times:
    the decode step that produced its token (the batch's samples share the request, not their ends)."""

    def at(values: list[float | None]) -> float | None:
        value = values[row] if row < len(values) else None
        if value is None:
            return None
        return round(max(0.0, value - (outcome.model_load_s or 0.0)), 6)

    return (at(getattr(outcome, "sample_first_token_s", [])), at(getattr(outcome, "sample_first_answer_s", [])),
            at(getattr(outcome, "sample_last_token_s", [])))
