"""The API server for tests and benchmarks: the real app in process (on SQLite or on the
PostgreSQL at 127.0.0.1), or ``reflector serve`` in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from reflector.api.app import create_app
from reflector.api.hosts import LOOPBACK_NAMES
from reflector.db import repository
from reflector.db.engine import make_engine, make_sessionmaker, sqlite_url, upgrade_database_async
from reflector.db.tables import JobRow
from reflector.jobs.recovery import ACTIVE_STATUSES
from reflector.settings import Settings
from reflector_testkit.machine import process_memory
from reflector_testkit.ports import free_port

POSTGRES_ADMIN = os.environ.get("REFLECTOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def _psql(database: str, sql: str) -> None:
    result = subprocess.run(
        ["psql", f"{POSTGRES_ADMIN}/{database}", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"PostgreSQL at {POSTGRES_ADMIN} is needed: {result.stderr.strip()}")


@asynccontextmanager
async def sqlite_sessions(path: Path, user_id: str = "u") -> AsyncIterator:
    """A migrated SQLite database at ``path`` holding one user, as a session maker."""
    url = sqlite_url(path)
    await upgrade_database_async(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            await repository.ensure_user(session, user_id, "User")
            await session.commit()
        yield sessions
    finally:
        await engine.dispose()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database for one test session, dropped afterwards."""
    name = f"reflector_test_{uuid.uuid4().hex[:10]}"
    _psql("postgres", f"CREATE DATABASE {name}")
    try:
        yield f"{POSTGRES_ADMIN}/{name}"
    finally:
        _psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def server_settings(data_dir: Path, database_url: str | None, **overrides) -> Settings:
    values = {
        "data_dir": data_dir,
        "database_url": database_url,
        "asr_model": "tiny.en",
        "asr_beam_size": 1,
        # Starlette's TestClient sends "Host: testserver"; real servers are reached on loopback.
        "trusted_hosts": ["testserver", *LOOPBACK_NAMES],
        **overrides,
    }
    return Settings(**values)


@contextmanager
def running_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@contextmanager
def running_on(database: str, data_dir: Path, **overrides) -> Iterator[TestClient]:
    """The app on ``database``: ``sqlite`` (a file in ``data_dir``) or ``postgres`` (a new
    database, dropped afterwards), with :func:`server_settings` and ``overrides``."""
    if database == "sqlite":
        with running_client(server_settings(data_dir, None, **overrides)) as client:
            yield client
        return
    with (
        postgres_database() as url,
        running_client(server_settings(data_dir, url, **overrides)) as c,
    ):
        yield c


@contextmanager
def light_server(data_dir: Path) -> Iterator[TestClient]:
    """The embedded server (SQLite, tiny.en) with summaries from the extractive writer, so a
    finished stream is post-processed without loading a language model."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        with running_client(server_settings(data_dir, None)) as client:
            yield client


def wait_for_status(
    client: TestClient, transcript_id: str, wanted: set[str], timeout: float = 120.0, **kwargs
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/transcripts/{transcript_id}", **kwargs).json()
        if body["status"] in wanted:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"still {body['status']} after {timeout} s: {body}")
        time.sleep(0.2)


def job_of(client: TestClient, tid: str) -> JobRow | None:
    """The transcript's first job, as the database has it now."""
    state = client.app.state.reflector

    async def read() -> JobRow | None:
        async with state.sessions() as session:
            return await session.scalar(
                select(JobRow).where(JobRow.transcript_id == tid).order_by(JobRow.created_at)
            )

    return client.portal.call(read)


def closed_job_of(client: TestClient, tid: str, timeout: float = 30) -> JobRow:
    """The transcript's job once it is closed: the runner marks it done only after the finish
    stage has committed ``ended`` (so a worker dying in between runs the finish again), so a
    read right after ``ended`` may still see it running."""
    deadline = time.monotonic() + timeout
    while True:
        job = job_of(client, tid)
        if job is not None and job.status not in ACTIVE_STATUSES:
            return job
        assert time.monotonic() < deadline, f"the job never closed: {job and job.status}"
        time.sleep(0.05)


def openai_client(url: str):
    """The official OpenAI client pointed at a running server, with a new API key of its own."""
    import openai

    key = httpx.post(f"{url}/v1/api-keys", json={"name": "openai client"}, timeout=30)
    key.raise_for_status()
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key.json()["key"], max_retries=0)


def wait_until_healthy(base_url: str, process: subprocess.Popen, seconds: float = 60.0) -> bool:
    """Whether the server at ``base_url`` answers ``/healthz`` before ``process`` exits or
    ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


class ServeProcess:
    """``reflector serve`` in its own process, so its RSS and CPU time are its own."""

    def __init__(
        self, data_dir: Path, database_url: str | None, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        extra_env = env or {}
        env = {
            **os.environ,
            "REFLECTOR_DATA_DIR": str(data_dir),
            "REFLECTOR_AUTH_MODE": "single-user",
            "REFLECTOR_LOG_LEVEL": "warning",
        }
        env.pop("REFLECTOR_DATABASE_URL", None)
        if database_url:
            env["REFLECTOR_DATABASE_URL"] = database_url
        env.update(extra_env)
        self._log = (data_dir / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reflector",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        if not wait_until_healthy(self.base_url, self.process):
            raise RuntimeError(f"the server did not start; see {data_dir / 'server.log'}")

    def rss_bytes(self) -> int:
        return self.memory_bytes()["VmRSS"]

    def memory_bytes(self) -> dict[str, int]:
        """The server's memory counters (:func:`reflector_testkit.machine.process_memory`)."""
        return process_memory(self.process.pid)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def wait_for_live_models(url: str, timeout: float = 120.0) -> None:
    """Until the server at ``url`` has preloaded its live models (as a load balancer would
    wait): loading them takes the CPU for seconds, which a measurement must not count."""
    deadline = time.monotonic() + timeout
    while (status := httpx.get(f"{url}/readyz").json()["live_models"]) == "loading":
        if time.monotonic() > deadline:
            raise SystemExit("the live models did not load in time")
        time.sleep(0.2)
    if status not in ("ready", "off"):
        raise SystemExit(f"live models: {status}")


@contextmanager
def running_server(
    data_dir: Path, database_url: str | None, env: dict[str, str] | None = None
) -> Iterator[ServeProcess]:
    """``reflector serve`` on a free port with its data in ``data_dir`` (and ``env`` added to
    its environment), stopped on exit."""
    server = ServeProcess(data_dir, database_url, env)
    try:
        yield server
    finally:
        server.stop()
