"""What every local stand-in for an HTTP service shares (the fake Daily, Whereby and Zulip, the
calendar server, the webhook receiver): a request handler that answers bytes or JSON and keeps
test output quiet, and a real server on a free port of loopback, serving in a thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and reads and writes whole bodies."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def read_body(self) -> bytes:
        """The request's body (as long as its ``Content-Length`` says; empty without one)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None):
        """Answer ``status`` with ``headers`` and ``body`` (its length is added)."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, body: Any = None) -> None:
        """Answer ``status`` with ``body`` as JSON; no body at all for ``None`` (a 204)."""
        if body is None:
            self.reply(status)
        else:
            data = json.dumps(body).encode()
            self.reply(status, data, {"Content-Type": "application/json"})


class LocalServer:
    """``handler`` served on ``host`` (a free port) in a thread from :meth:`start` (or entering
    ``with``) until :meth:`close` (or leaving it)."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        host: str = "127.0.0.1",
        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
    ) -> None:
        self.httpd = server_class((host, 0), handler)
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a loop that was never started
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
