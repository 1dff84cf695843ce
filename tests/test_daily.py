"""Daily: webhooks believed only when signed as Daily documents (base64 HMAC-SHA256 of
``"{timestamp}.{body}"`` with the base64-decoded secret, within a replay window), events that
update meetings, and finished recordings copied from Daily's bucket (SeaweedFS here) into a
transcript exactly once, by webhook or by polling Daily's API when the webhook never came."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from reflector.api.meetings.events import recording_deps
from reflector.db.tables import JobRow, RecordingRow, TranscriptRow
from reflector.pipelines.recordings import poll_recordings
from reflector.platforms.base import (
    ParticipantJoined,
    ParticipantLeft,
    PlatformNotConfiguredError,
    RecordingFailed,
    RecordingReady,
    WebhookPayloadError,
    WebhookSignatureError,
    make_platform,
)
from reflector.platforms.daily import DailyPlatform, participant_of_track, sign_webhook
from reflector.settings import Settings
from reflector_testkit import daily as fake
from reflector_testkit.daily import new_secret, signed_headers
from reflector_testkit.problems import problem
from reflector_testkit.seaweed import SeaweedS3
from reflector_testkit.servers import running_client, server_settings

SECRET = new_secret()


def _platform(secret: str = SECRET, **more) -> DailyPlatform:
    return DailyPlatform(api_url=None, api_key=None, webhook_secret=secret, **more)


# --- signatures -----------------------------------------------------------------------------------


def test_a_correctly_signed_webhook_is_believed():
    body = fake.participant_joined("room-1", str(uuid.uuid4()))
    _platform().verify_webhook(body, signed_headers(SECRET, body))
    # Daily's timestamp may come in milliseconds, and header names in any case.
    stamp = str(int(time.time() * 1000))
    headers = {
        "x-webhook-signature": sign_webhook(SECRET, stamp, body),
        "X-WEBHOOK-TIMESTAMP": stamp,
    }
    _platform().verify_webhook(body, headers)


def test_a_tampered_body_or_another_secret_is_refused():
    body = fake.participant_joined("room-1", str(uuid.uuid4()))
    headers = signed_headers(SECRET, body)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        _platform().verify_webhook(body.replace(b"room-1", b"room-2"), headers)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        _platform(new_secret()).verify_webhook(body, headers)
    garbled = {**headers, "X-Webhook-Signature": "ünicode"}
    with pytest.raises(WebhookSignatureError):
        _platform().verify_webhook(body, garbled)


@pytest.mark.parametrize("skew", [-301, 301, -86_400])
def test_timestamps_outside_the_replay_window_are_refused(skew):
    body = fake.participant_joined("room-1", str(uuid.uuid4()))
    now = time.time()
    headers = signed_headers(SECRET, body, timestamp=now + skew)  # correctly signed, but old/new
    with pytest.raises(WebhookSignatureError, match="window"):
        _platform(tolerance_seconds=300).verify_webhook(body, headers, now=now)
    _platform(tolerance_seconds=86_401).verify_webhook(body, headers, now=now)


@pytest.mark.parametrize("missing", ["X-Webhook-Signature", "X-Webhook-Timestamp"])
def test_missing_headers_are_refused(missing):
    body = fake.participant_joined("room-1", str(uuid.uuid4()))
    headers = signed_headers(SECRET, body)
    del headers[missing]
    with pytest.raises(WebhookSignatureError, match="no X-Webhook"):
        _platform().verify_webhook(body, headers)
    with pytest.raises(WebhookSignatureError, match="not a number"):
        _platform().verify_webhook(
            body, {**signed_headers(SECRET, body), "X-Webhook-Timestamp": "soon"}
        )


def test_a_secret_must_be_configured_and_be_base64():
    body = b"{}"
    with pytest.raises(WebhookSignatureError, match="REFLECTOR_DAILY_WEBHOOK_SECRET"):
        DailyPlatform(api_url=None, api_key=None).verify_webhook(body, signed_headers(SECRET, body))
    with pytest.raises(PlatformNotConfiguredError, match="base64"):
        _platform("not base64!")
    with pytest.raises(PlatformNotConfiguredError):
        make_platform("daily", Settings(daily_webhook_secret="@@@"))


# --- payloads ------------------------------------------------------------------------------------


def test_documented_payloads_become_events():
    daily = _platform(subdomain=fake.DAILY_DOMAIN)
    session = str(uuid.uuid4())
    joined = daily.parse_webhook(
        fake.participant_joined("r", session, user_id="u1", user_name="Ann")
    )
    assert joined.type == "participant.joined"
    assert joined.event == ParticipantJoined(
        platform_meeting_id="r", participant_id=session, user_id="u1", name="Ann",
        at=joined.event.at,
    )  # fmt: skip
    left = daily.parse_webhook(fake.participant_left("r", session)).event
    assert isinstance(left, ParticipantLeft) and left.participant_id == session

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    tracks = [
        {"type": "audio", "s3Key": fake.track_key("r", 1760988935484, first), "size": 831843},
        {"type": "video", "s3Key": fake.track_key("r", 1760988935484, first, "video"), "size": 9},
        {"type": "audio", "s3Key": fake.track_key("r", 1760988935484, second), "size": 408438},
    ]
    ready = daily.parse_webhook(fake.recording_ready("r", "rec-1", tracks=tracks)).event
    assert isinstance(ready, RecordingReady) and ready.kind == "tracks"
    assert [f.participant_id for f in ready.files] == [first, first, second]
    assert [f.type for f in ready.files] == ["audio", "video", "audio"]
    cloud = daily.parse_webhook(
        fake.recording_ready("r", "rec-2", s3_key=f"{fake.DAILY_DOMAIN}/r/1692124183028")
    ).event
    assert cloud.kind == "file" and cloud.files[0].participant_id is None
    failed = daily.parse_webhook(fake.recording_error("r", "disk full")).event
    assert failed == RecordingFailed(platform_meeting_id="r", recording_id=None, error="disk full")
    # Another Daily domain's recording (a shared webhook) has no files for this server.
    foreign = daily.parse_webhook(fake.recording_ready("r", "rec-3", s3_key="other/r/1")).event
    assert foreign.files == ()

    ignored = daily.parse_webhook(fake.webhook("meeting.started", {"room": "r"}))
    assert ignored.type == "meeting.started" and ignored.event is None


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"payload": {}}',
        b'{"type": "participant.joined"}',
        b'{"type": "participant.joined", "payload": {"room": "r"}}',
        b'{"type": "recording.ready-to-download", "payload": {"room_name": "r",'
        b' "recording_id": "x", "type": "raw-tracks", "tracks": [{"type": "audio"}]}}',
        b"\xff\xfe",
    ],
)
def test_malformed_payloads_are_refused(body):
    with pytest.raises(WebhookPayloadError):
        _platform().parse_webhook(body)


def test_participant_of_a_track_comes_from_its_key():
    session = "52f7f48b-fbab-431f-9a50-87b9abfc8255"
    key = f"monadical/daily-x/1760988935484-{session}-cam-audio-1760988935922"
    assert participant_of_track(key) == session
    assert participant_of_track("monadical/daily-x/recording.webm") is None


# --- the webhook route ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, daily, seaweed: SeaweedS3):
    """A single-user server whose Daily records into SeaweedFS; jobs are noted, not run, so
    each test sees the job a recording made."""
    settings = server_settings(
        tmp_path_factory.mktemp("daily"),
        None,
        live_preload=False,
        job_sweep_seconds=3600.0,  # no background poll or retry during the tests
        **daily.settings(SECRET, recordings=seaweed),
    )
    with running_client(settings) as client:
        client.submitted = []

        async def note(job_id: str) -> None:
            client.submitted.append(job_id)

        client.app.state.reflector.submit_job = note
        yield client


def _post(server, body: bytes, headers: dict | None = None):
    return server.post(
        "/v1/daily/webhook", content=body, headers=headers or signed_headers(SECRET, body)
    )


def _meeting(server, **room) -> tuple[dict, str]:
    """A new room's meeting and its Daily room name."""
    name = f"daily-{uuid.uuid4().hex[:10]}"
    assert server.post("/v1/rooms", json={"name": name, **room}).status_code == 201
    meeting = server.post(f"/v1/rooms/{name}/meeting").json()["meeting"]
    return meeting, urlsplit(meeting["room_url"]).path.strip("/")


