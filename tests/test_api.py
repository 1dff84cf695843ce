"""The ``/v1`` API as clients use it, on SQLite (embedded) and on PostgreSQL.

A real server app runs per database with the in-process job runner and real models (tiny.en,
CAM++, extractive summaries), so an upload goes all the way to an ``ended`` transcript.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from reflector.db import repository
from reflector_testkit.servers import (
    postgres_database,
    running_client,
    server_settings,
    wait_for_status,
)

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")  # summaries without loading a model
    data_dir = tmp_path_factory.mktemp(f"server-{request.param}")
    try:
        if request.param == "sqlite":
            with running_client(server_settings(data_dir, None)) as client:
                yield client
        else:
            with (
                postgres_database() as url,
                running_client(server_settings(data_dir, url)) as client,
            ):
                yield client
    finally:
        mp.undo()


def _create(client, **body) -> dict:
    response = client.post("/v1/transcripts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _upload_in_chunks(client, transcript_id: str, path: Path, chunk: int = 64 * 1024, **query):
    data = path.read_bytes()
    opened = client.post(
        f"/v1/transcripts/{transcript_id}/uploads", json={"filename": path.name, "size": len(data)}
    )
    assert opened.status_code == 201, opened.text
    upload = opened.json()
    for offset in range(0, len(data), chunk):
        response = client.put(
            f"/v1/transcripts/{transcript_id}/uploads/{upload['id']}",
            params={"offset": offset},
            content=data[offset : offset + chunk],
        )
        assert response.status_code == 200, response.text
    return client.post(
        f"/v1/transcripts/{transcript_id}/uploads/{upload['id']}/complete", params=query
    )


@pytest.fixture(scope="module")
def processed(server, piper_clip) -> dict:
    """One transcript uploaded in chunks and processed to the end, with a summary."""
    created = _create(server, name="Weekly planning")
    response = _upload_in_chunks(server, created["id"], piper_clip.path, summarize="true")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processing"
    return wait_for_status(server, created["id"], {"ended", "error"})


def _assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status and body["detail"]
    return body


# --- transcripts -------------------------------------------------------------------------------


def test_create_read_patch_delete_restore_destroy(server):
    created = _create(server, name="Board call", source_language="en")
    assert created["status"] == "idle" and created["duration"] == 0.0
    tid = created["id"]
    patched = server.patch(f"/v1/transcripts/{tid}", json={"title": "Budget", "reviewed": True})
    assert patched.status_code == 200 and patched.json()["title"] == "Budget"
    assert server.get(f"/v1/transcripts/{tid}").json()["reviewed"] is True

    assert server.patch(f"/v1/transcripts/{tid}", json={"locked": True}).status_code == 200
    _assert_problem(server.patch(f"/v1/transcripts/{tid}", json={"name": "x"}), 423, "locked")
    _assert_problem(server.delete(f"/v1/transcripts/{tid}"), 423, "locked")
    server.patch(f"/v1/transcripts/{tid}", json={"locked": False})

    assert server.delete(f"/v1/transcripts/{tid}").status_code == 204
    _assert_problem(server.get(f"/v1/transcripts/{tid}"), 404, "not-found")
    trash = server.get("/v1/transcripts", params={"deleted": "true"}).json()
    assert tid in [t["id"] for t in trash["items"]]
    assert server.post(f"/v1/transcripts/{tid}/restore").json()["deleted_at"] is None
    assert server.delete(f"/v1/transcripts/{tid}", params={"permanent": "true"}).status_code == 204
    _assert_problem(server.post(f"/v1/transcripts/{tid}/restore"), 404, "not-found")


def test_list_is_paginated_filtered_and_sorted(server):
    names = [f"sorted-{i}" for i in range(5)]
    ids = [
        _create(server, name=name, source="live" if i % 2 else "file")["id"]
        for i, name in enumerate(names)
    ]
    page = server.get("/v1/transcripts", params={"size": 2, "page": 1}).json()
    assert page["size"] == 2 and len(page["items"]) == 2 and page["total"] >= 5
    assert page["pages"] == -(-page["total"] // 2)
    seen = []
    for number in range(1, page["pages"] + 1):
        items = server.get("/v1/transcripts", params={"size": 2, "page": number}).json()["items"]
        seen += [t["id"] for t in items]
    assert len(seen) == len(set(seen)) == page["total"]  # no row twice, none skipped
    everything = server.get("/v1/transcripts", params={"size": 200}).json()["items"]
    newest_first = [t["id"] for t in everything]
    assert newest_first.index(ids[-1]) < newest_first.index(ids[0])
    live = server.get("/v1/transcripts", params={"source": "live", "size": 200}).json()["items"]
    assert {t["id"] for t in live} >= {ids[1], ids[3]} and ids[0] not in {t["id"] for t in live}
    _assert_problem(server.get("/v1/transcripts", params={"status": "bogus"}), 422,
                    "validation-error")  # fmt: skip
    _assert_problem(server.get("/v1/transcripts", params={"size": 0}), 422, "validation-error")


# --- processing and results --------------------------------------------------------------------


def test_uploaded_recording_is_processed_to_a_summarised_transcript(server, processed, piper_clip):
    assert processed["status"] == "ended", processed
    assert processed["duration"] == pytest.approx(piper_clip.duration, abs=0.05)
    assert processed["has_audio"] and processed["title"] and processed["short_summary"]
    segments = server.get(f"/v1/transcripts/{processed['id']}/segments").json()
    text = " ".join(s["text"] for s in segments).lower()
    assert "billing service" in text and "security checklist" in text
    assert all(s["words"] and s["speaker"] == 0 for s in segments)
    topics = server.get(f"/v1/transcripts/{processed['id']}/topics").json()
    assert topics and topics[0]["words"] and list(topics[0]["words_per_speaker"]) == ["0"]
    waveform = server.get(f"/v1/transcripts/{processed['id']}/waveform").json()
    assert len(waveform["peaks"]) == 255 and max(waveform["peaks"]) == 1.0


def test_events_are_replayed_in_order_over_the_websocket(server, processed):
    with server.websocket_connect(f"/v1/transcripts/{processed['id']}/events") as socket:
        events = [socket.receive_json()]
        while events[-1] != {**events[-1], "type": "STATUS", "data": {"value": "ended"}}:
            events.append(socket.receive_json())
    types = [e["type"] for e in events]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)
    for expected in ("DURATION", "WAVEFORM", "TRANSCRIPT", "SEGMENTS", "TOPIC", "FINAL_TITLE",
                     "FINAL_SHORT_SUMMARY", "FINAL_LONG_SUMMARY", "ACTION_ITEMS"):  # fmt: skip
        assert expected in types
    assert types.index("TRANSCRIPT") < types.index("SEGMENTS") < types.index("FINAL_TITLE")
    assert [e["data"]["value"] for e in events if e["type"] == "STATUS"][-1] == "ended"


def test_stored_events_over_http_are_the_websocket_replay(server, processed):
    stored = server.get(f"/v1/transcripts/{processed['id']}/events")
    assert stored.status_code == 200, stored.text
    events = stored.json()
    assert {"type": "STATUS", "data": {"value": "ended"}} in [
        {"type": e["type"], "data": e["data"]} for e in events
    ]
    with server.websocket_connect(f"/v1/transcripts/{processed['id']}/events") as socket:
        assert [socket.receive_json() for _ in events] == events
    _assert_problem(server.get("/v1/transcripts/nope/events"), 404, "not-found")


def test_exports_in_every_format_and_a_zip(server, processed):
    base = f"/v1/transcripts/{processed['id']}/export"
    vtt = server.get(base, params={"format": "vtt"})
    assert vtt.headers["content-type"].startswith("text/vtt") and vtt.text.startswith("WEBVTT")
    assert "NOTE" in vtt.text and "<v Speaker 1>" in vtt.text
    assert json.loads(server.get(base, params={"format": "json"}).text)["summary"]["title"]
    bundle = zipfile.ZipFile(io.BytesIO(server.get(base, params={"format": "zip"}).content))
    names = bundle.namelist()
    suffixes = {".txt", ".vtt", ".srt", ".json", ".md", ".rttm", ".mp3"}
    assert {Path(n).suffix for n in names} == suffixes
    mp3 = next(n for n in names if n.endswith(".mp3"))
    assert bundle.read(mp3) == server.get(f"/v1/transcripts/{processed['id']}/audio.mp3").content
    _assert_problem(server.get(base, params={"format": "docx"}), 422, "validation-error")


def test_audio_ranges_head_and_signed_links(server, processed):
    url = f"/v1/transcripts/{processed['id']}/audio.mp3"
    whole = server.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    assert whole.content[:3] == b"ID3" or whole.content[0] == 0xFF
    part = server.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    tail = server.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    head = server.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size
    assert head.content == b""
    _assert_problem(server.get(url, headers={"Range": f"bytes={size}-"}), 416,
                    "range-not-satisfiable")  # fmt: skip

    link = server.post(f"/v1/transcripts/{processed['id']}/audio/link").json()
    signed = link["url"].split("testserver", 1)[-1]
    assert server.get(signed, headers={"X-API-Key": ""}).content == whole.content
    _assert_problem(server.get(signed.replace("sig=", "sig=0")), 403, "bad-signature")


def test_search_ranks_and_highlights(server, processed):
    other = _create(server, name="Security checklist review")
    found = server.get("/v1/search", params={"q": "security checklist"}).json()
    ids = [hit["id"] for hit in found["items"]]
    assert processed["id"] in ids and other["id"] in ids
    hit = next(h for h in found["items"] if h["id"] == processed["id"])
    assert "<mark>" in hit["snippet"].lower()
    assert server.get("/v1/search", params={"q": "zebra quantum"}).json()["total"] == 0
    # Query syntax is not interpreted: quotes, operators and HTML are just text.
    assert server.get("/v1/search", params={"q": '"OR NOT <b>*'}).status_code == 200


def test_participants_speaker_assign_and_merge(server, processed):
    tid = processed["id"]
    added = server.post(f"/v1/transcripts/{tid}/participants", json={"name": "Joe", "speaker": 0})
    assert added.status_code == 201
    segments = server.get(f"/v1/transcripts/{tid}/segments").json()
    assert {s["speaker_name"] for s in segments} == {"Joe"}
    _assert_problem(
        server.post(f"/v1/transcripts/{tid}/participants", json={"name": "Ann", "speaker": 0}),
        409,
        "speaker-taken",
    )
    ann = server.post(f"/v1/transcripts/{tid}/participants", json={"name": "Ann"}).json()
    first = segments[0]
    assigned = server.post(
        f"/v1/transcripts/{tid}/speakers/assign",
        json={"start": first["start"], "end": first["end"], "participant_id": ann["id"]},
    ).json()
    assert assigned[0]["speaker_name"] == "Ann" and assigned[-1]["speaker_name"] == "Joe"
    ann_speaker = assigned[0]["speaker"]
    merged = server.post(
        f"/v1/transcripts/{tid}/speakers/merge", json={"speakers": [ann_speaker], "into": 0}
    ).json()
    assert {s["speaker_name"] for s in merged} == {"Joe"}
    export = server.get(f"/v1/transcripts/{tid}/export", params={"format": "vtt"}).text
    assert "<v Joe>" in export


# --- bad input ---------------------------------------------------------------------------------


def test_bad_uploads_are_refused_clearly_and_nothing_is_lost(server, tmp_path):
    tid = _create(server, name="bad uploads")["id"]
    cases = [
        (b"", 422, "empty-upload"),
        (b"this is plainly text, not audio " * 20, 415, "not-audio"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4, 415, "not-audio"),
    ]
    for body, status, slug in cases:
        response = server.post(f"/v1/transcripts/{tid}/upload", content=body,
                               params={"filename": "x.wav"})  # fmt: skip
        problem = _assert_problem(response, status, slug)
        assert "upload" in problem["detail"] or "audio" in problem["detail"]
    after = server.get(f"/v1/transcripts/{tid}").json()
    assert after["status"] == "idle" and not after["has_audio"]
    # The transcript is intact and still takes a good upload afterwards.
    assert server.patch(f"/v1/transcripts/{tid}", json={"name": "still here"}).status_code == 200


def test_chunks_in_the_wrong_order_and_oversize_uploads(server):
    tid = _create(server, name="chunks")["id"]
    upload = server.post(f"/v1/transcripts/{tid}/uploads", json={"filename": "a.wav", "size": 10})
    uid = upload.json()["id"]
    url = f"/v1/transcripts/{tid}/uploads/{uid}"
    wrong = server.put(url, params={"offset": 5}, content=b"12345")
    assert _assert_problem(wrong, 409, "wrong-offset")["expected_offset"] == 0
    assert server.put(url, params={"offset": 0}, content=b"12345").json()["received"] == 5
    assert server.get(url).json()["received"] == 5  # where to resume
    _assert_problem(server.put(url, params={"offset": 5}, content=b"123456"), 413,
                    "chunk-too-large")  # fmt: skip
    assert server.get(url).json()["received"] == 5  # the refused chunk left nothing behind
    _assert_problem(server.post(f"{url}/complete"), 409, "upload-incomplete")
    huge = server.post(f"/v1/transcripts/{tid}/uploads", json={"size": 10**15})
    _assert_problem(huge, 413, "upload-too-large")


def test_unknown_ids_other_users_and_malformed_json(server, processed):
    _assert_problem(server.get("/v1/transcripts/nope"), 404, "not-found")
    _assert_problem(server.get("/v1/transcripts/nope/segments"), 404, "not-found")
    _assert_problem(server.post("/v1/transcripts/nope/uploads", json={}), 404, "not-found")
    # Another user's key: the local user's transcripts behave as if they did not exist.
    stranger = _stranger_key(server)
    for url in (f"/v1/transcripts/{processed['id']}", f"/v1/transcripts/{processed['id']}/export",
                f"/v1/transcripts/{processed['id']}/audio.mp3"):  # fmt: skip
        _assert_problem(server.get(url, headers={"X-API-Key": stranger}), 404, "not-found")
    _assert_problem(server.delete(f"/v1/transcripts/{processed['id']}",
                                  headers={"X-API-Key": stranger}), 404, "not-found")  # fmt: skip
    own_key = server.post("/v1/api-keys", json={"name": "mine"}).json()["key"]
    own = {"Authorization": f"Bearer {own_key}"}
    assert server.get(f"/v1/transcripts/{processed['id']}", headers=own).status_code == 200
    listed = server.get("/v1/transcripts", headers={"X-API-Key": stranger}).json()
    assert listed["total"] == 0
    malformed = server.post(
        "/v1/transcripts", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    _assert_problem(malformed, 422, "malformed-json")
    _assert_problem(server.post("/v1/transcripts", json={"source": "fax"}), 422, "validation-error")
    _assert_problem(server.post("/v1/transcripts", json={"unknown": 1}), 422, "validation-error")


def _stranger_key(client) -> str:
    """An API key of a user who is not the local user (made directly in the database)."""
    state = client.app.state.reflector

    async def make() -> str:
        async with state.sessions() as session:
            await repository.ensure_user(session, "stranger", "Stranger")
            _, plain = await repository.create_api_key(session, "stranger", "theirs")
            await session.commit()
            return plain

    return client.portal.call(make)


def test_api_keys_are_shown_once_and_can_be_revoked(server):
    created = server.post("/v1/api-keys", json={"name": "script"}).json()
    assert created["key"].startswith("rk_") and created["prefix"] == created["key"][:10]
    listed = server.get("/v1/api-keys").json()
    assert all("key" not in k for k in listed) and created["id"] in [k["id"] for k in listed]
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert server.get("/v1/transcripts", headers=headers).status_code == 200
    assert server.delete(f"/v1/api-keys/{created['id']}").status_code == 204
    _assert_problem(server.get("/v1/transcripts", headers=headers), 401, "invalid-api-key")
    _assert_problem(server.get("/v1/transcripts", headers={"X-API-Key": "rk_guess"}), 401,
                    "invalid-api-key")  # fmt: skip


def test_api_key_mode_requires_a_key(tmp_path):
    settings = server_settings(tmp_path, None, auth_mode="api-key")
    with running_client(settings) as client:
        _assert_problem(client.get("/v1/transcripts"), 401, "authentication-required")
        assert client.get("/healthz").status_code == 200


def test_health_readiness_metrics_and_openapi(server):
    assert server.get("/healthz").json() == {"status": "ok"}
    ready = server.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok", "bus": "ok"}
    metrics = server.get("/metrics").text
    assert 'reflector_http_request_seconds_count{method="GET",route="/healthz"' in metrics
    schema = server.get("/openapi.json").json()
    assert "/v1/transcripts/{transcript_id}/uploads/{upload_id}" in schema["paths"]


def _live_models_after_start(client, timeout: float = 60.0) -> str:
    """``live_models`` from /readyz once the preload has finished (or never started)."""
    deadline = time.monotonic() + timeout
    while (status := client.get("/readyz").json()["live_models"]) == "loading":
        assert time.monotonic() < deadline, "the live models are still loading"
        time.sleep(0.1)
    return status


@pytest.mark.slow
def test_live_models_load_when_the_server_starts(tmp_path):
    with running_client(server_settings(tmp_path, None)) as client:
        assert _live_models_after_start(client) == "ready"
    with running_client(server_settings(tmp_path, None, live_preload=False)) as client:
        assert client.get("/readyz").json()["live_models"] == "off"


def test_a_live_model_that_cannot_load_is_reported_and_the_server_still_serves(tmp_path):
    settings = server_settings(tmp_path, None, live_model=str(tmp_path / "no-such-model"))
    with running_client(settings) as client:
        status = _live_models_after_start(client)
        assert status.startswith("error: ") and "no-such-model" in status, status
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert client.post("/v1/transcripts", json={"name": "still works"}).status_code == 201
