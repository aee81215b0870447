"""What the local backend hooks into each decode step, for ``model.generate`` and for the static-cache loop
alike: seeded sampling, the Stop button, text streaming per sample with thinking vs answer tracked, budget
forcing, the answer cap, and taking turns with the other side of a side-by-side run.

- :class:`SeededSampler` draws from the request's own ``torch.Generator`` (temperature, top-k, top-p as Hugging
  Face applies them) and hands back a one-hot choice. Two versions generating at once on two threads would
  otherwise share torch's global random state, and a seeded request would not be reproducible;
- :class:`StopOnEvent` ends generation within one token of the Stop button;
- :class:`SampleStreamer` turns token ids into text deltas per sample and times each sample's tokens.

The processors read only the scores (never the ids so far), so the static loop hands them its last tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import torch
from transformers import (
    LogitsProcessor,
    StoppingCriteria,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.generation.streamers import BaseStreamer

from vibedash.solve.generation import Emit, LiveFigures, TextDelta
from vibedash.solve.pacing import Seat
from vibedash.solve.prompts import SamplingSettings
from vibedash.solve.thinking import ThinkingTracker


class SeededSampler(LogitsProcessor):
    """Samples the next token with the request's own generator and returns a one-hot score row, so that
    ``generate`` (in greedy mode) takes exactly that token."""

    def __init__(self, settings: SamplingSettings, device: str) -> None:
        self.generator = torch.Generator(device=device).manual_seed(settings.seed)
        self.warpers: list[LogitsProcessor] = [TemperatureLogitsWarper(settings.temperature)]
        if settings.top_k:
            self.warpers.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(settings.top_p))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        probabilities = torch.softmax(scores.float(), dim=-1)
        chosen = torch.multinomial(probabilities, num_samples=1, generator=self.generator)
        one_hot = torch.full_like(scores, float("-inf"))
        return one_hot.scatter_(1, chosen, 0.0)


class StopOnEvent(StoppingCriteria):
    """Stops every sample once ``event`` is set. Runs every step, so it answers with one of two tensors made
    once (transformers combines criteria out of place and never writes to them)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self._answers: dict[bool, torch.BoolTensor] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        stop = self.event.is_set()
        answer = self._answers.get(stop)
        if answer is None or answer.shape[0] != input_ids.shape[0]:
            answer = torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
            self._answers[stop] = answer
        return answer


