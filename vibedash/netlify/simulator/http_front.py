"""The simulator's HTTP front end: a threading server (IPv4 or IPv6) whose handler reads each request, asks the
simulator for the answer (faults included) and writes it back, keeping connections alive as Netlify does."""

from __future__ import annotations

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from vibedash.netlify.simulator.api_answers import Reply


class Responder(Protocol):
    """What the front end needs of the simulator."""

    def respond(self, method: str, target: str, headers: Any, body: bytes) -> Reply | None:
        """The answer to send, or None to drop the connection without one."""

    def record_request(self, method: str, target: str, status: int) -> None: ...


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False   # a request sleeping in a "slow" fault must not hold up stop()
    sim: Responder

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (read timeouts) make the socket fail under us; that is expected here.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(host: str, port: int, sim: Responder) -> _Server:
    server_class = _Server6 if ":" in host else _Server
    server = server_class((host, port), _Handler)
    server.sim = sim
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like Netlify, so client connection pooling is exercised
    # Headers and body go out in separate writes; with Nagle on, the body then waits for the client's delayed
    # ACK (about 40 ms a request on Linux loopback).
    disable_nagle_algorithm = True
    server: _Server
    server_version = "vibedash-netlify-sim"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by the base class
        pass  # requests are recorded in sim.requests (and echoed by the CLI) instead

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        reply = self.server.sim.respond(method, self.path, self.headers, body)
        if reply is None:   # a "drop" fault: the request may have been acted on, its answer is lost
            self.server.sim.record_request(method, self.path, 0)
            self.close_connection = True
            return
        self._send(method, self.path, reply)

    def _send(self, method: str, target: str, reply: Reply) -> None:
        self.server.sim.record_request(method, target, reply.status)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 204:
                if reply.body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if reply.status != 204:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True   # the client gave up (read timeout); nothing left to do
