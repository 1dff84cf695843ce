"""Events: every change a client cares about, as typed data with a stable ``type`` name.

Transcript events are persisted in order and published on the bus, so a WebSocket client that
connects late replays the past and then follows along. User events tell a user's other screens
that a transcript appeared, changed status or went away.
"""

from __future__ import annotations

from typing import Literal

TranscriptEventType = Literal[
    "STATUS",
    "PROGRESS",
    "TRANSCRIPT",
    "SEGMENTS",
    "TOPIC",
    "FINAL_TITLE",
    "FINAL_SHORT_SUMMARY",
    "FINAL_LONG_SUMMARY",
    "ACTION_ITEMS",
    "PARTICIPANTS",
    "DURATION",
    "WAVEFORM",
    "TRANSLATION",
]
UserEventType = Literal["TRANSCRIPT_CREATED", "TRANSCRIPT_STATUS", "TRANSCRIPT_DELETED"]
