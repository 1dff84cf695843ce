"""Calling remote backends safely: timeouts, retries with backoff, and a circuit breaker.

Every remote engine backend (speech synthesis, translation, ...) wraps its HTTP calls in
:func:`call_with_retries` (or the async twin) guarded by a :class:`CircuitBreaker`:

- only failures that another try can fix are retried: connection errors, timeouts and 5xx
  answers. A 4xx answer is the caller's mistake and fails at once;
- after ``failure_threshold`` consecutive failed calls the breaker *opens*: calls fail at once
  with :class:`CircuitOpenError` (the caller falls back to a local backend) instead of waiting
  on a dead server;
- after ``reset_timeout`` seconds one *half-open* probe call is let through; success closes the
  breaker, failure opens it again for another ``reset_timeout``.

Breakers live on a :class:`BreakerBoard` owned by whoever builds the backends (the server's app
state), so ``/stats`` and the metrics can show every breaker's state.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import tenacity

from reflector.errors import UnavailableError

T = TypeVar("T")


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(UnavailableError, RuntimeError):
    """The remote backend failed repeatedly; it is not called until its breaker half-opens."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    """Tries per call, the first one included."""
    initial_backoff: float = 0.2
    """Seconds before the second try; doubles per try up to ``max_backoff``."""
    max_backoff: float = 2.0
    timeout: float = 10.0
    """Seconds for one try (connect, write, read) before it counts as failed."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial_backoff < 0 or self.timeout <= 0:
            raise ValueError("need attempts >= 1, initial_backoff >= 0 and timeout > 0")


def is_retryable(error: BaseException) -> bool:
    """Connection errors, timeouts and 5xx answers may pass; anything else will not."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500
    return isinstance(error, httpx.TransportError | TimeoutError | ConnectionError)


@dataclass(frozen=True)
class BreakerSnapshot:
    name: str
    state: CircuitState
    consecutive_failures: int
    failures: int
    successes: int
    rejected: int
    """Calls refused at once while open."""
    opened: int
    """Times the breaker has opened."""


@dataclass
class CircuitBreaker:
    """Closed → open after consecutive failures → half-open probe → closed (or open again)."""

    name: str
    failure_threshold: int = 5
    reset_timeout: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _state: CircuitState = CircuitState.CLOSED
    _consecutive: int = 0
    _opened_at: float = 0.0
    _probing: bool = False
    _counts: dict[str, int] = field(
        default_factory=lambda: {"failures": 0, "successes": 0, "rejected": 0, "opened": 0}
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> CircuitState:
        if (
            self._state is CircuitState.OPEN
            and self.clock() - self._opened_at >= self.reset_timeout
        ):
            self._state = CircuitState.HALF_OPEN
            self._probing = False
        return self._state

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` unless a call may go to the backend now."""
        with self._lock:
            state = self._current_state()
            if state is CircuitState.CLOSED:
                return
            if state is CircuitState.HALF_OPEN and not self._probing:
                self._probing = True  # exactly one probe; others wait for its verdict
                return
            self._counts["rejected"] += 1
        raise CircuitOpenError(f"{self.name} is unavailable (circuit {state.value})")

    def record_success(self) -> None:
        with self._lock:
            self._counts["successes"] += 1
            self._consecutive = 0
            self._state = CircuitState.CLOSED
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._counts["failures"] += 1
            self._consecutive += 1
            reopen = self._state is CircuitState.HALF_OPEN
            if reopen or self._consecutive >= self.failure_threshold:
                if self._state is not CircuitState.OPEN:
                    self._counts["opened"] += 1
                self._state = CircuitState.OPEN
                self._opened_at = self.clock()
                self._probing = False

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            state = self._current_state()
            return BreakerSnapshot(
                name=self.name,
                state=state,
                consecutive_failures=self._consecutive,
                failures=self._counts["failures"],
                successes=self._counts["successes"],
                rejected=self._counts["rejected"],
                opened=self._counts["opened"],
            )


@dataclass
class BreakerBoard:
    """The breakers of one process (or one app), by name, created on first use."""

    failure_threshold: int = 5
    reset_timeout: float = 30.0
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, name: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = CircuitBreaker(name, self.failure_threshold, self.reset_timeout)
                self._breakers[name] = breaker
            return breaker

    def snapshots(self) -> list[BreakerSnapshot]:
        with self._lock:
            breakers = list(self._breakers.values())
        return [breaker.snapshot() for breaker in breakers]


def _retrying_kwargs(policy: RetryPolicy) -> dict:
    return {
        "stop": tenacity.stop_after_attempt(policy.attempts),
        "wait": tenacity.wait_exponential(
            multiplier=policy.initial_backoff, min=policy.initial_backoff, max=policy.max_backoff
        ),
        "retry": tenacity.retry_if_exception(is_retryable),
        "reraise": True,
    }


def call_with_retries(breaker: CircuitBreaker, policy: RetryPolicy, call: Callable[[], T]) -> T:
    """``call()`` with retries; the breaker counts the whole call (all tries) as one outcome."""
    breaker.before_call()
    try:
        result = tenacity.Retrying(**_retrying_kwargs(policy))(call)
    except Exception as error:
        if is_retryable(error):
            breaker.record_failure()
        else:
            breaker.record_success()  # the backend is up; the request itself was refused
        raise
    breaker.record_success()
    return result


async def call_with_retries_async(
    breaker: CircuitBreaker, policy: RetryPolicy, call: Callable[[], Awaitable[T]]
) -> T:
    """The async twin of :func:`call_with_retries`."""
    breaker.before_call()
    try:
        result = await tenacity.AsyncRetrying(**_retrying_kwargs(policy))(call)
    except Exception as error:
        if is_retryable(error):
            breaker.record_failure()
        else:
            breaker.record_success()
        raise
    breaker.record_success()
    return result


def send_with_retries(
    breaker: CircuitBreaker, policy: RetryPolicy, send: Callable[[], httpx.Response]
) -> httpx.Response:
    """An HTTP request under :func:`call_with_retries`: a 5xx answer counts as a failed try
    (retried), a 4xx one fails at once; both raise :class:`httpx.HTTPStatusError` in the end."""

    def attempt() -> httpx.Response:
        response = send()
        response.raise_for_status()
        return response

    return call_with_retries(breaker, policy, attempt)
