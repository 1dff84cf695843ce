"""Servers for API tests: the real app on SQLite or on the PostgreSQL at 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reflector.api.app import create_app
from reflector.settings import Settings

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
        **overrides,
    }
    return Settings(**values)


@contextmanager
def running_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


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


def openai_client(url: str):
    """The official OpenAI client pointed at a running server, with a new API key of its own."""
    import httpx
    import openai

    key = httpx.post(f"{url}/v1/api-keys", json={"name": "openai client"}, timeout=30)
    key.raise_for_status()
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key.json()["key"], max_retries=0)
