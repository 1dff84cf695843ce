"""Whereby: meetings through its REST API (a local server that speaks it as Whereby documents),
participants through its signed webhooks, and recordings found through the bucket's S3
notifications on a real SQS-compatible queue (moto's server), read from a real S3-compatible
bucket (SeaweedFS)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from reflector.audio.formats import write_audio_file
from reflector.db import repository
from reflector.db.tables import (
    MeetingParticipantRow,
    MeetingRow,
    RecordingRow,
    RoomRow,
    TranscriptRow,
)
from reflector.pipelines.recording_retries import retry_failed_recordings
from reflector.pipelines.whereby_recordings import PollReport, poll_whereby_queue
from reflector.platforms.base import (
    Joiner,
    MeetingSpec,
    PlatformError,
    PlatformNotConfiguredError,
    RecordingBucket,
    WebhookSignatureError,
    make_platform,
)
from reflector.platforms.whereby import (
    RecordingKeyError,
    WherebyConfig,
    WherebyPlatform,
    parse_recording_key,
    room_name_of,
    room_name_prefix,
)
from reflector.platforms.whereby_sqs import (
    MalformedNotification,
    QueueMessage,
    SqsConfig,
    SqsQueue,
    parse_notification,
)
from reflector_testkit.problems import problem
from reflector_testkit.seaweed import SeaweedS3
from reflector_testkit.servers import (
    postgres_database,
    running_client,
    running_on,
    server_settings,
    wait_for_status,
)
from reflector_testkit.sqs import SqsServer, SqsUnavailable, running_sqs
from reflector_testkit.whereby import (
    FakeWhereby,
    client_event,
    mp4_recording,
    object_created_event,
    recording_key,
    running_whereby,
    signed,
)

pytestmark = pytest.mark.anyio

WEBHOOK_SECRET = "whereby-test-secret"
UPLOAD_KEY, UPLOAD_SECRET = "whereby-writer", "whereby-writer-secret"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def whereby() -> Any:
    with running_whereby() as fake:
        yield fake


def _config(fake: FakeWhereby, **overrides: Any) -> WherebyConfig:
    values: dict[str, Any] = {
        "api_url": fake.api_url,
        "api_key": fake.api_key,
        "webhook_secret": WEBHOOK_SECRET,
        "bucket": RecordingBucket(name="whereby-recordings"),
        "upload_access_key": UPLOAD_KEY,
        "upload_secret_key": UPLOAD_SECRET,
    }
    return WherebyConfig(**(values | overrides))


def _spec(**overrides: Any) -> MeetingSpec:
    values: dict[str, Any] = {
        "room_name": "weekly-standup",
        "end_date": datetime.now(UTC) + timedelta(hours=2),
        "room_mode": "group",
        "is_locked": True,
        "recording_type": "cloud",
        "recording_trigger": "automatic-2nd-participant",
    }
    return MeetingSpec(**(values | overrides))


# --- the REST API ---------------------------------------------------------------------------


async def test_a_meeting_is_created_as_whereby_documents_it(whereby: FakeWhereby) -> None:
    platform = WherebyPlatform(_config(whereby))
    try:
        spec = _spec()
        meeting = await platform.create_meeting(spec)
    finally:
        await platform.aclose()
    method, path, body = whereby.requests[-1]
    assert (method, path) == ("POST", "/v1/meetings")
    assert body["roomMode"] == "group" and body["isLocked"] is True
    assert body["roomNamePrefix"] == "weekly-standup-" and body["fields"] == ["hostRoomUrl"]
    assert datetime.fromisoformat(body["endDate"].replace("Z", "+00:00")) == spec.end_date.replace(
        microsecond=spec.end_date.microsecond // 1000 * 1000
    )
    assert body["recording"] == {
        "type": "cloud",
        "destination": {
            "provider": "s3",
            "bucket": "whereby-recordings",
            "accessKeyId": UPLOAD_KEY,
            "accessKeySecret": UPLOAD_SECRET,
            "fileFormat": "mp4",
        },
        "startTrigger": "automatic-2nd-participant",
    }
    stored = whereby.meetings[meeting.platform_meeting_id]
    assert meeting.room_url == stored["roomUrl"] and meeting.host_room_url == stored["hostRoomUrl"]
    assert room_name_of(meeting.room_url) == stored["roomName"].lstrip("/")
    assert meeting.end_date > datetime.now(UTC)


async def test_the_owner_joins_as_host_and_guests_by_the_room_url(whereby: FakeWhereby) -> None:
    platform = WherebyPlatform(_config(whereby))
    try:
        meeting = await platform.create_meeting(_spec(recording_type="none"))
        owner = await platform.join(meeting, Joiner(user_id="u1", name="Ana", is_owner=True))
        guest = await platform.join(meeting, Joiner(name="Ben Li"))
    finally:
        await platform.aclose()
    assert "recording" not in whereby.requests[-1][2]
    assert owner.url.startswith(meeting.host_room_url + "&") and "externalId=u1." in owner.url
    assert guest.url == meeting.room_url + "?displayName=Ben+Li"
    assert owner.token is None and owner.expires_at == meeting.end_date


async def test_deleting_a_meeting_is_idempotent(whereby: FakeWhereby) -> None:
    platform = WherebyPlatform(_config(whereby))
    try:
        meeting = await platform.create_meeting(_spec(recording_type="none"))
        await platform.delete_meeting(meeting.platform_meeting_id)
        await platform.delete_meeting(meeting.platform_meeting_id)
    finally:
        await platform.aclose()
    assert meeting.platform_meeting_id not in whereby.meetings
    assert whereby.deleted.count(meeting.platform_meeting_id) == 2


async def test_a_wrong_api_key_is_a_platform_error_that_says_so(whereby: FakeWhereby) -> None:
    platform = WherebyPlatform(_config(whereby, api_key="not-the-key"))
    try:
        with pytest.raises(PlatformError, match="401"):
            await platform.create_meeting(_spec())
    finally:
        await platform.aclose()


async def test_an_unreachable_api_is_a_platform_error() -> None:
    from reflector_testkit.ports import free_port

    config = WherebyConfig(api_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k")
    platform = WherebyPlatform(config)
    try:
        with pytest.raises(PlatformError, match="cannot be reached"):
            await platform.create_meeting(_spec(recording_type="none"))
    finally:
        await platform.aclose()


async def test_cloud_recording_needs_the_bucket_and_upload_key(whereby: FakeWhereby) -> None:
    platform = WherebyPlatform(_config(whereby, upload_secret_key=None))
    try:
        with pytest.raises(PlatformNotConfiguredError, match="UPLOAD_SECRET_KEY"):
            await platform.create_meeting(_spec())
    finally:
        await platform.aclose()


def test_the_platform_is_built_from_settings_and_needs_its_key_and_url(tmp_path: Path) -> None:
    with pytest.raises(PlatformNotConfiguredError, match="REFLECTOR_WHEREBY_API_URL"):
        make_platform("whereby", server_settings(tmp_path, None, whereby_api_key="k"))
    settings = server_settings(
        tmp_path,
        None,
        whereby_api_key="k",
        whereby_api_url="http://127.0.0.1:9/v1",
        whereby_recordings_bucket="rec",
        whereby_recordings_access_key="reader",
        whereby_recordings_secret_key="reader-secret",
    )
    platform = make_platform("whereby", settings)
    assert platform.name == "whereby"
    assert platform.recordings_bucket == RecordingBucket(
        name="rec", access_key="reader", secret_key="reader-secret"
    )


def test_room_name_prefixes_fit_whereby_rules() -> None:
    assert room_name_prefix("standup") == "standup-"
    long = room_name_prefix("a-very-long-room-name-that-goes-on-and-on-and-on")
    assert len(long) <= 39 and long.endswith("-") and not long.endswith("--")
    assert room_name_prefix("Team_Room 2") == "teamroom2-"


def test_recording_keys_name_the_room_and_the_start() -> None:
    key = parse_recording_key(
        "standup-0d9f1c2a-1111-4222-8333-444455556666-2025-05-07T17:42:49Z.mp4"
    )
    assert key.room_name == "standup-0d9f1c2a-1111-4222-8333-444455556666"
    assert key.recorded_at == datetime(2025, 5, 7, 17, 42, 49, tzinfo=UTC)
    assert parse_recording_key("some/folder/room-2025-01-02T03:04:05Z.mkv").room_name == "room"
    for bad in ("notes.txt", "-2025-05-07T17:42:49Z.mp4", "room-2025-13-40T99:00:00Z.mp4"):
        with pytest.raises(RecordingKeyError):
            parse_recording_key(bad)


# --- webhooks -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp(f"whereby-{request.param}")
    options = {
        "whereby_webhook_secret": WEBHOOK_SECRET,
        "whereby_api_key": "api-key",
        "live_preload": False,  # no live models: nothing here streams
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        with running_on(request.param, data_dir, **options) as client:
            yield client


def _add_meeting(client: Any, room_url: str | None = None) -> tuple[str, dict[str, Any]]:
    """A Whereby room and meeting in the database; returns the meeting's id and the meeting as
    Whereby described it."""
    state = client.app.state.reflector
    suffix = str(int(time.time() * 1e6))
    whereby_meeting = {
        "meetingId": f"m{suffix}",
        "roomName": f"/standup-{suffix}",
        "roomUrl": room_url or f"http://127.0.0.1:9/standup-{suffix}",
    }

    async def add() -> str:
        async with state.sessions() as session:
            room = RoomRow(name=f"standup-{suffix}", user_id=repository.LOCAL_USER_ID)
            room.platform = "whereby"
            session.add(room)
            await session.flush()
            meeting = MeetingRow(
                room_id=room.id,
                platform="whereby",
                platform_meeting_id=whereby_meeting["meetingId"],
                room_url=whereby_meeting["roomUrl"],
                host_room_url=whereby_meeting["roomUrl"] + "?roomKey=k",
                end_date=datetime.now(UTC) + timedelta(hours=1),
            )
            session.add(meeting)
            await session.commit()
            return meeting.id

    return client.portal.call(add), whereby_meeting


def _meeting_state(client: Any, meeting_id: str) -> tuple[int, list[MeetingParticipantRow]]:
    state = client.app.state.reflector

    async def read() -> tuple[int, list[MeetingParticipantRow]]:
        async with state.sessions() as session:
            meeting = await session.get(MeetingRow, meeting_id)
            rows = await session.scalars(
                select(MeetingParticipantRow).where(MeetingParticipantRow.meeting_id == meeting_id)
            )
            return meeting.num_clients, list(rows)

    return client.portal.call(read)


def _post(client: Any, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/v1/whereby/webhook", content=body, headers=headers)


def test_joins_and_leaves_update_participants_and_the_head_count(server: Any) -> None:
    from reflector.platforms.whereby import external_id

    meeting_id, meeting = _add_meeting(server)
    ana = client_event(
        "room.client.joined",
        meeting,
        "p-ana",
        display_name="Ana",
        external_id=external_id("user-ana", "api-key"),
        num_clients=1,
    )
    ben = client_event("room.client.joined", meeting, "p-ben", display_name="Ben", num_clients=2)
    for event in (ana, ben, ben):  # Whereby may send an event twice
        answer = _post(server, *signed(WEBHOOK_SECRET, event))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"type": "room.client.joined", "handled": True}
    count, people = _meeting_state(server, meeting_id)
    assert count == 2
    assert sorted((p.participant_id, p.name, p.user_id) for p in people) == [
        ("p-ana", "Ana", "user-ana"),
        ("p-ben", "Ben", None),
    ]

    left = client_event("room.client.left", meeting, "p-ben", display_name="Ben", num_clients=1)
    assert _post(server, *signed(WEBHOOK_SECRET, left)).json()["handled"] is True
    count, people = _meeting_state(server, meeting_id)
    assert count == 1
    assert {p.participant_id: p.left_at is not None for p in people} == {
        "p-ana": False,
        "p-ben": True,
    }


def test_a_guest_cannot_pass_for_a_user_by_editing_the_room_url(server: Any) -> None:
    meeting_id, meeting = _add_meeting(server)
    forged = client_event(
        "room.client.joined", meeting, "p-eve", display_name="Eve", external_id="user-ana.00"
    )
    assert _post(server, *signed(WEBHOOK_SECRET, forged)).status_code == 200
    _, people = _meeting_state(server, meeting_id)
    assert [(p.participant_id, p.user_id) for p in people] == [("p-eve", None)]


def test_a_tampered_body_is_refused(server: Any) -> None:
    meeting_id, meeting = _add_meeting(server)
    body, headers = signed(WEBHOOK_SECRET, client_event("room.client.joined", meeting, "p-1"))
    tampered = body.replace(b'"numClients": 1', b'"numClients": 9')
    assert tampered != body
    problem(_post(server, tampered, headers), 401, "bad-webhook-signature")
    problem(
        _post(server, *signed("another-secret", json.loads(body))), 401, "bad-webhook-signature"
    )
    assert _meeting_state(server, meeting_id) == (0, [])


def test_an_old_or_future_signature_is_refused(server: Any) -> None:
    _, meeting = _add_meeting(server)
    event = client_event("room.client.joined", meeting, "p-1")
    for moment in (time.time() - 3600, time.time() + 3600):
        answer = _post(server, *signed(WEBHOOK_SECRET, event, timestamp=int(moment)))
        assert (
            "outside the accepted window" in problem(answer, 401, "bad-webhook-signature")["detail"]
        )


def test_a_missing_or_garbled_signature_is_refused(server: Any) -> None:
    _, meeting = _add_meeting(server)
    body, _ = signed(WEBHOOK_SECRET, client_event("room.client.joined", meeting, "p-1"))
    answer = _post(server, body, {"Content-Type": "application/json"})
    assert "header is missing" in problem(answer, 401, "bad-webhook-signature")["detail"]
    for garbled in ("v1=abc", "t=soon,v1=abc", f"t={int(time.time())}"):
        answer = _post(server, body, {"Whereby-Signature": garbled})
        problem(answer, 401, "bad-webhook-signature")


def test_a_signed_body_that_is_not_an_event_is_a_clear_400(server: Any) -> None:
    for body in (b"{not json", b"[1, 2]", b'{"type": "room.client.joined", "data": {}}'):
        answer = _post(server, *signed(WEBHOOK_SECRET, body))
        problem(answer, 400, "bad-webhook-payload")


def test_other_events_and_unknown_meetings_are_acknowledged(server: Any) -> None:
    _, meeting = _add_meeting(server)
    started = {"type": "room.session.started", "data": {"meetingId": meeting["meetingId"]}}
    answer = _post(server, *signed(WEBHOOK_SECRET, started))
    assert answer.json() == {"type": "room.session.started", "handled": False}
    stranger = client_event("room.client.joined", {**meeting, "meetingId": "elsewhere"}, "p-1")
    assert _post(server, *signed(WEBHOOK_SECRET, stranger)).json()["handled"] is False


def test_webhooks_are_refused_when_no_secret_is_set(tmp_path: Path) -> None:
    with running_client(server_settings(tmp_path, None, live_preload=False)) as client:
        answer = _post(client, *signed(WEBHOOK_SECRET, {"type": "room.session.started"}))
        assert "WEBHOOK_SECRET" in problem(answer, 401, "bad-webhook-signature")["detail"]


def test_the_platform_checks_webhooks_as_the_route_does() -> None:
    body, headers = signed(WEBHOOK_SECRET, {"type": "room.session.started"})
    config = WherebyConfig(api_url="http://127.0.0.1:9", api_key="k")
    with pytest.raises(WebhookSignatureError, match="REFLECTOR_WHEREBY_WEBHOOK_SECRET"):
        WherebyPlatform(config).verify_webhook(body, headers)
    checked = WherebyPlatform(dataclasses.replace(config, webhook_secret=WEBHOOK_SECRET))
    checked.verify_webhook(body, {name.upper(): value for name, value in headers.items()})
    with pytest.raises(WebhookSignatureError, match="does not match"):
        checked.verify_webhook(body + b" ", headers)


# --- S3 notifications -----------------------------------------------------------------------


def test_s3_notifications_give_the_decoded_keys_of_created_objects() -> None:
    key = "standup-0d9f-2025-05-07T17:42:49Z.mp4"
    (created,) = parse_notification(object_created_event("rec", key, 1234))
    assert (created.bucket, created.key, created.size) == ("rec", key, 1234)
    assert "%3A" in object_created_event("rec", key, 1)  # S3 sends it encoded
    spaced = json.loads(object_created_event("rec", "a b.mp4", 1))
    assert spaced["Records"][0]["s3"]["object"]["key"] == "a+b.mp4"
    assert parse_notification(json.dumps(spaced))[0].key == "a b.mp4"
    wrapped = json.dumps({"Type": "Notification", "Message": object_created_event("rec", key, 1)})
    assert parse_notification(wrapped)[0].key == key
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "rec"}
    assert parse_notification(json.dumps(test_event)) == []
    removed = json.loads(object_created_event("rec", key, 1))
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert parse_notification(json.dumps(removed)) == []


def test_messages_that_are_not_s3_notifications_are_malformed() -> None:
    for body in ("", "not json", "[]", "{}", '{"Records": [1]}', '{"Records": [{"x": 1}]}'):
        with pytest.raises(MalformedNotification):
            parse_notification(body)
    nameless = json.loads(object_created_event("rec", "k.mp4", 1))
    del nameless["Records"][0]["s3"]["object"]["key"]
    with pytest.raises(MalformedNotification, match="object key"):
        parse_notification(json.dumps(nameless))


# --- recordings from the bucket's notifications (moto's SQS, SeaweedFS) ---------------------


@pytest.fixture(scope="module")
def sqs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqsServer]:
    try:
        with running_sqs(tmp_path_factory.mktemp("moto")) as server:
            yield server
    except SqsUnavailable as exc:
        pytest.fail(str(exc))


class ForgetfulQueue(SqsQueue):
    """A reader that stops right after recording a message, before deleting it."""

    async def delete(self, message: QueueMessage) -> None:
        raise PlatformError("the reader stopped before deleting the message")


@dataclass
class Recorder:
    """A server with Whereby set up, the fake Whereby, its bucket and its queue."""

    client: TestClient
    whereby: FakeWhereby
    bucket: SeaweedS3
    sqs: SqsServer
    queue_url: str
    audio: Path
    run_job: Callable[[str], Awaitable[None]]
    """The server's own job submission (jobs are only noted in ``submitted`` otherwise)."""
    submitted: list[str] = field(default_factory=list)

    def open_meeting(self) -> dict[str, Any]:
        name = f"standup-{uuid.uuid4().hex[:8]}"
        room = self.client.post("/v1/rooms", json={"name": name, "platform": "whereby"})
        assert room.status_code == 201, room.text
        opened = self.client.post(f"/v1/rooms/{name}/meeting")
        assert opened.status_code == 200, opened.text
        return opened.json()["meeting"]

    def record(
        self, meeting: dict[str, Any], *, upload: bool = True, audio: Path | None = None
    ) -> str:
        """What Whereby's recorder does at the end of a meeting: the file, then (from the
        bucket) its notification."""
        key = recording_key(room_name_of(meeting["room_url"]), datetime.now(UTC))
        if upload:
            self.upload(key, audio)
        self.notify(object_created_event(self.bucket.bucket, key, self.audio.stat().st_size))
        return key

    def upload(self, key: str, audio: Path | None = None) -> None:
        self.bucket.client().upload_file(str(audio or self.audio), self.bucket.bucket, key)

    def notify(self, body: str) -> None:
        self.sqs.client().send_message(QueueUrl=self.queue_url, MessageBody=body)

    def queued(self) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        answer = self.sqs.client().get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=names
        )
        return sum(int(answer["Attributes"][name]) for name in names)

    def deps(self) -> Any:
        from reflector.api.meetings.events import recording_deps

        return recording_deps(self.client.app.state.reflector)

    def poll(self, queue: SqsQueue | None = None, max_messages: int = 100) -> PollReport:
        return self.client.portal.call(
            lambda: poll_whereby_queue(self.deps(), queue, max_messages=max_messages)
        )

    def retry(self) -> list[str]:
        return self.client.portal.call(lambda: retry_failed_recordings(self.deps()))

    def rows(self, meeting_id: str) -> tuple[list[RecordingRow], list[TranscriptRow]]:
        state = self.client.app.state.reflector

        async def read() -> tuple[list[RecordingRow], list[TranscriptRow]]:
            async with state.sessions() as session:
                recordings = await session.scalars(
                    select(RecordingRow).where(RecordingRow.meeting_id == meeting_id)
                )
                transcripts = await session.scalars(
                    select(TranscriptRow).where(TranscriptRow.meeting_id == meeting_id)
                )
                return list(recordings), list(transcripts)

        return self.client.portal.call(read)

    def change(self, recording_id: str, **values: Any) -> None:
        state = self.client.app.state.reflector

        async def write() -> None:
            async with state.sessions() as session:
                await session.execute(
                    update(RecordingRow).where(RecordingRow.id == recording_id).values(**values)
                )
                await session.commit()

        self.client.portal.call(write)


