"""Meeting consent: participants (signed in, or guests with a browser-kept id) answer whether
the meeting's audio may be kept; once the meeting is transcribed, one "no" deletes every copy
of the audio (MP3, upload or tracks, and Daily's originals) unless the room keeps audio
regardless, while the text stays and the API says so (``audio_deleted``, 410 for the audio)."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from reflector.db.tables import TranscriptRow
from reflector.pipelines.consent import apply_consent
from reflector_testkit import daily as fake
from reflector_testkit.accounts import bearer, new_account
from reflector_testkit.daily import new_secret, signed_headers
from reflector_testkit.problems import problem
from reflector_testkit.seaweed import SeaweedS3
from reflector_testkit.servers import running_client, server_settings, wait_for_status

SECRET = new_secret()


def _settings(data_dir, daily, seaweed: SeaweedS3, **more):
    return server_settings(
        data_dir,
        None,
        live_preload=False,
        **daily.settings(SECRET, recordings=seaweed),
        **more,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory, daily, seaweed):
    settings = _settings(tmp_path_factory.mktemp("consent"), daily, seaweed, auth_mode="multi-user")
    with running_client(settings) as client:
        yield client


def _meeting(server, headers, **room) -> dict:
    name = f"consent-{uuid.uuid4().hex[:10]}"
    made = server.post("/v1/rooms", json={"name": name, **room}, headers=headers)
    assert made.status_code == 201, made.text
    return server.post(f"/v1/rooms/{name}/meeting", headers=headers).json()["meeting"]


def test_participants_answer_and_change_their_answer(server):
    owner = bearer(new_account(server, "host")[1])
    meeting = _meeting(server, owner)
    path = f"/v1/meetings/{meeting['id']}/consent"
    assert server.get(path, headers=owner).json() == {
        "meeting_id": meeting["id"], "participant_key": None, "consent_given": None,
        "audio_kept": True,
    }  # fmt: skip
    yes = server.post(path, json={"consent_given": True}, headers=owner)
    assert yes.status_code == 200 and yes.json()["consent_given"] is True

    guest = secrets.token_urlsafe(24)
    no = server.post(path, json={"consent_given": False, "participant_key": guest})
    assert no.status_code == 200, no.text
    assert no.json() == {
        "meeting_id": meeting["id"], "participant_key": guest, "consent_given": False,
        "audio_kept": False,
    }  # fmt: skip
    assert server.get(path, params={"participant_key": guest}).json()["consent_given"] is False
    # The guest changes their mind: one answer per participant.
    assert server.post(path, json={"consent_given": True, "participant_key": guest}).json()[
        "audio_kept"
    ]
    assert server.get(path, headers=owner).json()["consent_given"] is True


def test_bad_consent_requests_are_refused(server):
    owner = bearer(new_account(server, "host2")[1])
    meeting = _meeting(server, owner)
    path = f"/v1/meetings/{meeting['id']}/consent"
    problem(server.post(path, json={"consent_given": False}), 422, "participant-key-required")
    short = server.post(path, json={"consent_given": False, "participant_key": "abc"})
    problem(short, 422, "validation-error")
    odd = server.post(path, json={"consent_given": False, "participant_key": "x" * 20 + "/.."})
    problem(odd, 422, "validation-error")
    problem(server.post(path, json={"consent_given": "maybe"}, headers=owner), 422,
             "validation-error")  # fmt: skip
    malformed = server.post(
        path, content=b"{", headers={**owner, "content-type": "application/json"}
    )
    problem(malformed, 422, "malformed-json")
    unknown = server.post("/v1/meetings/nope/consent", json={"consent_given": True}, headers=owner)
    problem(unknown, 404, "not-found")
    problem(server.get("/v1/meetings/nope/consent", headers=owner), 404, "not-found")


def _transcript_with_audio(server, user_id: str, meeting: dict, *, tracks: bool) -> str:
    """A finished transcript of the meeting with its audio in the blob store."""
    state = server.app.state.reflector

    async def make() -> str:
        async with state.sessions() as session:
            row = TranscriptRow(
                user_id=user_id, name="meeting", source="room", status="ended",
                room_id=meeting["room_id"], meeting_id=meeting["id"],
            )  # fmt: skip
            session.add(row)
            await session.flush()
            prefix = f"transcripts/{row.id}"
            await state.blobs.put_bytes(f"{prefix}/audio.mp3", b"mp3")
            row.audio_key = f"{prefix}/audio.mp3"
            if tracks:
                row.tracks = []
                for n in range(2):
                    await state.blobs.put_bytes(f"{prefix}/tracks/{n}.webm", b"webm")
                    row.tracks.append({"key": f"{prefix}/tracks/{n}.webm", "name": f"P{n}",
                                       "user_id": None, "participant_id": None})  # fmt: skip
            else:
                await state.blobs.put_bytes(f"{prefix}/upload.mp4", b"mp4")
                row.upload_key = f"{prefix}/upload.mp4"
            await session.commit()
            return row.id

    return server.portal.call(make)


def _consent(server, meeting_id: str, given: bool) -> None:
    body = {"consent_given": given, "participant_key": secrets.token_urlsafe(20)}
    assert server.post(f"/v1/meetings/{meeting_id}/consent", json=body).status_code == 200


def _apply(server, transcript_id: str) -> bool:
    state = server.app.state.reflector
    return server.portal.call(
        apply_consent, state.sessions, state.blobs, state.settings, transcript_id
    )


@pytest.mark.parametrize("tracks", [True, False])
def test_a_declined_meeting_loses_its_audio_and_keeps_its_text(server, tracks):
    user_id, key = new_account(server, "keeper")
    owner = bearer(key)
    meeting = _meeting(server, owner)
    transcript_id = _transcript_with_audio(server, user_id, meeting, tracks=tracks)
    _consent(server, meeting["id"], True)
    assert _apply(server, transcript_id) is False  # everybody agreed so far
    _consent(server, meeting["id"], False)
    assert _apply(server, transcript_id) is True

    blobs = server.app.state.reflector.blobs
    for name in ("audio.mp3", "upload.mp4", "tracks/0.webm", "tracks/1.webm"):
        assert server.portal.call(blobs.stat, f"transcripts/{transcript_id}/{name}") is None
    body = server.get(f"/v1/transcripts/{transcript_id}", headers=owner).json()
    assert body["audio_deleted"] is True and body["has_audio"] is False
    assert body["meeting_id"] == meeting["id"]
    problem(server.get(f"/v1/transcripts/{transcript_id}/audio.mp3", headers=owner), 410,
             "audio-deleted")  # fmt: skip
    problem(server.post(f"/v1/transcripts/{transcript_id}/audio/link", headers=owner), 410,
             "audio-deleted")  # fmt: skip
    problem(server.post(f"/v1/transcripts/{transcript_id}/process", headers=owner), 410,
             "audio-deleted")  # fmt: skip
    assert _apply(server, transcript_id) is False  # once


def test_a_room_that_skips_consent_keeps_the_audio(server):
    user_id, key = new_account(server, "skipper")
    meeting = _meeting(server, bearer(key), skip_consent=True)
    transcript_id = _transcript_with_audio(server, user_id, meeting, tracks=False)
    _consent(server, meeting["id"], False)
    assert _apply(server, transcript_id) is False
    body = server.get(f"/v1/transcripts/{transcript_id}", headers=bearer(key)).json()
    assert body["audio_deleted"] is False and body["has_audio"] is True


def test_a_recorded_meeting_with_a_refusal_ends_transcribed_without_audio(
    tmp_path, daily, seaweed, piper_clip
):
    """The whole way: Daily's cloud recording (a real spoken clip in its bucket) is ingested,
    transcribed by the file pipeline, and its last stage deletes the audio everywhere, Daily's
    copy included, before the transcript is announced as ended."""
    settings = _settings(tmp_path, daily, seaweed, llm_backend="extractive",
                         diarization_backend="off")  # fmt: skip
    with running_client(settings) as client:
        assert client.post("/v1/rooms", json={"name": "refused"}).status_code == 201
        meeting = client.post("/v1/rooms/refused/meeting").json()["meeting"]
        room = urlsplit(meeting["room_url"]).path.strip("/")
        _consent(client, meeting["id"], False)
        key = f"{fake.DAILY_DOMAIN}/{room}/1692124183028"
        seaweed.client().put_object(
            Bucket=seaweed.bucket, Key=key, Body=piper_clip.path.read_bytes()
        )
        body = fake.recording_ready(room, str(uuid.uuid4()), s3_key=key)
        answer = client.post("/v1/daily/webhook", content=body,
                             headers=signed_headers(SECRET, body))  # fmt: skip
        assert answer.status_code == 200, answer.text

        async def made() -> str:
            async with client.app.state.reflector.sessions() as session:
                return await session.scalar(
                    select(TranscriptRow.id).where(TranscriptRow.meeting_id == meeting["id"])
                )

        transcript_id = client.portal.call(made)
        ended = wait_for_status(client, transcript_id, {"ended", "error"}, timeout=300)
        assert ended["status"] == "ended", ended
        assert ended["audio_deleted"] is True and ended["has_audio"] is False
        segments = client.get(f"/v1/transcripts/{transcript_id}/segments").json()
        assert segments and "".join(s["text"] for s in segments).strip()
        problem(client.get(f"/v1/transcripts/{transcript_id}/audio.mp3"), 410, "audio-deleted")
        blobs = client.app.state.reflector.blobs
        left = client.portal.call(blobs.stat, f"transcripts/{transcript_id}/upload.mp4")
        assert left is None
        listed = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix=key)
        assert listed.get("KeyCount", 0) == 0  # Daily's own copy is gone too
