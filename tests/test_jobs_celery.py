"""The distributed job mode: real ``reflector worker`` and ``reflector beat`` processes.

The API runs here (``create_app`` under a test client) with ``REFLECTOR_JOBS_BACKEND=celery``;
jobs go through Redis to worker processes that share a fresh PostgreSQL database and the data
dir. One worker is killed with SIGKILL in the middle of a job; another must finish the job from
the stage it was in, without running the finished stages again, to the same transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from reflector.audio import SAMPLE_RATE, decode_file, write_wav
from reflector.pipelines.stages import FILE_STAGES
from reflector.settings import get_settings
from reflector_testkit.scoring import word_error_rate
from reflector_testkit.servers import (
    postgres_database,
    running_client,
    server_settings,
    wait_for_status,
)

pytestmark = pytest.mark.slow

LEASE_SECONDS = 5.0
"""Short, so that the killed worker's job is taken over within seconds (default: a minute)."""
REPEATS = 3
"""The Piper clip this many times over: long enough to kill a worker in the middle of a job."""


@dataclass
class Cluster:
    client: TestClient
    env: dict[str, str]
    database_url: str
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *command: str) -> subprocess.Popen:
        """``reflector COMMAND`` in a process group of its own, logging to ``logs/NAME.log``."""
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "reflector", *command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL the whole group: a worker and any child, with no chance to clean up."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def only_worker(self, name: str, *options: str) -> subprocess.Popen:
        """Worker ``name`` (started if it is not running), and no other worker."""
        for other in [n for n in self.processes if n.startswith("worker") and n != name]:
            self.kill(other)
        if name not in self.processes:
            self.start(name, "worker", *options)
        return self.processes[name]

    def log_events(self, name: str) -> list[dict]:
        events = []
        for line in (self.logs / f"{name}.log").read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    events.append(json.loads(line))
        return events

    def query(self, sql: str) -> list[list[str]]:
        result = subprocess.run(
            ["psql", self.database_url, "-At", "-F", "\t", "-c", sql],
            capture_output=True,
            text=True,
            check=True,
        )
        return [line.split("\t") for line in result.stdout.splitlines()]

    def job(self, transcript_id: str) -> dict:
        rows = self.query(
            "SELECT status, current_stage, stages_done, attempts, lease_owner FROM jobs "
            f"WHERE transcript_id = '{transcript_id}' ORDER BY created_at DESC LIMIT 1"
        )
        status, stage, done, attempts, owner = rows[0] if rows else ("", "", "[]", "0", "")
        return {
            "status": status,
            "current_stage": stage or None,
            "stages_done": json.loads(done),
            "attempts": int(attempts),
            "lease_owner": owner or None,
        }

    def closed_job(self, transcript_id: str, timeout: float = 10) -> dict:
        """The job once closed: it is marked done only after the finish stage has committed
        ``ended``, so a read right after ``ended`` may still see it running."""
        deadline = time.monotonic() + timeout
        while (job := self.job(transcript_id))["status"] in {"queued", "running"}:
            assert time.monotonic() < deadline, f"the job never closed: {job}"
            time.sleep(0.05)
        return job

    def progress_stages(self, transcript_id: str) -> list[str]:
        rows = self.query(
            "SELECT data->>'stage' FROM events "
            f"WHERE transcript_id = '{transcript_id}' AND type = 'PROGRESS' ORDER BY id"
        )
        return [row[0] for row in rows]


def _reload_celery_app() -> None:
    """Rebuild the module's app from the current environment (it is configured on import)."""
    get_settings.cache_clear()
    import reflector.jobs.celery_app as module

    importlib.reload(module)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("celery-data")
    logs = tmp_path_factory.mktemp("celery-logs")
    # Every broker key of this run carries its own prefix: runs in parallel never share work.
    prefix = f"reflector-test-{uuid.uuid4().hex[:8]}:"
    with postgres_database() as database_url:
        env = {
            **os.environ,
            "REFLECTOR_DATA_DIR": str(data_dir),
            "REFLECTOR_DATABASE_URL": database_url,
            "REFLECTOR_JOBS_BACKEND": "celery",
            "REFLECTOR_BUS_BACKEND": "redis",
            "REFLECTOR_CELERY_KEY_PREFIX": prefix,
            "REFLECTOR_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "REFLECTOR_JOB_SWEEP_SECONDS": "1",
            "REFLECTOR_ASR_MODEL": "tiny.en",
            "REFLECTOR_ASR_BEAM_SIZE": "1",
            "REFLECTOR_LLM_BACKEND": "extractive",
            "REFLECTOR_LOG_LEVEL": "info",
            "REFLECTOR_LOG_FORMAT": "json",
            "OMP_WAIT_POLICY": "PASSIVE",
        }
        mp = pytest.MonkeyPatch()
        for name, value in env.items():
            if name.startswith("REFLECTOR_"):
                mp.setenv(name, value)
        _reload_celery_app()  # the server sends tasks with this app
        settings = server_settings(
            data_dir,
            database_url,
            jobs_backend="celery",
            bus_backend="redis",
            celery_key_prefix=prefix,
            job_lease_seconds=LEASE_SECONDS,
        )
        broker = redis.Redis.from_url(settings.celery_broker_url or settings.redis_url)
        cluster = None
        try:
            try:
                broker.ping()
            except redis.RedisError as exc:
                pytest.fail(f"Redis is needed for the Celery tests: {exc}")
            with running_client(settings) as client:
                cluster = Cluster(client, env, database_url, logs)
                cluster.start("beat", "beat")
                yield cluster
        finally:
            for name in list(cluster.processes if cluster else ()):
                cluster.kill(name)
            with contextlib.suppress(redis.RedisError):
                keys = list(broker.scan_iter(match=f"{prefix}*"))
                if keys:
                    broker.delete(*keys)
            broker.close()
            mp.undo()
            _reload_celery_app()


