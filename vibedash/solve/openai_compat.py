"""The OpenAI-compatible HTTP backend: any server with a streaming ``/v1/chat/completions`` (vLLM, SGLang,
llama.cpp's server, ...).

A version uses it when its model reference starts with ``openai:``:
    openai:VibeThinker-1.5B@http://127.0.0.1:8000/v1   (model name @ base URL)
    openai:VibeThinker-1.5B                            (base URL from VIBEDASH_OPENAI_BASE_URL)
The API key (VIBEDASH_OPENAI_API_KEY) goes only into the Authorization header: never into messages, logs
or reprs.

Thinking budget: the request carries vLLM's ``thinking_token_budget``; a server that honours it closes the
thinking itself. The budget is enforced here as well, so servers without one (or that ignore it) keep it too:
a sample that streams more than N thinking tokens is cut there, and its answer is generated in a second
request to ``/completions`` whose prompt is the conversation in ChatML, the thinking so far, and the forced
``</think>`` plus cue. Tokens are counted as stream deltas (one token each on vLLM and SGLang); the forced
text of a continuation is not counted as tokens.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from vibedash.solve.errors import GenerationError, ModelLoadError, SolveConfigError
from vibedash.solve.generation import (
    Emit,
    GenerationJob,
    GenerationOutcome,
    LiveFigures,
    Phase,
    TextDelta,
    since,
)
from vibedash.solve.prompts import BUDGET_FORCED_TEXT, DEFAULT_ANSWER_MAX_TOKENS, THINK_END, THINK_START
from vibedash.solve.thinking import ThinkingTracker

PREFIX = "openai:"
BUDGET_FIELD = "thinking_token_budget"  # vLLM's per-request thinking budget (needs a server reasoning config)


def is_openai_ref(model_ref: str | None) -> bool:
    return bool(model_ref) and model_ref.startswith(PREFIX)


@dataclass(frozen=True)
class Endpoint:
    model: str
    base_url: str  # ends before /chat/completions, e.g. http://127.0.0.1:8000/v1


def parse_ref(model_ref: str, default_base_url: str | None) -> Endpoint:
    """``openai:NAME@URL`` or ``openai:NAME`` (with ``default_base_url``)."""
    if not is_openai_ref(model_ref):
        raise SolveConfigError(f"{model_ref!r} is not an openai: model reference")
    body = model_ref[len(PREFIX):]
    name, at, url = body.rpartition("@")
    if not at or not url.startswith(("http://", "https://")):
        name, url = body, default_base_url or ""
    if not name.strip():
        raise SolveConfigError(f"{model_ref!r} names no model: write it as openai:MODEL@http://host:8000/v1")
    if not url:
        raise SolveConfigError(f"{model_ref!r} has no server URL: write it as openai:{name}@http://host:8000/v1 "
                               "or set VIBEDASH_OPENAI_BASE_URL")
    return Endpoint(model=name.strip(), base_url=url.rstrip("/"))


def request_body(endpoint: Endpoint, job: GenerationJob, budget_field: str | None = BUDGET_FIELD) -> dict[str, Any]:
    settings = job.settings
    body: dict[str, Any] = {
        "model": endpoint.model, "messages": list(job.messages), "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": settings.generation_cap, "temperature": settings.temperature, "top_p": settings.top_p,
        "seed": settings.seed, "n": settings.samples,
    }
    if settings.top_k:
        body["top_k"] = settings.top_k  # a vLLM/SGLang extension; left out means disabled
    if settings.thinking_budget is not None and budget_field:
        body[budget_field] = settings.thinking_budget  # vLLM's own budget (with a reasoning config); else ignored
    return body


def chatml_prompt(messages: Sequence[dict[str, str]]) -> str:
    """The messages in ChatML, VibeThinker's (Qwen's) chat format, ready for the assistant's turn: the prompt
    of a continuation through ``/completions``, which takes text, not messages."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


