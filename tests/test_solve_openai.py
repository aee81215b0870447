"""The OpenAI-compatible backend against a small streaming server on 127.0.0.1, and the engine's
self-consistency vote and stall handling through it."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vibedash.registry.db import open_registry, unit_of_work
from vibedash.registry.models import Version
from vibedash.solve.engine import (
    Chunk,
    Failed,
    Finished,
    SolveEngine,
    SolveRequest,
    Tick,
)
from vibedash.solve.errors import GenerationError, ModelLoadError, SolveConfigError
from vibedash.solve.generation import GenerationJob, TextDelta
from vibedash.solve.openai_compat import OpenAICompatBackend, parse_ref, request_body
from vibedash.solve.problems import find_problem
from vibedash.solve.prompts import SamplingSettings, chat_messages
from vibedash.solve.versions import resolve_version

API_KEY = "sk-vibedash-test-SECRET"


class FakeOpenAIServer:
    """Answers POST /v1/chat/completions with a streamed (chunked, server-sent events) completion: sample i
    is ``samples[i % len(samples)]``, sent piece by piece, with ``delay_s`` between pieces."""

    def __init__(self, samples, *, model="vibe", api_key=None, delay_s=0.0, first_delay_s=0.0, reasoning=None,
                 thinking=(), reasoning_field=True, honour_budget=False, continuation=("\\boxed{4}",)):
        """``thinking``: pieces (one token each) streamed before every sample's answer, in the separate
        ``reasoning_content`` field or inline between <think> tags; ``honour_budget``: stop them after
        ``thinking_token_budget`` pieces as vLLM does; ``continuation``: what /completions streams."""
        self.samples, self.model, self.api_key = samples, model, api_key
        self.delay_s, self.first_delay_s, self.reasoning = delay_s, first_delay_s, reasoning
        self.thinking, self.reasoning_field, self.honour_budget = list(thinking), reasoning_field, honour_budget
        self.continuation = list(continuation)
        self.requests: list[tuple[dict, dict]] = []
        self.pieces_sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((dict(self.headers), body))
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self.reply(401, {"error": {"message": "bad key"}})
                if body["model"] != server.model:
                    return self.reply(404, {"error": {"message": f"The model `{body['model']}` does not exist."}})
                time.sleep(server.first_delay_s)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client stopped reading
                    self.stream(body)

            def reply(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def event(self, payload):
                data = f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def stream(self, body):
                if "prompt" in body:  # /v1/completions: a continuation
                    pieces = server.continuation[:body["max_tokens"]]
                    for piece in pieces:
                        self.event({"choices": [{"index": 0, "text": piece}]})
                    reason = "length" if len(server.continuation) > body["max_tokens"] else "stop"
                    self.event({"choices": [{"index": 0, "text": "", "finish_reason": reason}]})
                    self.event("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                texts = [server.samples[i % len(server.samples)] for i in range(body.get("n", 1))]
                thinking = list(server.thinking)
                if server.honour_budget and body.get("thinking_token_budget") is not None:
                    thinking = thinking[:body["thinking_token_budget"]]
                if thinking:
                    for index in range(len(texts)):
                        if not server.reasoning_field:
                            self.event({"choices": [{"index": index, "delta": {"content": "<think>"}}]})
                        for piece in thinking:
                            field = "reasoning_content" if server.reasoning_field else "content"
                            self.event({"choices": [{"index": index, "delta": {field: piece}}]})
                        if not server.reasoning_field:
                            self.event({"choices": [{"index": index, "delta": {"content": "</think>"}}]})
                if server.reasoning:
                    for index in range(len(texts)):
                        self.event({"choices": [{"index": index, "delta": {"reasoning_content": server.reasoning}}]})
                longest = max(len(pieces) for pieces in texts)
                for position in range(longest):
                    for index, pieces in enumerate(texts):
                        if position < len(pieces):
                            self.event({"choices": [{"index": index, "delta": {"content": pieces[position]}}]})
                            server.pieces_sent += 1
                            time.sleep(server.delay_s)
                for index in range(len(texts)):
                    self.event({"choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]})
                thought = (len(thinking) + (0 if server.reasoning_field else 2)) if thinking else 0
                self.event({"choices": [], "usage": {"completion_tokens": sum(len(p) + thought for p in texts)}})
                self.event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


def job(**settings):
    return GenerationJob(tuple(chat_messages("What is 3^2025 mod 1000?")), SamplingSettings(**settings))


def collect(backend, ref, job_, stop=None):
    events = []
    outcome = backend.generate(ref, job_, events.append, stop or threading.Event())
    return outcome, events


def test_model_references():
    assert parse_ref("openai:VibeThinker-1.5B@http://127.0.0.1:8000/v1/", None).base_url == "http://127.0.0.1:8000/v1"
    assert parse_ref("openai:org/model@name", "http://h:1/v1").model == "org/model@name"  # not a URL after @
    assert parse_ref("openai:vibe", "https://h/v1").base_url == "https://h/v1"
    with pytest.raises(SolveConfigError, match="set VIBEDASH_OPENAI_BASE_URL"):
        parse_ref("openai:vibe", None)
    body = request_body(parse_ref("openai:vibe", "http://h/v1"), job(top_k=0, samples=3, seed=4))
    assert (body["n"], body["seed"], body["temperature"], body["top_p"], body["stream"]) == (3, 4, 0.6, 0.95, True)
    assert "top_k" not in body  # disabled: left out rather than -1 or 0


def test_streams_pieces_in_order_with_the_key_in_the_header_only(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer([["The ", "answer ", "is ", "\\boxed{443}", "."]], api_key=API_KEY) as server:
        backend = OpenAICompatBackend(api_key=API_KEY)
        outcome, events = collect(backend, f"openai:vibe@{server.url}", job(max_new_tokens=64))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["The ", "answer ", "is ", "\\boxed{443}", "."]
    assert outcome.texts == ["The answer is \\boxed{443}."] and outcome.tokens == [5]
    assert outcome.device == f"openai {server.url}" and outcome.time_to_first_token_s is not None
    headers, body = server.requests[0]
    assert headers["Authorization"] == f"Bearer {API_KEY}" and body["max_tokens"] == 64
    assert body["messages"] == [{"role": "user", "content": "What is 3^2025 mod 1000?"}]
    assert API_KEY not in repr(backend) and API_KEY not in caplog.text


def test_k_samples_arrive_by_index():
    with FakeOpenAIServer([["a", "1"], ["b", "2", "3"]]) as server:
        outcome, events = collect(OpenAICompatBackend(), f"openai:vibe@{server.url}", job(samples=3))
    assert outcome.texts == ["a1", "b23", "a1"] and outcome.tokens == [2, 3, 2]
    assert "".join(e.text for e in events if isinstance(e, TextDelta) and e.sample == 1) == "b23"


def test_split_out_reasoning_is_put_back_in_think_tags():
    with FakeOpenAIServer([["\\boxed{7}"]], reasoning="3+4 is 7") as server:
        outcome, _ = collect(OpenAICompatBackend(), f"openai:vibe@{server.url}", job())
    assert outcome.texts == ["<think>3+4 is 7</think>\\boxed{7}"]


def test_stop_closes_the_stream():
    with FakeOpenAIServer([[f"w{i} " for i in range(200)]], delay_s=0.01) as server:
        stop = threading.Event()
        events = []

        def emit(event):
            events.append(event)
            if isinstance(event, TextDelta):
                stop.set()

        outcome = OpenAICompatBackend().generate(f"openai:vibe@{server.url}", job(), emit, stop)
        assert outcome.stopped and outcome.tokens[0] <= 2
        time.sleep(0.2)
        assert server.pieces_sent < 100  # the server noticed the closed connection


def test_server_errors_are_clear():
    with FakeOpenAIServer([["x"]], api_key=API_KEY) as server:
        with pytest.raises(ModelLoadError, match="refused the API key") as error:
            collect(OpenAICompatBackend(api_key="sk-wrong"), f"openai:vibe@{server.url}", job())
        assert "sk-wrong" not in str(error.value)
        with pytest.raises(ModelLoadError, match="has no model other"):
            collect(OpenAICompatBackend(api_key=API_KEY), f"openai:other@{server.url}", job())
        closed_port = server.url
    with pytest.raises(ModelLoadError, match=f"no server answers at {closed_port}"):
        collect(OpenAICompatBackend(), f"openai:vibe@{closed_port}", job())


# -- through the engine ------------------------------------------------------------------------------------

@pytest.fixture
def registry(tmp_path):
    engine = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    yield engine
    engine.dispose()


def add_version(registry, sha, model_ref):
    with unit_of_work(registry) as session:
        session.add(Version(sha=sha, model_ref=model_ref))
    return resolve_version(registry, sha[:8])


def test_self_consistency_votes_the_majority_answer(registry):
    answers = [["<think>3^2025...</think>", "\\boxed{443}"], ["\\boxed{443}"], ["\\boxed{442}"], ["no idea"],
               ["<think>hm</think>\\boxed{0443}"]]
    with FakeOpenAIServer(answers) as server:
        version = add_version(registry, "ab" * 20, f"openai:vibe@{server.url}")
        solver = SolveEngine(registry)
        try:
            result = solver.solve(SolveRequest.for_problem(version, find_problem("math-04"),
                                                           SamplingSettings(samples=5)))
            again = solver.solve(SolveRequest.for_problem(version, find_problem("math-04"),
                                                          SamplingSettings(samples=5)))
        finally:
            solver.close()
    assert server.requests[0][1]["n"] == 5  # one batched request
    assert result.backend == "openai" and result.mode == "vote"
    assert result.sample_answers == ("443", "443", "442", None, "0443")
    assert (result.answer, result.correct, result.agreement) == ("443", True, pytest.approx(0.6))
    assert result.grade_detail.startswith("majority 443 by 3 of 5 samples (443 ×3, 442 ×1, none ×1)")
    assert again.cached and again.agreement == pytest.approx(0.6) and len(server.requests) == 1


def test_base_url_from_settings_and_math_graded_with_math_verify(registry):
    with FakeOpenAIServer([["\\boxed{\\dfrac{1}{2}}"]]) as server:
        version = add_version(registry, "cd" * 20, "openai:vibe")
        solver = SolveEngine(registry, openai_base_url=server.url)
        try:
            result = solver.solve(SolveRequest(version=version, question="Half of one?", expected="0.5"))
            # Same question, another reference answer: the generation is reused, the grade is not.
            regraded = solver.solve(SolveRequest(version=version, question="Half of one?", expected="0.25"))
        finally:
            solver.close()
    assert (result.answer, result.correct) == ("\\dfrac{1}{2}", True)
    assert "math-verify" in result.grade_detail
    assert regraded.cached and len(server.requests) == 1
    assert (regraded.expected, regraded.correct) == ("0.25", False)


def test_a_silent_side_is_given_up_while_the_other_finishes(registry):
    with FakeOpenAIServer([["slow"]], first_delay_s=1.5) as slow, FakeOpenAIServer([["\\boxed{4}"]]) as quick:
        version_slow = add_version(registry, "ef" * 20, f"openai:vibe@{slow.url}")
        version_quick = add_version(registry, "fa" * 20, f"openai:vibe@{quick.url}")
        solver = SolveEngine(registry, stall_timeout_s=0.5)
        try:
            events = list(solver.stream_many({
                "slow": SolveRequest(version=version_slow, question="2+2?", expected="4"),
                "quick": SolveRequest(version=version_quick, question="2+2?", expected="4")}, tick_s=0.1))
        finally:
            solver.close()
    by_side = {side: [e for s, e in events if s == side] for side in ("slow", "quick")}
    assert isinstance(by_side["quick"][-1], Finished) and by_side["quick"][-1].result.correct is True
    failure = by_side["slow"][-1]
    assert isinstance(failure, Failed) and isinstance(failure.error, GenerationError)
    assert "made no progress for 0.5 s" in failure.message
    assert any(isinstance(e, Tick) for e in by_side["slow"])  # the page's timer kept moving meanwhile
    assert not any(isinstance(e, Chunk) for e in by_side["slow"])
