"""Whereby Embedded: meetings through its REST API, participants through its signed webhooks.

Whereby has no meeting tokens: a meeting has a room URL for guests and a host room URL for its
owner, and Whereby records by itself (the room's trigger) into the S3 bucket it is given when the
meeting is created. It announces nothing when a recording is ready: the bucket's ``ObjectCreated``
notifications go to an SQS queue (:mod:`reflector.platforms.whereby_sqs`), and each file's key
names the meeting's room (:func:`parse_recording_key`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx

from reflector.errors import BadInputError
from reflector.platforms.base import (
    Joiner,
    JoinInfo,
    MeetingSpec,
    ParsedWebhook,
    ParticipantEvent,
    ParticipantJoined,
    ParticipantLeft,
    PlatformError,
    PlatformMeeting,
    PlatformNotConfiguredError,
    RecordingBucket,
    VideoPlatform,
    WebhookPayloadError,
    WebhookSignatureError,
)
from reflector.platforms.http import bearer_client, call_json
from reflector.signatures import (
    SignatureError,
    check_signature_header,
    header_value,
    signature_header,
)

if TYPE_CHECKING:
    from reflector.settings import Settings

SIGNATURE_HEADER = "whereby-signature"
ROOM_NAME_PREFIX_MAX = 39
"""Whereby's limit on ``roomNamePrefix`` (``[a-z0-9-]{0,39}``)."""
RECORDING_FILE_FORMAT = "mp4"

_PREFIX_CHARS = re.compile(r"[^a-z0-9-]")
_RECORDING_TIMESTAMP = re.compile(r"-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)")


@dataclass(frozen=True)
class WherebyConfig:
    """What the Whereby adapter needs, read from the ``REFLECTOR_WHEREBY_*`` settings."""

    api_url: str
    api_key: str
    webhook_secret: str | None = None
    webhook_tolerance_seconds: float = 300.0
    bucket: RecordingBucket | None = None
    """Where recordings go, and how Reflector reads them."""
    upload_access_key: str | None = None
    """The key Whereby writes recordings with (given to it with each meeting)."""
    upload_secret_key: str | None = None
    timeout: float = 10.0


