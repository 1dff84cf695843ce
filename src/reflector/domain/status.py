"""A transcript's status and the moves between statuses that the product makes.

::

    idle ──upload──▶ uploaded ──job──▶ processing ──▶ ended
      │                                 ▲   │
      └──stream──▶ recording ──stop─────┘   └──failure──▶ error
                       │
                       └──too little audio──▶ idle

``ended`` and ``error`` take a new upload or a new job (reprocessing). A few moves to the same
status are allowed because stages are idempotent: a resumed job runs its last stage again.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from reflector.errors import BadInputError


class TranscriptStatus(StrEnum):
    IDLE = "idle"
    """Created, nothing received yet."""
    UPLOADED = "uploaded"
    """A file is stored; its job has not started."""
    RECORDING = "recording"
    """A live stream is feeding it."""
    PROCESSING = "processing"
    """A job is running its stages."""
    ENDED = "ended"
    ERROR = "error"
    """The job failed; the transcript's ``error`` says why."""


_S = TranscriptStatus

ALLOWED_TRANSITIONS: Mapping[TranscriptStatus, frozenset[TranscriptStatus]] = {
    _S.IDLE: frozenset({_S.UPLOADED, _S.RECORDING}),
    # A second upload replaces the first one.
    _S.UPLOADED: frozenset({_S.UPLOADED, _S.PROCESSING}),
    # A stream with too little audio gives the transcript back unchanged.
    _S.RECORDING: frozenset({_S.IDLE, _S.PROCESSING}),
    # The first stage marks the transcript processing again, also when a job resumes.
    _S.PROCESSING: frozenset({_S.PROCESSING, _S.ENDED, _S.ERROR}),
    # A job whose last stage ran but was not recorded as done runs it again (ended → ended)
    # or fails in its last bookkeeping (ended → error).
    _S.ENDED: frozenset({_S.ENDED, _S.UPLOADED, _S.PROCESSING, _S.ERROR}),
    _S.ERROR: frozenset({_S.ERROR, _S.UPLOADED, _S.PROCESSING}),
}
"""For each status, the statuses a transcript may move to from it."""


class IllegalTransition(BadInputError, ValueError):
    """A status change the lifecycle does not allow, e.g. ``idle`` → ``ended``.

    Routes refuse such requests before they get here; one that still arrives (two requests
    racing for one transcript) is a conflict with the transcript's current state: HTTP 409.
    """

    status = 409
    problem_type = "illegal-transition"

    def __init__(self, current: TranscriptStatus, target: TranscriptStatus) -> None:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "nothing"
        super().__init__(
            f"a transcript cannot go from {current.value!r} to {target.value!r} "
            f"(from {current.value!r} it may go to: {allowed})"
        )
        self.current = current
        self.target = target


def can_transition(current: TranscriptStatus | str, target: TranscriptStatus | str) -> bool:
    return TranscriptStatus(target) in ALLOWED_TRANSITIONS[TranscriptStatus(current)]


def check_transition(
    current: TranscriptStatus | str, target: TranscriptStatus | str
) -> TranscriptStatus:
    """``target`` as a status; raises :class:`IllegalTransition` if the move is not allowed
    (and ``ValueError`` for a name that is no status)."""
    current, target = TranscriptStatus(current), TranscriptStatus(target)
    if target not in ALLOWED_TRANSITIONS[current]:
        raise IllegalTransition(current, target)
    return target
