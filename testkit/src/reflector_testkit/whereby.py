"""A local stand-in for Whereby Embedded, for tests: its REST API as Whereby documents it
(``POST``/``GET``/``DELETE /v1/meetings``, bearer key, the same checks and answers), its signed
webhooks, and what its cloud recorder does (a file named as Whereby names it, written into the
S3 bucket it was given, and the bucket's ``ObjectCreated`` notification for it).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import av

from reflector.platforms.whereby import sign
from reflector_testkit.fake_http import LocalServer, QuietHandler

ROOM_MODES = {"normal", "group"}
NAME_PATTERNS = {"uuid", "human-short"}
FIELDS = {"hostRoomUrl", "viewerRoomUrl"}
RECORDING_TYPES = {"none", "local", "cloud"}
START_TRIGGERS = {"none", "prompt", "automatic", "automatic-2nd-participant"}
FILE_FORMATS = {"mkv", "mp4"}
_PREFIX = re.compile(r"[a-z0-9-]{0,39}")


@dataclass
class FakeWhereby:
    """The state of the fake: meetings by id and every request it was sent."""

    api_key: str
    base_url: str = ""
    """Where the server listens (``http://127.0.0.1:<port>``); the API is under ``/v1``."""
    meetings: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    def create(self, body: Any) -> tuple[int, dict[str, Any]]:
        problem = _check_meeting(body)
        if problem:
            return 400, {"error": problem}
        room_name = f"/{body.get('roomNamePrefix', '')}{uuid.uuid4()}"
        meeting_id = str(100000 + len(self.meetings))
        meeting: dict[str, Any] = {
            "meetingId": meeting_id,
            "roomName": room_name,
            "roomUrl": f"{self.base_url}{room_name}",
            "startDate": _iso(datetime.now(UTC)),
            "endDate": _iso(_parse_date(body["endDate"])),
        }
        fields = set(body.get("fields") or ())
        if "hostRoomUrl" in fields:
            meeting["hostRoomUrl"] = f"{self.base_url}{room_name}?roomKey={uuid.uuid4().hex}"
        if "viewerRoomUrl" in fields:
            meeting["viewerRoomUrl"] = f"{self.base_url}{room_name}?roomKey={uuid.uuid4().hex}"
        with self.lock:
            self.meetings[meeting_id] = {**meeting, "request": body}
        return 201, meeting


def _check_meeting(body: Any) -> str | None:
    """What is wrong with a ``POST /meetings`` body, by Whereby's documented rules."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    end = body.get("endDate")
    try:
        end_date = _parse_date(end)
    except (TypeError, ValueError):
        return '"endDate" is required and must be a date-time'
    if end_date < datetime.now(UTC).replace(microsecond=0):
        return '"endDate" must be the same or after the current date'
    if "roomMode" in body and body["roomMode"] not in ROOM_MODES:
        return f'"roomMode" must be one of {sorted(ROOM_MODES)}'
    if "isLocked" in body and not isinstance(body["isLocked"], bool):
        return '"isLocked" must be a boolean'
    prefix = body.get("roomNamePrefix", "")
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        return '"roomNamePrefix" must match [a-z0-9-]{0,39}'
    if "roomNamePattern" in body and body["roomNamePattern"] not in NAME_PATTERNS:
        return f'"roomNamePattern" must be one of {sorted(NAME_PATTERNS)}'
    fields = body.get("fields", [])
    if not isinstance(fields, list) or not set(fields) <= FIELDS:
        return f'"fields" may only hold {sorted(FIELDS)}'
    recording = body.get("recording")
    if recording is not None:
        return _check_recording(recording)
    return None


def _check_recording(recording: Any) -> str | None:
    if not isinstance(recording, dict) or recording.get("type") not in RECORDING_TYPES:
        return f'"recording.type" must be one of {sorted(RECORDING_TYPES)}'
    trigger = recording.get("startTrigger")
    if trigger is not None and trigger not in START_TRIGGERS:
        return f'"recording.startTrigger" must be one of {sorted(START_TRIGGERS)}'
    destination = recording.get("destination")
    if recording["type"] == "cloud" and destination is not None:
        provider = destination.get("provider") if isinstance(destination, dict) else None
        if provider not in ("s3", "whereby"):
            return '"recording.destination.provider" must be "s3" or "whereby"'
        if provider == "s3":
            for name in ("bucket", "accessKeyId", "accessKeySecret"):
                if not isinstance(destination.get(name), str) or not destination[name]:
                    return f'"recording.destination.{name}" is required for an s3 destination'
        if destination.get("fileFormat", "mp4") not in FILE_FORMATS:
            return f'"recording.destination.fileFormat" must be one of {sorted(FILE_FORMATS)}'
    return None


def _parse_date(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("not a string")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _handler(state: FakeWhereby) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {state.api_key}":
                return True
            self.reply_json(401, {"error": "Access token is missing or invalid"})
            return False

        def _body(self) -> Any:
            raw = self.read_body()
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return raw

        def do_POST(self) -> None:
            body = self._body()
            state.requests.append(("POST", self.path, body))
            if not self._authorised():
                return
            if self.path != "/v1/meetings":
                self.reply_json(404, {"error": "Not found"})
                return
            self.reply_json(*state.create(body))

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path, None))
            if not self._authorised():
                return
            meeting_id = self.path.removeprefix("/v1/meetings/")
            meeting = state.meetings.get(meeting_id)
            if not self.path.startswith("/v1/meetings/") or meeting is None:
                self.reply_json(404, {"error": "Not found"})
                return
            self.reply_json(200, {k: v for k, v in meeting.items() if k != "request"})

        def do_DELETE(self) -> None:
            state.requests.append(("DELETE", self.path, None))
            if not self._authorised():
                return
            if not self.path.startswith("/v1/meetings/"):
                self.reply_json(404, {"error": "Not found"})
                return
            meeting_id = self.path.removeprefix("/v1/meetings/")
            with state.lock:
                state.meetings.pop(meeting_id, None)
                state.deleted.append(meeting_id)
            self.reply_json(204)  # idempotent, as documented

    return Handler


@contextmanager
def running_whereby(api_key: str | None = None) -> Iterator[FakeWhereby]:
    """The fake Whereby API on a free port of 127.0.0.1, stopped on exit."""
    state = FakeWhereby(api_key=api_key or uuid.uuid4().hex)
    with LocalServer(_handler(state)) as server:
        state.base_url = server.base_url
        yield state


# --- webhooks -------------------------------------------------------------------------------


def client_event(
    kind: str,
    meeting: dict[str, Any],
    participant_id: str,
    *,
    display_name: str = "Guest",
    external_id: str | None = None,
    num_clients: int = 1,
) -> dict[str, Any]:
    """A ``room.client.joined``/``room.client.left`` event as Whereby sends it."""
    return {
        "id": uuid.uuid4().hex,
        "apiVersion": "1.0",
        "createdAt": _iso(datetime.now(UTC)),
        "type": kind,
        "data": {
            "meetingId": meeting["meetingId"],
            "roomName": meeting["roomName"],
            "roomSessionId": str(uuid.uuid4()),
            "subdomain": "reflector-test",
            "participantId": participant_id,
            "displayName": display_name,
            "metadata": None,
            "externalId": external_id,
            "roleName": "visitor",
            "numClients": num_clients,
            "numClientsByRoleName": {"visitor": num_clients},
        },
    }


def signed(secret: str, event: Any, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """A webhook request's body and headers, signed as Whereby signs them."""
    body = json.dumps(event).encode() if not isinstance(event, bytes) else event
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {"Whereby-Signature": sign(secret, stamp, body), "Content-Type": "application/json"}
    return body, headers


# --- the cloud recorder ---------------------------------------------------------------------


def recording_key(room_name: str, started: datetime, file_format: str = "mp4") -> str:
    """The object key Whereby gives a recording of the room ``room_name`` (with or without
    its leading slash): ``<room name>-<UTC start>.<format>``."""
    stamp = started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{room_name.lstrip('/')}-{stamp}.{file_format}"


def mp4_recording(source: Path, target: Path) -> Path:
    """``source`` (any audio file) as the recorder writes it: AAC audio in an MP4 file."""
    with av.open(str(source)) as reader, av.open(str(target), "w", format="mp4") as writer:
        stream = writer.add_stream("aac", rate=48000, layout="mono")
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=48000)
        for frame in reader.decode(audio=0):
            for piece in resampler.resample(frame):
                writer.mux(stream.encode(piece))
        for piece in resampler.resample(None):
            writer.mux(stream.encode(piece))
        writer.mux(stream.encode(None))
    return target


def object_created_event(bucket: str, key: str, size: int) -> str:
    """The S3 event notification (as sent to SQS) for a new object, its key URL-encoded as S3
    encodes it."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": _iso(datetime.now(UTC)),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:WHEREBY"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper()},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "whereby-recordings",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "WHEREBY"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": quote_plus(key, safe="/"),
                "size": size,
                "eTag": uuid.uuid4().hex,
                "sequencer": f"{time.time_ns():X}",
            },
        },
    }
    return json.dumps({"Records": [record]})
