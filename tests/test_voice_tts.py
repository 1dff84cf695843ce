"""Text to speech over the voice API: ``/v1/audio/speech`` with the ``openai`` client,
``POST /api/tts``, ``GET /api/voices``, ``GET /stats`` and ``WS /ws/voice``."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import openai
import pytest
import websockets.sync.client as ws_client

from reflector.api.threaded import ThreadedServer
from reflector.audio.formats import decode_audio_bytes
from reflector_testkit.ports import free_port
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import openai_client, server_settings

pytestmark = pytest.mark.slow

SENTENCE = "Please send the quarterly report to the finance team before Friday."
PARAGRAPH = (
    "The new billing service went live on Tuesday. Nobody reported a problem. "
    "Next week we will move the invoices over as well."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = server_settings(tmp_path_factory.mktemp("tts"), None, port=free_port(),
                               stt_model="tiny.en")  # fmt: skip
    with ThreadedServer(settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai_client(server.url)


def _heard(client: openai.OpenAI, audio: bytes, name: str) -> str:
    return client.audio.transcriptions.create(model="whisper-1", file=(name, audio)).text


def test_openai_speech_round_trips_through_transcription(client):
    audio = client.audio.speech.create(
        model="tts-1", voice="alloy", input=SENTENCE, response_format="wav"
    ).content
    samples, rate = decode_audio_bytes(audio, "wav")
    assert 2.0 < len(samples) / rate < 8.0
    assert word_error_rate(SENTENCE, _heard(client, audio, "speech.wav")) <= 0.2


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "aac", "pcm"])
def test_every_openai_format_decodes(client, fmt):
    audio = client.audio.speech.create(
        model="tts-1", voice="nova", input=SENTENCE, response_format=fmt
    ).content
    samples, rate = decode_audio_bytes(audio, fmt, sample_rate=24_000)
    if fmt == "pcm":
        assert rate == 24_000  # OpenAI's pcm: 24 kHz s16le
    assert 2.0 < len(samples) / rate < 8.0


def test_long_text_streams_sentence_by_sentence(client):
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=PARAGRAPH, response_format="mp3"
    ) as response:
        pieces = list(response.iter_bytes(chunk_size=None))
    audio = b"".join(pieces)
    assert len(pieces) >= 2  # sentences arrive as they are made
    assert word_error_rate(PARAGRAPH, _heard(client, audio, "speech.mp3")) <= 0.2


def test_sse_speech_sends_audio_deltas_then_done(server):
    response = httpx.post(
        f"{server.url}/v1/audio/speech",
        json={"model": "tts-1", "voice": "alloy", "input": PARAGRAPH,
              "response_format": "pcm", "stream_format": "sse"},
        timeout=120,
    )  # fmt: skip
    events = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    assert [e["type"] for e in events][-1] == "speech.audio.done"
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert len(audio) / 2 / 24_000 > 4.0


def test_api_tts_answers_audio_with_duration_cache_and_sentiment(server):
    body = {"text": "What a wonderful, happy day. I love this team!", "format": "wav"}
    first = httpx.post(f"{server.url}/api/tts", json=body, timeout=120)
    second = httpx.post(f"{server.url}/api/tts", json=body, timeout=120)
    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"] == "audio/wav"
    assert (first.headers["x-cached"], second.headers["x-cached"]) == ("false", "true")
    assert first.content == second.content
    assert first.headers["x-sentiment"] == "positive"
    samples, rate = decode_audio_bytes(first.content, "wav")
    assert float(first.headers["x-audio-duration"]) == pytest.approx(len(samples) / rate, abs=0.05)
    as_json = httpx.post(
        f"{server.url}/api/tts", json=body, headers={"accept": "application/json"}, timeout=120
    ).json()
    assert as_json["cached"] is True and base64.b64decode(as_json["audio"]) == first.content
    assert as_json["sentiment"]["label"] == "positive" and as_json["latency_ms"] >= 0


def test_api_tts_levels_loudness_when_asked(server):
    body = {"text": SENTENCE, "format": "wav", "normalize": True, "target_dbfs": -30}
    quiet = httpx.post(f"{server.url}/api/tts", json=body, timeout=120)
    loud = httpx.post(f"{server.url}/api/tts", json={**body, "target_dbfs": -14}, timeout=120)

    def rms_db(audio: bytes) -> float:
        samples, _ = decode_audio_bytes(audio, "wav")
        speech = samples[np.abs(samples) > 1e-3]
        return 20 * np.log10(np.sqrt(np.mean(speech**2)))

    assert rms_db(loud.content) - rms_db(quiet.content) > 10


def test_other_languages_speak_with_espeak(server):
    voices = httpx.get(f"{server.url}/api/voices", timeout=30).json()
    backends = {v["backend"] for v in voices}
    assert {"piper", "espeak"} <= backends
    assert any(v["language"].startswith("es") for v in voices)
    spanish = httpx.post(
        f"{server.url}/api/tts", json={"text": "Buenos días a todos.", "language": "es"},
        timeout=60,
    )  # fmt: skip
    assert spanish.status_code == 200 and spanish.headers.get("x-sentiment") is None


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"text": "   "}, 400, "empty-text"),
        ({"text": "a" * 4097}, 413, "text-too-long"),
        ({"text": "hello", "speed": 9}, 400, "bad-speed"),
        ({"text": "hello", "voice": "robot-9000"}, 400, "unknown-voice"),
        ({"text": "hello", "voice": "no-such-voice"}, 400, "unknown-voice"),
        ({"text": "hello", "format": "midi"}, 422, "validation-error"),
        ({"text": "hello", "volume": 3}, 422, "validation-error"),
    ],
)
def test_api_tts_bad_input_gets_a_clear_error(server, body, status, slug):
    response = httpx.post(f"{server.url}/api/tts", json=body, timeout=60)
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith("/" + slug)


def test_openai_speech_errors_reach_the_client(client):
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input="x" * 5000)
    assert caught.value.status_code == 413 and "limit is 4096" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="no-such-tts", voice="alloy", input="hello")


def test_voice_socket_speaks_and_listens_and_survives_mistakes(server):
    url = server.url.replace("http", "ws") + "/ws/voice"
    with ws_client.connect(url, max_size=None) as socket:
        socket.send("this is not json")
        assert json.loads(socket.recv())["code"] == "bad-json"
        socket.send(json.dumps({"type": "dance"}))
        assert json.loads(socket.recv())["code"] == "unknown-type"
        socket.send(json.dumps({"type": "text", "text": ""}))
        assert json.loads(socket.recv())["code"] == "empty-text"

        socket.send(json.dumps({"type": "text", "text": PARAGRAPH, "format": "pcm"}))
        chunks = []
        while (message := json.loads(socket.recv()))["type"] == "audio":
            chunks.append(message)
        assert message["type"] == "done" and message["chunks"] == len(chunks) >= 2
        pcm = b"".join(base64.b64decode(c["audio"]) for c in chunks)
        rate = chunks[0]["sample_rate"]
        assert len(pcm) / 2 / rate == pytest.approx(message["duration"], abs=0.1)

        samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
        from reflector.audio.formats import encode_audio

        wav = encode_audio(samples, rate, "wav")
        socket.send(json.dumps({"type": "audio", "audio": base64.b64encode(wav).decode()}))
        answer = json.loads(socket.recv())
        assert answer["type"] == "transcript"
        assert word_error_rate(PARAGRAPH, answer["text"]) <= 0.2
        assert answer["sentiment"] is not None

        socket.send(json.dumps({"type": "audio", "audio": base64.b64encode(b"junk" * 40).decode()}))
        assert json.loads(socket.recv())["code"] == "unreadable-audio"
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv())["type"] == "pong"


def test_stats_count_requests_and_cache_hits(server):
    body = {"text": "Counting cache hits.", "format": "mp3"}
    for _ in range(3):
        assert httpx.post(f"{server.url}/api/tts", json=body, timeout=60).status_code == 200
    stats = httpx.get(f"{server.url}/stats", timeout=30).json()
    assert stats["endpoints"]["tts"]["requests"] >= 3
    assert stats["endpoints"]["tts"]["p50_ms"] is not None
    assert stats["cache"]["hits"] >= 2 and 0 < stats["cache"]["hit_rate"] <= 1


class _FlakySpeechServer:
    """An OpenAI-compatible speech server that fails with 500 until told to recover."""

    def __init__(self) -> None:
        self.healthy = False
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                outer.calls += 1
                if not outer.healthy:
                    self.send_response(500)
                    self.end_headers()
                    return
                tone = (np.sin(np.arange(24_000) / 24_000 * 2 * np.pi * 220) * 8000).astype("<i2")
                self.send_response(200)
                self.send_header("content-type", "audio/pcm")
                self.end_headers()
                self.wfile.write(tone.tobytes())

            def log_message(self, *_args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def test_a_failing_remote_backend_opens_its_breaker_falls_back_and_recovers(tmp_path):
    remote = _FlakySpeechServer()
    settings = server_settings(
        tmp_path, None, port=free_port(), tts_backend="openai", tts_url=remote.url,
        breaker_failures=2, breaker_reset_seconds=1.0,
    )  # fmt: skip
    try:
        with ThreadedServer(settings) as server:

            def speak(text: str) -> httpx.Response:
                return httpx.post(f"{server.url}/api/tts", json={"text": text}, timeout=60)

            def breaker() -> dict:
                stats = httpx.get(f"{server.url}/stats", timeout=30).json()
                return next(b for b in stats["breakers"] if b["name"] == "tts-openai")

            # Failing: every answer still comes (the local voice), and the breaker opens.
            assert speak("First try.").status_code == 200
            assert speak("Second try.").status_code == 200
            assert breaker()["state"] == "open"
            calls = remote.calls
            assert speak("Third try.").status_code == 200
            assert remote.calls == calls  # open: the dead server is not waited on
            # Recovered: after the reset time one probe goes through and closes it.
            remote.healthy = True
            time.sleep(1.1)
            assert breaker()["state"] == "half_open"
            answer = speak("Fourth try.")
            assert answer.status_code == 200 and remote.calls == calls + 1
            assert breaker()["state"] == "closed"
            samples, rate = decode_audio_bytes(answer.content, "wav")
            assert len(samples) / rate == pytest.approx(1.0, abs=0.05)  # the remote's tone
    finally:
        remote.close()
