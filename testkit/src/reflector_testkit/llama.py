"""llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reflector_testkit.ports import free_port


class LlamaServerError(RuntimeError):
    """The server did not start; the message ends with the tail of its log."""


class LlamaServer:
    """Serves one GGUF under the model name ``bundled``; :meth:`close` stops it."""

    def __init__(
        self,
        model: Path,
        threads: int,
        context: int,
        *,
        batch_threads: int | None = None,
        log: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
        command += ["--model_alias", "bundled", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--n_ctx", str(context), "--n_threads", str(threads)]
        if batch_threads is not None:
            command += ["--n_threads_batch", str(batch_threads)]
        self.log = log or Path(tempfile.gettempdir()) / f"llama-server-{self.port}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise LlamaServerError(f"llama_cpp.server did not start (see {self.log}):\n{tail}")
            time.sleep(0.3)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