class WherebyPlatform(VideoPlatform):
    """Whereby's REST API (``POST /meetings``, ``DELETE /meetings/{id}``) and webhooks."""

    name = "whereby"

    def __init__(self, config: WherebyConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = client or bearer_client(config.api_url, config.api_key, config.timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> WherebyPlatform:
        """Raises :class:`PlatformNotConfiguredError` without an API key and URL."""
        key, url = settings.whereby_api_key, settings.whereby_api_url
        if key is None or not url:
            raise PlatformNotConfiguredError(
                "Whereby is not configured on this server: set REFLECTOR_WHEREBY_API_KEY and "
                "REFLECTOR_WHEREBY_API_URL"
            )
        webhook_secret = settings.whereby_webhook_secret
        upload_secret = settings.whereby_upload_secret_key
        return cls(
            WherebyConfig(
                api_url=url,
                api_key=key.get_secret_value(),
                webhook_secret=webhook_secret.get_secret_value() if webhook_secret else None,
                webhook_tolerance_seconds=settings.platform_webhook_tolerance_seconds,
                bucket=RecordingBucket.from_settings(settings, "whereby"),
                upload_access_key=settings.whereby_upload_access_key,
                upload_secret_key=upload_secret.get_secret_value() if upload_secret else None,
            )
        )

    # --- meetings -----------------------------------------------------------------------------

    async def create_meeting(self, spec: MeetingSpec) -> PlatformMeeting:
        body: dict[str, Any] = {
            "endDate": _iso(spec.end_date),
            "isLocked": spec.is_locked,
            "roomMode": spec.room_mode,
            "roomNamePrefix": room_name_prefix(spec.room_name),
            "roomNamePattern": "uuid",
            "fields": ["hostRoomUrl"],
        }
        if spec.recording_type == "cloud":
            body["recording"] = {
                "type": "cloud",
                "destination": self._recording_destination(),
                "startTrigger": spec.recording_trigger,
            }
        elif spec.recording_type == "local":
            body["recording"] = {"type": "local", "startTrigger": spec.recording_trigger}
        answer = await self._call("POST", "/meetings", payload=body)
        try:
            return PlatformMeeting(
                platform_meeting_id=str(answer["meetingId"]),
                room_url=str(answer["roomUrl"]),
                host_room_url=str(answer.get("hostRoomUrl") or answer["roomUrl"]),
                start_date=_parse_time(answer.get("startDate")) or datetime.now(UTC),
                end_date=_parse_time(answer.get("endDate")) or spec.end_date,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformError(f"Whereby answered an unexpected meeting: {exc!r}") from exc

    def _recording_destination(self) -> dict[str, str]:
        config = self.config
        if config.bucket is None or not config.upload_access_key or not config.upload_secret_key:
            raise PlatformNotConfiguredError(
                "cloud recording with Whereby needs REFLECTOR_WHEREBY_RECORDINGS_BUCKET, "
                "REFLECTOR_WHEREBY_UPLOAD_ACCESS_KEY and REFLECTOR_WHEREBY_UPLOAD_SECRET_KEY"
            )
        return {
            "provider": "s3",
            "bucket": config.bucket.name,
            "accessKeyId": config.upload_access_key,
            "accessKeySecret": config.upload_secret_key,
            "fileFormat": RECORDING_FILE_FORMAT,
        }

    async def join(self, meeting: PlatformMeeting, participant: Joiner) -> JoinInfo:
        # No tokens: the owner gets the host URL. The name is filled in for the person, and the
        # user id comes back in the webhooks as ``externalId`` (it names the person's words),
        # tagged so that a guest who edits the URL cannot pass for someone else.
        url = meeting.host_room_url if participant.is_owner else meeting.room_url
        params = {}
        if participant.name:
            params["displayName"] = participant.name
        if participant.user_id:
            params["externalId"] = external_id(participant.user_id, self.config.api_key)
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        return JoinInfo(url=url, expires_at=meeting.end_date)

    async def delete_meeting(self, platform_meeting_id: str) -> None:
        # Whereby's delete is idempotent; a meeting it has already removed answers 404.
        await self._call("DELETE", f"/meetings/{platform_meeting_id}", missing_ok=True)

    @property
    def recordings_bucket(self) -> RecordingBucket | None:
        return self.config.bucket

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, *, payload: Any = None, missing_ok: bool = False
    ) -> dict[str, Any]:
        return await call_json(
            self._client, "Whereby", method, path, json=payload, missing_ok=missing_ok
        )

    # --- webhooks -----------------------------------------------------------------------------

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], *, now: float | None = None
    ) -> None:
        check_webhook(
            self.config.webhook_secret,
            body,
            headers,
            tolerance=self.config.webhook_tolerance_seconds,
            now=now,
        )

    def parse_webhook(self, body: bytes) -> ParsedWebhook:
        return parse_webhook(body, user_key=self.config.api_key)


# --- signatures -----------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``whereby-signature`` header Whereby sends with ``body`` at ``timestamp``:
    ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    return signature_header(secret, timestamp, body)


def check_webhook(
    secret: str | None,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float,
    now: float | None = None,
) -> None:
    """Check a webhook's ``whereby-signature`` header against the raw ``body``, as Whereby
    documents: the HMAC-SHA256 (hex) of ``"<t>.<body>"`` with the webhook's secret, compared
    in constant time, with ``t`` (Unix seconds) no further than ``tolerance`` from ``now``.
    Raises :class:`WebhookSignatureError`, also without a secret (nothing can be verified, so
    nothing is believed)."""
    if not secret:
        raise WebhookSignatureError(
            "this server accepts no Whereby webhooks: REFLECTOR_WHEREBY_WEBHOOK_SECRET is not set"
        )
    try:
        check_signature_header(
            secret,
            header_value(headers, SIGNATURE_HEADER),
            body,
            tolerance=tolerance,
            now=now,
            name=SIGNATURE_HEADER,
        )
    except SignatureError as error:
        raise WebhookSignatureError(str(error)) from None


def external_id(user_id: str, key: str) -> str:
    """The ``externalId`` a signed-in user joins with: the user id and a tag only this server
    can make, since Whereby passes back whatever the room URL said."""
    tag = hmac.new(key.encode(), b"reflector-user:" + user_id.encode(), hashlib.sha256)
    return f"{user_id}.{tag.hexdigest()[:24]}"