def _recorder_settings(
    data_dir: Path,
    url: str | None,
    whereby: FakeWhereby,
    seaweed: SeaweedS3,
    sqs: SqsServer,
    queue_url: str,
    **overrides: Any,
) -> Any:
    return server_settings(
        data_dir,
        url,
        whereby_api_key=whereby.api_key,
        whereby_api_url=whereby.api_url,
        whereby_webhook_secret=WEBHOOK_SECRET,
        whereby_recordings_bucket=seaweed.bucket,
        whereby_recordings_endpoint_url=seaweed.endpoint_url,
        whereby_recordings_region="us-east-1",
        whereby_recordings_access_key=seaweed.access_key,
        whereby_recordings_secret_key=seaweed.secret_key,
        whereby_upload_access_key=UPLOAD_KEY,
        whereby_upload_secret_key=UPLOAD_SECRET,
        whereby_sqs_queue_url=queue_url,
        whereby_sqs_endpoint_url=sqs.endpoint_url,
        whereby_sqs_region="us-east-1",
        diarization_backend="off",
        live_preload=False,
        recording_retry_seconds=60.0,
        recording_max_attempts=3,
        **overrides,
    )


@pytest.fixture(scope="module")
def recorder(
    whereby: FakeWhereby,
    seaweed: SeaweedS3,
    sqs: SqsServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Recorder]:
    data_dir = tmp_path_factory.mktemp("whereby-recorder")
    tone = np.sin(np.arange(2 * 16000) * 2 * np.pi * 440 / 16000).astype(np.float32) * 0.1
    audio = mp4_recording(
        write_audio_file(tone, data_dir / "tone.wav", 16000, "wav"), data_dir / "recording.mp4"
    )
    queue_url = sqs.new_queue(visibility_timeout=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        # The server's own sweep stays out of the way: each test reads the queue itself.
        with (
            postgres_database() as url,
            running_client(
                _recorder_settings(
                    data_dir, url, whereby, seaweed, sqs, queue_url, job_sweep_seconds=3600.0
                )
            ) as client,
        ):
            state = client.app.state.reflector
            recorder = Recorder(client, whereby, seaweed, sqs, queue_url, audio, state.submit_job)

            async def note(job_id: str) -> None:
                recorder.submitted.append(job_id)

            state.submit_job = note  # jobs are run only where a test asks for it
            yield recorder


@pytest.mark.slow
def test_a_recording_becomes_one_transcript_even_when_notified_twice(
    recorder: Recorder, piper_clip: Any, tmp_path: Path
) -> None:
    meeting = recorder.open_meeting()
    sent = recorder.whereby.meetings[_platform_id(recorder, meeting)]["request"]
    assert sent["recording"]["destination"]["bucket"] == recorder.bucket.bucket
    speech = mp4_recording(piper_clip.path, tmp_path / "speech.mp4")
    key = recorder.record(meeting, audio=speech)
    # S3 may send the same notification twice.
    recorder.notify(
        object_created_event(recorder.bucket.bucket, key, recorder.audio.stat().st_size)
    )

    jobs_before = len(recorder.submitted)
    report = recorder.poll()
    assert (len(report.recorded), report.duplicates, len(report.transcripts)) == (1, 1, 1)
    assert recorder.queued() == 0 and len(recorder.submitted) == jobs_before + 1

    (recording,), (transcript,) = recorder.rows(meeting["id"])
    assert recording.status == "done" and recording.transcript_id == transcript.id
    assert recording.attempts == 1 and recording.kind == "file"
    assert transcript.source == "room" and transcript.room_id == meeting["room_id"]
    assert transcript.user_id == repository.LOCAL_USER_ID
    recorder.client.portal.call(lambda: recorder.run_job(recorder.submitted[-1]))
    ended = wait_for_status(recorder.client, transcript.id, {"ended", "error"}, timeout=300)
    assert ended["status"] == "ended", ended
    assert ended["duration"] == pytest.approx(piper_clip.duration, abs=0.5)


def test_a_message_that_comes_back_is_not_processed_again(recorder: Recorder) -> None:
    meeting = recorder.open_meeting()
    recorder.record(meeting)
    stopped = ForgetfulQueue(SqsConfig.from_settings(recorder.client.app.state.reflector.settings))
    first = recorder.poll(stopped, max_messages=1)
    assert (len(first.recorded), first.failed, len(first.transcripts)) == (1, 1, 1)
    assert recorder.queued() == 1  # not deleted: SQS hands it out again

    again = _poll_until_a_message(recorder)
    assert (again.recorded, again.duplicates, again.transcripts) == ([], 1, [])
    assert recorder.queued() == 0
    recordings, transcripts = recorder.rows(meeting["id"])
    assert len(recordings) == 1 and len(transcripts) == 1


def test_messages_that_are_not_notifications_are_dropped_not_retried(recorder: Recorder) -> None:
    for body in ("not json", '{"Records": "none"}', '{"Records": [{"eventName": 1}]}'):
        recorder.notify(body)
    recorder.notify(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}))
    recorder.notify(object_created_event(recorder.bucket.bucket, "notes/readme.txt", 10))
    recorder.notify(object_created_event("another-bucket", "room-2025-01-01T00:00:00Z.mp4", 10))
    report = recorder.poll()
    assert (report.messages, report.malformed, report.skipped) == (6, 3, 2)
    assert report.recorded == [] and recorder.queued() == 0