@dataclass
class _Sample:
    """One sample of a streamed request: its text, its thinking tracker, how it ended."""

    parts: list[str] = field(default_factory=list)
    tracker: ThinkingTracker = field(default_factory=ThinkingTracker)
    in_reasoning_field: bool = False  # inside the server's separate reasoning field
    finish_reason: str | None = None
    over_budget: bool = False  # thought past the budget: the rest of its stream is dropped, then continued

    @property
    def done(self) -> bool:
        return self.finish_reason is not None or self.over_budget


class OpenAICompatBackend:
    name = "openai"

    def __init__(self, default_base_url: str | None = None, api_key: str | None = None, *,
                 connect_timeout_s: float = 5.0, read_timeout_s: float = 300.0,
                 session: requests.Session | None = None, budget_field: str | None = BUDGET_FIELD,
                 figures_every_s: float = 0.25) -> None:
        """``budget_field``: the request field that carries the thinking budget to the server (vLLM's
        ``thinking_token_budget``), None to send none. Either way the budget is enforced here too: a sample
        that thinks past it is cut and continued through ``/completions`` after the forced marker."""
        self._default_base_url = default_base_url
        self._api_key = api_key
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._session = session  # None: one session per generation (a Session is not meant to be shared by threads)
        self._budget_field = budget_field
        self._figures_every_s = figures_every_s

    def __repr__(self) -> str:  # no key, ever
        key = "set" if self._api_key else "not set"
        return f"OpenAICompatBackend(default_base_url={self._default_base_url!r}, api_key={key})"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def generate(self, model_ref: str, job: GenerationJob, emit: Emit, stop: threading.Event) -> GenerationOutcome:
        try:
            endpoint = parse_ref(model_ref, self._default_base_url)
        except SolveConfigError as exc:
            raise ModelLoadError(model_ref, str(exc).split(": ", 1)[-1]) from None
        emit(Phase("connecting", endpoint.base_url))
        requested_at = time.monotonic()
        run = _StreamRun(job, emit, stop, endpoint, requested_at, self._figures_every_s)
        with contextlib.ExitStack() as cleanup:
            session = self._session or cleanup.enter_context(requests.Session())
            response = self._post(session, model_ref, endpoint, "chat/completions",
                                  request_body(endpoint, job, self._budget_field))
            with response:
                self._check_status(response, model_ref, endpoint)
                run.load_s = time.monotonic() - requested_at
                emit(Phase("generating", endpoint.base_url))
                run.read_chat(response)
            for index, sample in enumerate(run.samples):
                if sample.over_budget and not stop.is_set():
                    self._continue_after_budget(session, model_ref, endpoint, run, index)
        return run.outcome()

    def _post(self, session: requests.Session, model_ref: str, endpoint: Endpoint, path: str,
              body: dict[str, Any]) -> requests.Response:
        try:
            return session.post(f"{endpoint.base_url}/{path}", json=body, headers=self._headers(), stream=True,
                                timeout=self._timeout)
        except requests.ConnectionError:
            raise ModelLoadError(model_ref, f"no server answers at {endpoint.base_url}") from None
        except requests.Timeout:
            raise ModelLoadError(model_ref, f"the server at {endpoint.base_url} did not answer in time",
                                 missing=False) from None

    def _continue_after_budget(self, session: requests.Session, model_ref: str, endpoint: Endpoint,
                               run: _StreamRun, index: int) -> None:
        """Phase two of budget forcing on a server that ignored the budget: the thinking so far, the forced
        marker and cue, and the answer generated from there through ``/completions`` within the answer cap."""
        settings = run.job.settings
        sample = run.samples[index]
        run.add(index, BUDGET_FORCED_TEXT, tokens=0)
        body = {"model": endpoint.model, "prompt": chatml_prompt(run.job.messages) + "".join(sample.parts),
                "stream": True, "max_tokens": settings.answer_cap or DEFAULT_ANSWER_MAX_TOKENS,
                "temperature": settings.temperature, "top_p": settings.top_p, "seed": settings.seed + index}
        if settings.top_k:
            body["top_k"] = settings.top_k
        response = self._post(session, model_ref, endpoint, "completions", body)
        with response:
            self._check_status(response, model_ref, endpoint)
            sample.finish_reason = None
            run.read_completion(response, index)

    @staticmethod
    def _check_status(response: requests.Response, model_ref: str, endpoint: Endpoint) -> None:
        if response.status_code == 200:
            return
        detail = response.text[:300].strip()
        if response.status_code == 404:
            raise ModelLoadError(model_ref, f"the server at {endpoint.base_url} has no model {endpoint.model} "
                                            f"(HTTP 404)")
        if response.status_code in (401, 403):
            raise ModelLoadError(model_ref, f"the server at {endpoint.base_url} refused the API key (HTTP "
                                            f"{response.status_code}): set VIBEDASH_OPENAI_API_KEY", missing=False)
        raise GenerationError(f"the server at {endpoint.base_url} answered HTTP {response.status_code}: {detail}")