class SampleStreamer(BaseStreamer):
    """Text deltas per sample (batch row) as tokens arrive; each sample's thinking and answer tracked by a
    :class:`ThinkingTracker`, live figures sent a few times a second.

    Detokenization is incremental (as in vLLM and text-generation-inference): each new token is decoded
    together with the few tokens before it, and only the text it adds is kept. A step then costs the same at
    token 40,000 as at token 1, and tokenizers that drop a leading space at the start of a decode keep their
    spaces. Text ending in half a character (U+FFFD) waits for the next token.

    Deltas reach ``emit`` at most every ``emit_interval_s`` per sample, and at the end: waking the consumer
    thread for every token costs more than the token itself on a small model, and no one reads faster."""

    _MAX_UNDECODED = 64  # give up waiting for a character to complete after this many tokens
    FIGURES_EVERY_S = 0.25

    def __init__(self, tokenizer: Any, samples: int, eos_token_ids: frozenset[int], emit: Emit,
                 emit_interval_s: float = 0.02, *, requested_at: float | None = None,
                 load_s: float | None = None, seat: Seat | None = None) -> None:
        self._tokenizer = tokenizer
        self._eos = eos_token_ids
        self._emit = emit
        self._interval = emit_interval_s
        self._prompt_skipped = False
        self._ids: list[list[int]] = [[] for _ in range(samples)]
        self._prefix_offset = [0] * samples  # start of the context decoded with new tokens
        self._read_offset = [0] * samples  # tokens before this are already turned into text
        self._pending: list[list[str]] = [[] for _ in range(samples)]
        self._emitted_at = [float("-inf")] * samples  # the first text goes out at once
        self.finished = [False] * samples  # ended: end-of-sequence, or the answer cap (see AnswerCap)
        self.ended_on_its_own = [False] * samples  # ended by end-of-sequence
        self.trackers = [ThinkingTracker() for _ in range(samples)]
        self.requested_at = requested_at if requested_at is not None else time.monotonic()
        self.load_s = load_s
        self.seat = seat
        self.own_time_at_first_token: float | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self._figures_at = float("-inf")

    @property
    def tokens(self) -> list[int]:
        return [tracker.tokens for tracker in self.trackers]

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_skipped:  # generate first puts the prompt ids
            self._prompt_skipped = True
            return
        now = time.monotonic()
        if self.first_token_at is None:
            self.first_token_at = now
            self.own_time_at_first_token = self.seat.own_time_now() if self.seat is not None else None
        self.last_token_at = now
        for row, token in enumerate(value.reshape(len(self.trackers), -1)[:, -1].tolist()):
            if self.finished[row]:
                continue  # padding after this sample ended
            tracker = self.trackers[row]
            if token in self._eos:
                tracker.observe("", now)
                self.finished[row] = self.ended_on_its_own[row] = True
                self._decode_new(row, final=True)
                self._send(row, now)
                continue
            self._ids[row].append(token)
            tracker.observe(self._decode_new(row, final=False), now)
            if now - self._emitted_at[row] >= self._interval:
                self._send(row, now)
        if now - self._figures_at >= self.FIGURES_EVERY_S:
            self._figures_at = now
            self._emit(self.figures(now))

    def end(self) -> None:
        now = time.monotonic()
        for row in range(len(self.trackers)):
            self._decode_new(row, final=True)
            self._send(row, now)
        self._emit(self.figures(now))

    def own_decode_s(self, now: float | None = None) -> float | None:
        """Generation time after the first token that was this run's own (turns held, with a Lockstep)."""
        if self.first_token_at is None:
            return None
        if self.seat is not None and self.own_time_at_first_token is not None:
            return self.seat.own_time_now() - self.own_time_at_first_token
        return (now or self.last_token_at or self.first_token_at) - self.first_token_at

    def figures(self, now: float) -> LiveFigures:
        decoded = sum(max(0, t.tokens - 1) for t in self.trackers)
        own = self.own_decode_s(now)
        answers = [t.first_answer_at for t in self.trackers if t.first_answer_at is not None]
        return LiveFigures(
            elapsed_s=now - self.requested_at, load_s=self.load_s,
            time_to_first_token_s=self.first_token_at - self.requested_at if self.first_token_at else None,
            time_to_first_answer_s=min(answers) - self.requested_at if answers else None,
            thinking_tokens=sum(t.thinking_tokens for t in self.trackers),
            answer_tokens=sum(t.answer_tokens for t in self.trackers),
            decode_tokens_per_second=decoded / own if own and decoded else None,
            answering=self.trackers[0].closed)

    def _decode_new(self, row: int, final: bool) -> str:
        """Decode what the row's new tokens add; returns the text added now ("" while a character waits)."""
        ids, prefix, read = self._ids[row], self._prefix_offset[row], self._read_offset[row]
        if read >= len(ids):
            return ""
        prefix_text = self._tokenizer.decode(ids[prefix:read], skip_special_tokens=True)
        new_text = self._tokenizer.decode(ids[prefix:], skip_special_tokens=True)
        complete = not new_text.endswith("\ufffd") or len(ids) - read >= self._MAX_UNDECODED
        added = ""
        if final or (complete and len(new_text) > len(prefix_text)):
            if len(new_text) > len(prefix_text):
                added = new_text[len(prefix_text):]
                self._pending[row].append(added)
            self._prefix_offset[row], self._read_offset[row] = read, len(ids)
        return added

    def _send(self, row: int, now: float) -> None:
        if self._pending[row]:
            self._emit(TextDelta(sample=row, text="".join(self._pending[row])))
            self._pending[row].clear()
            self._emitted_at[row] = now


class BudgetForcer(LogitsProcessor):
    """Budget forcing: a sample that has thought ``budget`` tokens without closing its thinking is given the
    forced text (end-of-thinking marker and answer cue), one token per step, whatever it would have chosen.
    Runs after sampling (it overrides the sampler's one-hot choice), per batch row, so k samples are forced
    each at its own moment."""

    def __init__(self, streamer: SampleStreamer, budget: int, forced_ids: Sequence[int]) -> None:
        self.streamer = streamer
        self.budget = budget
        self.forced_ids = list(forced_ids)
        self._queues: list[list[int]] = [[] for _ in streamer.trackers]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row, tracker in enumerate(self.streamer.trackers):
            if self.streamer.finished[row]:
                continue
            queue_ = self._queues[row]
            if not tracker.closed and not tracker.forced and tracker.thinking_tokens >= self.budget:
                tracker.forced, tracker.forced_at = True, tracker.tokens
                queue_.extend(self.forced_ids)
            if queue_:
                scores[row].fill_(float("-inf"))
                scores[row, queue_.pop(0)] = 0.0
                if not queue_:
                    tracker.forced_text_end = tracker.tokens + 1  # once this last forced token is counted
        return scores


class AnswerCap(StoppingCriteria):
    """Ends a sample once its answer (after the thinking closed, and after a forced cue) reaches ``cap``."""

    def __init__(self, streamer: SampleStreamer, cap: int) -> None:
        self.streamer = streamer
        self.cap = cap

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = []
        for row, tracker in enumerate(self.streamer.trackers):
            reached = (not self.streamer.finished[row] and tracker.closed
                       and (not tracker.forced or tracker.forced_text_end is not None)
                       and tracker.answer_tokens_after_close() >= self.cap)
            if reached:
                tracker.cut = True
                self.streamer.finished[row] = True
            done.append(self.streamer.finished[row] and not self.streamer.ended_on_its_own[row])
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class TakeTurns(StoppingCriteria):
    """With a Lockstep: after each decode step, hand the turn to the other side and wait for the next one.
    Never stops anything."""

    def __init__(self, seat: Seat) -> None:
        self.seat = seat
        self._answer: torch.BoolTensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        self.seat.step()
        if self._answer is None or self._answer.shape[0] != input_ids.shape[0]:
            self._answer = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return self._answer
