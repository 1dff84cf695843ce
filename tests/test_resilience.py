"""Retries and circuit breakers for remote backends, against a real local HTTP server."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from reflector.resilience import (
    BreakerBoard,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    RetryPolicy,
    call_with_retries,
    call_with_retries_async,
)
from reflector_testkit.ports import free_port

FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, timeout=2.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedServer:
    """Answers each request with the next status of ``statuses`` (the last one repeats)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index = min(outer.requests, len(outer.statuses) - 1)
                outer.requests += 1
                self.send_response(outer.statuses[index])
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def get(self) -> httpx.Response:
        response = httpx.get(self.url, timeout=FAST.timeout)
        response.raise_for_status()
        return response

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def start(statuses: list[int]) -> ScriptedServer:
        servers.append(ScriptedServer(statuses))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_5xx_answers_are_retried_until_one_succeeds(scripted):
    server = scripted([503, 500, 200])
    breaker = CircuitBreaker("remote")
    assert call_with_retries(breaker, FAST, server.get).text == "ok"
    assert server.requests == 3 and breaker.state is CircuitState.CLOSED


def test_4xx_answers_fail_at_once_and_do_not_count_against_the_backend(scripted):
    server = scripted([400])
    breaker = CircuitBreaker("remote", failure_threshold=1)
    with pytest.raises(httpx.HTTPStatusError):
        call_with_retries(breaker, FAST, server.get)
    assert server.requests == 1 and breaker.state is CircuitState.CLOSED


def test_a_server_that_is_not_there_is_retried_then_fails():
    url = f"http://127.0.0.1:{free_port()}/"
    breaker = CircuitBreaker("remote", failure_threshold=5)
    with pytest.raises(httpx.ConnectError):
        call_with_retries(breaker, FAST, lambda: httpx.get(url, timeout=1))
    assert breaker.snapshot().consecutive_failures == 1  # one call, however many tries


def test_breaker_opens_probes_half_open_and_closes(scripted):
    server = scripted([500, 500, 500, 500, 500, 500, 200])
    clock = Clock()
    breaker = CircuitBreaker("remote", failure_threshold=2, reset_timeout=10, clock=clock)
    for _ in range(2):
        with pytest.raises(httpx.HTTPStatusError):
            call_with_retries(breaker, FAST, server.get)
    assert breaker.state is CircuitState.OPEN and server.requests == 6
    with pytest.raises(CircuitOpenError):
        call_with_retries(breaker, FAST, server.get)
    assert server.requests == 6  # open: not called at all
    clock.now = 10.0
    assert breaker.state is CircuitState.HALF_OPEN
    assert call_with_retries(breaker, FAST, server.get).text == "ok"
    assert breaker.state is CircuitState.CLOSED
    snapshot = breaker.snapshot()
    assert (snapshot.opened, snapshot.rejected, snapshot.failures) == (1, 1, 2)


def test_a_failed_probe_opens_the_breaker_again(scripted):
    server = scripted([500])
    clock = Clock()
    breaker = CircuitBreaker("remote", failure_threshold=1, reset_timeout=5, clock=clock)
    with pytest.raises(httpx.HTTPStatusError):
        call_with_retries(breaker, FAST, server.get)
    clock.now = 5.0
    with pytest.raises(httpx.HTTPStatusError):
        call_with_retries(breaker, FAST, server.get)  # the probe
    assert breaker.state is CircuitState.OPEN
    clock.now = 9.0
    assert breaker.state is CircuitState.OPEN  # a new full wait from the failed probe


def test_only_one_probe_goes_through_while_half_open():
    clock = Clock()
    breaker = CircuitBreaker("remote", failure_threshold=1, reset_timeout=1, clock=clock)
    breaker.record_failure()
    clock.now = 1.0
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.before_call()


def test_async_calls_share_the_same_rules(scripted):
    server = scripted([502, 200])
    breaker = CircuitBreaker("remote")

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(timeout=FAST.timeout) as client:
            response = await client.get(server.url)
            response.raise_for_status()
            return response

    response = asyncio.run(call_with_retries_async(breaker, FAST, get))
    assert response.text == "ok" and server.requests == 2


def test_the_board_keeps_one_breaker_per_name():
    board = BreakerBoard(failure_threshold=3, reset_timeout=7)
    assert board.get("tts") is board.get("tts")
    assert board.get("tts").failure_threshold == 3
    board.get("translation").record_failure()
    names = {s.name: s for s in board.snapshots()}
    assert set(names) == {"tts", "translation"}
    assert names["translation"].consecutive_failures == 1


def test_bad_policies_are_refused():
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
