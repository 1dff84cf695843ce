"""The app under uvicorn in a background thread of this process: for programs that embed a
server (benchmarks, tests, notebooks) and talk to it over real HTTP and WebSockets."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

from reflector.api.app import create_app
from reflector.settings import Settings


class ThreadedServer:
    """``with ThreadedServer(settings) as server:`` serves at ``server.url`` until the end."""

    def __init__(self, settings: Settings, start_timeout: float = 60.0) -> None:
        config = uvicorn.Config(
            create_app(settings), host=settings.host, port=settings.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://{settings.host}:{settings.port}"
        self.start_timeout = start_timeout

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.server.should_exit = True
        raise RuntimeError(f"the server at {self.url} did not start")

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
