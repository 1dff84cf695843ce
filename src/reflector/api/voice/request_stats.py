"""Counts and latencies per voice endpoint, for ``GET /stats``."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

LATENCY_WINDOW = 2048
"""Percentiles are over the most recent requests, so they follow the current load."""


@dataclass(frozen=True)
class EndpointStats:
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass
class _Endpoint:
    requests: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))


class RequestStats:
    def __init__(self) -> None:
        self._endpoints: dict[str, _Endpoint] = {}
        self._lock = threading.Lock()

    def record(self, endpoint: str, seconds: float, ok: bool = True) -> None:
        with self._lock:
            entry = self._endpoints.setdefault(endpoint, _Endpoint())
            entry.requests += 1
            entry.errors += 0 if ok else 1
            entry.latencies.append(seconds)

    @contextmanager
    def timed(self, endpoint: str) -> Iterator[None]:
        """Record one request to ``endpoint``; an exception counts it as an error."""
        started = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.record(endpoint, time.perf_counter() - started, ok)

    def snapshot(self) -> dict[str, EndpointStats]:
        with self._lock:
            items = [(name, e.requests, e.errors, list(e.latencies)) for name, e in
                     self._endpoints.items()]  # fmt: skip
        result = {}
        for name, requests, errors, latencies in items:
            p50 = p95 = None
            if latencies:
                p50, p95 = (round(float(v) * 1000, 2) for v in np.percentile(latencies, [50, 95]))
            result[name] = EndpointStats(requests, errors, p50, p95)
        return result
