"""Benchmark: webhook deliveries to a slow receiver while the API is under load.

Usage (from the repository root)::

    .venv/bin/python bench/webhooks.py                     # 1,000 deliveries, 200 ms each
    .venv/bin/python bench/webhooks.py --deliveries 200    # quicker

The real server (``reflector serve``, embedded SQLite, in-process jobs, so its own webhook
sender loop) runs on 127.0.0.1 with a few hundred generated transcripts and one webhook
endpoint. The receiver is a real HTTP server in a process of its own that answers every
request after ``--delay`` seconds (200 ms) and checks each signature. ``--clients`` concurrent
clients (one keep-alive connection each) read ``GET /v1/transcripts/{id}`` and list pages
without pause, in three phases:

* ``baseline_before``: ``--seconds`` of load, nothing to deliver;
* ``with_deliveries``: ``--deliveries`` events (``transcript.completed``, payload built by the
  server at the first try) are queued in the database at once, and the load runs until every
  one is delivered;
* ``baseline_after``: ``--seconds`` of load again.

Reported per phase: requests, errors, p50/p95 latency (ms), requests per second, the server's
CPU seconds. Deliveries: how many were delivered, failed and received with a valid signature,
the seconds until the last one, and the least possible time at the sender's concurrency
(``deliveries * delay / concurrency``). The ratios compare the phase with deliveries with the
mean of the two baselines, measured in the same run. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from reflector.db import repository
from reflector.db.engine import make_engine, upgrade_database
from reflector.db.tables import TranscriptRow, User, WebhookDeliveryRow, WebhookEventRow
from reflector.integrations.webhooks.signing import verify
from reflector_testkit.machine import machine_report
from reflector_testkit.servers import ServeProcess, running_server
from reflector_testkit.webhook_receiver import WebhookReceiver

SECRET = "whsec_benchmark-secret-0123456789"
CONCURRENCY = 16


def log(message: str) -> None:
    print(f"[webhooks] {message}", file=sys.stderr, flush=True)


# --- the receiver, in a process of its own ---------------------------------------------------


def _receive(delay: float, url_out, received, valid, stop) -> None:
    with WebhookReceiver() as receiver:
        receiver.respond(200, delay=delay)
        url_out.put(receiver.url)
        seen = 0
        while not stop.is_set() or seen < receiver.count():
            time.sleep(0.05)
            for request in receiver.received[seen:]:
                header = request.headers.get("reflector-signature", "")
                with valid.get_lock():
                    valid.value += verify(SECRET, request.body, header)
                seen += 1
            received.value = seen


class ReceiverProcess:
    def __init__(self, delay: float) -> None:
        context = multiprocessing.get_context("fork")
        self.received = context.Value("i", 0)
        self.valid = context.Value("i", 0)
        self._stop = context.Event()
        urls = context.Queue()
        self.process = context.Process(
            target=_receive, args=(delay, urls, self.received, self.valid, self._stop)
        )
        self.process.start()
        self.url: str = urls.get(timeout=30)

    def close(self) -> None:
        self._stop.set()
        self.process.join(timeout=30)


# --- the database ----------------------------------------------------------------------------


def transcript_rows(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        created = start + timedelta(minutes=index)
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "user_id": repository.LOCAL_USER_ID,
                "name": f"meeting {index}.m4a",
                "status": "ended",
                "source": "file",
                "title": f"Weekly sync {index}",
                "short_summary": "The team reviewed the release and agreed on next steps.",
                "long_summary": "## Release\nThe release is on track.\n## Hiring\nTwo offers out.",
                "text": "we reviewed the release " * 40,
                "duration": 1800.0,
                "share_mode": "private",
                "locked": False,
                "reviewed": False,
                "notes": [],
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


async def _fill(url: str, rows: list[dict[str, Any]]) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(User), [{"id": repository.LOCAL_USER_ID, "name": "Local user"}]
            )
            await connection.execute(insert(TranscriptRow), rows)
    finally:
        await engine.dispose()


async def queue_deliveries(url: str, webhook_id: str, ids: list[str], count: int) -> None:
    """``count`` events and their deliveries, all due now, in one transaction."""
    now = datetime.now(UTC)
    events = [
        {
            "id": uuid.uuid4().hex,
            "type": "transcript.completed",
            "dedup_key": f"bench:{uuid.uuid4().hex}",
            "transcript_id": ids[i % len(ids)],
            "created_at": now,
        }
        for i in range(count)
    ]
    deliveries = [
        {
            "id": uuid.uuid4().hex,
            "webhook_id": webhook_id,
            "event_id": event["id"],
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event in events
    ]
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(WebhookEventRow), events)
            await connection.execute(insert(WebhookDeliveryRow), deliveries)
    finally:
        await engine.dispose()


async def delivery_counts(engine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(WebhookDeliveryRow.status, func.count()).group_by(WebhookDeliveryRow.status)
        )
        return {status: count for status, count in rows.all()}


# --- load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    requests_per_s: float
    wall_s: float
    server_cpu_s: float


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def load(server: ServeProcess, ids: list[str], clients: int, until) -> Phase:
    """Closed-loop load by ``clients`` until ``await until()`` is true."""
    pool = [
        httpx.AsyncClient(
            base_url=server.base_url, limits=httpx.Limits(max_connections=1), timeout=60
        )
        for _ in range(clients)
    ]
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    done = asyncio.Event()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not done.is_set():
            index = next(counter)
            if index % 4 == 3:
                path, params = "/v1/transcripts", {"page": index % 10 + 1, "size": 20}
            else:
                path, params = f"/v1/transcripts/{ids[index % len(ids)]}", {}
            started = time.perf_counter()
            response = await client.get(path, params=params)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    async def watch() -> None:
        while not await until():
            await asyncio.sleep(0.1)
        done.set()

    try:
        await asyncio.gather(*(c.get("/healthz") for c in pool))  # open the connections
        cpu_before, started = server.cpu_seconds(), time.perf_counter()
        await asyncio.gather(watch(), *(worker(c) for c in pool))
        wall = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_before
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return Phase(
        requests=len(latencies),
        errors=errors,
        p50_ms=round(_percentile(latencies, 0.5) * 1000, 2),
        p95_ms=round(_percentile(latencies, 0.95) * 1000, 2),
        requests_per_s=round(len(latencies) / wall, 1),
        wall_s=round(wall, 2),
        server_cpu_s=round(cpu, 2),
    )


def for_seconds(seconds: float):
    deadline = time.monotonic() + seconds

    async def until() -> bool:
        return time.monotonic() >= deadline

    return until


# --- the run ---------------------------------------------------------------------------------


async def measure(server: ServeProcess, url: str, args, receiver: ReceiverProcess) -> dict:
    ids = [row["id"] for row in transcript_rows(args.transcripts)]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        answer = await client.post(
            "/v1/webhooks",
            json={"url": receiver.url, "secret": SECRET, "events": ["transcript.completed"]},
        )
        answer.raise_for_status()
        webhook_id = answer.json()["id"]
    log(f"baseline: {args.seconds} s of load")
    before = await load(server, ids, args.clients, for_seconds(args.seconds))

    engine = make_engine(url)
    try:
        await queue_deliveries(url, webhook_id, ids, args.deliveries)
        queued_at = time.perf_counter()
        finished_at: list[float] = []
        deadline = time.monotonic() + args.timeout
        log(f"{args.deliveries} deliveries queued; load until they are delivered")

        async def all_delivered() -> bool:
            counts = await delivery_counts(engine)
            settled = counts.get("delivered", 0) + counts.get("failed", 0)
            if settled >= args.deliveries and not finished_at:
                finished_at.append(time.perf_counter())
            return settled >= args.deliveries or time.monotonic() > deadline

        during = await load(server, ids, args.clients, all_delivered)
        counts = await delivery_counts(engine)
    finally:
        await engine.dispose()
    log(f"baseline again: {args.seconds} s of load")
    after = await load(server, ids, args.clients, for_seconds(args.seconds))

    seconds = (finished_at[0] if finished_at else time.perf_counter()) - queued_at
    ideal = args.deliveries * args.delay / CONCURRENCY
    baseline_p95 = (before.p95_ms + after.p95_ms) / 2
    baseline_p50 = (before.p50_ms + after.p50_ms) / 2
    return {
        "phases": {
            "baseline_before": asdict(before),
            "with_deliveries": asdict(during),
            "baseline_after": asdict(after),
        },
        "deliveries": {
            "queued": args.deliveries,
            "delivered": counts.get("delivered", 0),
            "failed": counts.get("failed", 0),
            "received": receiver.received.value,
            "signatures_valid": receiver.valid.value,
            "seconds": round(seconds, 2),
            "per_second": round(args.deliveries / seconds, 1),
            "ideal_seconds": round(ideal, 2),
        },
        "ratios": {
            "p95_with_deliveries_over_without": round(during.p95_ms / baseline_p95, 3),
            "p50_with_deliveries_over_without": round(during.p50_ms / baseline_p50, 3),
            "delivery_seconds_over_ideal": round(seconds / ideal, 3),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.2, help="receiver's seconds/request")
    parser.add_argument("--clients", type=int, default=10, help="concurrent API clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="each baseline's length")
    parser.add_argument("--transcripts", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    receiver = ReceiverProcess(args.delay)
    try:
        with tempfile.TemporaryDirectory(prefix="reflector-bench-webhooks-") as folder:
            data_dir = Path(folder)
            url = f"sqlite:///{data_dir / 'reflector.db'}"
            upgrade_database(url)
            asyncio.run(_fill(url, transcript_rows(args.transcripts)))
            env = {
                "REFLECTOR_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
                "REFLECTOR_WEBHOOK_CONCURRENCY": str(CONCURRENCY),
                "REFLECTOR_LIVE_PRELOAD": "false",
                "REFLECTOR_PUBLIC_URL": "https://reflector.example.org",
            }
            with running_server(data_dir, url, env) as server:
                results = asyncio.run(measure(server, url, args, receiver))
    finally:
        receiver.close()
    report = {
        "benchmark": "webhooks",
        "config": {
            "deliveries": args.deliveries,
            "receiver_delay_s": args.delay,
            "sender_concurrency": CONCURRENCY,
            "api_clients": args.clients,
            "baseline_seconds": args.seconds,
            "transcripts": args.transcripts,
            "database": "sqlite",
        },
        **results,
        "machine": machine_report(load_before),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
