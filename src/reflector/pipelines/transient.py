"""Which failures inside a job are worth another try, and trying again with backoff.

A stage talks to the database, the blob store, the event bus and sometimes a remote backend.
Each of them can blink: a PostgreSQL connection killed by a restart or a failover, an S3 service
that answers 503 or refuses connections for a few seconds, Redis restarting, a remote diarizer
behind a load balancer. Such an error says nothing about the recording, so failing the job for
it would lose a user's work for no reason. :func:`is_transient` tells those errors apart from
the ones another try cannot fix (bad audio, a missing model, a programming error), and
:func:`retry_transient` tries a call again, with exponential backoff and jitter, for at most a
:class:`RetryBudget` of seconds.

Only whole units of work are retried: a database transaction, one blob operation, one event,
one stage (stages replace their outputs, so a stage run twice leaves the same state).
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
import tenacity
from sqlalchemy import exc as sa_exc

from reflector.errors import UnavailableError
from reflector.resilience import is_retryable as is_retryable_http

log = structlog.get_logger(__name__)

T = TypeVar("T")

_TRANSIENT_SQLSTATES = ("08", "57P", "53", "55", "40001", "40P01")
"""PostgreSQL error classes that another try can fix: connection exceptions (08), an operator
or a restart ending the session (57P01-57P03), insufficient resources such as too many
connections (53), objects busy or closed for now (55: a lock not available, a database not
accepting connections while an operator works on it), serialization failures and deadlocks
(40001, 40P01)."""


@dataclass(frozen=True)
class RetryBudget:
    """How long a job keeps trying an operation that fails for a transient reason."""

    seconds: float = 300.0
    """The most time spent retrying one operation (or one stage) before giving up."""
    initial_backoff: float = 0.5
    """Seconds before the second try; doubles per try (with jitter) up to ``max_backoff``."""
    max_backoff: float = 10.0

    def __post_init__(self) -> None:
        if self.seconds < 0 or self.initial_backoff <= 0 or self.max_backoff <= 0:
            raise ValueError("need seconds >= 0 and positive backoffs")


def _sqlstate(error: BaseException) -> str | None:
    for candidate in (getattr(error, "orig", None), error.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_transient(error: BaseException) -> bool:
    """Whether trying the same thing again later may work.

    Yes for: anything the project classes as :class:`~reflector.errors.UnavailableError` (a
    store, bus, backend or model server that cannot serve now, a circuit breaker that is open);
    lost database connections and their kin (``OperationalError``, ``InterfaceError``, any
    error that invalidated its connection, a pool timeout, PostgreSQL's connection, shutdown,
    resource, serialization and deadlock errors); refused or dropped connections and timeouts;
    HTTP transport errors and 5xx answers; a full disk (room is made by an operator, or by
    other jobs ending). No for everything else: bad input, missing data, a 4xx answer,
    programming errors.
    """
    if isinstance(error, UnavailableError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        code = _sqlstate(error)
        return code is not None and code.startswith(_TRANSIENT_SQLSTATES)
    if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return is_retryable_http(error)


def _log_retry(what: str) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "transient_error_retrying",
            what=what,
            attempt=state.attempt_number,
            wait=round(state.next_action.sleep, 2) if state.next_action else None,
            error=f"{type(error).__name__}: {error}",
        )

    return before_sleep


def retrying(budget: RetryBudget, what: str) -> tenacity.AsyncRetrying:
    """A tenacity loop for ``async for attempt in retrying(...): with attempt: ...``."""
    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_delay(budget.seconds),
        wait=tenacity.wait_exponential_jitter(
            multiplier=budget.initial_backoff,
            max=budget.max_backoff,
            jitter=budget.initial_backoff,
        ),
        retry=tenacity.retry_if_exception(is_transient),
        before_sleep=_log_retry(what),
        reraise=True,
    )


async def retry_transient(budget: RetryBudget, what: str, call: Callable[[], Awaitable[T]]) -> T:
    """``await call()``, tried again on transient errors until ``budget`` runs out; the last
    error is raised as it was. ``what`` names the operation in the logs."""

    async def attempt() -> T:
        # A coroutine function: tenacity calls anything else without awaiting its result.
        return await call()

    return await retrying(budget, what)(attempt)
