"""What every video platform (Daily, Whereby) does for Reflector, as one small interface.

A platform is an adapter: it talks to the platform's HTTP API (``httpx``) and reads its
webhooks, and speaks only in the plain data below. It never touches the database, the jobs or
the API layer: the rooms service turns rows into :class:`MeetingSpec`/:class:`PlatformMeeting`
and back, and the webhook route turns :class:`PlatformEvent` into row changes.

:func:`make_platform` builds the platform a room names from the settings; each platform reads
its own ``REFLECTOR_<PLATFORM>_*`` settings in its ``from_settings``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from reflector.errors import BadInputError, UnavailableError

if TYPE_CHECKING:
    from reflector.settings import Settings

PlatformName = Literal["daily", "whereby"]
PLATFORM_NAMES: tuple[str, ...] = ("daily", "whereby")

RecordingKind = Literal["cloud", "raw-tracks"]
"""How a platform records: ``cloud`` (one mixed file) or ``raw-tracks`` (one audio file per
participant)."""


# --- errors ---------------------------------------------------------------------------------


class PlatformError(UnavailableError):
    """The platform's API failed or answered something unexpected: try again later (503)."""

    problem_type = "platform-unavailable"


class PlatformNotConfiguredError(UnavailableError):
    """The platform is not set up on this server (its API key, URL or secret is missing)."""

    problem_type = "platform-not-configured"


class PlatformUnsupportedError(BadInputError):
    """The platform cannot do what was asked (e.g. Whereby starts recordings by itself)."""

    status = 409
    problem_type = "platform-unsupported"


class WebhookSignatureError(BadInputError):
    """A webhook's signature is missing, wrong, or its timestamp is outside the replay
    window: it may not come from the platform, so nothing in it is believed."""

    status = 401
    problem_type = "bad-webhook-signature"


class WebhookPayloadError(BadInputError):
    """A correctly signed webhook whose body is not the JSON the platform documents."""

    status = 400
    problem_type = "bad-webhook-payload"


# --- plain data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingSpec:
    """What Reflector asks for when it creates a meeting of a room on the platform."""

    room_name: str
    """The Reflector room's name (lower-case letters, digits, dashes): platforms build their
    own meeting name from it."""
    end_date: datetime
    """When the meeting expires on the platform (aware, UTC): nobody can join after it."""
    room_mode: str = "normal"
    """``normal`` (2 to 4 people) or ``group`` (up to 200)."""
    is_locked: bool = False
    """People wait in a lobby (Daily: a private room; only token holders enter)."""
    recording_type: str = "cloud"
    """``none``, ``local`` or ``cloud`` (the room's setting)."""
    recording_trigger: str = "automatic-2nd-participant"
    """``none``, ``prompt``, ``automatic`` or ``automatic-2nd-participant``."""


@dataclass(frozen=True)
class PlatformMeeting:
    """A meeting as the platform created it (stored in ``MeetingRow``)."""

    platform_meeting_id: str
    """The platform's own name for the meeting (Daily's room name, Whereby's meeting id)."""
    room_url: str
    """Where participants join."""
    host_room_url: str
    """Where the room's owner joins (the same as ``room_url`` when the platform uses tokens)."""
    start_date: datetime
    end_date: datetime


@dataclass(frozen=True)
class Joiner:
    """Who is joining, as Reflector knows them."""

    user_id: str | None = None
    """The signed-in user, or ``None`` for an anonymous guest."""
    name: str | None = None
    """The name shown in the meeting (and used to name the person's track)."""
    is_owner: bool = False
    """The room's owner (or an administrator): may record, let people in, eject."""


@dataclass(frozen=True)
class JoinInfo:
    """How one person joins one meeting."""

    url: str
    """The address to open (with the token in it where the platform wants it there)."""
    token: str | None = None
    """A platform meeting token (Daily), for clients that pass it themselves."""
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RecordingBucket:
    """The S3 bucket a platform writes recordings to, and how Reflector reads it."""

    name: str
    region: str | None = None
    endpoint_url: str | None = None
    """An S3-compatible endpoint; ``None`` for AWS."""
    access_key: str | None = None
    """Reflector's own key for reading and deleting; ``None``: boto3's credential chain."""
    secret_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, platform: PlatformName) -> RecordingBucket | None:
        """The bucket the ``REFLECTOR_<PLATFORM>_RECORDINGS_*`` settings name (bucket, region,
        endpoint URL, access and secret key); ``None`` when no bucket is set."""
        name = getattr(settings, f"{platform}_recordings_bucket")
        if not name:
            return None
        secret = getattr(settings, f"{platform}_recordings_secret_key")
        return cls(
            name=name,
            region=getattr(settings, f"{platform}_recordings_region"),
            endpoint_url=getattr(settings, f"{platform}_recordings_endpoint_url"),
            access_key=getattr(settings, f"{platform}_recordings_access_key"),
            secret_key=secret.get_secret_value() if secret else None,
        )


@dataclass(frozen=True)
class RecordingFile:
    """One file of a platform recording, in the platform's bucket."""

    key: str
    size: int | None = None
    participant_id: str | None = None
    """Whose audio it is (a track); ``None`` for a mixed file."""
    type: str = "audio"
    """``audio`` or ``video`` (Daily's raw tracks have both; only audio is transcribed)."""


