"""Calendars for tests: ICS files served over HTTP as calendar servers serve them (``ETag``
and ``Last-Modified``, ``304 Not Modified`` for a conditional GET that matches), and the
headers each request came with."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from reflector_testkit.fake_http import LocalServer, QuietHandler


@dataclass
class CalendarServer:
    """Files by path; replacing one gives it a new ETag and Last-Modified."""

    base_url: str = ""
    files: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)
    """Path → (body, ETag, Last-Modified)."""
    statuses: dict[str, int] = field(default_factory=dict)
    """Path → a status to answer instead of the file (500, 404 …)."""
    redirects: dict[str, str] = field(default_factory=dict)
    """Path → the URL it redirects to (302)."""
    requests: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    """(path, request headers, status answered) for every request."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, path: str, body: str | bytes) -> str:
        """Serve ``body`` at ``path``; its URL."""
        data = body.encode() if isinstance(body, str) else body
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
        modified = format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=True)
        with self.lock:
            self.files[path] = (data, etag, modified)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def answers(self, path: str) -> list[int]:
        with self.lock:
            return [status for p, _, status in self.requests if p == path]


def _handler(server: CalendarServer) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
            with server.lock:
                server.requests.append((self.path, dict(self.headers.items()), status))
            self.reply(status, body, headers)

        def do_GET(self) -> None:
            with server.lock:
                forced = server.statuses.get(self.path)
                found = server.files.get(self.path)
                moved = server.redirects.get(self.path)
            if moved is not None:
                self._send(302, b"", {"Location": moved})
                return
            if forced is not None:
                self._send(forced, b"error", {"Content-Type": "text/plain"})
                return
            if found is None:
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            body, etag, modified = found
            validators = {"ETag": etag, "Last-Modified": modified}
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", validators)
                return
            self._send(200, body, {"Content-Type": "text/calendar; charset=utf-8", **validators})

    return Handler


@contextmanager
def calendar_server() -> Iterator[CalendarServer]:
    """An HTTP server for ICS files on a free local port, stopped on exit."""
    state = CalendarServer()
    with LocalServer(_handler(state)) as server:
        state.base_url = server.base_url
        yield state
