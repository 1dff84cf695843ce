"""Daily: rooms, meeting tokens, recordings and presence over its REST API, and its webhooks.

A Reflector meeting is a Daily *room* of its own (``<room name>-<UTC time>-<random>``), created with
an expiry and, when recorded, Daily's ``raw-tracks`` recording (one audio file per participant)
into the installation's S3 bucket. Signed-in people join with a meeting token that carries
their user id, name and owner flag.

Webhooks are signed as Daily documents: ``X-Webhook-Signature`` is the base64 HMAC-SHA256, keyed
with the base64-decoded secret, of ``"{X-Webhook-Timestamp}.{raw body}"``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from reflector.platforms.base import (
    Joiner,
    JoinInfo,
    MeetingSpec,
    ParsedWebhook,
    ParticipantJoined,
    ParticipantLeft,
    PlatformError,
    PlatformEvent,
    PlatformMeeting,
    PlatformNotConfiguredError,
    RecordingBucket,
    RecordingFailed,
    RecordingFile,
    RecordingKind,
    RecordingReady,
    VideoPlatform,
    WebhookPayloadError,
    WebhookSignatureError,
)
from reflector.platforms.http import bearer_client, call_json
from reflector.signatures import SignatureError, check_window, header_value, timestamped_digest

if TYPE_CHECKING:
    from reflector.settings import Settings

SIGNATURE_HEADER = "x-webhook-signature"
TIMESTAMP_HEADER = "x-webhook-timestamp"
DEFAULT_TOLERANCE_SECONDS = 300.0
MAX_PARTICIPANTS = {"normal": 4, "group": 200}
RECENT_RECORDINGS_PAGES = 5
"""Pages of 100 recordings a poll reads at most (newest first)."""

_TRACK_KEY = re.compile(
    r"(?P<start>\d+)-(?P<participant>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})-cam-(?P<kind>audio|video)-(?P<track_start>\d+)"
)
"""A raw track's file name: ``{recording start ms}-{participant session id}-cam-audio-{track
start ms}``; the session id is the ``session_id`` of the participant's webhooks."""


def participant_of_track(key: str) -> str | None:
    """The participant (Daily session id) whose track ``key`` is, if the name says."""
    match = _TRACK_KEY.search(key.rsplit("/", 1)[-1])
    return match.group("participant").lower() if match else None


def sign_webhook(secret_b64: str, timestamp: str, body: bytes) -> str:
    """Daily's signature of a webhook: base64 HMAC-SHA256 of ``"{timestamp}.{body}"`` keyed
    with the base64-decoded secret (also used by the tests' fake Daily)."""
    digest = timestamped_digest(base64.b64decode(secret_b64), timestamp, body)
    return base64.b64encode(digest).decode()