@pytest.fixture(scope="module")
def meeting(piper_clip, tmp_path_factory) -> Path:
    samples = decode_file(piper_clip.path).samples
    path = tmp_path_factory.mktemp("celery-audio") / "meeting.wav"
    return write_wav(np.tile(samples, REPEATS).astype(np.float32), path, SAMPLE_RATE)


def _upload(client: TestClient, path: Path) -> str:
    created = client.post("/v1/transcripts", json={"name": "Weekly planning"})
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    response = client.post(
        f"/v1/transcripts/{tid}/upload",
        params={"filename": path.name, "summarize": "true"},
        content=path.read_bytes(),
    )
    assert response.status_code == 200, response.text
    return tid


def _segments(client: TestClient, tid: str) -> list[tuple]:
    segments = client.get(f"/v1/transcripts/{tid}/segments").json()
    return [(s["speaker"], round(s["start"], 2), round(s["end"], 2), s["text"]) for s in segments]


@pytest.fixture(scope="module")
def reference(cluster, meeting) -> dict:
    """The meeting processed by worker A without interruption."""
    cluster.start("worker-a", "worker", "--pool=solo")
    tid = _upload(cluster.client, meeting)
    body = wait_for_status(cluster.client, tid, {"ended", "error"}, timeout=120)
    return {"id": tid, "body": body, "segments": _segments(cluster.client, tid)}


def test_a_job_runs_through_the_queues_on_a_real_worker(cluster, reference, piper_clip):
    body = reference["body"]
    assert body["status"] == "ended", body
    assert body["title"] and body["short_summary"] and body["has_audio"]
    text = " ".join(segment[3] for segment in reference["segments"])
    assert word_error_rate(" ".join([piper_clip.text] * REPEATS), text) < 0.15, text
    job = cluster.closed_job(reference["id"])
    assert job["status"] == "done" and job["stages_done"] == list(FILE_STAGES)
    # One claim per task (audio, llm, quick): the sweep left the healthy job alone.
    assert job["attempts"] == 3
    assert cluster.progress_stages(reference["id"]) == list(FILE_STAGES)
    names = {e.get("event") for e in cluster.log_events("worker-a")}
    assert "job_task_finished" in names


def _started(cluster: Cluster, process: str, tid: str) -> list[str]:
    """Stages that ``process`` started for the transcript's job, in order, from its JSON log."""
    job_id = cluster.query(f"SELECT id FROM jobs WHERE transcript_id = '{tid}'")[0][0]
    return [
        e["stage"]
        for e in cluster.log_events(process)
        if e.get("event") == "stage_started" and e.get("job") == job_id
    ]


