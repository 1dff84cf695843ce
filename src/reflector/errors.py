"""The root of every error Reflector raises on purpose, and its two families.

Callers decide by family, not by engine: a :class:`BadInputError` fails again when asked the
same way (the caller must change the request: HTTP 4xx), an :class:`UnavailableError` may
succeed later (a backend, model or storage cannot serve now: HTTP 503). Each class says how
the HTTP API answers it with ``status`` and ``problem_type`` (the slug of the problem
document's ``type``), so the mapping is registered once, not in every route.

Engine-wide bases whose subclasses fall in different families (``TtsError``,
``TranslationError``, ``BlobError``) derive from :class:`ReflectorError` alone.
"""

from __future__ import annotations


class ReflectorError(Exception):
    """Something Reflector reports with a message meant for people."""

    status: int = 500
    """The HTTP status an API answer gets (when a route does not answer otherwise)."""
    problem_type: str = "internal-error"
    """The slug of the problem document's ``type``."""


class BadInputError(ReflectorError):
    """The request cannot be served as made (wrong input, or something it names that is not
    here): asking again the same way fails again."""

    status = 400
    problem_type = "bad-request"


class NotFoundError(BadInputError):
    """The thing asked for does not exist."""

    status = 404
    problem_type = "not-found"


class UnavailableError(ReflectorError):
    """A backend, model or storage cannot serve now; trying again later may work."""

    status = 503
    problem_type = "unavailable"


# Text checks shared by speech synthesis and translation. Each engine raises a subclass that
# also belongs to its own error base, so callers can catch either.


class EmptyTextError(BadInputError, ValueError):
    """The text has nothing to say or translate (empty or only whitespace)."""

    problem_type = "empty-text"


class TextTooLongError(BadInputError, ValueError):
    """The text is longer than the configured limit."""

    status = 413
    problem_type = "text-too-long"


class RemoteUnavailableError(UnavailableError):
    """A remote server failed repeatedly; its circuit breaker is open."""
