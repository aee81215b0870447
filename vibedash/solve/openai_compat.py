"""The OpenAI-compatible HTTP backend: any server with a streaming ``/v1/chat/completions`` (vLLM, SGLang,
llama.cpp's server, ...).

A version uses it when its model reference starts with ``openai:``:
    openai:VibeThinker-1.5B@http://127.0.0.1:8000/v1   (model name @ base URL)
    openai:VibeThinker-1.5B                            (base URL from VIBEDASH_OPENAI_BASE_URL)
The API key (VIBEDASH_OPENAI_API_KEY) goes only into the Authorization header: never into messages, logs
or reprs.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from vibedash.solve.errors import GenerationError, ModelLoadError, SolveConfigError
from vibedash.solve.generation import (
    Emit,
    GenerationJob,
    GenerationOutcome,
    Phase,
    TextDelta,
)

PREFIX = "openai:"
THINK_START, THINK_END = "<think>", "</think>"


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


def request_body(endpoint: Endpoint, job: GenerationJob) -> dict[str, Any]:
    settings = job.settings
    body: dict[str, Any] = {
        "model": endpoint.model, "messages": list(job.messages), "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": settings.max_new_tokens, "temperature": settings.temperature, "top_p": settings.top_p,
        "seed": settings.seed, "n": settings.samples,
    }
    if settings.top_k:
        body["top_k"] = settings.top_k  # a vLLM/SGLang extension; left out means disabled
    return body


class OpenAICompatBackend:
    name = "openai"

    def __init__(self, default_base_url: str | None = None, api_key: str | None = None, *,
                 connect_timeout_s: float = 5.0, read_timeout_s: float = 300.0,
                 session: requests.Session | None = None) -> None:
        self._default_base_url = default_base_url
        self._api_key = api_key
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._session = session  # None: one session per generation (a Session is not meant to be shared by threads)

    def __repr__(self) -> str:  # no key, ever
        key = "set" if self._api_key else "not set"
        return f"OpenAICompatBackend(default_base_url={self._default_base_url!r}, api_key={key})"

    def generate(self, model_ref: str, job: GenerationJob, emit: Emit, stop: threading.Event) -> GenerationOutcome:
        try:
            endpoint = parse_ref(model_ref, self._default_base_url)
        except SolveConfigError as exc:
            raise ModelLoadError(model_ref, str(exc).split(": ", 1)[-1]) from None
        emit(Phase("connecting", endpoint.base_url))
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        started = time.monotonic()
        with contextlib.ExitStack() as cleanup:
            session = self._session or cleanup.enter_context(requests.Session())
            try:
                response = session.post(f"{endpoint.base_url}/chat/completions", json=request_body(endpoint, job),
                                        headers=headers, stream=True, timeout=self._timeout)
            except requests.ConnectionError:
                raise ModelLoadError(model_ref, f"no server answers at {endpoint.base_url}") from None
            except requests.Timeout:
                raise ModelLoadError(model_ref, f"the server at {endpoint.base_url} did not answer in time",
                                     missing=False) from None
            with response:
                self._check_status(response, model_ref, endpoint)
                emit(Phase("generating", endpoint.base_url))
                return self._read_stream(response, job, emit, stop, started, endpoint)

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

    def _read_stream(self, response: requests.Response, job: GenerationJob, emit: Emit, stop: threading.Event,
                     started: float, endpoint: Endpoint) -> GenerationOutcome:
        samples = job.settings.samples
        texts: list[list[str]] = [[] for _ in range(samples)]
        deltas = [0] * samples
        thinking = [False] * samples
        first_token_at: float | None = None
        usage_tokens: int | None = None
        stopped = False

        def add(index: int, text: str) -> None:
            texts[index].append(text)
            emit(TextDelta(sample=index, text=text))

        try:
            for raw in response.iter_lines(chunk_size=None):
                if stop.is_set():
                    stopped = True
                    break
                line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                data = line[len("data:"):].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("error"):
                    raise GenerationError(f"the server at {endpoint.base_url} reported: {_error_text(chunk['error'])}")
                if chunk.get("usage"):
                    usage_tokens = chunk["usage"].get("completion_tokens", usage_tokens)
                for choice in chunk.get("choices") or []:
                    index = int(choice.get("index", 0))
                    if not 0 <= index < samples:
                        continue
                    delta = choice.get("delta") or {}
                    # Servers with a reasoning parser split the thinking out; put it back in <think> tags so
                    # the answer is still graded after </think>, as for a local run.
                    reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                    content = delta.get("content")
                    if reasoning:
                        if not thinking[index]:
                            thinking[index] = True
                            add(index, THINK_START)
                        add(index, reasoning)
                    if content:
                        if thinking[index]:
                            thinking[index] = False
                            add(index, THINK_END)
                        add(index, content)
                    if reasoning or content:
                        deltas[index] += 1
                        first_token_at = first_token_at or time.monotonic()
        except (requests.ConnectionError, requests.Timeout) as exc:
            if not stop.is_set():
                raise GenerationError(f"the stream from {endpoint.base_url} broke off: {type(exc).__name__}") from None
            stopped = True
        except (ValueError, KeyError, TypeError) as exc:
            raise GenerationError(f"the server at {endpoint.base_url} sent a malformed stream chunk ({exc})") from None
        elapsed = time.monotonic() - started
        # Usage is exact but totals all samples; per-sample counts come from the deltas (one token each on
        # vLLM and SGLang).
        tokens = [usage_tokens] if usage_tokens is not None and samples == 1 else deltas
        return GenerationOutcome(texts=["".join(parts) for parts in texts], tokens=tokens,
                                 device=f"openai {endpoint.base_url}",
                                 time_to_first_token_s=(first_token_at - started) if first_token_at else None,
                                 elapsed_s=elapsed, stopped=stopped or stop.is_set())


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]