def test_a_recording_of_an_unknown_room_is_kept_as_ignored(recorder: Recorder) -> None:
    ghost = {"room_url": f"{recorder.whereby.base_url}/ghost-{uuid.uuid4()}"}
    recorder.record(ghost)
    report = recorder.poll()
    assert len(report.recorded) == 1 and report.transcripts == []
    state = recorder.client.app.state.reflector

    async def status() -> tuple[str, str | None]:
        async with state.sessions() as session:
            row = await session.get(RecordingRow, report.recorded[0])
            return row.status, row.meeting_id

    assert recorder.client.portal.call(status) == ("ignored", None)


def test_a_failed_recording_is_tried_again_later_a_limited_number_of_times(
    recorder: Recorder,
) -> None:
    meeting = recorder.open_meeting()
    key = recorder.record(meeting, upload=False)  # announced, but not readable yet
    report = recorder.poll()
    assert len(report.recorded) == 1 and report.transcripts == []
    (recording,), _ = recorder.rows(meeting["id"])
    assert recording.status == "error" and recording.attempts == 1 and recording.error

    recorder.upload(key)
    assert recorder.retry() == []  # not due yet: it waits recording_retry_seconds
    recorder.change(recording.id, updated_at=datetime.now(UTC) - timedelta(minutes=2))
    (made,) = recorder.retry()
    (recording,), (transcript,) = recorder.rows(meeting["id"])
    assert (recording.status, recording.attempts, recording.transcript_id) == ("done", 2, made)
    assert transcript.id == made

    exhausted = recorder.open_meeting()
    recorder.record(exhausted, upload=False)
    recorder.poll()
    (failed,), _ = recorder.rows(exhausted["id"])
    recorder.change(failed.id, attempts=3, updated_at=datetime.now(UTC) - timedelta(days=1))
    assert recorder.retry() == []
    (failed,), transcripts = recorder.rows(exhausted["id"])
    assert failed.status == "error" and transcripts == []


