"""Live audio is kept as it arrives: a killed server, a vanished client or a blinking database
and bus lose (almost) nothing of a live stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from sqlalchemy.exc import OperationalError

from reflector.audio import SAMPLE_RATE, decode_file
from reflector.bus import BusError
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import light_server, running_server, wait_for_status

LIGHT = {
    "REFLECTOR_ASR_MODEL": "tiny.en",
    "REFLECTOR_ASR_BEAM_SIZE": "1",
    "REFLECTOR_LLM_BACKEND": "extractive",
}
"""The light settings of the live tests: tiny.en, no language model for summaries."""
CHUNK_SECONDS = 0.1
PAUSE = np.zeros(SAMPLE_RATE // 2, np.float32)


def _pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _recall(reference: str, hypothesis: str) -> float:
    """The share of the reference's words that the hypothesis has (in any order)."""
    have = _words(hypothesis)
    wanted = _words(reference)
    found = 0
    for word in wanted:
        if word in have:
            have.remove(word)
            found += 1
    return found / len(wanted)


def _wait_status(base: str, tid: str, wanted: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {"status": "unknown"}
    while True:
        # A server busy loading models may answer slowly: ask again.
        with contextlib.suppress(httpx.TimeoutException):
            body = httpx.get(f"{base}/v1/transcripts/{tid}", timeout=10).json()
        if body["status"] in wanted:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"still {body['status']} after {timeout} s: {body}")
        time.sleep(0.5)


def _text(base: str, tid: str) -> str:
    segments = httpx.get(f"{base}/v1/transcripts/{tid}/segments", timeout=30).json()
    return " ".join(s["text"] for s in segments)


async def _stream(url: str, pcm: bytes, seconds: float, received: list[dict]) -> None:
    """Send ``seconds`` of ``pcm`` at real-time pace, collecting what the server says; then
    return with the connection still open (the caller cuts it)."""
    async with websockets.connect(url, max_size=None) as socket:
        await socket.send(json.dumps({"type": "config", "sample_rate": 16000}))

        async def listen() -> None:
            async for message in socket:
                received.append(json.loads(message))

        listener = asyncio.create_task(listen())
        step = int(CHUNK_SECONDS * SAMPLE_RATE) * 2
        started = time.monotonic()
        for index, first in enumerate(
            range(0, min(len(pcm), int(seconds * SAMPLE_RATE) * 2), step)
        ):
            await socket.send(pcm[first : first + step])
            ahead = started + (index + 1) * CHUNK_SECONDS - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        listener.cancel()
        # Cut the connection: no STOP, no closing handshake.
        socket.transport.abort()


@pytest.fixture(scope="module")
def reading(librivox_clips) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """The LibriVox readings with half-second pauses, and when each reading ends."""
    parts, ends, at = [PAUSE], [], len(PAUSE) / SAMPLE_RATE
    for clip in librivox_clips:
        samples = decode_file(clip.path).samples
        parts += [samples, PAUSE]
        at += len(samples) / SAMPLE_RATE
        ends.append((at, clip.text))
        at += len(PAUSE) / SAMPLE_RATE
    return np.concatenate(parts), ends


def _new_live_transcript(server, name: str) -> tuple[str, str]:
    """A new transcript on ``server`` and the WebSocket URL that records into it."""
    response = httpx.post(f"{server.base_url}/v1/transcripts", json={"name": name}, timeout=30)
    tid = response.json()["id"]
    return tid, f"ws://127.0.0.1:{server.port}/v1/transcripts/{tid}/record/ws"