def _count(server, model, *where) -> int:
    async def count() -> int:
        async with server.app.state.reflector.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)))

    return server.portal.call(count)


def test_bad_signatures_and_bodies_get_problems(server):
    body = fake.participant_joined("r", str(uuid.uuid4()))
    problem(_post(server, body, {"Content-Type": "application/json"}), 401, "bad-webhook-signature")
    problem(_post(server, body, signed_headers(new_secret(), body)), 401, "bad-webhook-signature")
    old = signed_headers(SECRET, body, timestamp=time.time() - 3600)
    problem(_post(server, body, old), 401, "bad-webhook-signature")
    tampered = signed_headers(SECRET, body)
    problem(_post(server, body + b" ", tampered), 401, "bad-webhook-signature")
    problem(_post(server, b"{not json"), 400, "bad-webhook-payload")
    problem(
        _post(server, b'{"type": "participant.joined", "payload": 3}'), 400, "bad-webhook-payload"
    )


def test_unknown_events_and_the_verification_ping_are_acknowledged(server):
    answer = _post(server, fake.webhook("streaming.started", {"room": "r"}))
    assert answer.status_code == 200 and answer.json() == {
        "received": True, "type": "streaming.started", "handled": False,
    }  # fmt: skip
    ping = server.post("/v1/daily/webhook", json={"test": "test"})  # unsigned, as Daily sends it
    assert ping.status_code == 200 and ping.json()["type"] == "test"
    unknown_room = _post(server, fake.participant_joined("not-ours", str(uuid.uuid4())))
    assert unknown_room.status_code == 200


