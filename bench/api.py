"""Benchmark: the HTTP API under load, SQLite (embedded) beside PostgreSQL, and upload memory.

Usage (from the repository root)::

    .venv/bin/python bench/api.py            # 10,000 transcripts; 1 GiB and 100 MiB uploads
    .venv/bin/python bench/api.py --quick    # 1,000 transcripts; 200 MiB and 20 MiB uploads

For each database, a fresh one is filled with generated transcripts (a title, short and long
summaries and a ~200-word text each, inserted in bulk), then the real server
(``reflector serve``, uvicorn, one process) is started on 127.0.0.1 and driven by 50 concurrent
clients (one ``httpx.AsyncClient``, 50 connections) through three workloads:

* ``get``: ``GET /v1/transcripts/{id}`` for random ids;
* ``list``: ``GET /v1/transcripts`` pages of 50 at random page numbers, with and without filters
  (status, source, creation time) and different sorts;
* ``search``: ``GET /v1/search`` with a few queries of different frequency.

Each workload reports p50/p95 latency (ms), requests per second, the server's CPU seconds and
any non-200 answers. The baseline is the other database: ``ratios.sqlite_over_postgres``.

Uploads run against a separate server on an empty SQLite database: a transcript, then
``POST /v1/transcripts/{id}/uploads`` and ``PUT …?offset=`` chunks of 64 MiB until the file is
sent. ``complete`` is not called (the bytes are not audio). The server's RSS is sampled every
20 ms; the small upload is the baseline for the large one (``peak_rss_ratio_large_over_small``
close to 1 means memory does not grow with the file size).

The PostgreSQL database is created on ``REFLECTOR_BENCH_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432``) and dropped afterwards; everything else lives in a
temporary directory that is removed. Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from reflector.db import repository
from reflector.db.engine import make_engine, upgrade_database
from reflector.db.tables import TranscriptRow, User
from reflector_testkit.machine import machine_report
from reflector_testkit.servers import ServeProcess, running_server

POSTGRES_ADMIN = os.environ.get("REFLECTOR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
MIB = 1024 * 1024
CHUNK = 64 * MIB
PAGE_SIZE = 50
SEARCHES = ("budget", "security checklist", "customer onboarding", "kubernetes migration", "hiring")


def log(message: str) -> None:
    print(f"[api] {message}", file=sys.stderr, flush=True)


# --- generated transcripts ---------------------------------------------------------------------

_TOPICS = (
    ("budget", "the quarterly budget", "finance"),
    ("roadmap", "the product roadmap", "product"),
    ("security", "the security checklist", "security"),
    ("hiring", "hiring for the platform team", "people"),
    ("onboarding", "customer onboarding", "customer success"),
    ("release", "the mobile release", "engineering"),
    ("pricing", "the new pricing tiers", "sales"),
    ("incident", "last week's outage", "operations"),
    ("migration", "the kubernetes migration", "infrastructure"),
    ("marketing", "the spring campaign", "marketing"),
)
_NAMES = ("Ana", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas")
_SENTENCES = (
    "{a} opened the meeting and asked everyone to focus on {t}.",
    "We reviewed the numbers for {t} and they look better than last month.",
    "{b} said the {d} team needs two more weeks before anything ships.",
    "The main risk is that {t} slips past the end of the quarter.",
    "{a} will send a summary to the {d} channel by Friday.",
    "We agreed to keep the scope small and revisit it in the next sprint.",
    "Customers keep asking about {t}, so it stays at the top of the list.",
    "{b} raised a concern about the cost of the extra servers.",
    "Nobody objected, so the decision stands until the next review.",
    "The dashboard shows a clear drop in errors since the last change.",
    "{a} suggested a short workshop with the {d} people next Tuesday.",
    "We need a clear owner for {t} before the end of the week.",
    "{b} will check the contract terms with legal and report back.",
    "Most of the time went into details that can wait for a follow-up.",
    "The budget for {t} is approved, but travel stays frozen for now.",
    "Let's write the open questions down so we do not lose them again.",
)


@dataclass(frozen=True)
class Corpus:
    rows: list[dict]

    @property
    def ids(self) -> list[str]:
        return [row["id"] for row in self.rows]


def generate_corpus(count: int, seed: int) -> Corpus:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        key, topic, department = _TOPICS[rng.randrange(len(_TOPICS))]
        a, b = rng.sample(_NAMES, 2)
        words: list[str] = []
        while len(words) < 200:
            words += rng.choice(_SENTENCES).format(a=a, b=b, t=topic, d=department).split()
        created = start + timedelta(seconds=rng.randrange(365 * 24 * 3600))
        title = f"{topic[0].upper()}{topic[1:]}: {rng.choice(('sync', 'review', 'planning'))}"
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "user_id": repository.LOCAL_USER_ID,
                "name": f"{department.title()} meeting {index}",
                "status": rng.choices(("ended", "error", "idle"), (90, 5, 5))[0],
                "source": rng.choices(("file", "live", "room"), (60, 20, 20))[0],
                "source_language": "en",
                "title": title,
                "short_summary": (
                    f"{a} and {b} discussed {topic} with the {department} team; "
                    f"{b} owns the next steps."
                ),
                "long_summary": (
                    f"## {title}\n{a} led the discussion of {topic}. The team agreed on the "
                    f"scope and {b} will follow up with {department} before the next meeting."
                ),
                "text": " ".join(words[:210]),
                "duration": round(rng.uniform(300, 3600), 1),
                "share_mode": "private",
                "locked": False,
                "reviewed": rng.random() < 0.3,
                "notes": [],
                "created_at": created,
                "updated_at": created,
                "_topic": key,
            }
        )
    return Corpus(rows)


async def _fill(url: str, corpus: Corpus) -> float:
    """Insert the corpus in batches through SQLAlchemy Core; returns seconds."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(User), [{"id": repository.LOCAL_USER_ID, "name": "Local user"}]
            )
            rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in corpus.rows]
            for first in range(0, len(rows), 1000):
                await connection.execute(insert(TranscriptRow), rows[first : first + 1000])
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return time.perf_counter() - started