@pytest.mark.slow
def test_a_killed_server_keeps_the_stream_up_to_seconds_before_the_kill(tmp_path, reading):
    audio, ends = reading
    # Killed 5 s after the third reading ends, in the middle of the fourth.
    said = [text for end, text in ends[:3]]
    kill_at = ends[2][0] + 5.0
    data = tmp_path / "data"
    data.mkdir()
    with running_server(data, None, LIGHT) as server:
        tid, url = _new_live_transcript(server, "killed")
        received: list[dict] = []
        asyncio.run(asyncio.wait_for(_stream(url, _pcm(audio), kill_at, received), 60))
        pieces = sorted((data / "blobs" / "transcripts" / tid / "live").glob("*.pcm"))
        server.process.kill()  # SIGKILL: no wrap-up, no shutdown
        server.process.wait(timeout=10)
    assert any(m.get("final") for m in received), "the stream gave live words"
    assert len(pieces) >= (kill_at - 5.0) // 3, pieces

    with running_server(data, None, LIGHT) as server:
        done = _wait_status(server.base_url, tid, {"ended", "error"}, timeout=240)
        assert done["status"] == "ended", done
        assert done["source"] == "live" and done["has_audio"]
        assert kill_at - 5.0 <= done["duration"] <= kill_at + 0.05, done
        text = _text(server.base_url, tid)
    assert _recall(" ".join(said), text) >= 0.85, text
    # The stored pieces became the recording and are gone.
    assert not list((data / "blobs" / "transcripts" / tid / "live").glob("*.pcm"))


@pytest.mark.slow
def test_a_vanished_client_keeps_its_audio(tmp_path, reading):
    audio, ends = reading
    data = tmp_path / "data"
    data.mkdir()
    with running_server(data, None, LIGHT) as server:
        tid, url = _new_live_transcript(server, "gone")
        seconds = ends[1][0] + 0.5
        asyncio.run(asyncio.wait_for(_stream(url, _pcm(audio), seconds, []), 60))
        done = _wait_status(server.base_url, tid, {"ended", "error"}, timeout=180)
        assert done["status"] == "ended", done
        assert done["duration"] == pytest.approx(seconds, abs=0.15)
        text = _text(server.base_url, tid)
    assert _recall(" ".join(t for _, t in ends[:2]), text) >= 0.85, text


class _FlakyBus:
    """The app's bus, failing every publish while ``down`` is set."""

    def __init__(self, bus) -> None:
        self.bus = bus
        self.down = threading.Event()
        self.failed = 0

    def __getattr__(self, name: str):
        return getattr(self.bus, name)

    async def publish(self, channel: str, message) -> None:
        if self.down.is_set():
            self.failed += 1
            raise BusError("the bus is away (test)")
        await self.bus.publish(channel, message)


class _FlakySessions:
    """The app's session maker, whose sessions cannot be opened while ``down`` is set."""

    def __init__(self, sessions, down: threading.Event) -> None:
        self.sessions = sessions
        self.down = down
        self.failed = 0

    def __getattr__(self, name: str):
        return getattr(self.sessions, name)

    def __call__(self, *args, **kwargs):
        if self.down.is_set():
            self.failed += 1
            raise OperationalError("SELECT 1", {}, ConnectionError("the database is away (test)"))
        return self.sessions(*args, **kwargs)


@pytest.mark.slow
def test_a_blinking_database_and_bus_stop_nothing(tmp_path, piper_clip):
    pcm = _pcm(decode_file(piper_clip.path).samples)
    with light_server(tmp_path / "data") as client:
        state = client.app.state.reflector
        bus = _FlakyBus(state.bus)
        sessions = _FlakySessions(state.sessions, bus.down)
        tid = client.post("/v1/transcripts", json={"name": "blink"}).json()["id"]
        state.bus, state.sessions = bus, sessions
        try:
            messages = []
            with client.websocket_connect(f"/v1/transcripts/{tid}/record/ws") as socket:
                socket.send_json({"type": "config", "sample_rate": 16000, "format": "s16le"})
                step = int(CHUNK_SECONDS * SAMPLE_RATE) * 2
                for first in range(0, len(pcm), step):
                    if first == step * 20:
                        bus.down.set()  # 2 s in: the database and the bus go away for 4 s
                        threading.Timer(4.0, bus.down.clear).start()
                    socket.send_bytes(pcm[first : first + step])
                    time.sleep(CHUNK_SECONDS / 2)  # twice real time
                socket.send_json({"type": "stop"})
                while not messages or messages[-1]["type"] != "stopped":
                    messages.append(socket.receive_json())
        finally:
            state.bus, state.sessions = bus.bus, sessions.sessions
            bus.down.clear()
        assert bus.failed and sessions.failed, "the outage happened during the stream"
        live = [w for m in messages if m["type"] == "transcript" for w in m["final"]]
        live_text = "".join(w["text"] for w in live)
        assert word_error_rate(piper_clip.text, live_text) <= 0.25, live_text
        done = wait_for_status(client, tid, {"ended", "error"}, timeout=180)
        assert done["status"] == "ended", done
        # The final words of the outage were stored once the database came back.
        events = client.get(f"/v1/transcripts/{tid}/events").json()
        live_events = [e for e in events if e["type"] == "TRANSCRIPT" and "final" in e["data"]]
        kept = [w for e in live_events for w in e["data"]["final"]]
        assert [w["text"] for w in kept] == [w["text"] for w in live]
        segments = client.get(f"/v1/transcripts/{tid}/segments").json()
        text = " ".join(s["text"] for s in segments)
    assert word_error_rate(piper_clip.text, text) <= 0.15, text