def test_participants_joining_and_leaving_count_and_start_the_recording(server, daily):
    meeting, room = _meeting(server)  # default trigger: automatic at the 2nd participant
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    started = len(daily.state.recordings_started)
    assert _post(server, fake.participant_joined(room, first, user_name="Ann")).json()["handled"]
    assert len(daily.state.recordings_started) == started
    _post(server, fake.participant_joined(room, second, user_name="Bob"))
    _post(server, fake.participant_joined(room, second, user_name="Bob"))  # delivered twice
    assert [r["room"] for r in daily.state.recordings_started[started:]] == [room]
    assert daily.state.recordings_started[started]["type"] == "raw-tracks"

    def clients() -> int:
        name = room.rsplit("-", 2)[0]
        active = server.get(f"/v1/rooms/{name}/meetings").json()["active"]
        return next(m["num_clients"] for m in active if m["id"] == meeting["id"])

    assert clients() == 2
    _post(server, fake.participant_left(room, first))
    assert clients() == 1


def _put_tracks(seaweed: SeaweedS3, room: str, sessions: list[str]) -> list[dict]:
    client = seaweed.client()
    tracks = []
    for number, session in enumerate(sessions):
        key = fake.track_key(room, 1760988935484, session)
        data = f"track {number} of {room} ".encode() * 5000
        client.put_object(Bucket=seaweed.bucket, Key=key, Body=data)
        tracks.append({"type": "audio", "s3Key": key, "size": len(data)})
    video = fake.track_key(room, 1760988935484, sessions[0], "video")
    tracks.append({"type": "video", "s3Key": video, "size": 10})  # never read: not audio
    return tracks


def _transcripts_of(server, meeting_id: str) -> list[TranscriptRow]:
    async def load():
        async with server.app.state.reflector.sessions() as session:
            rows = await session.scalars(
                select(TranscriptRow).where(TranscriptRow.meeting_id == meeting_id)
            )
            return rows.all()

    return server.portal.call(load)


def test_a_raw_tracks_recording_becomes_one_multitrack_transcript(server, seaweed):
    meeting, room = _meeting(server)
    ann, bob = str(uuid.uuid4()), str(uuid.uuid4())
    _post(server, fake.participant_joined(room, ann, user_id="ann-id", user_name="Ann"))
    _post(server, fake.participant_joined(room, bob, user_name="Bob"))
    tracks = _put_tracks(seaweed, room, [ann, bob])
    recording_id = str(uuid.uuid4())
    body = fake.recording_ready(room, recording_id, tracks=tracks)
    before = len(server.submitted)

    answer = _post(server, body)
    assert answer.status_code == 200 and answer.json()["handled"]
    again = _post(server, body)  # Daily retries: nothing more happens
    assert again.status_code == 200

    [transcript] = _transcripts_of(server, meeting["id"])
    assert transcript.source == "room" and transcript.room_id == meeting["room_id"]
    assert transcript.status == "processing" and transcript.upload_key is None
    assert transcript.name.startswith(room.rsplit("-", 2)[0])
    names = [(t["name"], t["user_id"], t["participant_id"]) for t in transcript.tracks]
    assert names == [("Ann", "ann-id", ann), ("Bob", bob, bob)]
    blobs = server.app.state.reflector.blobs
    for number, track in enumerate(transcript.tracks):
        assert track["key"] == f"transcripts/{transcript.id}/tracks/{number}.webm"
        stored = server.portal.call(blobs.get_bytes, track["key"])
        assert stored == f"track {number} of {room} ".encode() * 5000

    [job_id] = server.submitted[before:]

    async def job():
        async with server.app.state.reflector.sessions() as session:
            return await session.get(JobRow, job_id)

    assert server.portal.call(job).pipeline == "multitrack"
    done = RecordingRow.platform_recording_id == recording_id
    assert _count(server, RecordingRow, done, RecordingRow.status == "done") == 1