# --- events a webhook (or a poll) reports ---------------------------------------------------


@dataclass(frozen=True)
class ParticipantEvent:
    """Someone joined or left a meeting."""

    platform_meeting_id: str
    participant_id: str
    at: datetime | None = None
    num_clients: int | None = None
    """The platform's own count of people in the meeting now, when it sends one."""


@dataclass(frozen=True)
class ParticipantJoined(ParticipantEvent):
    """Someone joined a meeting."""

    user_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ParticipantLeft(ParticipantEvent):
    """Someone left a meeting."""


@dataclass(frozen=True)
class RecordingReady:
    """A recording's files are in the bucket, ready to be transcribed."""

    platform_meeting_id: str
    recording_id: str
    """Unique per platform: a recording is processed once per id."""
    kind: Literal["tracks", "file"]
    """``tracks``: one audio file per participant; ``file``: one mixed file."""
    files: tuple[RecordingFile, ...]
    bucket: str | None = None
    """The bucket named in the event, if any (else the platform's configured one)."""
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class RecordingFailed:
    """The platform could not make a recording."""

    platform_meeting_id: str
    recording_id: str | None
    error: str


PlatformEvent = ParticipantJoined | ParticipantLeft | RecordingReady | RecordingFailed


@dataclass(frozen=True)
class ParsedWebhook:
    """A verified webhook: its type as the platform named it and what Reflector makes of it
    (``event`` is ``None`` for a type Reflector ignores; it is still acknowledged)."""

    type: str
    event: PlatformEvent | None
    raw: Mapping[str, object] = field(default_factory=dict)


# --- the interface --------------------------------------------------------------------------


class VideoPlatform(abc.ABC):
    """One video platform. Methods that call the platform raise :class:`PlatformError`
    (unreachable, or an unexpected answer); input problems raise :class:`BadInputError`s."""

    name: str
    """``daily`` or ``whereby``: stored in rooms, meetings and recordings."""

    @abc.abstractmethod
    async def create_meeting(self, spec: MeetingSpec) -> PlatformMeeting:
        """Create a meeting for a room on the platform, expiring at ``spec.end_date``, recorded
        as the room says (into :attr:`recordings_bucket` when the platform writes there)."""

    @abc.abstractmethod
    async def join(self, meeting: PlatformMeeting, participant: Joiner) -> JoinInfo:
        """How ``participant`` joins ``meeting``: a meeting token (owner flag, user id, name,
        expiring with the meeting) where the platform has them, else the right URL (the host
        URL for the owner)."""

    async def delete_meeting(self, platform_meeting_id: str) -> None:
        """End the meeting on the platform (when Reflector deactivates it). A meeting the
        platform no longer has is not an error. Default: nothing (it expires by itself)."""
        return None

    async def start_recording(
        self, platform_meeting_id: str, kind: RecordingKind, *, instance_id: str | None = None
    ) -> str | None:
        """Start recording a running meeting (``cloud`` or ``raw-tracks``); returns the
        platform's recording id when it gives one. ``instance_id`` lets a client start and
        later stop the same recording. Default: :class:`PlatformUnsupportedError`."""
        raise PlatformUnsupportedError(f"{self.name} does not start recordings on request")

    async def participant_count(self, platform_meeting_id: str) -> int | None:
        """How many people are in the meeting now, or ``None`` if the platform cannot say."""
        return None

    async def recent_recordings(self, since: datetime) -> list[RecordingReady]:
        """Finished recordings made since ``since``, for when webhooks are silent (polling).
        Default: none (the platform reports recordings another way)."""
        return []

    @property
    def recordings_bucket(self) -> RecordingBucket | None:
        """Where the platform's recordings are, for reading (and deleting) them; ``None`` when
        not configured."""
        return None

    @abc.abstractmethod
    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], *, now: float | None = None
    ) -> None:
        """Check that ``body`` came from the platform: its signature over the raw bytes with
        the shared secret (constant-time compare) and a timestamp within the replay window
        around ``now`` (Unix seconds; default the current time). ``headers`` are looked up in
        lower case. Raises :class:`WebhookSignatureError`, also when no secret is configured
        (nothing can be verified, so nothing is believed)."""

    @abc.abstractmethod
    def parse_webhook(self, body: bytes) -> ParsedWebhook:
        """Read a verified webhook body. Raises :class:`WebhookPayloadError` for a body that is
        not JSON or lacks what its event type needs; an unknown type gives ``event=None``."""

    async def aclose(self) -> None:
        """Release the HTTP client. Default: nothing to release."""
        return None


def make_platform(name: str, settings: Settings) -> VideoPlatform:
    """The platform called ``name``, configured from ``settings``. Raises
    :class:`BadInputError` for an unknown name and :class:`PlatformNotConfiguredError` when
    the platform's required settings are missing."""
    if name == "daily":
        from reflector.platforms.daily import DailyPlatform

        return DailyPlatform.from_settings(settings)
    if name == "whereby":
        from reflector.platforms.whereby import WherebyPlatform

        return WherebyPlatform.from_settings(settings)
    raise BadInputError(f"unknown video platform {name!r}; expected one of {PLATFORM_NAMES}")