def test_the_server_reads_the_queue_by_itself(
    whereby: FakeWhereby, seaweed: SeaweedS3, sqs: SqsServer, tmp_path: Path
) -> None:
    queue_url = sqs.new_queue()
    settings = _recorder_settings(
        tmp_path, None, whereby, seaweed, sqs, queue_url, job_sweep_seconds=1.0
    )
    key = recording_key(f"/ghost-{uuid.uuid4()}", datetime.now(UTC))
    sqs.client().send_message(
        QueueUrl=queue_url, MessageBody=object_created_event(seaweed.bucket, key, 10)
    )
    with running_client(settings) as client:
        state = client.app.state.reflector

        async def found() -> RecordingRow | None:
            async with state.sessions() as session:
                return await session.scalar(
                    select(RecordingRow).where(RecordingRow.platform_recording_id == key)
                )

        deadline = time.monotonic() + 60
        while (row := client.portal.call(found)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    assert row is not None and row.status == "ignored"


def _poll_until_a_message(recorder: Recorder, seconds: float = 60.0) -> PollReport:
    """Poll until a message arrives (one in flight comes back after its visibility timeout)."""
    deadline = time.monotonic() + seconds
    report = recorder.poll()
    while report.messages == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        report = recorder.poll()
    return report


def _platform_id(recorder: Recorder, meeting: dict[str, Any]) -> str:
    state = recorder.client.app.state.reflector

    async def read() -> str:
        async with state.sessions() as session:
            row = await session.get(MeetingRow, meeting["id"])
            return row.platform_meeting_id

    return recorder.client.portal.call(read)


def test_an_unreachable_queue_is_logged_and_read_again_next_time(recorder: Recorder) -> None:
    from reflector.jobs.recording_chores import read_whereby_queue
    from reflector_testkit.ports import free_port

    deps = recorder.deps()
    dead = deps.settings.model_copy(
        update={"whereby_sqs_endpoint_url": f"http://127.0.0.1:{free_port()}"}
    )
    away = dataclasses.replace(deps, settings=dead)
    with pytest.raises(PlatformError, match="SQS queue"):
        recorder.client.portal.call(lambda: poll_whereby_queue(away))
    # The periodic chore logs it and carries on (the next round tries again).
    assert recorder.client.portal.call(lambda: read_whereby_queue(away)) == 0


def test_beat_reads_the_queue_only_when_one_is_configured(tmp_path: Path) -> None:
    from reflector.jobs.celery_app import make_celery

    plain = make_celery(server_settings(tmp_path, None)).conf.beat_schedule
    assert "read-whereby-queue" not in plain
    assert plain["retry-failed-recordings"]["task"] == "reflector.retry_recordings"
    queue = "http://127.0.0.1:9/000000000000/recordings"
    settings = server_settings(tmp_path, None, whereby_sqs_queue_url=queue)
    schedule = make_celery(settings).conf.beat_schedule
    assert schedule["read-whereby-queue"]["task"] == "reflector.read_whereby_queue"
    assert schedule["read-whereby-queue"]["schedule"] == settings.whereby_sqs_poll_seconds
