"""Benchmark: the voice API — speech synthesis latency, the speech cache, throughput under 50
concurrent clients, speech-to-text latency, and live translated captions and speech.

Usage (from the repository root)::

    .venv/bin/python bench/voice.py            # full run
    .venv/bin/python bench/voice.py --quick    # fewer requests

The real server (``reflector serve``, one process, embedded defaults) is started on 127.0.0.1;
this process is the client. Measured, each beside a baseline from the same run:

* ``tts_first_byte``: ``POST /api/tts`` with ``stream: true`` for 12-word sentences never asked
  before: time to the first audio byte. Baseline: the same sentences rendered whole
  (``tts_whole``), the answer time without streaming.
* ``tts_cached``: a sentence asked again (answered from the cache). Baseline: ``tts_whole``.
* ``tts_throughput``: 50 concurrent keep-alive connections asking for cached MP3 sentences
  (a minimal HTTP client, so the load generator takes little of the CPU). Baseline: the
  45 requests/s that the voice-pipeline design this API is modelled on reports.
* ``stt``: ``POST /api/stt`` with a 5-second clip, with the default model. Baseline: the clip's
  length (a ratio below 1 is faster than real time).
* ``live_translation``: a generated two-speaker meeting streamed at real-time pace over
  ``WS /v1/transcripts/{id}/record/ws`` with ``translate_to: ["es"]``; per sentence, the time
  from the client receiving its last final word to receiving its Spanish caption
  (``TRANSLATION`` event) and the first byte of its Spanish speech.

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

from reflector.audio import SAMPLE_RATE, resample, write_wav
from reflector.tts import PiperTts
from reflector_testkit.machine import machine_report
from reflector_testkit.meetings import MeetingPlan, generate_meeting
from reflector_testkit.servers import running_server

REFERENCE_RPS = 45.0
"""Requests per second reported by the voice-pipeline design this API is modelled on."""
SUBJECTS = (
    "The finance team",
    "Our new intern",
    "The support desk",
    "Maria from sales",
    "The design group",
    "Every project lead",
    "The night shift",
    "Our main supplier",
)
ACTIONS = (
    "will send the quarterly report",
    "should review the open tickets",
    "must confirm the travel plans",
    "can move the budget meeting",
)
TIMES = ("before Friday morning at nine.", "by the end of next week.",
         "right after the holiday break.", "early on Tuesday afternoon.")  # fmt: skip


def say(message: str) -> None:
    print(f"[voice] {message}", file=sys.stderr, flush=True)


def sentences(count: int) -> list[str]:
    """Distinct sentences of about twelve words (never in the cache before)."""
    combos = itertools.product(SUBJECTS, ACTIONS, TIMES)
    return [" ".join(parts) for parts, _ in zip(combos, range(count), strict=False)]


def stats_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "n": 0}
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50_ms": round(float(p50) * 1000, 2), "p95_ms": round(float(p95) * 1000, 2),
            "n": len(values)}  # fmt: skip


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def tts_latencies(url: str, texts: list[str]) -> tuple[list[float], list[float], list[float]]:
    """First-byte times (streamed, new text), whole times (new text), cached times."""
    first_byte, whole, cached = [], [], []
    with httpx.Client(base_url=url, timeout=120) as client:
        client.post("/api/tts", json={"text": "Warming up the voice."})
        for index, text in enumerate(texts):
            started = time.perf_counter()
            if index % 2 == 0:
                body = {"text": text, "stream": True, "format": "pcm"}
                with client.stream("POST", "/api/tts", json=body) as response:
                    chunks = response.iter_raw()
                    next(chunks)
                    first_byte.append(time.perf_counter() - started)
                    for _ in chunks:
                        pass
            else:
                response = client.post("/api/tts", json={"text": text, "format": "wav"})
                assert response.headers["x-cached"] == "false"
                whole.append(time.perf_counter() - started)
                for _ in range(10):
                    started = time.perf_counter()
                    again = client.post("/api/tts", json={"text": text, "format": "wav"})
                    cached.append(time.perf_counter() - started)
                    assert again.headers["x-cached"] == "true"
    return first_byte, whole, cached


class RawHttpConnection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP to post JSON and read the
    answer: an httpx client spends more CPU per request than the server does on a cached
    answer, and the load generator shares the machine's two cores with the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> RawHttpConnection:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post_json(self, path: str, body: bytes) -> tuple[int, int]:
        """``(status, body bytes)``."""
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status, length

    def close(self) -> None:
        self.writer.close()


async def throughput(url: str, texts: list[str], total: int, clients: int) -> dict:
    """``clients`` keep-alive connections asking for cached MP3 speech as fast as answered."""
    bodies = [json.dumps({"text": text, "format": "mp3"}).encode() for text in texts]
    pool = [await RawHttpConnection.open(url) for _ in range(clients)]
    latencies: list[float] = []
    errors = 0
    sizes: list[int] = []
    counter = itertools.count()

    async def worker(connection: RawHttpConnection) -> None:
        nonlocal errors
        while (index := next(counter)) < total:
            started = time.perf_counter()
            status, size = await connection.post_json("/api/tts", bodies[index % len(bodies)])
            latencies.append(time.perf_counter() - started)
            errors += status != 200
            sizes.append(size)

    try:
        for body in bodies:  # fill the cache; not measured
            await pool[0].post_json("/api/tts", body)
        started = time.perf_counter()
        await asyncio.gather(*(worker(connection) for connection in pool))
        wall = time.perf_counter() - started
    finally:
        for connection in pool:
            connection.close()
    return {**stats_ms(latencies), "requests_per_s": round(len(latencies) / wall, 1),
            "errors": errors, "clients": clients,
            "mean_response_bytes": round(sum(sizes) / max(len(sizes), 1))}  # fmt: skip


def stt_latencies(url: str, clip: Path, repeats: int) -> list[float]:
    data = clip.read_bytes()
    times = []
    with httpx.Client(base_url=url, timeout=300) as client:
        client.post("/api/stt", files={"file": ("clip.wav", data)})  # loads the model
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.post("/api/stt", files={"file": ("clip.wav", data)})
            times.append(time.perf_counter() - started)
            response.raise_for_status()
    return times


async def live_translation(url: str, samples: np.ndarray) -> dict:
    """Stream ``samples`` in real time with Spanish translation; per-sentence delays."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tid = (await client.post("/v1/transcripts", json={"name": "bench"})).json()["id"]
    ws = url.replace("http", "ws")
    final_seen: dict[float, float] = {}
    """Word end time (audio seconds) → when the client saw it final."""
    caption_delays: list[float] = []
    speech_delays: list[float] = []
    captions: dict[int, float] = {}
    """Sentence index → its end time in the audio."""

    async def listen_speech() -> None:
        async with websockets.connect(f"{ws}/v1/transcripts/{tid}/translations/es/speech") as s:
            seen: set[int] = set()
            async for raw in s:
                if isinstance(raw, bytes):
                    continue
                message = json.loads(raw)
                if message.get("type") == "end":
                    return
                index = message.get("index")
                if index in seen or index not in captions:
                    continue
                seen.add(index)
                final_at = final_seen.get(captions[index])
                if final_at is not None:
                    speech_delays.append(time.monotonic() - final_at)

    async def listen_events() -> None:
        async with websockets.connect(f"{ws}/v1/transcripts/{tid}/events") as events:
            async for raw in events:
                event = json.loads(raw)
                if event.get("type") == "TRANSLATION":
                    data = event["data"]
                    captions[data["index"]] = data["end"]
                    final_at = final_seen.get(data["end"])
                    if final_at is not None:
                        caption_delays.append(time.monotonic() - final_at)
                if event.get("type") == "STATUS" and event["data"].get("value") in (
                    "processing",
                    "ended",
                    "error",
                ):
                    return

    speech_task = asyncio.create_task(listen_speech())
    events_task = asyncio.create_task(listen_events())
    await asyncio.sleep(0.5)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    chunk = SAMPLE_RATE // 10
    async with websockets.connect(f"{ws}/v1/transcripts/{tid}/record/ws", max_size=None) as live:
        await live.send(json.dumps({"type": "config", "format": "s16le",
                                    "translate_to": ["es"]}))  # fmt: skip

        async def receive() -> None:
            async for raw in live:
                message = json.loads(raw)
                for word in message.get("final", []):
                    final_seen.setdefault(word["end"], time.monotonic())
                if message.get("type") == "stopped":
                    return

        receiver = asyncio.create_task(receive())
        started = time.monotonic()
        for index, first in enumerate(range(0, len(pcm), chunk)):
            await live.send(pcm[first : first + chunk].tobytes())
            await asyncio.sleep(max(0.0, started + (index + 1) * 0.1 - time.monotonic()))
        await live.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(receiver, timeout=600)
    await asyncio.wait_for(events_task, timeout=600)
    speech_task.cancel()
    return {
        "sentences": len(captions),
        "caption": stats_ms(caption_delays),
        "speech_first_byte": stats_ms(speech_delays),
    }


