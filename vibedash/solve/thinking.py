"""Thinking vs answer, per sample: where ``</think>`` closed the thinking, how many tokens each part took,
when the first token and the first answer token came, and whether a cap cut the sample.

Both backends feed a :class:`ThinkingTracker` per sample with the text of each token (or stream delta) as it
arrives, so the figures mean the same for a local run and a server run:

- thinking tokens: the tokens before the end-of-thinking marker (the token the marker starts in counts as
  thinking when it also carries thought before the marker), after the opening ``<think>`` tag where the model
  writes one (as vLLM counts its ``thinking_token_budget``). Budget forcing appends the marker at a token
  boundary, so a budget of N gives exactly N thinking tokens;
- answer tokens: the rest, the marker and any forced cue included;
- a sample that never closes its thinking: all thinking when a cap or Stop cut it, all answer when it ended on
  its own (a model that answered without thinking; grading reads the whole text then, too).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from vibedash.solve.prompts import THINK_END, THINK_START

_TAIL_TOKENS = 24  # enough recent tokens to hold a marker split over several of them


@dataclass(frozen=True)
class SampleFigures:
    tokens: int
    thinking_tokens: int
    answer_tokens: int
    first_token_at: float | None
    first_answer_at: float | None
    last_token_at: float | None
    forced: bool  # the budget closed the thinking
    cut: bool  # a token cap (total or answer) ended the sample


class ThinkingTracker:
    """Fed token by token (``observe``); not thread-safe (one generation loop feeds it)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.first_token_at: float | None = None
        self.first_answer_at: float | None = None
        self.last_token_at: float | None = None
        self.thinking_tokens_at_close: int | None = None  # None while thinking is open
        self.close_token_index: int | None = None  # tokens seen when the marker was complete
        self.forced = False
        self.forced_at: int | None = None  # tokens seen when budget forcing began
        self.forced_text_end: int | None = None  # token count when the forced text was fully generated
        self.cut = False
        self.opening_tokens = 0  # the model's own <think> tag, counted in neither part
        self._opening_text: str | None = ""  # the text so far while it may still be the opening tag
        self._opening_pending: list[tuple[int, str]] = []
        self._tail: deque[tuple[int, str]] = deque(maxlen=_TAIL_TOKENS)  # (token number, its text)

    @property
    def closed(self) -> bool:
        return self.thinking_tokens_at_close is not None

    @property
    def thinking_tokens(self) -> int:
        """So far: every token (after the opening tag) while thinking is still open."""
        return self.thinking_tokens_at_close if self.closed else self.tokens - self.opening_tokens

    @property
    def answer_tokens(self) -> int:
        return self.tokens - self.opening_tokens - self.thinking_tokens

    def _still_opening(self, text: str, tokens: int) -> bool:
        """Whether this token is (part of) the model's own opening <think> tag. Tokens held as a possible tag
        go back to the text tail when the tag does not complete (e.g. a forced "</think>" starts with "<")."""
        if self._opening_text is None or not tokens:
            return False
        if not self._opening_pending and not text.strip():
            return False  # leading whitespace: thinking, not tag
        candidate = self._opening_text + (text if self._opening_pending else text.lstrip())
        if THINK_START.startswith(candidate):
            self._opening_pending.append((self.tokens, text))
            self._opening_text = candidate
            if candidate == THINK_START:
                self.opening_tokens = len(self._opening_pending)
                self._opening_text, self._opening_pending = None, []
            return True
        self._opening_text = None
        self._tail.extend(self._opening_pending)
        self._opening_pending = []
        return False

    def observe(self, text: str, now: float, tokens: int = 1) -> None:
        """``tokens`` new tokens that decoded to ``text``. A backend passes 0 for text it added itself (the
        ``<think>`` tags around a server's separate reasoning field)."""
        if tokens:
            self.last_token_at = now
            if self.first_token_at is None:
                self.first_token_at = now
        self.tokens += tokens
        if self.closed:
            if self.first_answer_at is None and tokens:
                self.first_answer_at = now
            return
        if not text:
            return
        if self._still_opening(text, tokens):
            return
        self._tail.append((self.tokens if tokens else -self.tokens, text))  # a sign marks tag-only text
        joined = "".join(piece for _, piece in self._tail)
        at = joined.find(THINK_END)
        if at < 0:
            return
        position = 0
        for number, piece in self._tail:  # the token the marker starts in
            if position + len(piece) > at:
                starts_at_token_start = position == at
                if number <= 0:  # tag text added by the backend: every token so far was thinking
                    thought = -number
                else:
                    thought = number - 1 if starts_at_token_start else number
                thought -= self.opening_tokens
                break
            position += len(piece)
        else:  # pragma: no cover - `at` is inside `joined`
            thought = self.tokens - self.opening_tokens
        if self.forced_at is not None:  # the forced marker begins exactly there (a held-back character aside)
            thought = min(thought, self.forced_at - self.opening_tokens)
        self.thinking_tokens_at_close = thought
        self.close_token_index = self.tokens
        self._tail.clear()
        if len(joined) > at + len(THINK_END) and tokens:  # answer text in the closing token itself
            self.first_answer_at = now

    def answer_tokens_after_close(self) -> int:
        """Answer tokens the model chose itself: after the closing token (and after a forced cue)."""
        if self.close_token_index is None:
            return 0
        start = self.forced_text_end if self.forced and self.forced_text_end is not None else self.close_token_index
        return max(0, self.tokens - start)

    def finish(self, *, ended_on_its_own: bool) -> SampleFigures:
        if self.closed:
            thinking = self.thinking_tokens_at_close or 0
            first_answer = self.first_answer_at
        elif ended_on_its_own and not self.opening_tokens:  # answered without thinking
            thinking, first_answer = 0, self.first_token_at
        else:
            thinking, first_answer = self.tokens - self.opening_tokens, None
        return SampleFigures(tokens=self.tokens, thinking_tokens=thinking,
                             answer_tokens=self.tokens - self.opening_tokens - thinking,
                             first_token_at=self.first_token_at, first_answer_at=first_answer,
                             last_token_at=self.last_token_at, forced=self.forced,
                             cut=self.cut)