def _wait_for_stage(cluster: Cluster, tid: str, wanted: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = cluster.job(tid)
        if job["current_stage"] in wanted or job["status"] not in ("", "queued", "running"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"the job never reached {wanted}: {job}")
        time.sleep(0.05)


def test_a_killed_worker_job_resumes_on_another_worker(cluster, reference, meeting):
    tid = _upload(cluster.client, meeting)
    later = set(FILE_STAGES[FILE_STAGES.index("transcribe") :])
    at_kill = _wait_for_stage(cluster, tid, later)
    assert at_kill["status"] == "running", at_kill
    cluster.kill("worker-a")
    killed_at = time.monotonic()
    assert "prepare" in at_kill["stages_done"]

    cluster.start("worker-b", "worker")  # the defaults: prefork, one child
    body = wait_for_status(cluster.client, tid, {"ended", "error"}, timeout=120)
    assert body["status"] == "ended", body
    # Taken over once the lease ran out (and the sweep saw it), not after the broker's hour.
    assert time.monotonic() - killed_at < 90

    job = cluster.closed_job(tid)
    assert job["status"] == "done" and job["stages_done"] == list(FILE_STAGES)
    assert job["attempts"] >= 4  # A's claim, B's claim of the same stages, summarize, finish
    progress = cluster.progress_stages(tid)
    assert progress.count("prepare") == 1, progress  # finished before the kill: not run again
    assert progress[-3:] == ["diarize", "summarize", "finish"]

    def started(name: str) -> list[str]:
        return _started(cluster, name, tid)

    a_started, b_started = started("worker-a"), started("worker-b")
    assert a_started.count("prepare") == 1, a_started
    # B went on from the stage A was in: nothing A had finished ran again.
    assert b_started and b_started[0] in later, b_started
    assert set(b_started).isdisjoint(at_kill["stages_done"]), (at_kill, b_started)
    assert any(e.get("event") == "job_requeued" for e in cluster.log_events("worker-b"))

    # The same transcript as without the kill.
    assert _segments(cluster.client, tid) == reference["segments"]
    assert body["title"] == reference["body"]["title"]


def test_a_killed_child_process_is_replaced_and_the_job_resumes(cluster, reference, meeting):
    """prefork: the task's child dies, the worker gives the message back, a new child resumes.

    The new child finds the dead child's lease still valid ("busy"), retries with a short
    countdown until the lease runs out, then goes on from the stage the dead child was in.
    """
    worker = cluster.only_worker("worker-b")  # as the previous test left it: prefork
    tid = _upload(cluster.client, meeting)
    later = set(FILE_STAGES[FILE_STAGES.index("transcribe") :])
    at_kill = _wait_for_stage(cluster, tid, later)
    assert at_kill["status"] == "running" and at_kill["lease_owner"], at_kill
    child = int(at_kill["lease_owner"].split("/")[0].rpartition(":")[2])
    assert child != worker.pid
    os.kill(child, signal.SIGKILL)

    body = wait_for_status(cluster.client, tid, {"ended", "error"}, timeout=120)
    assert body["status"] == "ended", body
    started = _started(cluster, "worker-b", tid)
    assert started.count("prepare") == 1, started
    after_kill = started[started.index(at_kill["current_stage"]) + 1 :]
    assert set(after_kill).isdisjoint(at_kill["stages_done"]), (at_kill, started)
    # The transcript reads `ended` a moment before the job row records its last stage.
    assert cluster.closed_job(tid)["stages_done"] == list(FILE_STAGES)
    assert _segments(cluster.client, tid) == reference["segments"]


def test_the_sweep_takes_only_jobs_that_no_worker_holds(tmp_path):
    """Expired leases at once; unheld jobs only after a long wait; each job once per wait."""
    from datetime import timedelta

    from reflector.db import repository
    from reflector.db.engine import make_engine, make_sessionmaker, sqlite_url, upgrade_database
    from reflector.db.tables import JobRow, TranscriptRow, utcnow
    from reflector.jobs.recovery import take_orphans

    url = sqlite_url(tmp_path / "jobs.db")
    upgrade_database(url)
    now = utcnow()
    old = now - timedelta(hours=1)
    jobs = {
        "dead": {"status": "running", "lease_owner": "w:1", "lease_expires": now - timedelta(1)},
        "alive": {"status": "running", "lease_owner": "w:2", "lease_expires": now + timedelta(1)},
        "lost": {"status": "queued", "updated_at": old},
        "waiting": {"status": "queued", "updated_at": now},
        "between": {"status": "running", "stages_done": list(FILE_STAGES[:4]), "updated_at": old},
        "over": {"status": "done", "updated_at": old},
    }

    async def scenario() -> tuple[dict[str, str], list]:
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            await repository.ensure_user(session, "u", "User")
            # One transcript per job: the database holds one active job per transcript.
            for job_id in jobs:
                session.add(TranscriptRow(id=f"t-{job_id}", user_id="u"))
            await session.flush()
            for job_id, values in jobs.items():
                session.add(JobRow(id=job_id, transcript_id=f"t-{job_id}", **values))
            await session.commit()
        first = {o.job_id: o.next_stage for o in await take_orphans(sessions, requeue_after=600)}
        again = await take_orphans(sessions, requeue_after=600)
        await engine.dispose()
        return first, again

    first, again = asyncio.run(scenario())
    assert first == {"dead": "prepare", "lost": "prepare", "between": "finish"}
    assert again == []  # released and touched: not sent twice while their messages wait
