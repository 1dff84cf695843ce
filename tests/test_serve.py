"""``reflector serve`` as a user starts it: embedded defaults, a URL, HTTP and WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from reflector_testkit.ports import free_port
from reflector_testkit.servers import wait_until_healthy


@contextlib.contextmanager
def _serving(tmp_path: Path, **extra_env: str):
    """``reflector serve`` started as a user starts it: (its URL, its log, its process)."""
    binary = shutil.which("reflector", path=str(Path(sys.executable).parent))
    assert binary, "the reflector entry point must be installed"
    port = free_port()
    env = {**os.environ, "REFLECTOR_DATA_DIR": str(tmp_path / "data"), "REFLECTOR_PORT": str(port)}
    env.pop("REFLECTOR_DATABASE_URL", None)
    env.update(extra_env)
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_healthy(base, process):
            log.seek(0)
            pytest.fail(f"reflector serve did not start:\n{log.read()[-3000:]}")
        yield base, log, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def served(tmp_path):
    with _serving(tmp_path) as (base, log, _):
        yield base, tmp_path, log


def _loaded_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="preloading is glibc's")
def test_the_server_runs_on_jemalloc_unless_told_to_keep_the_system_allocator(tmp_path):
    # Under glibc a server running the full mix of live sessions, TTS and STT was still growing
    # after 10 minutes; with jemalloc (and Piper's voice without its own arena) it grew 4.8 %
    # over 30, level in the second half (docs/benchmarks.md, the soak).
    with _serving(tmp_path / "default") as (base, _, process):
        assert "libjemalloc" in _loaded_libraries(process.pid)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    with _serving(tmp_path / "system", REFLECTOR_ALLOCATOR="system") as (base, _, process):
        assert "libjemalloc" not in _loaded_libraries(process.pid)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"


def test_serve_starts_on_the_embedded_defaults_and_prints_its_url(served):
    base, tmp_path, log = served
    log.seek(0)
    banner = log.read()
    assert f"on {base}" in banner and "SQLite" in banner and "inprocess jobs" in banner
    assert (tmp_path / "data" / "reflector.db").is_file()  # migrations applied on start
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    assert "/v1/transcripts" in httpx.get(f"{base}/openapi.json").json()["paths"]


def test_user_events_arrive_over_a_real_websocket(served):
    base, _, _ = served

    async def scenario() -> dict:
        async with websockets.connect(base.replace("http", "ws") + "/v1/events") as socket:
            async with httpx.AsyncClient(base_url=base) as client:
                created = (await client.post("/v1/transcripts", json={"name": "ws"})).json()
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            return {"message": message, "id": created["id"]}

    result = asyncio.run(scenario())
    assert result["message"]["type"] == "TRANSCRIPT_CREATED"
    assert result["message"]["transcript_id"] == result["id"]


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("REFLECTOR_STORAGE_BACKEND", "s3", "REFLECTOR_S3_BUCKET"),
        ("REFLECTOR_DATABASE_URL", "mysql://root@127.0.0.1/test", "unsupported database URL"),
        ("REFLECTOR_REDIS_URL", "http://127.0.0.1:6379", "redis"),
    ],
)
def test_a_misconfigured_server_says_what_is_wrong_before_starting(
    capsys, monkeypatch, tmp_path, variable, value, fragment
):
    from reflector.cli.main import main
    from reflector.settings import get_settings

    monkeypatch.setenv("REFLECTOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REFLECTOR_BUS_BACKEND", "redis")
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        code = main(["serve", "--port", str(free_port())])
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("reflector: error: the server is misconfigured") and fragment in err[0]