def build_database(url: str, corpus: Corpus) -> float:
    upgrade_database(url)
    return asyncio.run(_fill(url, corpus))


@contextmanager
def postgres_database() -> Iterator[str]:
    import asyncpg

    name = f"reflector_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(f"{POSTGRES_ADMIN}/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield f"{POSTGRES_ADMIN}/{name}"
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# --- the server --------------------------------------------------------------------------------


class RssSampler:
    """The server's resident memory every ``interval`` seconds, in a thread."""

    def __init__(self, server: ServeProcess, interval: float = 0.02) -> None:
        self.server, self.interval = server, interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.server.rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- load --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    requests_per_s: float
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    """CPU of the load generator (this process), which shares the machine with the server."""


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))]


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _load(
    server: ServeProcess,
    request_for: Callable[[int], tuple[str, dict]],
    total: int,
    clients: int,
) -> LoadResult:
    # One AsyncClient (one keep-alive connection) per simulated client: a single client with a
    # pool of 50 connections spends several times more CPU per request in the pool itself.
    pool = [
        httpx.AsyncClient(
            base_url=server.base_url, limits=httpx.Limits(max_connections=1), timeout=120
        )
        for _ in range(clients)
    ]
    try:
        # Warm-up: open the connections and the server's database pool; not measured.
        warm_up = [request_for(-1 - i) for i in range(clients)]
        await asyncio.gather(
            *(
                client.get(path, params=params)
                for client, (path, params) in zip(pool, warm_up, strict=True)
            )
        )
        latencies: list[float] = []
        errors = 0
        counter = itertools.count()

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal errors
            while (index := next(counter)) < total:
                path, params = request_for(index)
                started = time.perf_counter()
                response = await client.get(path, params=params)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        cpu_before, own_cpu_before = server.cpu_seconds(), _own_cpu_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for client in pool))
        wall = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_before
        own_cpu = _own_cpu_seconds() - own_cpu_before
    finally:
        await asyncio.gather(*(client.aclose() for client in pool))
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        errors=errors,
        p50_ms=round(_percentile(latencies, 0.50) * 1000, 2),
        p95_ms=round(_percentile(latencies, 0.95) * 1000, 2),
        requests_per_s=round(len(latencies) / wall, 1),
        wall_s=round(wall, 2),
        server_cpu_s=round(cpu, 2),
        client_cpu_s=round(own_cpu, 2),
    )


