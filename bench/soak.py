"""Soak: many clients for a while against one real server, and nothing may be lost.

Usage (from the repository root)::

    .venv/bin/python bench/soak.py                           # 20 clients for 60 s (~3 min)
    .venv/bin/python bench/soak.py --clients 50 --seconds 600  # the issue's full size
    .venv/bin/python bench/soak.py --faults                    # Redis and a worker killed
    .venv/bin/python bench/soak.py --kinds live                # reads and live sessions only

The real server (``reflector serve``: uvicorn, one process, the in-process job runner) runs on
127.0.0.1 over a fresh PostgreSQL database (or ``--database sqlite``) filled with generated
transcripts (those of ``bench/api.py``). Each client is one keep-alive connection that, for
``--seconds``, picks at random: ``get`` one transcript, ``list`` a page of 50 (with and without
filters and sorts), ``search``, or ``upload`` a real recording (a LibriVox reading from the test
data) through the resumable upload API (open, three ``PUT`` chunks, ``complete`` with its
SHA-256), which queues a job that the server processes (tiny.en, no diarization, extractive
summaries). A client may also record ``live`` into a new transcript over
``WS /v1/transcripts/{id}/record/ws`` (a LibriVox reading streamed as s16le PCM at real-time
pace, then ``stop``: one request, timed to the ``stopped`` message, whose transcript is then
processed like an upload), or call the voice API: ``tts`` speaks a short sentence
(``POST /v1/audio/speech``), ``stt`` recognizes the shortest reading
(``POST /v1/audio/transcriptions``), default models. An upload or a live session starts only
while fewer than ``--max-pending`` recordings wait for their job, at most ``--max-live`` live
sessions and ``--max-voice`` voice calls run at once, so a small machine keeps up; otherwise
the client reads.

First a warm-up (one recording and one live session processed, a TTS and an STT call, so the
models are loaded; 5 s of reads), not measured; then ``--settle-seconds`` of the soak's own mix,
not measured either, so that what the server sizes by concurrency (allocator arenas, kernels
and scratch of two decodes at once) is in the starting RSS, not counted as growth (the RSS
after the warm-up alone is reported too). Then the same clients run the read mix alone
for ``--baseline-seconds`` with no job running: that is the baseline, and ``ratios`` gives
soak ÷ baseline latency per read kind.
After the soak, every uploaded or live transcript is awaited (up to ``--drain-seconds``):
``completed`` ended, ``failed`` ended in error, ``lost`` never settled. Reported: requests and
5xx answers per phase, p50/p95 per kind (ms; an upload's steps are kinds of their own, and
``live_stop`` is a live session's ``stop`` to ``stopped``), jobs completed/failed/lost, the
server's RSS at rest after the warm-up, every 15 s of the soak and at rest at the end (after
the drain; "at rest": idle long enough for the server to hand freed memory back, see
``reflector.memory``), also split into anonymous memory (heaps, where a leak grows) and pages
of mapped files (libraries and models), and how busy the machine was. ``--kinds`` keeps only
the named kinds besides the reads, to find which one a change in memory comes from.

With ``--faults`` the jobs run the distributed way: the server hands them to a Celery worker
(``reflector worker --pool=solo``, with ``reflector beat``) through a Redis of the benchmark's
own (broker and event bus, with an append-only file as a broker should have), and during the
soak Redis is killed (SIGKILL) a third of the way in and started again 5 s later, and the worker
is killed (SIGKILL) two thirds of the way in and a new one started. Nothing may be lost: the
5xx count, the jobs and the worker's RSS are reported as before.

Prints one JSON object on stdout; progress goes to stderr. Everything lives in a temporary
directory that is removed; the PostgreSQL database (``REFLECTOR_BENCH_POSTGRES``, default
``postgresql://postgres@127.0.0.1:5432``) is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as api_bench  # bench/api.py: the generated transcripts

from reflector.audio import SAMPLE_RATE, decode_file
from reflector_testkit.machine import machine_report, process_memory
from reflector_testkit.ports import free_port
from reflector_testkit.servers import ServeProcess
from reflector_testkit.speech import TEST_DATA, librivox_clips

SEARCHES = api_bench.SEARCHES
FILTERS = (
    {},
    {"status": "ended"},
    {"source": "live"},
    {"sort": "title"},
    {"sort": "-duration"},
    {"created_after": "2025-07-01T00:00:00+00:00"},
)
WEIGHTS = {"get": 40, "list": 30, "search": 20, "upload": 10, "live": 3, "tts": 4, "stt": 4}
READS = ("get", "list", "search")
RSS_SAMPLE_SECONDS = 15.0
MEMORY_RELEASE_SECONDS = 10
"""The server hands freed memory back this often; RSS at start and end is read at rest, just
after it has."""
CHUNK_SECONDS = 0.1
"""A live session sends its audio in pieces of this length, at real-time pace."""


def log(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Tally:
    """What one phase saw: latencies per kind, answers by status class."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    requests: int = 0
    server_errors: int = 0
    """5xx answers, and requests that got no answer at all (a dropped connection)."""
    other_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    uploaded: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)
    """Transcripts that a live session streamed audio into: their job must end too."""

    def answer(self, response: httpx.Response | None, ok: tuple[int, ...]) -> bool:
        self.requests += 1
        if response is None or response.status_code >= 500:
            self.server_errors += 1
            return False
        if response.status_code not in ok:
            self.other_errors[str(response.status_code)] += 1
            return False
        return True

    def summary(self, seconds: float) -> dict:
        kinds = {
            kind: {
                "count": len(values),
                "p50_ms": round(percentile(values, 0.5) * 1000, 1),
                "p95_ms": round(percentile(values, 0.95) * 1000, 1),
            }
            for kind, values in sorted(self.latencies.items())
            if values
        }
        return {
            "seconds": round(seconds, 1),
            "requests": self.requests,
            "requests_per_s": round(self.requests / seconds, 1) if seconds else 0.0,
            "server_errors_5xx": self.server_errors,
            "other_errors": dict(self.other_errors),
            "kinds": kinds,
        }