def make_clip(folder: Path) -> Path:
    piper = PiperTts()
    speech = piper.synthesize(
        "Good morning everyone, the new billing service went live on Tuesday.", varied=False
    )
    samples = resample(speech.samples, speech.sample_rate, SAMPLE_RATE)
    samples = np.concatenate([samples, np.zeros(max(0, 5 * SAMPLE_RATE - len(samples)))])
    return write_wav(samples[: 5 * SAMPLE_RATE].astype(np.float32), folder / "five_seconds.wav")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="reflector-bench-voice-"))
    report: dict = {}
    try:
        clip = make_clip(root)
        plan = MeetingPlan(num_speakers=2, duration=60 if quick else 120, overlaps=0, seed=7)
        meeting = generate_meeting(plan)
        (root / "server").mkdir()
        with running_server(root / "server", None) as server:
            url = server.base_url
            say("speech synthesis latency")
            first, whole, cached = tts_latencies(url, sentences(12 if quick else 40))
            report["tts_first_byte"] = stats_ms(first)
            report["tts_whole"] = stats_ms(whole)
            report["tts_cached"] = stats_ms(cached)
            say("throughput with 50 clients")
            report["tts_throughput"] = asyncio.run(
                throughput(url, sentences(8), 1000 if quick else 5000, 50)
            )
            say("speech to text")
            stt = stt_latencies(url, clip, 3 if quick else 10)
            report["stt"] = {**stats_ms(stt), "clip_s": 5.0}
            say("live translation")
            report["live_translation"] = asyncio.run(live_translation(url, meeting.samples))
        report["ratios"] = {
            "tts_first_byte_over_whole": ratio(report["tts_first_byte"]["p50_ms"],
                                               report["tts_whole"]["p50_ms"]),
            "tts_cached_p95_over_whole": ratio(report["tts_cached"]["p95_ms"],
                                               report["tts_whole"]["p50_ms"]),
            "throughput_over_reference": ratio(report["tts_throughput"]["requests_per_s"],
                                               REFERENCE_RPS),
            "stt_p50_over_clip": ratio(report["stt"]["p50_ms"], 5000.0),
        }  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report["machine"] = machine_report(load_before)
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
