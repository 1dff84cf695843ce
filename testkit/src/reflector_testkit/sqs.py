"""A real SQS-compatible server for tests: moto's server mode on 127.0.0.1.

Started in a process of its own on a free port and spoken to with the real boto3 client, so the
queue's behaviour (receipt handles, visibility timeouts, redelivery) is SQS's, not a mock's.
When it cannot start, :class:`SqsUnavailable` says why (an install hint or the server log).
"""

from __future__ import annotations

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

from reflector_testkit.ports import free_port

START_TIMEOUT = 60.0
REGION = "us-east-1"


class SqsUnavailable(RuntimeError):
    """The SQS server cannot be started here; the message says why."""


@dataclass(frozen=True)
class SqsServer:
    endpoint_url: str
    access_key: str = "reflector-test"
    secret_key: str = "reflector-test-secret"
    region: str = REGION

    def client(self) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(connect_timeout=2, read_timeout=30),
        )

    def new_queue(self, visibility_timeout: int = 30) -> str:
        """A new, empty queue's URL."""
        answer = self.client().create_queue(
            QueueName=f"whereby-{uuid.uuid4().hex[:12]}",
            Attributes={"VisibilityTimeout": str(visibility_timeout)},
        )
        return answer["QueueUrl"]


def _log_tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running_sqs(root: Path) -> Iterator[SqsServer]:
    """moto's server on a free port with its log in the folder ``root``, stopped on exit."""
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise SqsUnavailable(
            f"moto's server is missing ({exc}); install the dev dependencies "
            "(`bash scripts/install.sh --dev`)"
        ) from exc
    port = free_port()
    server = SqsServer(f"http://127.0.0.1:{port}")
    log_path = root / "moto.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        try:
            _wait_until_serving(process, server, log_path)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_serving(process: subprocess.Popen, server: SqsServer, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    client = server.client()
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SqsUnavailable(f"moto exited with {process.returncode}:\n{_log_tail(log_path)}")
        try:
            client.list_queues()
            return
        except Exception as exc:  # not up yet
            last_error = exc
            time.sleep(0.2)
    raise SqsUnavailable(
        f"moto's SQS did not come up within {START_TIMEOUT:.0f}s ({last_error}):\n"
        f"{_log_tail(log_path)}"
    )
