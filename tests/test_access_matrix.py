"""Who may call what: every route of the app, for every kind of caller, → the answer they get, on
SQLite and PostgreSQL, on a multi-user server.

The routes come from the app itself (every HTTP route, the OpenAPI schema's and the unlisted
ones such as ``HEAD`` and ``/metrics``, and every WebSocket), so a route added without a rule
here fails ``test_every_route_has_an_access_rule``, naming it.

Callers: ``owner`` (a signed-in browser: session cookie and CSRF token), ``other`` (another
user's browser), ``admin`` (an administrator's browser), ``anonymous`` (no credentials),
``owner_key``, ``other_key`` (API keys), ``revoked_key`` and ``expired_key`` (the owner's, no
longer valid), ``foreign_jwt`` (a bearer JWT from an issuer other than the server's OpenID
Connect one). Transcript routes run against a transcript of ``owner`` in each way it can be
shared (``private``, ``semi-private``, ``public``, in a shared room), room routes against a
private and a shared room.

**Adding a rule** for a new route: add an entry to ``RULES`` keyed ``"METHOD /path"`` as the
failure message names it (``WS /path`` for a WebSocket):

* ``access``: one of the ``Access`` kinds below (who may; everybody else's answer follows from
  it: 401 ``authentication-required`` without credentials, 401 ``invalid-api-key`` for a bad
  key, 404 ``not-found`` for what the caller may not see, 403 for what they see but may not
  change or for non-administrators);
* ``call``: a function of the :class:`World` and the share variant that makes what the
  request needs (fresh objects for each call, so a ``DELETE`` never spoils the next caller)
  and returns the :class:`Call`;
* ``ok``: what an allowed caller gets (:class:`Ok` with a status and, where it is a problem,
  its slug), or ``NOT_DENIED`` where it depends on things outside access (then any answer
  that is not a denial and not a 5xx passes).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.routing import Mount, Route
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from reflector.db import accounts
from reflector.db.tables import (
    ActionItemRow,
    MeetingRow,
    ParticipantRow,
    WebhookRow,
    utcnow,
)
from reflector.passwords import hash_password
from reflector_testkit.people import Person, make_person, make_room, make_transcript
from reflector_testkit.servers import postgres_database, running_client, server_settings

CALLERS = (
    "owner",
    "other",
    "admin",
    "anonymous",
    "owner_key",
    "other_key",
    "revoked_key",
    "expired_key",
    "foreign_jwt",
)
TRANSCRIPT_VARIANTS = ("private", "semi-private", "public", "shared-room")
ROOM_VARIANTS = ("private-room", "shared-room")
NO_VARIANT = ("-",)
AUDIO_KEY = "access-matrix/audio.mp3"
ISSUER = "http://127.0.0.1:9"
"""The server's OpenID Connect issuer: nothing answers there (no route here needs it)."""
FOREIGN_JWT = jwt.encode(
    {"alg": "RS256", "kid": "elsewhere"},
    {"iss": "https://issuer.invalid", "aud": "reflector", "sub": "owner", "exp": 4102444800},
    RSAKey.generate_key(2048, parameters={"kid": "elsewhere"}),
)
"""Well formed and signed, but by another issuer (and never expiring)."""


# --- what callers get --------------------------------------------------------------------------


@dataclass(frozen=True)
class Denied:
    status: int
    slug: str


SIGN_IN = Denied(401, "authentication-required")
BAD_KEY = Denied(401, "invalid-api-key")
BAD_TOKEN = Denied(401, "invalid-token")
HIDDEN = Denied(404, "not-found")
NOT_OWNER = Denied(403, "not-owner")
ADMIN_ONLY = Denied(403, "admin-only")
NOT_ROOM_OWNER = Denied(403, "not-room-owner")
NOT_A_PARTICIPANT = Denied(403, "not-a-participant")
DENIALS = {(d.status, d.slug) for d in (SIGN_IN, BAD_KEY, BAD_TOKEN, HIDDEN, NOT_OWNER,
                                        ADMIN_ONLY, NOT_ROOM_OWNER, NOT_A_PARTICIPANT)}  # fmt: skip
ALLOWED = "allowed"


@dataclass(frozen=True)
class Ok:
    """What an allowed caller gets (``status`` ``None``: any status with this problem type)."""

    status: int | None
    slug: str | None = None


