"""Benchmark: the two reads behind the web app's heaviest pages, one request at a time.

Usage (from the repository root)::

    .venv/bin/python bench/read_paths.py            # 10,000 transcripts, 30 lists, 15 segments
    .venv/bin/python bench/read_paths.py --quick    # 1,000 transcripts, 10 lists, 5 segments

For SQLite and for PostgreSQL, a fresh database gets the generated transcripts of
``bench/api.py`` and the 2-hour meeting of ``bench/web_pages.py`` (18,000 words, 6 speakers),
then the real server (``reflector serve``) on 127.0.0.1 answers, one request at a time:

* ``list``: ``GET /v1/transcripts?page=1&size=20&sort=-created_at`` (the browse page's first
  request);
* ``segments``: ``GET /v1/transcripts/{id}/segments`` of the long meeting, as a browser asks
  for it (``Accept-Encoding: gzip``), and once without compression for its raw size.

Each reports the median and the 90th percentile of the wall time (ms) and the server's CPU
time per request (ms, from ``/proc``; it includes the server's background work, so it is an
upper bound). ``--baseline-src DIR`` (a copy of an older ``src/``) also runs a second server
with that code, on a copy of the same database taken back to that code's last migration, and
sends every request to both in turn, so that both meet the same load on a busy machine. The
PostgreSQL databases are created on ``REFLECTOR_BENCH_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432``) and dropped afterwards. Prints one JSON object on
stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from alembic import command
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import build_database, generate_corpus, postgres_database  # bench/api.py
from web_pages import LONG_WORDS, _add_long, long_meeting  # bench/web_pages.py

from reflector.db.engine import alembic_config
from reflector_testkit.machine import machine_report
from reflector_testkit.servers import ServeProcess, running_server

LIST_PARAMS = {"page": 1, "size": 20, "sort": "-created_at"}


def log(message: str) -> None:
    print(f"[read_paths] {message}", file=sys.stderr, flush=True)


@dataclass
class Target:
    """One server and what its requests took."""

    server: ServeProcess
    client: httpx.Client
    walls: dict[str, list[float]] = field(default_factory=dict)
    cpus: dict[str, list[float]] = field(default_factory=dict)
    last: dict[str, httpx.Response] = field(default_factory=dict)

    def get(self, name: str, path: str, params: dict) -> None:
        cpu = self.server.cpu_seconds()
        started = time.perf_counter()
        response = self.client.get(path, params=params)
        self.walls.setdefault(name, []).append(time.perf_counter() - started)
        self.cpus.setdefault(name, []).append(self.server.cpu_seconds() - cpu)
        response.raise_for_status()
        self.last[name] = response

    def report(self, name: str) -> dict:
        walls = sorted(self.walls[name])
        response = self.last[name]
        return {
            "p50_ms": round(statistics.median(walls) * 1000, 1),
            "p90_ms": round(walls[min(len(walls) - 1, round(0.9 * (len(walls) - 1)))] * 1000, 1),
            # The mean: /proc counts CPU time in ticks of 10 ms.
            "server_cpu_ms": round(statistics.mean(self.cpus[name]) * 1000, 1),
            "content_encoding": response.headers.get("content-encoding", "identity"),
            "wire_bytes": response.num_bytes_downloaded,
            "requests": len(walls),
        }


def _last_revision(src: Path) -> str:
    versions = src / "reflector" / "db" / "migrations" / "versions"
    return max(p.name.split("_")[0] for p in versions.glob("[0-9]*_*.py"))


def _take_back(url: str, revision: str) -> None:
    """The database as the baseline's code left it: migrations after ``revision`` undone."""
    command.downgrade(alembic_config(url), revision)


def _copy_database(url: str, data_dir: Path) -> str:
    if url.startswith("sqlite"):
        copy = data_dir / "reflector.db"
        shutil.copy(make_url(url).database, copy)
        return f"sqlite:///{copy}"
    raise ValueError("PostgreSQL databases are filled twice instead")


def measure(
    label: str,
    urls: list[str],
    data_dir: Path,
    count: int,
    rounds: tuple[int, int],
    baseline: Path | None,
) -> dict:
    log(f"{label}: filling {count} transcripts and the 2-hour meeting")
    long_ids = []
    for n, url in enumerate(urls):
        if n == 0 or not url.startswith("sqlite"):
            build_database(url, generate_corpus(count, seed=7))
            long_ids.append(asyncio.run(_add_long(url, long_meeting(seed=7))))
    if baseline is not None:
        if urls[1].startswith("sqlite"):
            urls[1] = _copy_database(urls[0], data_dir / "baseline")
            long_ids.append(long_ids[0])
        _take_back(urls[1], _last_revision(baseline))
    with ExitStack() as stack:
        targets = []
        for n, url in enumerate(urls):
            env = {"PYTHONPATH": str(baseline)} if n == 1 and baseline else None
            server = stack.enter_context(running_server(data_dir / str(n), url, env))
            client = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=60))
            targets.append(Target(server, client))
        paths = [f"/v1/transcripts/{long_id}/segments" for long_id in long_ids]
        for target, path in zip(targets, paths, strict=True):  # warm: caches, query plans
            target.get("warm", "/v1/transcripts", LIST_PARAMS)
            target.get("warm", path, {})
        lists, reads = rounds
        for _ in range(lists):
            for target in targets:
                target.get("list", "/v1/transcripts", LIST_PARAMS)
        for _ in range(reads):
            for target, path in zip(targets, paths, strict=True):
                target.get("segments", path, {})
        result = {}
        for name, target, path in zip(("current", "baseline"), targets, paths, strict=False):
            raw = target.client.get(path, headers={"Accept-Encoding": "identity"})
            assert sum(len(s["words"]) for s in raw.json()) == LONG_WORDS
            result[name] = {
                "list": {**target.report("list"), "total": target.last["list"].json()["total"]},
                "segments": {**target.report("segments"), "json_bytes": len(raw.content)},
            }
            log(f"{label} {name}: {json.dumps(result[name])}")
        if baseline is not None:
            same = targets[0].client.get(paths[0], headers={"Accept-Encoding": "identity"})
            result["same_segments_json"] = same.content == raw.content
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 transcripts, fewer requests")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--baseline-src", type=Path, help="an older src/ to compare with")
    args = parser.parse_args()
    count, rounds = (1_000, (10, 5)) if args.quick else (10_000, (30, 15))
    baseline = args.baseline_src.resolve() if args.baseline_src else None
    load_before = os.getloadavg()[0]
    result: dict = {"transcripts": count}
    with tempfile.TemporaryDirectory(prefix="reflector-read-bench-") as folder:
        for sub in ("sqlite", "postgres"):
            for n in ("0", "1", "baseline"):
                (Path(folder) / sub / n).mkdir(parents=True)
        sqlite_dir = Path(folder) / "sqlite"
        urls = [f"sqlite:///{sqlite_dir / 'reflector.db'}"] * (2 if baseline else 1)
        result["sqlite"] = measure("sqlite", urls, sqlite_dir, count, rounds, baseline)
        if not args.skip_postgres:
            with ExitStack() as stack:
                urls = [stack.enter_context(postgres_database()) for _ in range(1 + bool(baseline))]
                result["postgres"] = measure(
                    "postgres", urls, Path(folder) / "postgres", count, rounds, baseline
                )
    result["machine"] = machine_report(load_before)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
