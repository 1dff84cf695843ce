"""Streaming audio into a transcript over ``WS /v1/transcripts/{id}/record/ws``."""

from __future__ import annotations

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from reflector.audio import SAMPLE_RATE, decode_file
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import light_server, wait_for_status

pytestmark = pytest.mark.slow

CHUNK = SAMPLE_RATE // 10  # 100 ms of audio per message


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with light_server(tmp_path_factory.mktemp("live")) as client:
        yield client


@pytest.fixture(scope="module")
def pcm(piper_clip) -> bytes:
    samples = decode_file(piper_clip.path).samples
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _new(server) -> str:
    return server.post("/v1/transcripts", json={"name": "live"}).json()["id"]


def _send_audio(socket, pcm: bytes) -> None:
    for first in range(0, len(pcm), CHUNK * 2):
        socket.send_bytes(pcm[first : first + CHUNK * 2])


def _until_stopped(socket) -> list[dict]:
    messages = []
    while not messages or messages[-1]["type"] != "stopped":
        messages.append(socket.receive_json())
    return messages


def test_stream_gives_live_words_then_a_processed_transcript(server, pcm, piper_clip):
    tid = _new(server)
    with server.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as socket:
        socket.send_json({"type": "config", "sample_rate": 16000, "format": "s16le"})
        _send_audio(socket, pcm)
        socket.send_json({"type": "stop"})
        messages = _until_stopped(socket)
    words = [w for m in messages if m["type"] == "transcript" for w in m["final"]]
    live_text = "".join(w["text"] for w in words)
    # The server adapts the decode step to the machine's load, so live words vary a little
    # from run to run; the offline pass afterwards is the accurate one (checked below).
    assert word_error_rate(piper_clip.text, live_text) <= 0.25, live_text
    assert any(m["type"] == "transcript" and m["interim"] for m in messages)
    assert messages[-1]["duration"] == pytest.approx(len(pcm) / 2 / SAMPLE_RATE, abs=0.01)

    done = wait_for_status(server, tid, {"ended", "error"})
    assert done["status"] == "ended" and done["source"] == "live" and done["has_audio"]
    segments = server.get(f"/v1/transcripts/{tid}/segments").json()
    assert "security checklist" in " ".join(s["text"] for s in segments).lower()
    # Final live words were stored as events, so a late subscriber replays them.
    with server.websocket_connect(f"/v1/transcripts/{tid}/events") as events:
        first = events.receive_json()
    assert first["type"] in {"TRANSCRIPT", "STATUS"}
    metrics = server.get("/metrics").text
    assert "reflector_live_final_word_delay_seconds_count" in metrics


def test_bad_config_is_refused_and_the_transcript_stays_usable(server):
    tid = _new(server)
    with server.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as socket:
        socket.send_json({"type": "config", "sample_rate": 44100, "format": "s16le"})
        error = socket.receive_json()
        assert error["type"] == "error" and error["code"] == "bad-config"
        assert "sample_rate" in error["message"]
    assert server.get(f"/v1/transcripts/{tid}").json()["status"] == "idle"


def test_garbage_and_wrong_formats_get_errors_without_ending_the_stream(server, pcm):
    tid = _new(server)
    with server.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as socket:
        socket.send_json({"type": "config", "format": "f32le"})
        socket.send_bytes(b"\x00\x00\xc0\x7f" * 10)  # NaN is not audio
        assert socket.receive_json()["code"] == "bad-audio"
        socket.send_bytes(b"abc")  # not whole samples
        assert socket.receive_json()["code"] == "bad-audio"
        socket.send_text("not json")
        assert socket.receive_json()["code"] == "bad-message"
        samples = np.frombuffer(pcm, "<i2").astype("<f4") / 32768
        socket.send_bytes(samples[: SAMPLE_RATE * 3].tobytes())  # good audio still counts
        socket.send_json({"type": "stop"})
        stopped = _until_stopped(socket)[-1]
    assert stopped["duration"] == pytest.approx(3.0, abs=0.01)


def test_a_second_stream_into_one_transcript_is_refused(server, pcm):
    tid = _new(server)
    with server.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as first:
        first.send_json({"type": "config"})
        url = f"/v1/transcripts/{tid}/record/ws"
        with pytest.raises(WebSocketDisconnect) as refused, server.websocket_connect(url) as second:
            second.receive_json()
        assert refused.value.code == 1008
        first.send_bytes(pcm[: SAMPLE_RATE * 2])
        first.send_json({"type": "stop"})
        _until_stopped(first)


def test_a_client_that_vanishes_keeps_its_audio(server, pcm):
    tid = _new(server)
    with server.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as socket:
        socket.send_json({"type": "config"})
        _send_audio(socket, pcm[: SAMPLE_RATE * 2 * 8])
        # Once words come back the server has read the audio; then the client is gone, with
        # no STOP and no close handshake (the connection is cut).
        while not socket.receive_json().get("final"):
            pass
    done = wait_for_status(server, tid, {"ended", "error"})
    assert done["status"] == "ended", done
    assert 2.0 <= done["duration"] <= 8.0 + 0.05
    assert server.get(f"/v1/transcripts/{tid}/segments").json()