NOT_DENIED = Ok(0)
"""Any answer but a denial or a server error (for routes whose answer depends on a platform)."""
ACCEPTED = Ok(101)
"""A WebSocket that opens."""


class Access(Enum):
    """Who may call a route."""

    OPEN = "anyone; credentials are not even looked at"
    GUEST = "anyone, but wrong credentials are refused (a meeting's guests)"
    SIGNED_IN = "any signed-in user or key"
    ADMIN = "administrators"
    OWN = "the owner of the object (an API key): anyone else's is not found"
    TRANSCRIPT_READ = "whoever the transcript is shared with (db.sharing)"
    TRANSCRIPT_READ_SIGNED_IN = "whoever the transcript is shared with, signed in"
    TRANSCRIPT_WRITE = "the transcript's owner; those it is shared with get 403"
    TRASH = "the owner of a transcript in the trash, which nobody else sees"
    ROOM_READ = "the room's owner, administrators, and everybody when it is shared"
    ROOM_MANAGE = "the room's owner and administrators; 403 for those who see a shared room"
    MEETING_MANAGE = "the meeting's room's owner and administrators"
    MEETING_RECORD = "the meeting's participants, its room's owner and administrators"


PRINCIPALS = {
    "owner": "owner",
    "owner_key": "owner",
    "other": "other",
    "other_key": "other",
    "admin": "admin",
    "anonymous": None,
    "revoked_key": "bad",
    "expired_key": "bad",
    "foreign_jwt": "bad token",
}


def expected(access: Access, caller: str, variant: str) -> str | Denied:
    who = PRINCIPALS[caller]
    if access is Access.OPEN:
        return ALLOWED
    if who == "bad":
        return BAD_KEY
    if who == "bad token":
        return BAD_TOKEN
    if access is Access.GUEST or (access is Access.TRANSCRIPT_READ and variant == "public"):
        return ALLOWED
    if who is None:
        return SIGN_IN
    owner, admin = who == "owner", who == "admin"
    shared = variant in ("semi-private", "public", "shared-room")
    match access:
        case Access.SIGNED_IN:
            return ALLOWED
        case Access.ADMIN:
            return ALLOWED if admin else ADMIN_ONLY
        case Access.OWN | Access.TRASH:
            return ALLOWED if owner else HIDDEN
        case Access.TRANSCRIPT_READ | Access.TRANSCRIPT_READ_SIGNED_IN:
            return ALLOWED if owner or shared else HIDDEN
        case Access.TRANSCRIPT_WRITE:
            return ALLOWED if owner else (NOT_OWNER if shared else HIDDEN)
        case Access.ROOM_READ:
            return ALLOWED if owner or admin or shared else HIDDEN
        case Access.ROOM_MANAGE | Access.MEETING_MANAGE:
            if owner or admin:
                return ALLOWED
            return NOT_ROOM_OWNER if shared else HIDDEN
        case Access.MEETING_RECORD:
            if owner or admin:
                return ALLOWED
            return NOT_A_PARTICIPANT if shared else HIDDEN
    raise AssertionError(access)


# --- the world a rule's requests live in -------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    content: bytes | None = None
    files: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    send_text: str | None = None
    """For a WebSocket: a message sent once it is open."""


