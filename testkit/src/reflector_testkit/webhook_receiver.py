"""A real HTTP server on loopback that receives webhook deliveries, for tests and benchmarks.

It records every request (headers and raw body, as a receiver must verify them) and answers
as told: a fixed status, a sequence of statuses, a delay per request, a redirect.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from reflector_testkit.fake_http import LocalServer, QuietHandler


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    at: float = field(default_factory=time.time)


@dataclass
class Behaviour:
    status: int = 200
    body: bytes = b'{"ok":true}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    script: deque[int] = field(default_factory=deque)
    """Statuses for the next requests, in order; then ``status``."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    receiver: WebhookReceiver


class _Handler(QuietHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        receiver = self.server.receiver
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, delay, extra = receiver.answer(Received(self.path, headers, self.read_body()))
        if delay:
            time.sleep(delay)
        self.reply(status, body, extra)

    do_GET = do_POST


class WebhookReceiver:
    """``with WebhookReceiver() as receiver:`` serves on ``receiver.url`` until the end."""

    def __init__(self, host: str = "127.0.0.1", path: str = "/hook") -> None:
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = LocalServer(_Handler, host, server_class=_Server)
        self._server.httpd.receiver = self  # type: ignore[attr-defined]
        self.host = host
        self.port = self._server.port
        self.url = f"{self._server.base_url}{path}"

    def answer(self, request: Received) -> tuple[int, bytes, float, dict[str, str]]:
        with self._lock:
            self.received.append(request)
            b = self.behaviour
            status = b.script.popleft() if b.script else b.status
            return status, b.body, b.delay, dict(b.headers)

    def respond(
        self,
        status: int = 200,
        *,
        script: list[int] | None = None,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        body: bytes = b'{"ok":true}',
    ) -> None:
        """How to answer from now on."""
        with self._lock:
            self.behaviour = Behaviour(status, body, delay, headers or {}, deque(script or []))

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The first ``count`` requests, once they have arrived."""
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.count()} of {count} deliveries after {timeout} s")
            time.sleep(0.02)
        with self._lock:
            return self.received[:count]

    def __enter__(self) -> WebhookReceiver:
        self._server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.close()
