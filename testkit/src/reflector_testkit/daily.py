"""A local stand-in for Daily: the parts of its REST API Reflector calls, and webhooks shaped
and signed as Daily's documentation shows them.

The server keeps what it was asked in memory (rooms, meeting tokens, recordings started) so a
test can check what Reflector sent; recordings for ``GET /recordings`` and presence are set by
the test. Everything answers as Daily does: a bearer API key, JSON bodies, 404 for an unknown
room, 400 for a room name already taken.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from reflector.platforms.daily import sign_webhook
from reflector_testkit.fake_http import LocalServer, QuietHandler

if TYPE_CHECKING:
    from reflector_testkit.seaweed import SeaweedS3

DAILY_DOMAIN = "reflector-test"
_ROOM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def new_secret() -> str:
    """A webhook ``hmac`` secret as Daily hands them out: base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secret_b64: str, body: bytes, timestamp: float | None = None) -> dict[str, str]:
    """The headers Daily sends with a webhook: its signature and timestamp."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    return {
        "Content-Type": "application/json",
        "X-Webhook-Signature": sign_webhook(secret_b64, stamp, body),
        "X-Webhook-Timestamp": stamp,
    }


def webhook(kind: str, payload: dict[str, Any], sent: float | None = None) -> bytes:
    """A webhook body: Daily's five common fields around ``payload``."""
    moment = time.time() if sent is None else sent
    body = {
        "version": "1.0.0",
        "type": kind,
        "id": f"{kind}-{uuid.uuid4()}-{int(moment)}",
        "payload": payload,
        "event_ts": moment,
    }
    return json.dumps(body).encode()


def participant_joined(
    room: str, session_id: str, *, user_id: str | None = None, user_name: str = "guest"
) -> bytes:
    now = time.time()
    payload = {
        "room": room,
        "user_id": user_id or session_id,
        "user_name": user_name,
        "session_id": session_id,
        "joined_at": now,
        "will_eject_at": now + 3600,
        "owner": False,
        "permissions": {"hasPresence": True, "canSend": True, "canAdmin": False},
    }
    return webhook("participant.joined", payload, now)


def participant_left(room: str, session_id: str, *, user_name: str = "guest") -> bytes:
    now = time.time()
    payload = {
        "room": room,
        "user_id": session_id,
        "user_name": user_name,
        "session_id": session_id,
        "joined_at": now - 60,
        "duration": 60,
        "owner": False,
    }
    return webhook("participant.left", payload, now)


def track_key(room: str, recording_start_ms: int, session_id: str, kind: str = "audio") -> str:
    """A raw track's key as Daily names them: ``{domain}/{room}/{start}-{session}-cam-{kind}-
    {track start}``."""
    track_start_ms = recording_start_ms + 438
    return f"{DAILY_DOMAIN}/{room}/{recording_start_ms}-{session_id}-cam-{kind}-{track_start_ms}"


def recording_ready(
    room: str,
    recording_id: str,
    *,
    tracks: list[dict[str, Any]] | None = None,
    s3_key: str | None = None,
) -> bytes:
    """``recording.ready-to-download``: ``raw-tracks`` with ``tracks`` (``{type, s3Key,
    size}``), else ``cloud`` with ``s3_key``."""
    now = time.time()
    payload: dict[str, Any] = {
        "type": "raw-tracks" if tracks is not None else "cloud",
        "recording_id": recording_id,
        "room_name": room,
        "start_ts": int(now) - 60,
        "status": "finished",
        "max_participants": max(1, len(tracks or [])),
        "duration": 60,
    }
    if tracks is not None:
        payload["tracks"] = tracks
    else:
        payload["s3_key"] = s3_key
    return webhook("recording.ready-to-download", payload, now)


def recording_error(room: str, message: str = "cloud recording failed") -> bytes:
    payload = {
        "action": "cloud-recording-err",
        "error_msg": message,
        "instance_id": str(uuid.uuid4()),
        "room_name": room,
        "timestamp": int(time.time()),
    }
    return webhook("recording.error", payload)


@dataclass
class FakeDailyState:
    api_key: str
    rooms: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    recordings_started: list[dict[str, Any]] = field(default_factory=list)
    recordings: list[dict[str, Any]] = field(default_factory=list)
    """What ``GET /recordings`` lists (newest first), set by the test."""
    presence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    room_delay: float = 0.0
    """Seconds ``POST /rooms`` takes: lets two requests overlap in a concurrency test."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeDaily:
    """Daily's REST API on 127.0.0.1; :attr:`api_url` goes into ``REFLECTOR_DAILY_API_URL``."""

    def __init__(self, api_key: str = "daily-test-key") -> None:
        self.state = FakeDailyState(api_key=api_key)
        self._server = LocalServer(_handler(self.state)).start()
        self.port = self._server.port
        self.api_url = f"{self._server.base_url}/v1"
        self.room_base = self._server.base_url

    def close(self) -> None:
        self._server.close()

    def calls(self, method: str, path: str) -> int:
        """How many times ``method path`` was asked (``POST /v1/rooms``: rooms created)."""
        with self.state.lock:
            return sum(1 for call in self.state.calls if call == (method, path))

    def settings(
        self, secret: str, recordings: SeaweedS3 | None = None, **more: Any
    ) -> dict[str, Any]:
        """The ``REFLECTOR_DAILY_*`` settings (as ``Settings`` keywords) that point here;
        with ``recordings``, Daily records into that S3 server's bucket (read with its key)."""
        bucket = {}
        if recordings is not None:
            bucket = {
                "daily_recordings_bucket": recordings.bucket,
                "daily_recordings_endpoint_url": recordings.endpoint_url,
                "daily_recordings_access_key": recordings.access_key,
                "daily_recordings_secret_key": recordings.secret_key,
            }
        return {
            "daily_api_url": self.api_url,
            "daily_api_key": self.state.api_key,
            "daily_webhook_secret": secret,
            "daily_subdomain": DAILY_DOMAIN,
            **bucket,
            **more,
        }