def test_a_cloud_recording_becomes_a_file_transcript(server, seaweed):
    meeting, room = _meeting(server)
    key = f"{fake.DAILY_DOMAIN}/{room}/1692124183028"
    seaweed.client().put_object(Bucket=seaweed.bucket, Key=key, Body=b"mp4" * 1000)
    before = len(server.submitted)
    assert _post(server, fake.recording_ready(room, str(uuid.uuid4()), s3_key=key)).json()[
        "handled"
    ]
    [transcript] = _transcripts_of(server, meeting["id"])
    assert transcript.upload_key == f"transcripts/{transcript.id}/upload.mp4"
    assert transcript.tracks is None and len(server.submitted) == before + 1


def test_a_recording_whose_files_are_missing_is_marked_failed(server):
    meeting, room = _meeting(server)
    recording_id = str(uuid.uuid4())
    tracks = [
        {"type": "audio", "s3Key": fake.track_key(room, 1, str(uuid.uuid4())), "size": 1},
        {"type": "audio", "s3Key": fake.track_key(room, 1, str(uuid.uuid4())), "size": 1},
    ]
    assert _post(server, fake.recording_ready(room, recording_id, tracks=tracks)).status_code == 200
    assert _transcripts_of(server, meeting["id"]) == []

    async def row():
        async with server.app.state.reflector.sessions() as session:
            return await session.scalar(
                select(RecordingRow).where(RecordingRow.platform_recording_id == recording_id)
            )

    failed = server.portal.call(row)
    assert failed.status == "error" and failed.error and failed.attempts == 1
    assert _post(server, fake.recording_error(room)).json()["handled"]


def test_polling_finds_a_recording_whose_webhook_was_lost(server, daily, seaweed):
    meeting, room = _meeting(server)
    ann, bob = str(uuid.uuid4()), str(uuid.uuid4())
    tracks = _put_tracks(seaweed, room, [ann, bob])
    recording_id = str(uuid.uuid4())
    listed = {
        "id": recording_id,
        "room_name": room,
        "start_ts": int(time.time()) - 120,
        "status": "finished",
        "max_participants": 2,
        "duration": 60,
        "tracks": tracks,
    }
    old = {**listed, "id": str(uuid.uuid4()), "start_ts": 1_000_000_000}  # before the window
    daily.state.recordings[:0] = [listed, old]
    deps = recording_deps(server.app.state.reflector)
    made = server.portal.call(poll_recordings, deps)
    [transcript] = _transcripts_of(server, meeting["id"])
    assert made == [transcript.id] and len(transcript.tracks) == 2
    # The webhook arriving late, and the next poll, change nothing.
    _post(server, fake.recording_ready(room, recording_id, tracks=tracks))
    assert server.portal.call(poll_recordings, deps) == []
    assert len(_transcripts_of(server, meeting["id"])) == 1
    assert _count(server, RecordingRow, RecordingRow.platform_recording_id == old["id"]) == 0


def test_the_webhook_needs_a_configured_secret(tmp_path):
    settings = server_settings(tmp_path, None, live_preload=False)
    with running_client(settings) as bare:
        body = fake.participant_joined("r", str(uuid.uuid4()))
        answer = bare.post("/v1/daily/webhook", content=body, headers=signed_headers(SECRET, body))
        detail = problem(answer, 401, "bad-webhook-signature")["detail"]
        assert "REFLECTOR_DAILY_WEBHOOK_SECRET" in detail