def test_pieces_are_numbered_in_order(tmp_path):
    """The spool's pieces, read back in order, are exactly the audio given (local store)."""
    from reflector.api.live.spool import LiveSpool, assemble
    from reflector.blobs import LocalBlobStore

    store = LocalBlobStore(tmp_path / "blobs")
    audio = (np.sin(np.arange(SAMPLE_RATE * 7) / 9.0) * 0.5).astype(np.float32)

    async def run() -> float:
        spool = LiveSpool(store, "t1", piece_seconds=2.0)
        for first in range(0, len(audio), 1234):
            spool.add(audio[first : first + 1234])
        await spool.close(10)
        return await assemble(store, "t1", tmp_path / "out.wav")

    seconds = asyncio.run(run())
    assert seconds == pytest.approx(7.0)
    keys = sorted(p.name for p in Path(tmp_path / "blobs/transcripts/t1/live").iterdir())
    assert keys == ["000001.pcm", "000002.pcm", "000003.pcm", "000004.pcm"]
    back = decode_file(tmp_path / "out.wav").samples
    assert np.abs(back - audio).max() < 1e-3


@pytest.mark.slow
def test_a_stream_whose_transcript_is_deleted_ends_and_keeps_nothing(tmp_path, piper_clip):
    data = tmp_path / "data"
    data.mkdir()
    pcm = _pcm(decode_file(piper_clip.path).samples)
    step = int(CHUNK_SECONDS * SAMPLE_RATE) * 2

    async def record_then_delete(url: str, base: str, tid: str) -> list[dict]:
        received: list[dict] = []
        async with websockets.connect(url, max_size=None) as socket:

            async def listen() -> None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    async for message in socket:
                        received.append(json.loads(message))

            listener = asyncio.create_task(listen())
            await socket.send(json.dumps({"type": "config", "sample_rate": 16000}))
            for first in range(0, 30 * step, step):  # 3 s of speech
                await socket.send(pcm[first : first + step])
            await asyncio.sleep(1.0)  # its first pieces are stored
            async with httpx.AsyncClient() as client:
                answer = await client.delete(f"{base}/v1/transcripts/{tid}?permanent=true")
                assert answer.status_code == 204, answer.text
            with contextlib.suppress(websockets.ConnectionClosed):
                for first in range(30 * step, len(pcm), step):
                    await socket.send(pcm[first : first + step])
                    await asyncio.sleep(0.02)
            await listener  # the server closes the connection
        return received

    with running_server(data, None, LIGHT) as server:
        tid, url = _new_live_transcript(server, "deleted while recording")
        received = asyncio.run(asyncio.wait_for(record_then_delete(url, server.base_url, tid), 60))
        errors = [m for m in received if m.get("type") == "error"]
        assert [e["code"] for e in errors] == ["transcript-deleted"], received
        assert not any(m.get("type") == "stopped" for m in received)
        assert httpx.get(f"{server.base_url}/v1/transcripts/{tid}").status_code == 404
    folder = data / "blobs" / "transcripts" / tid
    assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))