def _moment(value: Any) -> datetime | None:
    """A Unix time in seconds (or milliseconds) as an aware datetime; ``None`` if absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = value / 1000 if value > 1e11 else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(payload: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = payload.get(name)
    if isinstance(value, str) and value:
        return value
    if required:
        raise WebhookPayloadError(f"the webhook's payload has no {name!r} string")
    return None


class DailyPlatform(VideoPlatform):
    """Daily's REST API and webhooks for one Daily domain."""

    name = "daily"

    def __init__(
        self,
        *,
        api_url: str | None,
        api_key: str | None,
        webhook_secret: str | None = None,
        subdomain: str | None = None,
        bucket: RecordingBucket | None = None,
        role_arn: str | None = None,
        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/") if api_url else None
        self._api_key = api_key
        self._secret = _decode_secret(webhook_secret) if webhook_secret else None
        self.subdomain = subdomain
        self._bucket = bucket
        self.role_arn = role_arn
        self.tolerance_seconds = tolerance_seconds
        self._timeout = timeout
        self._transport = transport

    @classmethod
    def from_settings(cls, settings: Settings) -> DailyPlatform:
        """Daily as ``REFLECTOR_DAILY_*`` configure it (nothing is checked until used)."""
        key, hook = settings.daily_api_key, settings.daily_webhook_secret
        return cls(
            api_url=settings.daily_api_url,
            api_key=key.get_secret_value() if key else None,
            webhook_secret=hook.get_secret_value() if hook else None,
            subdomain=settings.daily_subdomain,
            bucket=RecordingBucket.from_settings(settings, "daily"),
            role_arn=settings.daily_recordings_role_arn,
            tolerance_seconds=settings.platform_webhook_tolerance_seconds,
        )

    @property
    def recordings_bucket(self) -> RecordingBucket | None:
        return self._bucket

    # --- REST ------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        if not self.api_url or not self._api_key:
            raise PlatformNotConfiguredError(
                "Daily is not configured: set REFLECTOR_DAILY_API_URL and REFLECTOR_DAILY_API_KEY"
            )
        async with bearer_client(
            self.api_url, self._api_key, self._timeout, self._transport
        ) as client:
            return await call_json(
                client, "Daily", method, path, json=body, params=params, missing_ok=missing_ok
            )

    def _room_properties(self, spec: MeetingSpec) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "exp": int(spec.end_date.timestamp()),
            "eject_at_room_exp": True,
            "max_participants": MAX_PARTICIPANTS.get(spec.room_mode, MAX_PARTICIPANTS["normal"]),
            "enable_knocking": spec.is_locked,
        }
        if spec.recording_type == "cloud":
            # One file per participant: the multitrack pipeline knows who said what.
            properties["enable_recording"] = "raw-tracks"
            if self._bucket is not None:
                bucket: dict[str, Any] = {
                    "bucket_name": self._bucket.name,
                    "bucket_region": self._bucket.region or "us-east-1",
                    "allow_api_access": True,
                }
                if self.role_arn:
                    bucket["assume_role_arn"] = self.role_arn
                properties["recordings_bucket"] = bucket
        elif spec.recording_type == "local":
            properties["enable_recording"] = "local"
        return properties

    async def create_meeting(self, spec: MeetingSpec) -> PlatformMeeting:
        """A Daily room ``<room>-<YYYYMMDDHHMMSS>-<random>`` expiring at ``spec.end_date``."""
        now = datetime.now(UTC)
        # The time says when; the random part keeps two meetings of one second apart.
        name = f"{spec.room_name}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        body = {
            "name": name,
            "privacy": "private" if spec.is_locked else "public",
            "properties": self._room_properties(spec),
        }
        answer = await self._call("POST", "/rooms", body=body)
        url = answer.get("url")
        if not isinstance(url, str) or not url:
            raise PlatformError("Daily created a room without a url")
        created = str(answer.get("name") or name)
        return PlatformMeeting(
            platform_meeting_id=created,
            room_url=url,
            host_room_url=url,
            start_date=now,
            end_date=spec.end_date,
        )

    async def join(self, meeting: PlatformMeeting, participant: Joiner) -> JoinInfo:
        """A meeting token (user id, name, owner flag, expiring with the meeting) for a
        signed-in person; anonymous guests join by the bare URL (a locked room makes them
        knock)."""
        if participant.user_id is None and not participant.is_owner:
            return JoinInfo(url=meeting.room_url)
        properties: dict[str, Any] = {
            "room_name": meeting.platform_meeting_id,
            "is_owner": participant.is_owner,
            "exp": int(meeting.end_date.timestamp()),
        }
        if participant.user_id:
            properties["user_id"] = participant.user_id
        if participant.name:
            properties["user_name"] = participant.name
        answer = await self._call("POST", "/meeting-tokens", body={"properties": properties})
        token = answer.get("token")
        if not isinstance(token, str) or not token:
            raise PlatformError("Daily gave no meeting token")
        separator = "&" if "?" in meeting.room_url else "?"
        return JoinInfo(
            url=f"{meeting.room_url}{separator}t={token}", token=token, expires_at=meeting.end_date
        )

    async def delete_meeting(self, platform_meeting_id: str) -> None:
        await self._call("DELETE", f"/rooms/{platform_meeting_id}", missing_ok=True)

    async def start_recording(
        self, platform_meeting_id: str, kind: RecordingKind, *, instance_id: str | None = None
    ) -> str | None:
        body: dict[str, Any] = {"type": kind}
        if instance_id:
            body["instanceId"] = instance_id
        answer = await self._call(
            "POST", f"/rooms/{platform_meeting_id}/recordings/start", body=body
        )
        recording = answer.get("recordingId") or answer.get("id")
        return str(recording) if recording else None

    async def participant_count(self, platform_meeting_id: str) -> int | None:
        answer = await self._call("GET", f"/rooms/{platform_meeting_id}/presence", missing_ok=True)
        count = answer.get("total_count")
        return count if isinstance(count, int) else None

    async def recent_recordings(self, since: datetime) -> list[RecordingReady]:
        """Finished recordings that started after ``since``, newest first (Daily lists them
        newest first; reading stops at the first older one)."""
        found: list[RecordingReady] = []
        after: str | None = None
        for _ in range(RECENT_RECORDINGS_PAGES):
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["starting_after"] = after
            answer = await self._call("GET", "/recordings", params=params)
            items = answer.get("data")
            if not isinstance(items, list) or not items:
                break
            for item in items:
                if not isinstance(item, dict):
                    continue
                started = _moment(item.get("start_ts"))
                if started is not None and started < since:
                    return found
                if item.get("status") != "finished":
                    continue
                ready = self._listed_recording(item)
                if ready is not None:
                    found.append(ready)
            last = items[-1]
            after = str(last.get("id")) if isinstance(last, dict) and last.get("id") else None
            if after is None or len(items) < 100:
                break
        return found

    def _listed_recording(self, item: Mapping[str, Any]) -> RecordingReady | None:
        """A recording of ``GET /recordings`` in the webhook's terms; ``None`` when it has no
        files Reflector can read."""
        recording_id, room = item.get("id"), item.get("room_name")
        if not isinstance(recording_id, str) or not isinstance(room, str):
            return None
        tracks = item.get("tracks")
        if isinstance(tracks, list) and tracks:
            try:
                files = self._track_files(tracks)
            except WebhookPayloadError:  # one odd listing does not stop the poll
                return None
            if not files:
                return None
            return RecordingReady(
                platform_meeting_id=room,
                recording_id=recording_id,
                kind="tracks",
                files=files,
                recorded_at=_moment(item.get("start_ts")),
            )
        key = item.get("s3key") or item.get("s3_key")
        if not isinstance(key, str) or not key or not self._ours(key):
            return None
        return RecordingReady(
            platform_meeting_id=room,
            recording_id=recording_id,
            kind="file",
            files=(RecordingFile(key=key),),
            recorded_at=_moment(item.get("start_ts")),
        )

    def _ours(self, key: str) -> bool:
        """Keys start with the Daily domain; another domain's recording is not ours."""
        return not self.subdomain or key.startswith(f"{self.subdomain}/")

    def _track_files(self, tracks: list[Any]) -> tuple[RecordingFile, ...]:
        files = []
        for track in tracks:
            if not isinstance(track, dict):
                raise WebhookPayloadError("a track of the recording is not an object")
            key = track.get("s3Key") or track.get("s3_key")
            if not isinstance(key, str) or not key:
                raise WebhookPayloadError("a track of the recording has no s3Key")
            if not self._ours(key):
                continue
            size = track.get("size")
            files.append(
                RecordingFile(
                    key=key,
                    size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                    participant_id=participant_of_track(key),
                    type=str(track.get("type") or "audio"),
                )
            )
        return tuple(files)

    # --- webhooks --------------------------------------------------------------------------

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], *, now: float | None = None
    ) -> None:
        if self._secret is None:
            # Nothing can be verified, so nothing is believed: the answer to a bad signature.
            raise WebhookSignatureError(
                "this server accepts no Daily webhooks: REFLECTOR_DAILY_WEBHOOK_SECRET is not set"
            )
        signature = header_value(headers, SIGNATURE_HEADER)
        stamp = header_value(headers, TIMESTAMP_HEADER)
        if not signature or not stamp:
            raise WebhookSignatureError(
                "the webhook has no X-Webhook-Signature or X-Webhook-Timestamp header"
            )
        try:
            sent = float(stamp)
        except ValueError:
            raise WebhookSignatureError("the webhook's timestamp is not a number") from None
        try:
            check_window(sent / 1000 if sent > 1e11 else sent, self.tolerance_seconds, now)
        except SignatureError as error:  # seconds or milliseconds, outside the window
            raise WebhookSignatureError(str(error)) from None
        expected = base64.b64encode(timestamped_digest(self._secret, stamp, body))
        try:
            given = signature.strip().encode("ascii")
        except UnicodeEncodeError:
            given = b""
        if not hmac.compare_digest(expected, given):
            raise WebhookSignatureError("the webhook's signature does not match")

    def parse_webhook(self, body: bytes) -> ParsedWebhook:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookPayloadError("the webhook's body is not JSON") from None
        if not isinstance(data, dict):
            raise WebhookPayloadError("the webhook's body is not a JSON object")
        kind = data.get("type")
        if not isinstance(kind, str) or not kind:
            raise WebhookPayloadError("the webhook has no 'type'")
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise WebhookPayloadError("the webhook has no 'payload' object")
        sent_at = _moment(data.get("event_ts"))
        return ParsedWebhook(type=kind, event=self._event(kind, payload, sent_at), raw=data)

    def _event(
        self, kind: str, payload: Mapping[str, Any], sent_at: datetime | None
    ) -> PlatformEvent | None:
        if kind == "participant.joined":
            return ParticipantJoined(
                platform_meeting_id=str(_text(payload, "room")),
                participant_id=str(_text(payload, "session_id")),
                user_id=_text(payload, "user_id", required=False),
                name=_text(payload, "user_name", required=False),
                at=_moment(payload.get("joined_at")) or sent_at,
            )
        if kind == "participant.left":
            return ParticipantLeft(
                platform_meeting_id=str(_text(payload, "room")),
                participant_id=str(_text(payload, "session_id")),
                at=sent_at,
            )
        if kind == "recording.ready-to-download":
            return self._ready(payload)
        if kind == "recording.error":
            return RecordingFailed(
                platform_meeting_id=str(_text(payload, "room_name")),
                recording_id=_text(payload, "recording_id", required=False),
                error=_text(payload, "error_msg", required=False) or "recording failed",
            )
        return None

    def _ready(self, payload: Mapping[str, Any]) -> RecordingReady:
        room = str(_text(payload, "room_name"))
        recording_id = str(_text(payload, "recording_id"))
        recorded_at = _moment(payload.get("start_ts"))
        if payload.get("type") == "raw-tracks" or isinstance(payload.get("tracks"), list):
            tracks = payload.get("tracks")
            if not isinstance(tracks, list):
                raise WebhookPayloadError("a raw-tracks recording without 'tracks'")
            return RecordingReady(
                platform_meeting_id=room,
                recording_id=recording_id,
                kind="tracks",
                files=self._track_files(tracks),
                recorded_at=recorded_at,
            )
        key = str(_text(payload, "s3_key"))
        files = (RecordingFile(key=key),) if self._ours(key) else ()
        return RecordingReady(
            platform_meeting_id=room,
            recording_id=recording_id,
            kind="file",
            files=files,
            recorded_at=recorded_at,
        )


def _decode_secret(secret: str) -> bytes:
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise PlatformNotConfiguredError(
            "REFLECTOR_DAILY_WEBHOOK_SECRET is not base64 (use the hmac secret Daily gave)"
        ) from None