class _StreamRun:
    """The samples of one request as the stream fills them, and the figures they add up to."""

    def __init__(self, job: GenerationJob, emit: Emit, stop: threading.Event, endpoint: Endpoint,
                 requested_at: float, figures_every_s: float) -> None:
        self.job, self.emit, self.stop, self.endpoint = job, emit, stop, endpoint
        self.requested_at = requested_at
        self.samples = [_Sample() for _ in range(job.settings.samples)]
        self.load_s: float | None = None
        self.usage_tokens: int | None = None
        self.stopped = False
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self._figures_every_s = figures_every_s
        self._figures_at = float("-inf")

    def add(self, index: int, text: str, tokens: int = 1) -> None:
        now = time.monotonic()
        sample = self.samples[index]
        sample.parts.append(text)
        sample.tracker.observe(text, now, tokens)
        if tokens:
            self.first_token_at = self.first_token_at or now
            self.last_token_at = now
        self.emit(TextDelta(sample=index, text=text))
        if now - self._figures_at >= self._figures_every_s:
            self._figures_at = now
            self.emit(self.figures(now))

    def _events(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """The stream's JSON chunks until [DONE]; sets ``stopped`` when Stop closed it."""
        base_url = self.endpoint.base_url
        try:
            for raw in response.iter_lines(chunk_size=None):
                if self.stop.is_set():
                    self.stopped = True
                    return
                line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                data = line[len("data:"):].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if chunk.get("error"):
                    raise GenerationError(f"the server at {base_url} reported: {_error_text(chunk['error'])}")
                yield chunk
        except (requests.ConnectionError, requests.Timeout) as exc:
            if not self.stop.is_set():
                raise GenerationError(f"the stream from {base_url} broke off: {type(exc).__name__}") from None
            self.stopped = True
        except (ValueError, KeyError, TypeError) as exc:
            raise GenerationError(f"the server at {base_url} sent a malformed stream chunk ({exc})") from None

    def _thinking_delta(self, index: int) -> bool:
        """Whether one more thinking token fits the budget; a sample past it is cut off here."""
        budget = self.job.settings.thinking_budget
        sample = self.samples[index]
        if budget is None or sample.tracker.closed or sample.tracker.thinking_tokens < budget:
            return True
        sample.over_budget = True
        sample.tracker.forced, sample.tracker.forced_at = True, sample.tracker.tokens
        if sample.in_reasoning_field:
            sample.in_reasoning_field = False  # the forced text closes it
        return False

    def read_chat(self, response: requests.Response) -> None:
        for chunk in self._events(response):
            if chunk.get("usage"):
                self.usage_tokens = chunk["usage"].get("completion_tokens", self.usage_tokens)
            for choice in chunk.get("choices") or []:
                index = int(choice.get("index", 0))
                if not 0 <= index < len(self.samples) or self.samples[index].over_budget:
                    continue
                sample = self.samples[index]
                delta = choice.get("delta") or {}
                # Servers with a reasoning parser split the thinking out; put it back in <think> tags so
                # the answer is still graded after </think>, as for a local run.
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                content = delta.get("content")
                if reasoning and self._thinking_delta(index):
                    if not sample.in_reasoning_field:
                        sample.in_reasoning_field = True
                        self.add(index, THINK_START, tokens=0)
                    self.add(index, reasoning)
                if content and not sample.over_budget:
                    if sample.in_reasoning_field:
                        sample.in_reasoning_field = False
                        self.add(index, THINK_END, tokens=0)
                    # A delta that closes the thinking is let through even at the budget (a server that
                    # honours the budget sends it right there).
                    if sample.tracker.closed or THINK_END in content or self._thinking_delta(index):
                        self.add(index, content)
                if choice.get("finish_reason") and not sample.over_budget:
                    sample.finish_reason = choice["finish_reason"]
            if all(sample.done for sample in self.samples) and any(s.over_budget for s in self.samples):
                return  # every sample ended or is to be continued: no need to wait for the rest

    def read_completion(self, response: requests.Response, index: int) -> None:
        for chunk in self._events(response):
            for choice in chunk.get("choices") or []:
                if choice.get("text"):
                    self.add(index, choice["text"])
                if choice.get("finish_reason"):
                    self.samples[index].finish_reason = choice["finish_reason"]

    def figures(self, now: float) -> LiveFigures:
        trackers = [sample.tracker for sample in self.samples]
        decoded = sum(max(0, t.tokens - 1) for t in trackers)
        span = (self.last_token_at - self.first_token_at) if self.first_token_at and self.last_token_at else 0
        answers = [t.first_answer_at for t in trackers if t.first_answer_at is not None]
        return LiveFigures(
            elapsed_s=now - self.requested_at, load_s=self.load_s,
            time_to_first_token_s=self.first_token_at - self.requested_at if self.first_token_at else None,
            time_to_first_answer_s=min(answers) - self.requested_at if answers else None,
            thinking_tokens=sum(t.thinking_tokens for t in trackers),
            answer_tokens=sum(t.answer_tokens for t in trackers),
            decode_tokens_per_second=decoded / span if span > 0 and decoded else None,
            answering=trackers[0].closed)

    def outcome(self) -> GenerationOutcome:
        now = time.monotonic()
        self.emit(self.figures(now))
        stopped = self.stopped or self.stop.is_set()
        finished = []
        for sample in self.samples:
            if sample.finish_reason == "length":  # the total cap, or the answer cap of a continuation
                sample.tracker.cut = True
            # Ended on its own: a stop reason, or a stream that simply ended (servers that send no reason).
            ended = sample.finish_reason != "length" and not sample.over_budget and not stopped
            finished.append(sample.tracker.finish(ended_on_its_own=ended))
        # Usage is exact but totals all samples and knows nothing of continuations; per-sample counts come
        # from the deltas (one token each on vLLM and SGLang).
        tokens = [f.tokens for f in finished]
        if self.usage_tokens is not None and len(finished) == 1 and not finished[0].forced:
            tokens = [self.usage_tokens]
        answers = [f.first_answer_at for f in finished if f.first_answer_at is not None]
        load_at = self.requested_at + (self.load_s or 0.0)
        decode_span = (self.last_token_at - self.first_token_at) if self.first_token_at and self.last_token_at \
            else None
        return GenerationOutcome(
            texts=["".join(sample.parts) for sample in self.samples], tokens=tokens,
            device=f"openai {self.endpoint.base_url}",
            time_to_first_token_s=(self.first_token_at - self.requested_at) if self.first_token_at else None,
            elapsed_s=now - load_at, stopped=stopped, load_s=self.load_s,
            time_to_first_answer_s=(min(answers) - self.requested_at) if answers else None,
            total_s=(self.last_token_at or now) - self.requested_at,
            thinking_tokens=[f.thinking_tokens for f in finished],
            answer_tokens=[max(0, t - f.thinking_tokens - (f.tokens - f.thinking_tokens - f.answer_tokens))
                           for t, f in zip(tokens, finished)],
            samples_cut=sum(f.cut for f in finished), samples_forced=sum(f.forced for f in finished),
            own_decode_s=decode_span,
            sample_first_token_s=[since(f.first_token_at, self.requested_at) for f in finished],
            sample_first_answer_s=[since(f.first_answer_at, self.requested_at) for f in finished],
            sample_last_token_s=[since(f.last_token_at, self.requested_at) for f in finished])


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]