def workloads(corpus: Corpus, seed: int) -> dict[str, Callable[[int], tuple[str, dict]]]:
    ids = corpus.ids
    pages = max(1, len(ids) // PAGE_SIZE)
    filters = (
        {},
        {"status": "ended"},
        {"source": "live"},
        {"sort": "title"},
        {"sort": "-duration"},
        {"created_after": "2025-07-01T00:00:00+00:00"},
    )

    def get_one(index: int) -> tuple[str, dict]:
        return f"/v1/transcripts/{ids[random.Random(seed * 7919 + index).randrange(len(ids))]}", {}

    def list_page(index: int) -> tuple[str, dict]:
        rng = random.Random(seed * 104729 + index)
        chosen = filters[index % len(filters)]
        # Filters shrink the result; stay within its pages most of the time.
        last = pages if not chosen or "sort" in chosen else max(1, pages // 4)
        return "/v1/transcripts", {**chosen, "size": PAGE_SIZE, "page": rng.randint(1, last)}

    def search(index: int) -> tuple[str, dict]:
        return "/v1/search", {"q": SEARCHES[index % len(SEARCHES)], "page": 1 + index % 3}

    return {"get": get_one, "list": list_page, "search": search}


def measure_database(
    label: str, data_dir: Path, url: str, corpus: Corpus, counts: dict[str, int], clients: int
) -> dict:
    log(f"{label}: filling {len(corpus.rows)} transcripts")
    seed_s = build_database(url, corpus)
    result: dict = {"fill_s": round(seed_s, 2)}
    with running_server(data_dir, url) as server:
        result["server_rss_idle_mb"] = round(server.rss_bytes() / MIB, 1)
        for name, request_for in workloads(corpus, seed=len(corpus.rows)).items():
            outcome = asyncio.run(_load(server, request_for, counts[name], clients))
            log(f"{label} {name}: {json.dumps(asdict(outcome))}")
            result[name] = asdict(outcome)
        result["server_rss_after_load_mb"] = round(server.rss_bytes() / MIB, 1)
    return result


# --- uploads -----------------------------------------------------------------------------------


async def _upload(server: ServeProcess, size: int) -> dict:
    block = os.urandom(min(CHUNK, size))
    async with httpx.AsyncClient(base_url=server.base_url, timeout=600) as client:
        created = await client.post("/v1/transcripts", json={"name": f"upload {size}"})
        created.raise_for_status()
        tid = created.json()["id"]
        opened = await client.post(
            f"/v1/transcripts/{tid}/uploads", json={"filename": "recording.bin", "size": size}
        )
        opened.raise_for_status()
        upload = opened.json()["id"]
        rss_before = server.rss_bytes()
        with RssSampler(server) as sampler:
            started = time.perf_counter()
            offset = 0
            while offset < size:
                length = min(CHUNK, size - offset)
                response = await client.put(
                    f"/v1/transcripts/{tid}/uploads/{upload}",
                    params={"offset": offset},
                    content=block if length == len(block) else block[:length],
                )
                response.raise_for_status()
                offset = response.json()["received"]
            wall = time.perf_counter() - started
        status = (await client.get(f"/v1/transcripts/{tid}/uploads/{upload}")).json()
        assert status["received"] == size, status
        # Not completed (not audio): remove the transcript; the staging file goes with the dir.
        await client.delete(f"/v1/transcripts/{tid}", params={"permanent": "true"})
    peak = max(sampler.samples, default=rss_before)
    return {
        "size_mib": round(size / MIB, 1),
        "chunks": -(-size // CHUNK),
        "wall_s": round(wall, 2),
        "mib_per_s": round(size / MIB / wall, 1),
        "rss_before_mb": round(rss_before / MIB, 1),
        "peak_rss_mb": round(peak / MIB, 1),
        "rss_growth_mb": round((peak - rss_before) / MIB, 1),
        "rss_samples": len(sampler.samples),
    }


def measure_uploads(data_dir: Path, small: int, large: int) -> dict:
    with running_server(data_dir, None) as server:
        asyncio.run(_upload(server, 4 * MIB))  # warm-up: first request paths, imports
        results = {}
        for label, size in (("small", small), ("large", large)):
            log(f"upload {label}: {size / MIB:.0f} MiB in {CHUNK // MIB} MiB chunks")
            results[label] = asyncio.run(_upload(server, size))
            log(f"upload {label}: {json.dumps(results[label])}")
            for leftover in (data_dir / "uploads").glob("*.part"):
                leftover.unlink()
    results["peak_rss_ratio_large_over_small"] = round(
        results["large"]["peak_rss_mb"] / results["small"]["peak_rss_mb"], 3
    )
    results["size_ratio_large_over_small"] = round(large / small, 1)
    return results


# --- main --------------------------------------------------------------------------------------


def _ratios(sqlite: dict, postgres: dict) -> dict:
    out = {}
    for name in ("get", "list", "search"):
        a, b = sqlite[name], postgres[name]
        out[name] = {
            "p50": round(a["p50_ms"] / b["p50_ms"], 3),
            "p95": round(a["p95_ms"] / b["p95_ms"], 3),
            "requests_per_s": round(a["requests_per_s"] / b["requests_per_s"], 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 transcripts, 200 MiB upload")
    parser.add_argument("--transcripts", type=int, help="default 10,000 (--quick: 1,000)")
    parser.add_argument("--upload-mib", type=int, help="large upload; default 1024 (--quick: 200)")
    parser.add_argument("--small-upload-mib", type=int, help="default 100 (--quick: 20)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, help="per workload; default 1500 (--quick: 500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    transcripts = args.transcripts or (1_000 if args.quick else 10_000)
    large = (args.upload_mib or (200 if args.quick else 1024)) * MIB
    small = (args.small_upload_mib or (20 if args.quick else 100)) * MIB
    per_workload = args.requests or (500 if args.quick else 1_500)
    counts = {"get": per_workload, "list": per_workload, "search": per_workload}

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    corpus = generate_corpus(transcripts, args.seed)
    report: dict = {
        "benchmark": "api",
        "config": {
            "transcripts": transcripts,
            "words_per_transcript": round(
                statistics.mean(len(r["text"].split()) for r in corpus.rows[:200])
            ),
            "clients": args.clients,
            "requests_per_workload": counts,
            "page_size": PAGE_SIZE,
            "searches": list(SEARCHES),
            "upload_chunk_mib": CHUNK // MIB,
            "quick": args.quick,
        },
    }
    root = Path(tempfile.mkdtemp(prefix="reflector-bench-api-"))
    try:
        sqlite_dir = root / "sqlite"
        sqlite_dir.mkdir()
        sqlite_url = f"sqlite:///{sqlite_dir / 'reflector.db'}"
        report["sqlite"] = measure_database(
            "sqlite", sqlite_dir, sqlite_url, corpus, counts, args.clients
        )
        if not args.skip_postgres:
            pg_dir = root / "postgres"
            pg_dir.mkdir()
            with postgres_database() as url:
                report["postgres"] = measure_database(
                    "postgres", pg_dir, url, corpus, counts, args.clients
                )
            report["ratios"] = {
                "sqlite_over_postgres": _ratios(report["sqlite"], report["postgres"])
            }
        upload_dir = root / "uploads"
        upload_dir.mkdir()
        report["upload"] = measure_uploads(upload_dir, small, large)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report["machine"] = machine_report(load_before)
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
