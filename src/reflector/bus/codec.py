"""The wire form of bus messages: compact JSON text.

Both buses use it, the in-memory one included, so that a message which works in the embedded mode
also works over Redis, and every subscriber gets its own copy it may change freely.
"""

from __future__ import annotations

import json

import structlog

from reflector.bus.protocol import Message

log = structlog.get_logger(__name__)


def check_channel(channel: str) -> str:
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"a bus channel is a non-empty string, got {channel!r}")
    return channel


def encode_message(channel: str, message: Message) -> str:
    """JSON text of ``message``; raises ``TypeError``/``ValueError`` naming the channel."""
    if not isinstance(message, dict):
        raise TypeError(
            f"bus messages are dicts, got {type(message).__name__} for channel {channel!r}"
        )
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and browsers reading the
        # WebSocket would fail on them far from the code that sent them.
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"message for channel {channel!r} cannot be sent as JSON: {exc}") from exc


def decode_message(channel: str, raw: str | bytes) -> Message | None:
    """The message in ``raw``, or ``None`` (logged) when it is not a JSON object.

    Anything may be published on a Redis channel by another program; one bad message must not
    end a subscription.
    """
    try:
        message = json.loads(raw)
    except ValueError as exc:
        log.warning("bus_message_not_json", channel=channel, error=str(exc))
        return None
    if not isinstance(message, dict):
        log.warning("bus_message_not_object", channel=channel, type=type(message).__name__)
        return None
    return message
