"""When a failed delivery is tried again, and whether it is.

Waits double from ``base`` up to ``cap`` and are spread by ±``jitter`` (a fraction), so many
deliveries that failed together (a receiver that was down) do not all come back at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
"""Request Timeout and Too Many Requests: the receiver asks to be tried again later."""


@dataclass(frozen=True)
class WebhookRetryPolicy:
    base: float = 10.0
    """Seconds before the second try."""
    cap: float = 3600.0
    """Longest wait."""
    jitter: float = 0.2
    """Each wait is multiplied by a random factor in [1 - jitter, 1 + jitter]."""

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or not 0 <= self.jitter < 1:
            raise ValueError("need 0 < base <= cap and 0 <= jitter < 1")

    def nominal_delay(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed try (from 1), before jitter."""
        exponent = min(max(attempts - 1, 0), 60)  # 2**60 times base is past any cap
        return min(self.cap, self.base * 2.0**exponent)

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        """The jittered wait after the ``attempts``-th failed try."""
        spread = 1.0 - self.jitter + 2.0 * self.jitter * rand()
        return self.nominal_delay(attempts) * spread


def is_retryable(status: int | None) -> bool:
    """Whether another try may succeed: no answer at all (``None``: refused connection,
    timeout), a 5xx, 408 or 429. Any other answer (a 4xx, a redirect, which is never
    followed) would come back the same."""
    if status is None:
        return True
    return status >= 500 or status in RETRYABLE_CLIENT_ERRORS


def retry_after_seconds(value: str | None, cap: float) -> float | None:
    """A ``Retry-After`` header given in seconds, bounded by ``cap``; ``None`` if absent or
    given as a date (then the usual wait applies)."""
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), cap)
