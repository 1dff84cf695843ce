"""Soak: many clients for a while against one real server, and nothing may be lost.

Usage (from the repository root)::

    .venv/bin/python bench/soak.py                           # 20 clients for 60 s (~3 min)
    .venv/bin/python bench/soak.py --clients 50 --seconds 600  # the issue's full size
    .venv/bin/python bench/soak.py --faults                    # Redis and a worker killed

The real server (``reflector serve``: uvicorn, one process, the in-process job runner) runs on
127.0.0.1 over a fresh PostgreSQL database (or ``--database sqlite``) filled with generated
transcripts (those of ``bench/api.py``). Each client is one keep-alive connection that, for
``--seconds``, picks at random: ``get`` one transcript, ``list`` a page of 50 (with and without
filters and sorts), ``search``, or ``upload`` a real recording (a LibriVox reading from the test
data) through the resumable upload API (open, three ``PUT`` chunks, ``complete`` with its
SHA-256), which queues a job that the server processes (tiny.en, no diarization, extractive
summaries). An upload is done only while fewer than ``--max-pending`` uploaded recordings wait
for their job, so the queue stays bounded on a small machine; otherwise the client reads.

First a warm-up (one recording processed, so the models are loaded; 5 s of reads), not
measured. Then the same clients run the read mix alone for ``--baseline-seconds`` with no job
running: that is the baseline, and ``ratios`` gives soak ÷ baseline latency per read kind.
After the soak, every uploaded transcript is awaited (up to ``--drain-seconds``): ``completed``
ended, ``failed`` ended in error, ``lost`` never settled. Reported: requests and 5xx answers
per phase, p50/p95 per kind (ms; an upload's steps are kinds of their own), jobs
completed/failed/lost, the server's RSS after the warm-up and at the end (after the drain), and
how busy the machine was.

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as api_bench  # bench/api.py: the generated transcripts

from reflector_testkit.machine import machine_report
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
WEIGHTS = {"get": 40, "list": 30, "search": 20, "upload": 10}


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
    def __init__(self, server: ServeProcess, ids: list[str], recording: Path, args) -> None:
        self.server = server
        self.ids = ids
        self.recording = recording.read_bytes()
        self.digest = base64.b64encode(hashlib.sha256(self.recording).digest()).decode()
        self.args = args
        self.pending: set[str] = set()
        """Uploaded transcripts whose job has not settled (checked by the uploader)."""

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

    async def warm_up(self) -> None:
        """One recording processed (models loaded, database and disk caches warm) and a few
        seconds of reads, none of it measured."""
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=120) as client:
            tid = await self.upload(Tally(), client)
            if tid is None:
                sys.exit("the warm-up upload failed: see the server log")
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
        kinds = [k for k in WEIGHTS if uploads or k != "upload"]
        weights = [WEIGHTS[k] for k in kinds]

        async def client_loop(index: int, client: httpx.AsyncClient) -> None:
            rng = random.Random(seed * 1000 + index)
            while not stop.is_set():
                kind = rng.choices(kinds, weights)[0]
                if kind == "upload" and len(self.pending) < self.args.max_pending:
                    await self.upload(tally, client)
                else:
                    await self.read(tally, client, "get" if kind == "upload" else kind, rng)

        watcher_client = httpx.AsyncClient(base_url=self.server.base_url, timeout=60)
        watcher = asyncio.create_task(self.watch_pending(watcher_client, stop))
        started = time.perf_counter()
        loops = [asyncio.create_task(client_loop(i, c)) for i, c in enumerate(clients)]
        injected = asyncio.create_task(faults(seconds)) if faults else None
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*loops, *([injected] if injected else []))
        wall = time.perf_counter() - started
        await watcher
        await asyncio.gather(*(c.aclose() for c in [*clients, watcher_client]))
        return tally, wall

    async def drain(self, uploaded: list[str]) -> dict:
        outcome = {"uploaded": len(uploaded), "completed": 0, "failed": 0, "lost": 0}
        left = set(uploaded)
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


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


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
    parser.add_argument("--drain-seconds", type=float, default=300.0)
    parser.add_argument("--max-pending", type=int, default=3)
    parser.add_argument("--transcripts", type=int, default=2000)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--seed", type=int, default=7)
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
                soak = Soak(server, corpus.ids, recording.path, args)
                if cluster is not None:
                    cluster.unsettled = lambda: len(soak.pending)
                log("warm-up: one recording processed, 5 s of reads")
                asyncio.run(soak.warm_up())
                log(f"baseline: {args.clients} clients, reads only, {args.baseline_seconds} s")
                rss_start = server.rss_bytes()
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
                log(f"drain: {len(tally.uploaded)} uploads, waiting for their jobs")
                jobs = asyncio.run(soak.drain(tally.uploaded))
                rss_end = server.rss_bytes()
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
            "recording": {"file": recording.path.name, "seconds": round(recording.duration, 1)},
            "weights": WEIGHTS,
            "faults": args.faults,
        },
        "baseline": base_summary,
        "soak": soak_summary,
        "ratios_soak_over_baseline": ratios,
        "jobs": jobs,
        "server": {
            "rss_start_mb": round(rss_start / 2**20, 1),
            "rss_end_mb": round(rss_end / 2**20, 1),
            "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 1),
            "cpu_s_soak_and_drain": round(cpu, 1),
        },
        "machine": machine_report(load_before),
    }
    if cluster is not None:
        report["faults"] = {"events": cluster.events, "worker_rss": cluster.worker_rss}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
