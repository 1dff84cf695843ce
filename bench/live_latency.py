"""Benchmark: live transcription latency over the WebSocket, at real-time pace.

Usage (from the repository root)::

    .venv/bin/python bench/live_latency.py [--seconds 60] [--sessions 1,4] [--seed 5]

Generates a two-speaker meeting with known words and turn starts, starts the real server
(uvicorn, in this process, on 127.0.0.1) and streams the meeting into
``WS /v1/transcripts/{id}/record/ws`` in 100 ms chunks at real-time pace, from 1 and then from
several concurrent clients. Measured per session, on the client's clock:

* first word after speech onset: from the moment a turn's first audio was sent to the first
  message showing a word of it (interim or final);
* final-word delay: from the moment the audio holding a word's end was sent to the message that
  made the word final;
* lag: how far behind real time the last update came (grows without bound if the server cannot
  keep up);
* confirmed WER: the final words against the script.

The baseline is offline transcription of the same audio with the same model (``transcribe_file``
on the whole recording): the goal is a confirmed WER at most 2 points above it. Goals on 2 cores
with tiny.en: first word p95 <= 0.5 s, final-word delay p50 <= 1.5 s and p95 <= 2.5 s. Prints
one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Before the speech engines load: their OpenMP threads sleep instead of spinning when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import httpx
import websockets

from reflector.api.threaded import ThreadedServer
from reflector.audio import SAMPLE_RATE, write_wav
from reflector.logging_setup import configure_logging
from reflector.pipelines.file import TranscribeOptions, transcribe_file
from reflector.settings import Settings
from reflector_testkit.meetings import Meeting, MeetingPlan, generate_meeting
from reflector_testkit.ports import free_port
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import wait_for_live_models

CHUNK_SECONDS = 0.1


def say(message: str) -> None:
    print(f"[live] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


async def stream_session(url: str, meeting: Meeting) -> dict:
    """One client streaming the meeting at real-time pace; returns its measurements."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tid = (await client.post("/v1/transcripts", json={"name": "bench"})).json()["id"]
    pcm = (np.clip(meeting.samples, -1, 1) * 32767).astype("<i2")
    chunk = round(CHUNK_SECONDS * SAMPLE_RATE)
    messages: list[tuple[float, dict]] = []
    ws_url = url.replace("http", "ws") + f"/v1/transcripts/{tid}/record/ws"
    async with websockets.connect(ws_url, max_size=None) as socket_:
        await socket_.send(json.dumps({"type": "config", "format": "s16le"}))
        started = time.perf_counter()

        async def receive() -> None:
            async for raw in socket_:
                message = json.loads(raw)
                messages.append((time.perf_counter() - started, message))
                if message.get("type") == "stopped":
                    return

        receiver = asyncio.create_task(receive())
        for index, first in enumerate(range(0, len(pcm), chunk)):
            due = (index + 1) * CHUNK_SECONDS  # the chunk has been "spoken" by then
            await asyncio.sleep(max(0.0, due - (time.perf_counter() - started)))
            await socket_.send(pcm[first : first + chunk].tobytes())
        await socket_.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(receiver, timeout=120)
    updates = [(wall, m) for wall, m in messages if m.get("type") == "transcript"]
    finals = [(wall, w) for wall, m in updates for w in m["final"]]
    final_delays = [wall - w["end"] for wall, w in finals]
    onsets = [turn.start for turn in meeting.turns]
    first_delays = []
    for onset in onsets:
        for wall, message in updates:
            words = message["interim"] + message["final"]
            if wall >= onset and any(w["end"] >= onset for w in words):
                first_delays.append(wall - onset)
                break
    lag = [wall - m["audio_time"] for wall, m in updates]
    text = "".join(w["text"] for _, w in finals)
    return {
        "transcript_id": tid,
        "final_delays": final_delays,
        "first_delays": first_delays,
        "lag_end": round(lag[-1], 3) if lag else None,
        "lag_max": round(max(lag), 3) if lag else None,
        "degraded": any(m.get("degraded") for _, m in updates),
        "text": text,
    }


def summarise(results: list[dict], reference: str) -> dict:
    finals = [d for r in results for d in r["final_delays"]]
    firsts = [d for r in results for d in r["first_delays"]]
    wers = [word_error_rate(reference, r["text"]) for r in results]
    return {
        "sessions": len(results),
        "first_word_s": {"p50": percentile(firsts, 50), "p95": percentile(firsts, 95)},
        "final_word_delay_s": {"p50": percentile(finals, 50), "p95": percentile(finals, 95)},
        "lag_at_end_s": [r["lag_end"] for r in results],
        "lag_max_s": [r["lag_max"] for r in results],
        "degraded": [r["degraded"] for r in results],
        "confirmed_wer": round(float(np.mean(wers)), 4) if wers else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sessions", default="1,4")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    configure_logging("warning")  # stdout carries only the JSON report

    say("generating the meeting")
    plan = MeetingPlan(num_speakers=2, duration=args.seconds, overlaps=0, seed=args.seed)
    meeting = generate_meeting(plan)
    reference = " ".join(turn.text for turn in meeting.turns)
    work = Path(tempfile.mkdtemp(prefix="reflector-live-bench-"))
    data_dir = work / "data"
    # Extractive summaries: post-processing stays light.
    settings = Settings(
        data_dir=data_dir, port=free_port(), asr_model="tiny.en", llm_backend="extractive"
    )

    say("offline baseline: the whole recording with the same model")
    wav = write_wav(meeting.samples, work / "meeting.wav")
    started = time.perf_counter()
    offline = transcribe_file(
        wav,
        TranscribeOptions(model="tiny.en", language="en", diarize=False, summarize=False),
        data_dir,
    )
    offline_seconds = time.perf_counter() - started
    offline_wer = word_error_rate(reference, offline.text)

    runs = {}
    with ThreadedServer(settings) as server:
        wait_for_live_models(server.url)
        for count in (int(n) for n in args.sessions.split(",")):
            say(f"{count} concurrent session(s) at real-time pace")

            async def run_all(count: int = count) -> list[dict]:
                return await asyncio.gather(
                    *(stream_session(server.url, meeting) for _ in range(count))
                )

            runs[str(count)] = summarise(asyncio.run(run_all()), reference)
            say(json.dumps(runs[str(count)]))
    single = runs.get("1") or next(iter(runs.values()))
    report = {
        "machine": {"cpus": os.cpu_count(), "load_average_1m_at_end": os.getloadavg()[0]},
        "audio_seconds": round(meeting.duration, 1),
        "model": "tiny.en",
        "baseline": {
            "name": "offline transcribe_file, same audio and model",
            "wer": round(offline_wer, 4),
            "seconds": round(offline_seconds, 2),
        },
        "runs": runs,
        "confirmed_wer_minus_offline_points": round(
            100 * ((single["confirmed_wer"] or 0) - offline_wer), 2
        ),
        "goals": {
            "first_word_p95_s": 0.5,
            "final_word_delay_p50_s": 1.5,
            "final_word_delay_p95_s": 2.5,
            "confirmed_wer_max_points_over_offline": 2.0,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