class Soak:
    def __init__(
        self, server: ServeProcess, ids: list[str], recording: Path, live: list[Path], args
    ) -> None:
        self.server = server
        self.ids = ids
        self.recording = recording.read_bytes()
        self.digest = base64.b64encode(hashlib.sha256(self.recording).digest()).decode()
        self.live_pcm = [_pcm(path) for path in live]
        self.args = args
        self.rss_timeline_mb: list[float] = []
        self.anon_timeline_mb: list[float] = []
        self.pending: set[str] = set()
        """Uploaded and live transcripts whose job has not settled (checked by the clients)."""
        self.live_open = 0
        self.voice_open = 0

    async def _call(
        self,
        tally: Tally,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        ok: tuple[int, ...] = (200,),
        **kwargs,
    ) -> httpx.Response | None:
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError:
            response = None
        return response if tally.answer(response, ok) else None

    async def read(self, tally: Tally, client: httpx.AsyncClient, kind: str, rng) -> None:
        if kind == "get":
            url, params = f"/v1/transcripts/{rng.choice(self.ids)}", {}
        elif kind == "list":
            url = "/v1/transcripts"
            params = {"limit": 50, "offset": 50 * rng.randrange(20), **rng.choice(FILTERS)}
        else:
            url = "/v1/search"
            params = {"q": rng.choice(SEARCHES), "offset": 20 * rng.randrange(3)}
        started = time.perf_counter()
        if await self._call(tally, client, "GET", url, params=params) is not None:
            tally.latencies[kind].append(time.perf_counter() - started)

    async def _timed(
        self,
        tally: Tally,
        kind: str,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        ok: tuple[int, ...] = (200,),
        **kwargs,
    ) -> httpx.Response | None:
        started = time.perf_counter()
        response = await self._call(tally, client, method, url, ok, **kwargs)
        if response is not None:
            tally.latencies[kind].append(time.perf_counter() - started)
        return response

    async def upload(self, tally: Tally, client: httpx.AsyncClient) -> str | None:
        """A new transcript, its recording sent in three chunks and completed: the transcript's
        id once its job is queued (each step is timed as its own kind, the whole as
        ``upload``)."""
        started = time.perf_counter()
        created = await self._timed(
            tally, "create", client, "POST", "/v1/transcripts", (201,), json={"name": "soak upload"}
        )
        if created is None:
            return None
        tid = created.json()["id"]
        self.pending.add(tid)
        body = {"filename": "reading.wav", "size": len(self.recording)}
        opened = await self._timed(
            tally,
            "upload_open",
            client,
            "POST",
            f"/v1/transcripts/{tid}/uploads",
            (201,),
            json=body,
        )
        if opened is None:
            self.pending.discard(tid)
            return None
        url = f"/v1/transcripts/{tid}/uploads/{opened.json()['id']}"
        size = -(-len(self.recording) // 3)
        for offset in range(0, len(self.recording), size):
            chunk = self.recording[offset : offset + size]
            if (
                await self._timed(
                    tally,
                    "upload_put",
                    client,
                    "PUT",
                    url,
                    params={"offset": offset},
                    content=chunk,
                )
                is None
            ):
                self.pending.discard(tid)
                return None
        done = await self._timed(
            tally,
            "upload_complete",
            client,
            "POST",
            f"{url}/complete",
            params={"summarize": "true"},
            headers={"Upload-Checksum": f"sha256 {self.digest}"},
        )
        if done is None:
            self.pending.discard(tid)
            return None
        tally.latencies["upload"].append(time.perf_counter() - started)
        tally.uploaded.append(tid)
        return tid

    async def live(self, tally: Tally, client: httpx.AsyncClient, rng: random.Random) -> None:
        """A new transcript recorded over ``WS …/record/ws``: a LibriVox reading streamed at
        real-time pace, then ``stop``. One request, timed to the ``stopped`` message
        (``live``; ``live_stop`` from ``stop`` on); its job is then awaited like an upload's."""
        started = time.perf_counter()
        created = await self._timed(
            tally, "create", client, "POST", "/v1/transcripts", (201,), json={"name": "soak live"}
        )
        if created is None:
            return
        tid = created.json()["id"]
        self.pending.add(tid)
        self.live_open += 1
        streamed: list[bool] = []
        try:
            answer = await self._stream(tid, rng.choice(self.live_pcm), streamed)
        finally:
            self.live_open -= 1
        tally.requests += 1
        if streamed:  # the server keeps and processes whatever audio it received
            tally.live.append(tid)
        else:
            self.pending.discard(tid)
        if isinstance(answer, float):
            tally.latencies["live_stop"].append(answer)
            tally.latencies["live"].append(time.perf_counter() - started)
        elif answer is None:
            tally.server_errors += 1
        else:
            tally.other_errors[f"live {answer}"] += 1

    async def _stream(self, tid: str, pcm: bytes, streamed: list[bool]) -> float | str | None:
        """Seconds from ``stop`` to ``stopped``; else why the server refused (the handshake's
        4xx status, or the code of its ``error`` message), or None: a 5xx handshake, or the
        connection dropped before ``stopped``."""
        url = f"ws://127.0.0.1:{self.server.port}/v1/transcripts/{tid}/record/ws"
        step = int(CHUNK_SECONDS * SAMPLE_RATE) * 2
        try:
            async with websockets.connect(url, max_size=None, open_timeout=60) as socket:
                config = {"type": "config", "sample_rate": SAMPLE_RATE, "format": "s16le"}
                await socket.send(json.dumps(config))
                stopped = asyncio.create_task(_until_stopped(socket))
                try:
                    started = time.monotonic()
                    for index, first in enumerate(range(0, len(pcm), step)):
                        if stopped.done():
                            break  # the server answered early: an error, or it closed
                        await socket.send(pcm[first : first + step])
                        streamed[:] = [True]
                        ahead = started + (index + 1) * CHUNK_SECONDS - time.monotonic()
                        if ahead > 0:
                            await asyncio.sleep(ahead)
                    stop = time.perf_counter()
                    if not stopped.done():
                        await socket.send(json.dumps({"type": "stop"}))
                    error = await asyncio.wait_for(stopped, 120)
                finally:
                    stopped.cancel()
                return error or time.perf_counter() - stop
        except websockets.exceptions.InvalidStatus as refused:
            status = refused.response.status_code
            return None if status >= 500 else str(status)
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
            return None

    async def voice(
        self, tally: Tally, client: httpx.AsyncClient, kind: str, rng: random.Random
    ) -> None:
        """``tts``: a short sentence spoken (``POST /v1/audio/speech``, a new one each time so
        the speech cache does not answer); ``stt``: the shortest reading recognized
        (``POST /v1/audio/transcriptions``); default models both."""
        self.voice_open += 1
        try:
            if kind == "tts":
                sentence = f"Item {rng.randrange(10**6)} of the agenda is done, thank you all."
                body = {"model": "tts-1", "voice": "alloy", "input": sentence}
                await self._timed(tally, kind, client, "POST", "/v1/audio/speech", json=body)
            else:
                audio = {"file": ("reading.wav", self.recording, "audio/wav")}
                form = {"model": "whisper-1"}
                await self._timed(
                    tally, kind, client, "POST", "/v1/audio/transcriptions", data=form, files=audio
                )
        finally:
            self.voice_open -= 1

    async def sample_rss(self, stop: asyncio.Event) -> None:
        """The server's RSS every ``RSS_SAMPLE_SECONDS``: a leak climbs all along, a cache or an
        allocator's pool levels off."""
        while True:
            memory = self.server.memory_bytes()
            self.rss_timeline_mb.append(round(memory["VmRSS"] / 2**20, 1))
            self.anon_timeline_mb.append(round(memory["RssAnon"] / 2**20, 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RSS_SAMPLE_SECONDS)
                return

    async def warm_up(self) -> None:
        """One recording processed (models loaded, database and disk caches warm), one live
        session, a TTS and an STT call, and a few seconds of reads, none of it measured."""
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=120) as client:
            tid = await self.upload(Tally(), client)
            if tid is None:
                sys.exit("the warm-up upload failed: see the server log")
            while await self.settled(client, tid) is None:
                await asyncio.sleep(0.5)
            self.pending.discard(tid)
            rng = random.Random(0)
            for kind in ("tts", "stt"):  # the voice models loaded
                await self.voice(Tally(), client, kind, rng)
            live = Tally()
            await self.live(live, client, rng)  # and the live path's, so RSS counts from here
            for tid in live.live:
                while await self.settled(client, tid) is None:
                    await asyncio.sleep(0.5)
                self.pending.discard(tid)
        await self.phase(5.0, False, 0)

    async def settled(self, client: httpx.AsyncClient, tid: str) -> str | None:
        try:
            response = await client.get(f"/v1/transcripts/{tid}")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        status = response.json()["status"]
        return status if status in ("ended", "error") else None

    async def watch_pending(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Keep ``pending`` to the uploads whose job has not settled (not measured)."""
        while not stop.is_set():
            for tid in list(self.pending):
                if await self.settled(client, tid) is not None:
                    self.pending.discard(tid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def phase(
        self,
        seconds: float,
        uploads: bool,
        seed: int,
        faults: Callable[[float], Awaitable[None]] | None = None,
    ) -> tuple[Tally, float]:
        tally = Tally()
        stop = asyncio.Event()
        clients = [
            httpx.AsyncClient(
                base_url=self.server.base_url,
                limits=httpx.Limits(max_connections=1),
                timeout=120,
            )
            for _ in range(self.args.clients)
        ]
        kinds = [k for k in WEIGHTS if k in READS or (uploads and k in self.args.kinds)]
        weights = [WEIGHTS[k] for k in kinds]
        args = self.args

        async def client_loop(index: int, client: httpx.AsyncClient) -> None:
            rng = random.Random(seed * 1000 + index)
            while not stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                # Jobs, live streams and voice calls are bounded, so a small machine keeps up;
                # past a bound the client reads instead.
                queue_open = len(self.pending) < args.max_pending
                if kind == "upload" and queue_open:
                    await self.upload(tally, client)
                elif kind == "live" and queue_open and self.live_open < args.max_live:
                    await self.live(tally, client, rng)
                elif kind in ("tts", "stt") and self.voice_open < args.max_voice:
                    await self.voice(tally, client, kind, rng)
                else:
                    await self.read(tally, client, kind if kind in READS else "get", rng)

        watcher_client = httpx.AsyncClient(base_url=self.server.base_url, timeout=60)
        watcher = asyncio.create_task(self.watch_pending(watcher_client, stop))
        started = time.perf_counter()
        loops = [asyncio.create_task(client_loop(i, c)) for i, c in enumerate(clients)]
        injected = asyncio.create_task(faults(seconds)) if faults else None
        sampled = asyncio.create_task(self.sample_rss(stop)) if uploads else None
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*loops, *(task for task in (injected, sampled) if task))
        wall = time.perf_counter() - started
        await watcher
        await asyncio.gather(*(c.aclose() for c in [*clients, watcher_client]))
        return tally, wall

    async def drain(self, uploaded: list[str], live: list[str]) -> dict:
        outcome = {"uploaded": len(uploaded), "live": len(live)}
        outcome |= {"completed": 0, "failed": 0, "lost": 0}
        left = {*uploaded, *live}
        deadline = time.monotonic() + self.args.drain_seconds
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=60) as client:
            while left and time.monotonic() < deadline:
                for tid in list(left):
                    status = await self.settled(client, tid)
                    if status is not None:
                        outcome["completed" if status == "ended" else "failed"] += 1
                        left.discard(tid)
                if left:
                    await asyncio.sleep(1.0)
        outcome["lost"] = len(left)
        outcome["drain_s"] = round(self.args.drain_seconds - (deadline - time.monotonic()), 1)
        return outcome


async def _until_stopped(socket: websockets.ClientConnection) -> str | None:
    """Read what the server says until ``stopped`` (None) or an ``error`` (its code)."""
    async for message in socket:
        if isinstance(message, str):
            said = json.loads(message)
            if said.get("type") == "error":
                return str(said.get("code"))
            if said.get("type") == "stopped":
                return None
    raise ConnectionError("the live session closed without stopped")


def _pcm(path: Path) -> bytes:
    """A recording as the live protocol's s16le PCM, 16 kHz mono."""
    samples = decode_file(path).samples
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _speech_cache_bytes(port: int) -> int:
    """Bytes of synthesized audio the server's speech cache holds now (``GET /stats``)."""
    answer = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=30)
    answer.raise_for_status()
    return int(answer.json()["cache"]["bytes"])


def _rss_mb(pid: int) -> float:
    return round(process_memory(pid)["VmRSS"] / 2**20, 1)


class Cluster:
    """``--faults``: a Redis of the benchmark's own, a Celery worker and beat, and the faults
    injected into them during the soak."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.redis_url = f"redis://127.0.0.1:{free_port()}/0"
        self.redis: subprocess.Popen | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.env: dict[str, str] = {}
        self.events: list[dict] = []
        self.worker_rss: dict[str, float] = {}
        self.unsettled: Callable[[], int] = lambda: 0
        """How many uploaded recordings wait for their job (noted with each fault)."""

    def note(self, started: float, fault: str) -> None:
        at = round(time.monotonic() - started, 1)
        self.events.append({"at_s": at, "fault": fault, "jobs_unsettled": self.unsettled()})

    def server_env(self) -> dict[str, str]:
        return {
            "REFLECTOR_JOBS_BACKEND": "celery",
            "REFLECTOR_BUS_BACKEND": "redis",
            "REFLECTOR_REDIS_URL": self.redis_url,
            "REFLECTOR_CELERY_KEY_PREFIX": f"soak-{uuid.uuid4().hex[:8]}:",
            # A killed worker's job is taken over once its lease runs out.
            "REFLECTOR_JOB_LEASE_SECONDS": "15",
            "REFLECTOR_JOB_SWEEP_SECONDS": "2",
        }

    def start_redis(self) -> None:
        port = self.redis_url.rsplit(":", 1)[1].split("/")[0]
        command = ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--dir", str(self.folder)]
        self.redis = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", int(port)), timeout=1) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill_redis(self) -> None:
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()
            self.redis = None

    def start(self, name: str, *command: str) -> None:
        log_file = (self.folder / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "reflector", *command],
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)
        self.kill_redis()

    async def inject(self, seconds: float) -> None:
        """Redis killed a third of the way in (back 5 s later); the worker killed at two
        thirds, and a new one started."""
        started = time.monotonic()
        await asyncio.sleep(seconds / 3)
        self.note(started, "redis killed")
        log("fault: Redis killed")
        await asyncio.to_thread(self.kill_redis)
        await asyncio.sleep(5)
        await asyncio.to_thread(self.start_redis)
        self.note(started, "redis back")
        await asyncio.sleep(max(0.0, seconds * 2 / 3 - (time.monotonic() - started)))
        self.worker_rss["first_before_kill_mb"] = _rss_mb(self.processes["worker-1"].pid)
        log("fault: worker killed, a new one started")
        await asyncio.to_thread(self.kill, "worker-1")
        self.note(started, "worker killed")
        self.start("worker-2", "worker", "--pool=solo")


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
        return
    with api_bench.postgres_database() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=60.0,
        help="the soak's mix run before RSS is read at start, so pools sized by concurrency "
        "(thread arenas, inference scratch) are in the start figure, not in the growth",
    )
    parser.add_argument("--drain-seconds", type=float, default=300.0)
    parser.add_argument("--max-pending", type=int, default=3)
    parser.add_argument("--max-live", type=int, default=2, help="live sessions at once")
    parser.add_argument("--max-voice", type=int, default=2, help="TTS/STT calls at once")
    parser.add_argument("--transcripts", type=int, default=2000)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--kinds",
        type=lambda text: set(text.split(",")),
        default=set(WEIGHTS) - set(READS),
        help="the kinds besides reads in the soak's mix (comma-separated; default all: "
        "upload,live,tts,stt)",
    )
    parser.add_argument(
        "--faults", action="store_true", help="jobs on a Celery worker; Redis and worker killed"
    )
    args = parser.parse_args()

    clips = librivox_clips(TEST_DATA / "pocketsphinx" / "librivox")
    if not clips:
        sys.exit("the LibriVox test recordings are missing: run scripts/install.sh --dev")
    recording = min(clips, key=lambda clip: clip.duration)
    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="reflector-soak-"))
    try:
        data_dir = folder / "data"
        data_dir.mkdir()
        corpus = api_bench.generate_corpus(args.transcripts, args.seed)
        with database(args.database, folder) as url:
            target = url or f"sqlite+aiosqlite:///{data_dir / 'reflector.db'}"
            log(f"filling {args.database} with {args.transcripts} transcripts")
            api_bench.build_database(target, corpus)
            env = {
                "REFLECTOR_ASR_MODEL": "tiny.en",
                "REFLECTOR_ASR_BEAM_SIZE": "1",
                "REFLECTOR_LLM_BACKEND": "extractive",
                "REFLECTOR_DIARIZATION_BACKEND": "off",
                "REFLECTOR_RATE_LIMITS_ENABLED": "false",
                "OMP_NUM_THREADS": "1",
                "REFLECTOR_MEMORY_RELEASE_SECONDS": str(MEMORY_RELEASE_SECONDS),
                "REFLECTOR_MAX_LIVE_SESSIONS_PER_USER": str(max(3, args.max_live)),
            }
            cluster = Cluster(folder) if args.faults else None
            if cluster is not None:
                env.update(cluster.server_env())
                cluster.env = {
                    **os.environ,
                    "REFLECTOR_DATA_DIR": str(data_dir),
                    "REFLECTOR_LOG_LEVEL": "warning",
                    **({"REFLECTOR_DATABASE_URL": url} if url else {}),
                    **env,
                }
                cluster.start_redis()
                cluster.start("worker-1", "worker", "--pool=solo")
                cluster.start("beat", "beat")
            server = ServeProcess(data_dir, url, env)
            try:
                live = [clip.path for clip in clips]
                soak = Soak(server, corpus.ids, recording.path, live, args)
                if cluster is not None:
                    cluster.unsettled = lambda: len(soak.pending)
                log("warm-up: a recording and a live session processed, voice calls, reads")
                asyncio.run(soak.warm_up())
                time.sleep(MEMORY_RELEASE_SECONDS + 2)  # at rest: freed memory handed back
                rss_warm = server.rss_bytes()
                if args.settle_seconds > 0:
                    log(f"settling: the soak's mix for {args.settle_seconds} s, not measured")
                    settle, _ = asyncio.run(soak.phase(args.settle_seconds, True, args.seed + 2))
                    asyncio.run(soak.drain(settle.uploaded, settle.live))
                    soak.rss_timeline_mb.clear()  # the timeline is the soak's own
                    soak.anon_timeline_mb.clear()
                    time.sleep(MEMORY_RELEASE_SECONDS + 2)
                log(f"baseline: {args.clients} clients, reads only, {args.baseline_seconds} s")
                memory_start = server.memory_bytes()
                rss_start = memory_start["VmRSS"]
                cache_start = _speech_cache_bytes(server.port)
                if cluster is not None:
                    cluster.worker_rss["first_start_mb"] = _rss_mb(
                        cluster.processes["worker-1"].pid
                    )
                baseline, baseline_wall = asyncio.run(
                    soak.phase(args.baseline_seconds, False, args.seed)
                )
                cpu_start = server.cpu_seconds()
                log(
                    f"soak: {args.clients} clients, {args.seconds} s, uploads of "
                    f"{recording.path.name} ({recording.duration:.1f} s)"
                )
                faults = cluster.inject if cluster is not None else None
                tally, wall = asyncio.run(soak.phase(args.seconds, True, args.seed + 1, faults))
                log(f"drain: {len(tally.uploaded)} uploads, {len(tally.live)} live, waiting")
                jobs = asyncio.run(soak.drain(tally.uploaded, tally.live))
                time.sleep(MEMORY_RELEASE_SECONDS + 2)
                memory_end = server.memory_bytes()
                rss_end = memory_end["VmRSS"]
                cache_end = _speech_cache_bytes(server.port)
                cpu = server.cpu_seconds() - cpu_start
                if cluster is not None:
                    cluster.worker_rss["second_end_mb"] = _rss_mb(cluster.processes["worker-2"].pid)
            finally:
                server.stop()
                if cluster is not None:
                    cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    soak_summary = tally.summary(wall)
    base_summary = baseline.summary(baseline_wall)
    ratios = {}
    for kind, numbers in base_summary["kinds"].items():
        under_load = soak_summary["kinds"].get(kind)
        if under_load:
            ratios[kind] = {
                "p50": round(under_load["p50_ms"] / numbers["p50_ms"], 2),
                "p95": round(under_load["p95_ms"] / numbers["p95_ms"], 2),
            }
    report = {
        "benchmark": "soak",
        "config": {
            "clients": args.clients,
            "seconds": args.seconds,
            "baseline_seconds": args.baseline_seconds,
            "database": args.database,
            "transcripts": args.transcripts,
            "max_pending": args.max_pending,
            "max_live": args.max_live,
            "max_voice": args.max_voice,
            "recording": {"file": recording.path.name, "seconds": round(recording.duration, 1)},
            "weights": {k: w for k, w in WEIGHTS.items() if k in READS or k in args.kinds},
            "faults": args.faults,
        },
        "baseline": base_summary,
        "soak": soak_summary,
        "ratios_soak_over_baseline": ratios,
        "jobs": jobs,
        "server": {
            "rss_after_warm_up_mb": round(rss_warm / 2**20, 1),
            "rss_start_mb": round(rss_start / 2**20, 1),
            "rss_end_mb": round(rss_end / 2**20, 1),
            "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 1),
            # The speech cache keeps synthesized audio by design (up to its byte limit): the
            # growth left once what it holds is set aside is what a leak would show in.
            "speech_cache_start_mb": round(cache_start / 2**20, 1),
            "speech_cache_end_mb": round(cache_end / 2**20, 1),
            "rss_growth_less_speech_cache_pct": round(
                100 * ((rss_end - cache_end) - (rss_start - cache_start)) / rss_start, 1
            ),
            # RSS is anonymous memory (heaps: where a leak grows) plus pages of mapped files
            # (libraries and models, read in as code paths first run; the kernel can drop them).
            "anon_start_mb": round(memory_start["RssAnon"] / 2**20, 1),
            "anon_end_mb": round(memory_end["RssAnon"] / 2**20, 1),
            "anon_growth_pct": round(
                100 * (memory_end["RssAnon"] - memory_start["RssAnon"]) / memory_start["RssAnon"],
                1,
            ),
            "file_start_mb": round(memory_start["RssFile"] / 2**20, 1),
            "file_end_mb": round(memory_end["RssFile"] / 2**20, 1),
            "rss_every_15_s_mb": soak.rss_timeline_mb,
            "anon_every_15_s_mb": soak.anon_timeline_mb,
            "rss_peak_mb": max(soak.rss_timeline_mb, default=None),
            "cpu_s_soak_and_drain": round(cpu, 1),
        },
        "machine": machine_report(load_before),
    }
    if cluster is not None:
        report["faults"] = {"events": cluster.events, "worker_rss": cluster.worker_rss}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