def user_of_external_id(value: str | None, key: str | None) -> str | None:
    """The user id in an ``externalId`` made by :func:`external_id`; ``None`` when it has no
    valid tag (a guest, or an edited URL)."""
    if not value or not key:
        return None
    user_id = value.rpartition(".")[0]
    if not user_id or not hmac.compare_digest(external_id(user_id, key), value):
        return None
    return user_id


# --- webhook bodies ------------------------------------------------------------------------


def parse_webhook(body: bytes, user_key: str | None = None) -> ParsedWebhook:
    """Read a verified Whereby webhook: ``room.client.joined``/``room.client.left`` become
    participant events; every other type is acknowledged without an event. A participant's
    user id is taken from ``externalId`` only when its tag checks out with ``user_key`` (the
    key :meth:`WherebyPlatform.join` tagged it with)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookPayloadError("the webhook's body is not valid JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise WebhookPayloadError("the webhook's body is not an object with a string 'type'")
    kind: str = payload["type"]
    if kind not in ("room.client.joined", "room.client.left"):
        return ParsedWebhook(type=kind, event=None, raw=payload)
    data = payload.get("data")
    if not isinstance(data, dict):
        raise WebhookPayloadError(f"a {kind} webhook needs a 'data' object")
    meeting_id = _required_text(data, "meetingId", kind)
    participant_id = _required_text(data, "participantId", kind)
    num_clients = data.get("numClients")
    if num_clients is not None and (not isinstance(num_clients, int) or num_clients < 0):
        raise WebhookPayloadError(f"a {kind} webhook's 'numClients' must be a count")
    try:
        at = _parse_time(payload.get("createdAt"))
    except ValueError as exc:
        raise WebhookPayloadError(f"a {kind} webhook's 'createdAt' is not a date") from exc
    if kind == "room.client.joined":
        event: ParticipantEvent = ParticipantJoined(
            platform_meeting_id=meeting_id,
            participant_id=participant_id,
            user_id=user_of_external_id(_optional_text(data, "externalId"), user_key),
            name=_optional_text(data, "displayName"),
            at=at,
            num_clients=num_clients,
        )
    else:
        event = ParticipantLeft(
            platform_meeting_id=meeting_id,
            participant_id=participant_id,
            at=at,
            num_clients=num_clients,
        )
    return ParsedWebhook(type=kind, event=event, raw=payload)


def _required_text(data: Mapping[str, Any], name: str, kind: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise WebhookPayloadError(f"a {kind} webhook needs '{name}' (a non-empty string)")
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


# --- names and keys -------------------------------------------------------------------------


def room_name_prefix(room_name: str) -> str:
    """Whereby's ``roomNamePrefix`` for a Reflector room: its name, cut to fit, and a dash
    before the random part Whereby adds."""
    cleaned = _PREFIX_CHARS.sub("", room_name.lower())
    return cleaned[: ROOM_NAME_PREFIX_MAX - 1].rstrip("-") + "-"


def room_name_of(room_url: str) -> str:
    """The Whereby room name in a room URL (its path, without the slashes)."""
    return urlsplit(room_url).path.strip("/")


class RecordingKeyError(BadInputError, ValueError):
    """An object key that is not a Whereby recording's file name."""


@dataclass(frozen=True)
class RecordingKey:
    """What a Whereby recording's file name says: ``<room name>-<UTC start>.<format>``."""

    room_name: str
    """The Whereby room name, as in the meeting's room URL (no leading slash)."""
    recorded_at: datetime


def parse_recording_key(key: str) -> RecordingKey:
    """Read a recording's object key (already URL-decoded), e.g.
    ``standup-0d9f…-2025-05-07T17:42:49Z.mp4``; any folder before the file name is ignored.
    Raises :class:`RecordingKeyError`."""
    name = key.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    matches = list(_RECORDING_TIMESTAMP.finditer(stem))
    if not matches:
        raise RecordingKeyError(f"{key!r} has no '-<UTC time>' after the room name")
    match = matches[-1]
    room_name = stem[: match.start()]
    if not room_name:
        raise RecordingKeyError(f"{key!r} names no room before its time")
    try:
        recorded_at = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
    except ValueError as exc:
        raise RecordingKeyError(f"{key!r} has an impossible time: {exc}") from exc
    return RecordingKey(room_name=room_name, recorded_at=recorded_at)


# --- times ----------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