def _handler(state: FakeDailyState) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _error(self, status: int, error: str, info: str) -> None:
            self.reply_json(status, {"error": error, "info": info})

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {state.api_key}":
                self._error(401, "authentication-error", "bad API key")
                return False
            return True

        def _json(self) -> dict[str, Any] | None:
            try:
                body = json.loads(self.read_body() or b"{}")
            except ValueError:
                self._error(400, "invalid-request-error", "body is not JSON")
                return None
            return body if isinstance(body, dict) else {}

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            with state.lock:
                state.calls.append((method, url.path))
            if method == "GET" and not url.path.startswith("/v1/"):
                self._room_page(url.path.strip("/"))
                return
            if not self._authorised():
                return
            parts = [p for p in url.path.split("/") if p]
            if parts[:1] != ["v1"]:
                self._error(404, "not-found", "unknown path")
                return
            parts = parts[1:]
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "POST" and parts == ["rooms"]:
                self._create_room()
            elif method == "GET" and len(parts) == 2 and parts[0] == "rooms":
                self._get_room(parts[1])
            elif method == "DELETE" and len(parts) == 2 and parts[0] == "rooms":
                self._delete_room(parts[1])
            elif method == "POST" and parts == ["meeting-tokens"]:
                self._token()
            elif method == "POST" and len(parts) == 4 and parts[2:] == ["recordings", "start"]:
                self._start_recording(parts[1])
            elif method == "GET" and len(parts) == 3 and parts[2] == "presence":
                self._presence(parts[1])
            elif method == "GET" and parts == ["recordings"]:
                self._recordings(query)
            else:
                self._error(404, "not-found", f"no {method} {url.path}")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def _create_room(self) -> None:
            body = self._json()
            if body is None:
                return
            name = body.get("name") or uuid.uuid4().hex[:20]
            if not isinstance(name, str) or not _ROOM_NAME.match(name):
                self._error(400, "invalid-request-error", "name: invalid room name")
                return
            if state.room_delay:
                time.sleep(state.room_delay)
            with state.lock:
                if name in state.rooms:
                    self._error(400, "invalid-request-error", f"a room named {name} already exists")
                    return
                room = {
                    "id": str(uuid.uuid4()),
                    "name": name,
                    "api_created": True,
                    "privacy": body.get("privacy", "public"),
                    "url": f"http://127.0.0.1:{self.server.server_address[1]}/{name}",
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "config": body.get("properties") or {},
                }
                state.rooms[name] = room
            self.reply_json(200, room)

        def _room_page(self, name: str) -> None:
            """A room's address opened in a browser (where Daily serves the call): a small
            page naming the room, so a web page embedding the call can be checked."""
            with state.lock:
                known = name in state.rooms
            text = f"The call of the room {name}." if known else "No such room."
            data = f"<!doctype html><title>Daily</title><p>{html.escape(text)}</p>".encode()
            self.reply(200 if known else 404, data, {"Content-Type": "text/html; charset=utf-8"})

        def _get_room(self, name: str) -> None:
            with state.lock:
                room = state.rooms.get(name)
            if room is None:
                self._error(404, "not-found", f"room {name} was not found")
            else:
                self.reply_json(200, room)

        def _delete_room(self, name: str) -> None:
            with state.lock:
                room = state.rooms.pop(name, None)
            if room is None:
                self._error(404, "not-found", f"room {name} was not found")
            else:
                self.reply_json(200, {"deleted": True, "name": name})

        def _token(self) -> None:
            body = self._json()
            if body is None:
                return
            properties = body.get("properties")
            if not isinstance(properties, dict):
                self._error(400, "invalid-request-error", "properties: required")
                return
            token = secrets.token_urlsafe(24)
            with state.lock:
                state.tokens[token] = properties
            self.reply_json(200, {"token": token})

        def _start_recording(self, name: str) -> None:
            body = self._json()
            if body is None:
                return
            with state.lock:
                known = name in state.rooms
                if known:
                    state.recordings_started.append({"room": name, **body})
            if not known:
                self._error(404, "not-found", f"room {name} was not found")
                return
            self.reply_json(200, {"recordingId": str(uuid.uuid4())})

        def _presence(self, name: str) -> None:
            with state.lock:
                people = list(state.presence.get(name, []))
            self.reply_json(200, {"total_count": len(people), "data": people})

        def _recordings(self, query: dict[str, str]) -> None:
            limit = int(query.get("limit", "100"))
            with state.lock:
                items = list(state.recordings)
            if "room_name" in query:
                items = [r for r in items if r.get("room_name") == query["room_name"]]
            after = query.get("starting_after")
            if after:
                ids = [r["id"] for r in items]
                items = items[ids.index(after) + 1 :] if after in ids else []
            self.reply_json(200, {"total_count": len(items), "data": items[:limit]})

    return Handler


@contextmanager
def running_daily(api_key: str = "daily-test-key") -> Iterator[FakeDaily]:
    server = FakeDaily(api_key)
    try:
        yield server
    finally:
        server.close()
