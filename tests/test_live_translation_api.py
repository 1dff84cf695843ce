"""Live sessions with ``translate_to``: translated captions on the event stream and translated
speech for listeners of each language."""

from __future__ import annotations

import numpy as np
import pytest

from reflector.audio import SAMPLE_RATE, decode_file
from reflector_testkit.servers import light_server, wait_for_status

pytestmark = pytest.mark.slow

CHUNK_BYTES = SAMPLE_RATE // 10 * 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with light_server(tmp_path_factory.mktemp("live-translation")) as client:
        yield client


def _events_until_ended(server, tid: str) -> list[dict]:
    with server.websocket_connect(f"/v1/transcripts/{tid}/events") as socket:
        events = []
        while True:
            event = socket.receive_json()
            events.append(event)
            if event["type"] == "STATUS" and event["data"]["value"] in ("ended", "error"):
                return events


def test_final_sentences_are_captioned_and_spoken_in_each_language(server, piper_clip):
    samples = decode_file(piper_clip.path).samples
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    tid = server.post("/v1/transcripts", json={"name": "translated"}).json()["id"]
    speech_url = f"/v1/transcripts/{tid}/translations/es/speech"
    with (
        server.websocket_connect(speech_url) as listener,
        server.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as live,
    ):
        live.send_json({"type": "config", "language": "en", "translate_to": ["es", "fr"]})
        for first in range(0, len(pcm), CHUNK_BYTES):
            live.send_bytes(pcm[first : first + CHUNK_BYTES])
        live.send_json({"type": "stop"})
        while live.receive_json()["type"] != "stopped":
            pass
        heard: list[tuple[dict, bytes]] = []
        while (header := listener.receive_json())["type"] == "speech":
            heard.append((header, listener.receive_bytes()))
        assert header["type"] == "end"

    assert wait_for_status(server, tid, {"ended", "error"})["status"] == "ended"
    events = _events_until_ended(server, tid)
    captions = [e["data"] for e in events if e["type"] == "TRANSLATION"]
    spanish = [c for c in captions if c["language"] == "es"]
    french = [c for c in captions if c["language"] == "fr"]
    # Four sentences were said; each is captioned once per language, in order.
    assert len(spanish) == len(french) >= 3
    assert [c["index"] for c in spanish] == sorted({c["index"] for c in spanish})
    spanish_text = " ".join(c["text"] for c in spanish).lower()
    assert "reunión" in spanish_text or "reunion" in spanish_text, spanish_text
    assert "viernes" in spanish_text  # "before Friday"
    assert "vendredi" in " ".join(c["text"] for c in french).lower()
    starts = [c["start"] for c in spanish]
    assert starts == sorted(starts) and all(c["end"] <= piper_clip.duration for c in spanish)
    # Every Spanish caption was spoken, as 16-bit PCM of a plausible length.
    assert {h["index"] for h, _ in heard} == {c["index"] for c in spanish}
    for header, audio in heard:
        assert header["format"] == "s16le" and len(audio) / 2 / header["sample_rate"] > 0.3


def test_an_unsupported_target_language_is_a_bad_config(server):
    tid = server.post("/v1/transcripts", json={"name": "x"}).json()["id"]
    with server.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as live:
        live.send_json({"type": "config", "language": "en", "translate_to": ["xx"]})
        error = live.receive_json()
    assert error["code"] == "bad-config" and "'xx'" in error["message"]
    assert server.get(f"/v1/transcripts/{tid}").json()["status"] == "idle"


def test_translated_speech_of_someone_elses_transcript_is_refused(server):
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect) as refused,
        server.websocket_connect("/v1/transcripts/not-a-transcript/translations/es/speech") as s,
    ):
        s.receive_json()
    assert refused.value.code == 1008