@dataclass
class World:
    """Three people and helpers that make fresh objects for each call."""

    client: Any
    owner: Person
    other: Person
    admin: Person

    def _run(self, work):
        async def run():
            async with self.client.app.state.reflector.sessions() as session:
                result = await work(session)
                await session.commit()
                return result

        return self.client.portal.call(run)

    def room(self, variant: str = "private-room", **fields: Any):
        return make_room(self.client, self.owner.id, shared=variant == "shared-room", **fields)

    def transcript(self, variant: str, **fields: Any) -> str:
        """A transcript of the owner, shared as ``variant`` says, with results to read."""
        values: dict[str, Any] = {
            "status": "ended",
            "title": "Planning",
            "text": "we plan the budget",
            "duration": 3.0,
            "waveform": [0.0, 0.5, 1.0],
            "audio_key": AUDIO_KEY,
            **fields,
        }
        if variant in ("semi-private", "public"):
            values["share_mode"] = variant
        elif variant == "shared-room":
            values["room_id"] = self.room("shared-room").id
        return make_transcript(self.client, self.owner.id, **values).id

    def child(self, row_type, **fields: Any) -> str:
        async def add(session):
            row = row_type(**fields)
            session.add(row)
            await session.flush()
            return row.id

        return self._run(add)

    def upload(self, transcript_id: str) -> str:
        """An open upload of 3 bytes (staged on disk as the API does it)."""
        opened = self.api("POST", f"/v1/transcripts/{transcript_id}/uploads",
                          json={"filename": "a.mp3", "size": 3})  # fmt: skip
        return opened["id"]

    def meeting(self, variant: str = "private-room") -> str:
        room = self.room(variant)
        return self.child(
            MeetingRow,
            room_id=room.id,
            platform="daily",
            platform_meeting_id=f"m-{uuid.uuid4().hex[:8]}",
            room_url="https://meet.invalid/room",
            host_room_url="https://meet.invalid/room?host",
            end_date=utcnow() + timedelta(hours=1),
        )

    def user(self, password: str | None = None) -> tuple[str, str]:
        """A new user (id, email), apart from the three callers."""
        email = f"u-{uuid.uuid4().hex[:8]}@example.org"

        async def add(session):
            hashed = hash_password(password) if password else None
            return (await accounts.create_user(session, email, password_hash=hashed)).id

        return self._run(add), email

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request made as the owner (with their key), to set something up."""
        response = self.client.request(method, path, headers=self.owner.key_headers(), **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def webhook(self) -> str:
        return self.child(
            WebhookRow, user_id=self.owner.id, url="https://hooks.invalid/x", secret="s" * 32
        )

    def key_id(self) -> str:
        async def add(session):
            return (await accounts.create_api_key(session, self.owner.id, "spare"))[0].id

        return self._run(add)


# --- the rules ---------------------------------------------------------------------------------

Builder = Callable[[World, str], Call]


@dataclass(frozen=True)
class Rule:
    access: Access
    call: Builder
    ok: Ok | tuple[Ok, ...] = NOT_DENIED
    """What an allowed caller gets (one of these)."""


def _get(path: str, **kwargs: Any) -> Builder:
    return lambda w, v: Call("GET", path, **kwargs)


def _t(method: str, tail: str = "", ok: Ok = NOT_DENIED, access: Access | None = None,
       **kwargs: Any) -> Rule:  # fmt: skip
    """A rule for a route of one transcript (``tail`` after its id)."""
    if access is None:
        access = Access.TRANSCRIPT_READ if method in ("GET", "HEAD") else Access.TRANSCRIPT_WRITE
    return Rule(access, lambda w, v: Call(method, f"/v1/transcripts/{w.transcript(v)}{tail}",
                                          **kwargs), ok)  # fmt: skip


def _participant(method: str, **kwargs: Any) -> Builder:
    def build(w: World, v: str) -> Call:
        tid = w.transcript(v)
        pid = w.child(ParticipantRow, transcript_id=tid, name="Ann", speaker=0, source="user")
        return Call(method, f"/v1/transcripts/{tid}/participants/{pid}", **kwargs)

    return build


def _action_item(w: World, v: str) -> Call:
    tid = w.transcript(v)
    aid = w.child(ActionItemRow, transcript_id=tid, kind="next_step", position=0, text="do it")
    return Call("PATCH", f"/v1/transcripts/{tid}/action-items/{aid}", json={"done": True})


def _upload(method: str, tail: str = "", **kwargs: Any) -> Builder:
    def build(w: World, v: str) -> Call:
        tid = w.transcript(v, status="idle", audio_key=None)
        return Call(method, f"/v1/transcripts/{tid}/uploads/{w.upload(tid)}{tail}", **kwargs)

    return build


def _idle(method: str, tail: str, **kwargs: Any) -> Builder:
    return lambda w, v: Call(
        method, f"/v1/transcripts/{w.transcript(v, status='idle', audio_key=None)}{tail}", **kwargs
    )


def _trashed(w: World, v: str) -> Call:
    return Call("POST", f"/v1/transcripts/{w.transcript(v, deleted_at=utcnow())}/restore")


def _room(method: str, tail: str = "", **kwargs: Any) -> Builder:
    return lambda w, v: Call(method, f"/v1/rooms/{w.room(v).name}{tail}", **kwargs)


def _meeting(method: str, tail: str, **kwargs: Any) -> Builder:
    return lambda w, v: Call(method, f"/v1/meetings/{w.meeting(v)}{tail}", **kwargs)


def _webhook(method: str, tail: str = "", **kwargs: Any) -> Builder:
    return lambda w, v: Call(method, f"/v1/webhooks/{w.webhook()}{tail}", **kwargs)


PLATFORM = Ok(None, "platform-not-configured")
"""No video platform is set up: whoever may open a meeting is told so."""
NO_EMAIL = Ok(None, "email-not-configured")
NO_ZULIP = Ok(None, "zulip-unavailable")


def _login(w: World, v: str) -> Call:
    _, email = w.user(password="matrix password")
    return Call("POST", "/v1/auth/login", json={"email": email, "password": "matrix password"})


R, W = Access.TRANSCRIPT_READ, Access.TRANSCRIPT_WRITE

# fmt: off
RULES: dict[str, Rule] = {
    # --- transcripts
    "POST /v1/transcripts": Rule(Access.SIGNED_IN, lambda w, v: Call(
        "POST", "/v1/transcripts", json={"name": "new"}), Ok(201)),
    "GET /v1/transcripts": Rule(Access.SIGNED_IN, _get("/v1/transcripts"), Ok(200)),
    "GET /v1/search": Rule(Access.SIGNED_IN, _get("/v1/search", params={"q": "budget"}), Ok(200)),
    "GET /v1/transcripts/{transcript_id}": _t("GET", ok=Ok(200)),
    "PATCH /v1/transcripts/{transcript_id}": _t("PATCH", json={"name": "renamed"}, ok=Ok(200)),
    "DELETE /v1/transcripts/{transcript_id}": _t("DELETE", ok=Ok(204)),
    "POST /v1/transcripts/{transcript_id}/restore": Rule(Access.TRASH, _trashed, Ok(200)),
    "GET /v1/transcripts/{transcript_id}/segments": _t("GET", "/segments", ok=Ok(200)),
    "GET /v1/transcripts/{transcript_id}/topics": _t("GET", "/topics", ok=Ok(200)),
    "GET /v1/transcripts/{transcript_id}/participants": _t("GET", "/participants", ok=Ok(200)),
    "POST /v1/transcripts/{transcript_id}/participants": _t(
        "POST", "/participants", json={"name": "Ann"}, ok=Ok(201)),
    "PATCH /v1/transcripts/{transcript_id}/participants/{participant_id}": Rule(
        W, _participant("PATCH", json={"name": "Bea"}), Ok(200)),
    "DELETE /v1/transcripts/{transcript_id}/participants/{participant_id}": Rule(
        W, _participant("DELETE"), Ok(204)),
    "POST /v1/transcripts/{transcript_id}/speakers/assign": _t(
        "POST", "/speakers/assign", json={"start": 0, "end": 1, "speaker": 1}, ok=Ok(200)
    ),
    "POST /v1/transcripts/{transcript_id}/speakers/merge": _t(
        "POST", "/speakers/merge", json={"speakers": [1], "into": 0}, ok=Ok(200)),
    "GET /v1/transcripts/{transcript_id}/action-items": _t("GET", "/action-items", ok=Ok(200)),
    "PATCH /v1/transcripts/{transcript_id}/action-items/{item_id}": Rule(W, _action_item, Ok(200)),
    "GET /v1/transcripts/{transcript_id}/export": _t("GET", "/export", params={"format": "md"},
                                                     ok=Ok(200)),
    "GET /v1/transcripts/{transcript_id}/audio.mp3": _t("GET", "/audio.mp3", ok=Ok(200)),
    "HEAD /v1/transcripts/{transcript_id}/audio.mp3": _t("HEAD", "/audio.mp3", ok=Ok(200)),
    "POST /v1/transcripts/{transcript_id}/audio/link": _t("POST", "/audio/link", access=R,
                                                          ok=Ok(200)),
    "GET /v1/transcripts/{transcript_id}/waveform": _t("GET", "/waveform", ok=Ok(200)),
    "GET /v1/transcripts/{transcript_id}/events": _t("GET", "/events", ok=Ok(200)),
    "WS /v1/transcripts/{transcript_id}/events": _t("WS", "/events", access=R, ok=ACCEPTED),
    "WS /v1/transcripts/{transcript_id}/translations/{language}/speech": _t(
        "WS", "/translations/pt/speech", access=R, ok=ACCEPTED),
    # --- uploads and live
    "POST /v1/transcripts/{transcript_id}/uploads": Rule(W, _idle(
        "POST", "/uploads", json={"filename": "a.mp3", "size": 3}), Ok(201)),
    "GET /v1/transcripts/{transcript_id}/uploads/{upload_id}": Rule(W, _upload("GET"), Ok(200)),
    "PUT /v1/transcripts/{transcript_id}/uploads/{upload_id}": Rule(
        W, _upload("PUT", params={"offset": 0}, content=b"abc"), Ok(200)),
    "POST /v1/transcripts/{transcript_id}/uploads/{upload_id}/complete": Rule(
        W, _upload("POST", "/complete"), Ok(409, "upload-incomplete")),
    "POST /v1/transcripts/{transcript_id}/tracks": Rule(W, _idle("POST", "/tracks"), NOT_DENIED),
    "POST /v1/transcripts/{transcript_id}/upload": Rule(W, _idle(
        "POST", "/upload", content=b"not audio"), Ok(415, "not-audio")),
    "POST /v1/transcripts/{transcript_id}/process": Rule(W, _idle("POST", "/process"),
                                                         Ok(409, "no-audio")),
    "POST /v1/transcripts/{transcript_id}/record/webrtc": Rule(W, _idle(
        "POST", "/record/webrtc", json={"sdp": "v=0", "type": "offer"}), NOT_DENIED),
    "WS /v1/transcripts/{transcript_id}/record/ws": Rule(W, _idle(
        "WS", "/record/ws", send_text="not a config"), ACCEPTED),
    # --- people, keys, signing in
    "GET /v1/me": Rule(Access.SIGNED_IN, _get("/v1/me"), Ok(200)),
    "GET /v1/users": Rule(Access.ADMIN, _get("/v1/users"), Ok(200)),
    "POST /v1/users/{user_id}/disable": Rule(Access.ADMIN, lambda w, v: Call(
        "POST", f"/v1/users/{w.user()[0]}/disable"), Ok(200)),
    "POST /v1/api-keys": Rule(Access.SIGNED_IN, lambda w, v: Call(
        "POST", "/v1/api-keys", json={"name": "new"}), Ok(201)),
    "GET /v1/api-keys": Rule(Access.SIGNED_IN, _get("/v1/api-keys"), Ok(200)),
    "DELETE /v1/api-keys/{key_id}": Rule(Access.OWN, lambda w, v: Call(
        "DELETE", f"/v1/api-keys/{w.key_id()}"), Ok(204)),
    "POST /v1/auth/login": Rule(Access.OPEN, _login, Ok(200)),
    "GET /v1/auth/methods": Rule(Access.OPEN, _get("/v1/auth/methods"), Ok(200)),
    "POST /v1/auth/logout": Rule(Access.OPEN, lambda w, v: Call("POST", "/v1/auth/logout"),
                                 Ok(204)),
    # (the OpenID Connect issuer is set, at an address where nothing answers)
    "GET /v1/auth/oidc/login": Rule(Access.OPEN, _get("/v1/auth/oidc/login"),
                                    Ok(503, "oidc-unavailable")),
    "GET /v1/auth/oidc/callback": Rule(Access.OPEN, _get("/v1/auth/oidc/callback"),
                                       Ok(400, "oidc-failed")),
    "WS /v1/events": Rule(Access.SIGNED_IN, lambda w, v: Call("WS", "/v1/events"), ACCEPTED),
    # --- the server
    "GET /healthz": Rule(Access.OPEN, _get("/healthz"), Ok(200)),
    "GET /readyz": Rule(Access.OPEN, _get("/readyz"), NOT_DENIED),
    "GET /metrics": Rule(Access.OPEN, _get("/metrics"), Ok(200)),
    "GET /openapi.json": Rule(Access.OPEN, _get("/openapi.json"), Ok(200)),
    "HEAD /openapi.json": Rule(Access.OPEN, lambda w, v: Call("HEAD", "/openapi.json"), Ok(200)),
    "GET /docs": Rule(Access.OPEN, _get("/docs"), Ok(200)),
    "GET /docs/start.js": Rule(Access.OPEN, _get("/docs/start.js"), Ok(200)),
    "GET /{path}": Rule(Access.OPEN, _get("/transcripts/some-page"), NOT_DENIED),
    "HEAD /{path}": Rule(Access.OPEN, lambda w, v: Call("HEAD", "/transcripts/some-page"),
                         NOT_DENIED),
    "GET /v1/server": Rule(Access.SIGNED_IN, _get("/v1/server"), Ok(200)),
    # --- the voice API (bodies left out: the access check comes before them)
    "POST /v1/audio/transcriptions": Rule(Access.SIGNED_IN, lambda w, v: Call(
        "POST", "/v1/audio/transcriptions"), NOT_DENIED),
    "POST /v1/audio/translations": Rule(Access.SIGNED_IN, lambda w, v: Call(
        "POST", "/v1/audio/translations"), NOT_DENIED),
    "POST /v1/audio/speech": Rule(Access.SIGNED_IN, lambda w, v: Call(
        "POST", "/v1/audio/speech", json={}), NOT_DENIED),
    "GET /v1/models": Rule(Access.SIGNED_IN, _get("/v1/models"), Ok(200)),
    "GET /v1/models/{model_id}": Rule(Access.SIGNED_IN, _get("/v1/models/whisper-1"),
                                           Ok(200)),
    "POST /api/stt": Rule(Access.SIGNED_IN, lambda w, v: Call("POST", "/api/stt"), NOT_DENIED),
    "POST /api/tts": Rule(Access.SIGNED_IN, lambda w, v: Call("POST", "/api/tts", json={}),
                          NOT_DENIED),
    "GET /api/voices": Rule(Access.SIGNED_IN, _get("/api/voices"), Ok(200)),
    "GET /stats": Rule(Access.SIGNED_IN, _get("/stats"), Ok(200)),
    "WS /ws/voice": Rule(Access.SIGNED_IN, lambda w, v: Call("WS", "/ws/voice"), ACCEPTED),
    # --- rooms and meetings
    "POST /v1/rooms": Rule(Access.SIGNED_IN, lambda w, v: Call(
        "POST", "/v1/rooms", json={"name": f"r-{uuid.uuid4().hex[:10]}"}), Ok(201)),
    "GET /v1/rooms": Rule(Access.SIGNED_IN, _get("/v1/rooms"), Ok(200)),
    "GET /v1/rooms/{name}": Rule(Access.ROOM_READ, _room("GET"), Ok(200)),
    "PATCH /v1/rooms/{name}": Rule(Access.ROOM_MANAGE, _room("PATCH", json={"is_locked": True}),
                                   Ok(200)),
    "DELETE /v1/rooms/{name}": Rule(Access.ROOM_MANAGE, _room("DELETE"), Ok(204)),
    "POST /v1/rooms/{name}/meeting": Rule(Access.GUEST, _room("POST", "/meeting"), PLATFORM),
    "GET /v1/rooms/{name}/meetings": Rule(Access.ROOM_READ, _room("GET", "/meetings"), Ok(200)),
    "POST /v1/meetings/{meeting_id}/join": Rule(Access.GUEST, _meeting("POST", "/join"),
                                                (PLATFORM, Ok(200))),
    "POST /v1/meetings/{meeting_id}/deactivate": Rule(Access.MEETING_MANAGE, _meeting(
        "POST", "/deactivate"), NOT_DENIED),
    "POST /v1/meetings/{meeting_id}/recordings/start": Rule(Access.MEETING_RECORD, _meeting(
        "POST", "/recordings/start", json={}), PLATFORM),
    "POST /v1/meetings/{meeting_id}/consent": Rule(Access.GUEST, _meeting(
        "POST", "/consent", json={"consent_given": True}), NOT_DENIED),
    "GET /v1/meetings/{meeting_id}/consent": Rule(Access.GUEST, _meeting("GET", "/consent"),
                                                  NOT_DENIED),
    "GET /v1/rooms/{name}/ics/status": Rule(Access.ROOM_READ, _room("GET", "/ics/status"),
                                            Ok(200)),
    "POST /v1/rooms/{name}/ics/sync": Rule(Access.ROOM_MANAGE, _room("POST", "/ics/sync"),
                                           NOT_DENIED),
    # --- integrations (Zulip is set up with an address nobody answers at; no email server)
    "POST /v1/meetings/{meeting_id}/email": Rule(Access.GUEST, _meeting(
        "POST", "/email", json={"email": "ann@example.org"}), NO_EMAIL),
    "POST /v1/transcripts/{transcript_id}/email": _t(
        "POST", "/email", json={"email": "ann@example.org"}, ok=NO_EMAIL,
        access=Access.TRANSCRIPT_READ_SIGNED_IN),
    "GET /v1/zulip/streams": Rule(Access.SIGNED_IN, _get("/v1/zulip/streams"), NO_ZULIP),
    "GET /v1/zulip/streams/{stream_id}/topics": Rule(Access.SIGNED_IN, _get(
        "/v1/zulip/streams/1/topics"), NO_ZULIP),
    "POST /v1/transcripts/{transcript_id}/zulip": _t(
        "POST", "/zulip", json={"stream": "general"}, ok=Ok(202)),
    "GET /v1/transcripts/{transcript_id}/notifications": _t(
        "GET", "/notifications", access=W, ok=Ok(200)),
    # --- outgoing webhooks
    "POST /v1/webhooks": Rule(Access.SIGNED_IN, lambda w, v: Call(
        "POST", "/v1/webhooks", json={"url": "https://hooks.invalid/x"}), NOT_DENIED),
    "GET /v1/webhooks": Rule(Access.SIGNED_IN, _get("/v1/webhooks"), Ok(200)),
    "GET /v1/webhooks/{webhook_id}": Rule(Access.OWN, _webhook("GET"), Ok(200)),
    "PATCH /v1/webhooks/{webhook_id}": Rule(Access.OWN, _webhook(
        "PATCH", json={"description": "x"}), Ok(200)),
    "DELETE /v1/webhooks/{webhook_id}": Rule(Access.OWN, _webhook("DELETE"), Ok(204)),
    "GET /v1/webhooks/{webhook_id}/deliveries": Rule(Access.OWN, _webhook("GET", "/deliveries"),
                                                     Ok(200)),
    "POST /v1/webhooks/{webhook_id}/test": Rule(Access.OWN, _webhook("POST", "/test"),
                                                NOT_DENIED),
    # --- video platforms' webhooks: signed by the platform, not by a user
    "POST /v1/daily/webhook": Rule(Access.OPEN, lambda w, v: Call(
        "POST", "/v1/daily/webhook", json={}), NOT_DENIED),
    "POST /v1/whereby/webhook": Rule(Access.OPEN, lambda w, v: Call(
        "POST", "/v1/whereby/webhook", json={}), NOT_DENIED),
}
# fmt: on

ROOM_ACCESS = {Access.ROOM_READ, Access.ROOM_MANAGE, Access.MEETING_MANAGE,
               Access.MEETING_RECORD}  # fmt: skip
TRANSCRIPT_ACCESS = {Access.TRANSCRIPT_READ, Access.TRANSCRIPT_READ_SIGNED_IN,
                     Access.TRANSCRIPT_WRITE, Access.TRASH}  # fmt: skip
UNCHECKED_MOUNTS = {"/docs/assets"}
"""Static files (Swagger UI's), served to anyone like the web app's."""


def variants(rule: Rule) -> tuple[str, ...]:
    if rule.access in TRANSCRIPT_ACCESS:
        return TRANSCRIPT_VARIANTS
    if rule.access in ROOM_ACCESS:
        return ROOM_VARIANTS
    return NO_VARIANT


# --- the app's routes --------------------------------------------------------------------------


def _walk(routes) -> Iterator[Any]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from _walk(included.routes)
        else:
            yield route


def _template(path: str) -> str:
    """``/v1/models/{model_id:path}`` as the schema writes it: ``/v1/models/{model_id}``."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def app_routes(app) -> dict[str, str]:
    """``"METHOD /path"`` (``WS /path`` for WebSockets) → the module that answers it."""
    found: dict[str, str] = {}
    for route in _walk(app.routes):
        if isinstance(route, APIWebSocketRoute):
            found[f"WS {_template(route.path)}"] = route.endpoint.__module__
        elif isinstance(route, APIRoute | Route):
            module = getattr(route.endpoint, "__module__", "?")
            for method in sorted(route.methods or ()):
                found[f"{method} {_template(route.path)}"] = module
        elif isinstance(route, Mount) and route.path in UNCHECKED_MOUNTS:
            continue
        else:
            found[f"? {getattr(route, 'path', route)!r}"] = type(route).__name__
    # The schema's own list too, so that a route there but not in the table shows as well.
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            found.setdefault(f"{method.upper()} {path}", "openapi")
    return found


# --- running it --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"access-{request.param}")
    settings = {
        "auth_mode": "multi-user",
        "live_preload": False,
        "rate_limits_enabled": False,
        # Zulip set up, at an address where nothing answers: posts are queued, reads fail.
        "zulip_site": "http://127.0.0.1:9",
        "zulip_bot_email": "bot@example.org",
        "zulip_api_key": "not-a-real-key",
        "oidc_issuer": ISSUER,
        "oidc_client_id": "reflector",
    }
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgres" else None
        client = stack.enter_context(running_client(server_settings(data_dir, url, **settings)))
        client.portal.call(client.app.state.reflector.blobs.put_bytes, AUDIO_KEY, b"ID3 audio")
        yield client


def _headers(world: World, caller: str) -> dict[str, str]:
    owner = world.owner
    return {
        "owner": owner.browser_headers,
        "other": world.other.browser_headers,
        "admin": world.admin.browser_headers,
        "anonymous": dict,
        "owner_key": owner.key_headers,
        "other_key": world.other.key_headers,
        "revoked_key": lambda: owner.key_headers(owner.revoked_key),
        "expired_key": lambda: owner.key_headers(owner.expired_key),
        "foreign_jwt": lambda: owner.key_headers(FOREIGN_JWT),
    }[caller]()


def _slug(response) -> str | None:
    problem = response.headers.get("content-type", "").startswith("application/problem+json")
    if problem and response.content:  # a HEAD answer has no body
        return response.json()["type"].rsplit("/", 1)[-1]
    return None


def _socket(client, call: Call, headers: dict[str, str]) -> tuple[int, str | None]:
    """(101, None) when the socket opened; (close code, reason) when it was refused."""
    try:
        with client.websocket_connect(call.path, headers=headers) as socket:
            if call.send_text is not None:
                socket.send_text(call.send_text)
                with contextlib.suppress(WebSocketDisconnect):
                    socket.receive()
            return 101, None
    except WebSocketDenialResponse as answered:  # refused with an HTTP answer (a problem)
        return answered.status_code, _slug(answered)
    except WebSocketDisconnect as refused:
        return refused.code, refused.reason


def _outcome(client, call: Call, headers: dict[str, str]) -> tuple[int, str | None]:
    if call.method == "WS":
        return _socket(client, call, headers)
    response = client.request(
        call.method,
        call.path,
        json=call.json,
        params=call.params,
        content=call.content,
        files=call.files,
        headers={**headers, **call.headers},
    )
    client.cookies.clear()  # a sign-in's cookies must not follow the next caller
    return response.status_code, _slug(response)


def _matches(want: str | Denied, ok: Ok | tuple[Ok, ...], method: str,
             got: tuple[int, str | None]) -> bool:  # fmt: skip
    status, slug = got
    if isinstance(want, Denied):
        if method == "WS" and status == 1008:  # closed before it opened
            return True
        if method == "HEAD":  # no body, so no problem type to compare
            return status == want.status
        return (status, slug) == (want.status, want.slug)
    if method == "WS":
        return status == 101
    for one in ok if isinstance(ok, tuple) else (ok,):
        if one is NOT_DENIED and (status, slug) not in DENIALS and status < 500:
            return True
        if one.status in (status, None) and (one.slug is None or slug == one.slug):
            return True
    return False


@pytest.mark.parametrize("route", sorted(RULES))
def test_route_answers_each_caller_as_its_rule_says(server, route):
    rule = RULES[route]
    world = World(server, make_person(server, "owner"), make_person(server, "other"),
                  make_person(server, "admin", admin=True))  # fmt: skip
    wrong = []
    for variant in variants(rule):
        for caller in CALLERS:
            call = rule.call(world, variant)
            got = _outcome(server, call, _headers(world, caller))
            want = expected(rule.access, caller, variant)
            if not _matches(want, rule.ok, call.method, got):
                wanted = want if isinstance(want, Denied) else rule.ok
                wrong.append(f"  {variant:>13} {caller:>11}: got {got}, want {wanted}")
    assert not wrong, f"{route} ({rule.access.name}):\n" + "\n".join(wrong)


def test_every_route_has_an_access_rule(server):
    routes = app_routes(server.app)
    missing = sorted(set(routes) - set(RULES))
    stale = sorted(set(RULES) - set(routes))
    message = []
    if missing:
        message.append(
            "routes without an access rule (add each to RULES in tests/test_access_matrix.py, "
            "see its docstring):\n"
            + "\n".join(f"  {route}   ({routes[route]})" for route in missing)
        )
    if stale:
        message.append("rules for routes that no longer exist:\n  " + "\n  ".join(stale))
    assert not message, "\n".join(message)


def matrix_size() -> int:
    """Requests the matrix makes per database: routes x callers x share variants."""
    return sum(len(CALLERS) * len(variants(rule)) for rule in RULES.values())
