"""A scripted OpenAI-compatible server on 127.0.0.1 for eval tests and benchmarks.

POST /v1/chat/completions streams (server-sent events) what ``script(body, choice_index)`` returns for each of
the request's ``n`` choices, one token per delta, as vLLM does. A token is a space-separated word (its trailing
space included), so a test can count tokens by hand. ``max_tokens`` cuts an answer (finish_reason "length");
the last chunk carries ``usage.completion_tokens``. With ``reasoning=True`` the text inside <think>...</think> is
sent as ``reasoning_content`` (a server with a reasoning parser). A ``thinking_token_budget`` in the request
(vLLM's per-request budget) ends thinking after that many tokens with a forced ``</think>``, unless
``honour_budget=False``. POST /v1/completions (a budget continuation: thinking cut by the client, then the
answer) streams the scripted text after its ``</think>``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Script = Callable[[dict, int], str]


def tokens_of(text: str) -> list[str]:
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + ([words[-1]] if words[-1] else [])


def apply_budget(pieces: list[str], budget: int | None) -> list[str]:
    if budget is None or not pieces or not pieces[0].startswith("<think>"):
        return pieces
    end = next((i for i, p in enumerate(pieces) if p.strip() == "</think>"), None)
    if end is None or end <= budget:
        return pieces
    return pieces[:budget] + ["</think> "] + pieces[end + 1:]


class ScriptedOpenAIServer:
    def __init__(self, script: Script, *, models: tuple[str, ...] = ("vibe",), token_delay_s: float = 0.0,
                 reasoning: bool = False, honour_budget: bool = True) -> None:
        self.script, self.models, self.token_delay_s, self.reasoning = script, models, token_delay_s, reasoning
        self.honour_budget = honour_budget
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["_path"] = self.path
                with server._lock:
                    server.requests.append(body)
                if body.get("model") not in server.models:
                    data = json.dumps({"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data.encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if self.path.endswith("/completions") and not self.path.endswith("/chat/completions"):
                        server._stream_completion(self, body)
                    else:
                        server._stream(self, body)

        class Server(ThreadingHTTPServer):
            # socketserver's default backlog of 5 drops connections when an eval opens 16 at once; the client
            # then retries a second later, which timed the kernel's retransmit, not the code under test.
            request_queue_size = 128

            def handle_error(self, request, client_address):
                # A client closing its idle keep-alive connections resets them: not an error of the server.
                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def ref(self, model: str = "vibe") -> str:
        return f"openai:{model}@{self.base_url}"

    def __enter__(self) -> ScriptedOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @staticmethod
    def _event(handler: BaseHTTPRequestHandler, payload) -> None:
        data = f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()
        handler.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()

    def _stream_completion(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        text = self.script(body, 0)
        answer = text.split("</think>", 1)[1].lstrip(" ") if "</think>" in text else text
        pieces = tokens_of(answer)[:int(body.get("max_tokens") or 1 << 30)]
        for piece in pieces:
            self._event(handler, {"id": "cmpl-2", "object": "text_completion", "model": body["model"],
                                  "choices": [{"index": 0, "text": piece, "finish_reason": None}]})
        self._event(handler, {"id": "cmpl-2", "object": "text_completion", "model": body["model"],
                              "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
        self._event(handler, "[DONE]")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def _stream(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        def event(payload) -> None:
            self._event(handler, payload)

        n, cap = int(body.get("n") or 1), int(body.get("max_tokens") or 1 << 30)
        total = 0
        for index in range(n):
            budget = body.get("thinking_token_budget") if self.honour_budget else None
            pieces = apply_budget(tokens_of(self.script(body, index)), budget)
            finish = "length" if len(pieces) > cap else "stop"
            pieces = pieces[:cap]
            total += len(pieces)
            thinking = False
            for piece in pieces:
                if self.token_delay_s:
                    time.sleep(self.token_delay_s)
                delta: dict = {"content": piece}
                if self.reasoning:
                    if piece.strip() == "<think>":
                        thinking = True
                        continue
                    if piece.strip() == "</think>":
                        thinking = False
                        continue
                    if thinking:
                        delta = {"reasoning_content": piece}
                event({"id": "cmpl-1", "object": "chat.completion.chunk", "model": body["model"],
                       "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
            event({"id": "cmpl-1", "object": "chat.completion.chunk", "model": body["model"],
                   "choices": [{"index": index, "delta": {}, "finish_reason": finish}]})
        event({"id": "cmpl-1", "object": "chat.completion.chunk", "model": body["model"], "choices": [],
               "usage": {"prompt_tokens": 10, "completion_tokens": total, "total_tokens": 10 + total}})
        event("[DONE]")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
