"""The server scaled out: PostgreSQL, S3-compatible storage (SeaweedFS) and the Redis bus.

Same API, same pipeline; the recording, MP3 and stage results live in S3 and events travel
through Redis pub/sub.
"""

from __future__ import annotations

import uuid

import pytest

from reflector_testkit.ports import free_port
from reflector_testkit.servers import (
    postgres_database,
    running_client,
    server_settings,
    wait_for_status,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scaled(tmp_path_factory, seaweed):
    mp = pytest.MonkeyPatch()
    mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
    data_dir = tmp_path_factory.mktemp("scaled")
    try:
        with postgres_database() as url:
            settings = server_settings(
                data_dir,
                url,
                storage_backend="s3",
                s3_bucket=seaweed.bucket,
                s3_endpoint_url=seaweed.endpoint_url,
                s3_access_key=seaweed.access_key,
                s3_secret_key=seaweed.secret_key,
                s3_region="us-east-1",
                bus_backend="redis",
                redis_url="redis://127.0.0.1:6379/0",
            )
            with running_client(settings) as client:
                yield client, seaweed
    finally:
        mp.undo()


def test_a_recording_goes_through_s3_and_redis(scaled, piper_clip):
    client, seaweed = scaled
    ready = client.get("/readyz").json()
    assert ready["checks"] == {"database": "ok", "storage": "ok", "bus": "ok"}, ready
    tid = client.post("/v1/transcripts", json={"name": f"s3 {uuid.uuid4().hex[:6]}"}).json()["id"]
    with client.websocket_connect(f"/v1/transcripts/{tid}/events") as socket_:
        response = client.post(
            f"/v1/transcripts/{tid}/upload",
            params={"filename": "clip.wav"},
            content=piper_clip.path.read_bytes(),
        )
        assert response.status_code == 200, response.text
        seen = []
        while not (seen and seen[-1]["type"] == "STATUS" and seen[-1]["data"]["value"] in
                   {"ended", "error"}):  # fmt: skip
            seen.append(socket_.receive_json())
    assert seen[-1]["data"]["value"] == "ended", seen[-1]
    assert "TRANSCRIPT" in [e["type"] for e in seen]  # live words came through Redis
    done = wait_for_status(client, tid, {"ended"})
    assert done["has_audio"]

    # The files are in the bucket, under the transcript's prefix.
    listed = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix=f"transcripts/{tid}/")
    keys = {item["Key"].split(f"{tid}/", 1)[1] for item in listed.get("Contents", [])}
    assert {"upload.wav", "audio.mp3", "stages/recognition.json"} <= keys
    whole = client.get(f"/v1/transcripts/{tid}/audio.mp3").content
    part = client.get(f"/v1/transcripts/{tid}/audio.mp3", headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == whole[10:100]

    # Destroying the transcript removes its blobs too.
    assert client.delete(f"/v1/transcripts/{tid}", params={"permanent": "true"}).status_code == 204
    listed = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix=f"transcripts/{tid}/")
    assert listed.get("KeyCount", 0) == 0


def test_readiness_names_a_dependency_that_is_down(tmp_path):
    closed = free_port()
    settings = server_settings(
        tmp_path, None, bus_backend="redis", redis_url=f"redis://127.0.0.1:{closed}/0"
    )
    with running_client(settings) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["database"] == "ok" and checks["storage"] == "ok"
        assert checks["bus"].startswith("error") and str(closed) in checks["bus"]
        assert client.get("/healthz").status_code == 200  # alive, just not ready
