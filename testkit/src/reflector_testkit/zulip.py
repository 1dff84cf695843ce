"""A local stand-in for a Zulip organization, for tests: the part of Zulip's REST API a bot uses,
as Zulip documents it (HTTP basic auth with the bot's email and API key, form-encoded
parameters, JSON answers with ``result``/``msg``/``code``):

* ``POST /api/v1/messages`` (``type=stream``, ``to``, ``topic``, ``content``) → ``{id}``;
* ``PATCH /api/v1/messages/{id}`` (``content``) — only the bot's own messages;
* ``GET /api/v1/streams`` and ``GET /api/v1/users/me/{stream_id}/topics``.

Errors as Zulip answers them: 401 ``INVALID_API_KEY`` for wrong credentials, 400
``STREAM_DOES_NOT_EXIST``, 400 ``BAD_REQUEST`` "Invalid message(s)" for an unknown message id,
400 ``REQUEST_VARIABLE_MISSING``; ``unavailable`` makes every call answer 503.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reflector_testkit.fake_http import LocalServer, QuietHandler

MAX_TOPIC_CHARS = 60
MAX_CONTENT_BYTES = 10_000


@dataclass
class Message:
    id: int
    stream: str
    topic: str
    content: str
    sender: str
    edits: int = 0


@dataclass
class FakeZulip:
    """The organization's state: streams, messages, and every request it was sent."""

    bot_email: str
    api_key: str
    streams: dict[int, str] = field(default_factory=dict)
    """Stream id → name."""
    messages: dict[int, Message] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    unavailable: bool = False
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stream_id(self, name: str) -> int | None:
        return next((sid for sid, sname in self.streams.items() if sname == name), None)

    def messages_in(self, stream: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages.values() if m.stream == stream]

    # --- the API, one method per route: (status, body) -------------------------------------

    def send(self, sender: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        for name in ("type", "to", "content"):
            if not form.get(name):
                return _missing(name)
        if form["type"] not in ("stream", "channel"):
            return _error(400, "BAD_REQUEST", "Only stream messages are supported here")
        target = form["to"]
        if target.startswith("["):  # Zulip also takes a JSON list with one stream
            target = str(json.loads(target)[0])
        stream = self.streams.get(int(target)) if target.isdigit() else target
        if stream is None or self.stream_id(stream) is None:
            return _error(
                400,
                "STREAM_DOES_NOT_EXIST",
                f"Channel '{target}' does not exist",
                stream=target,
            )
        topic = form.get("topic") or form.get("subject")
        if topic is None:
            return _missing("topic")
        with self.lock:
            message_id = 1000 + len(self.messages)
            self.messages[message_id] = Message(
                message_id, stream, topic[:MAX_TOPIC_CHARS], _truncate(form["content"]), sender
            )
        return 200, {"id": message_id, "msg": "", "result": "success"}

    def edit(self, sender: str, message_id: int, form: dict[str, str]) -> tuple[int, dict]:
        with self.lock:
            message = self.messages.get(message_id)
            if message is None:
                return _error(400, "BAD_REQUEST", "Invalid message(s)")
            if message.sender != sender:
                return _error(400, "BAD_REQUEST", "You don't have permission to edit this message")
            if "content" in form:
                message.content = _truncate(form["content"])
            if form.get("topic"):
                message.topic = form["topic"][:MAX_TOPIC_CHARS]
            message.edits += 1
        return 200, {"msg": "", "result": "success"}

    def list_streams(self) -> tuple[int, dict[str, Any]]:
        streams = [
            {"stream_id": sid, "name": name, "description": f"About {name}", "invite_only": False}
            for sid, name in sorted(self.streams.items())
        ]
        return 200, {"msg": "", "result": "success", "streams": streams}

    def topics(self, stream_id: int) -> tuple[int, dict[str, Any]]:
        name = self.streams.get(stream_id)
        if name is None:
            return _error(400, "BAD_REQUEST", "Invalid channel ID")
        newest: dict[str, int] = {}
        with self.lock:
            for message in self.messages.values():
                if message.stream == name:
                    newest[message.topic] = max(newest.get(message.topic, 0), message.id)
        topics = [
            {"name": topic, "max_id": max_id}
            for topic, max_id in sorted(newest.items(), key=lambda item: -item[1])
        ]
        return 200, {"msg": "", "result": "success", "topics": topics}


def _error(status: int, code: str, msg: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "msg": msg, "result": "error", **extra}


def _missing(name: str) -> tuple[int, dict[str, Any]]:
    return _error(400, "REQUEST_VARIABLE_MISSING", f"Missing '{name}' argument", var_name=name)


def _truncate(content: str) -> str:
    data = content.encode()
    if len(data) <= MAX_CONTENT_BYTES:
        return content
    return data[: MAX_CONTENT_BYTES - 20].decode(errors="ignore") + "\n[message truncated]"


_TOPICS = re.compile(r"^/api/v1/users/me/(\d+)/topics$")
_MESSAGE = re.compile(r"^/api/v1/messages/(\d+)$")


def _handler(fake: FakeZulip) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _sender(self) -> str | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            try:
                email, _, key = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            return email if (email, key) == (fake.bot_email, fake.api_key) else None

        def _form(self) -> dict[str, str]:
            body = self.read_body().decode()
            query = urlsplit(self.path).query
            values = parse_qs(body, keep_blank_values=True) | parse_qs(query)
            return {name: items[-1] for name, items in values.items()}

        def _route(self, method: str) -> None:
            path = urlsplit(self.path).path
            form = self._form()
            with fake.lock:
                fake.requests.append((method, path, form))
            if fake.unavailable:
                self.reply_json(503, {"result": "error", "msg": "Service unavailable"})
                return
            if not self.headers.get("Authorization"):
                self.reply_json(*_error(401, "UNAUTHORIZED", "Missing authorization header"))
                return
            sender = self._sender()
            if sender is None:
                self.reply_json(*_error(401, "INVALID_API_KEY", "Invalid API key"))
                return
            if method == "POST" and path == "/api/v1/messages":
                self.reply_json(*fake.send(sender, form))
            elif method == "PATCH" and (match := _MESSAGE.match(path)):
                self.reply_json(*fake.edit(sender, int(match.group(1)), form))
            elif method == "GET" and path == "/api/v1/streams":
                self.reply_json(*fake.list_streams())
            elif method == "GET" and (match := _TOPICS.match(path)):
                self.reply_json(*fake.topics(int(match.group(1))))
            else:
                self.reply_json(404, {"result": "error", "msg": "Not Found", "code": "BAD_REQUEST"})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PATCH(self) -> None:
            self._route("PATCH")

    return Handler


@contextmanager
def fake_zulip(
    bot_email: str = "reflector-bot@zulip.test",
    api_key: str = "bot-api-key-0123456789abcdef",
    streams: dict[int, str] | None = None,
) -> Iterator[FakeZulip]:
    """A fake Zulip organization on a free local port (``fake.base_url``), stopped on exit."""
    fake = FakeZulip(bot_email, api_key, dict(streams or {1: "general", 2: "meetings"}))
    with LocalServer(_handler(fake)) as server:
        fake.base_url = server.base_url
        yield fake
