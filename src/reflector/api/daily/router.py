"""``POST /v1/daily/webhook``: Daily's events, believed only when signed.

The raw body is verified first (signature and replay window: 401 otherwise), then parsed
(400 for a body that is not Daily's JSON). Participants joining and leaving update the
meeting; a finished recording is kept once and ingested after the answer; event types
Reflector does not use are acknowledged and ignored, so Daily does not retry them.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel

from reflector.api.deps import State
from reflector.api.meetings.access import open_platform
from reflector.api.meetings.events import apply_event, ingest_in_background

router = APIRouter(prefix="/v1/daily", tags=["daily"])

VERIFICATION_PING = {"test": "test"}
"""The body Daily sends once, unsigned, when a webhook is created, to see the endpoint
answer."""


class DailyWebhookAck(BaseModel):
    received: bool
    type: str
    handled: bool
    """Whether Reflector acted on this event type (others are acknowledged and ignored)."""


def _is_ping(body: bytes) -> bool:
    try:
        return json.loads(body) == VERIFICATION_PING
    except ValueError:
        return False


@router.post("/webhook", response_model=DailyWebhookAck)
async def daily_webhook(request: Request, state: State, tasks: BackgroundTasks) -> DailyWebhookAck:
    body = await request.body()
    if _is_ping(body):
        return DailyWebhookAck(received=True, type="test", handled=False)
    async with open_platform(state, "daily") as daily:
        daily.verify_webhook(body, request.headers)
        parsed = daily.parse_webhook(body)
    if parsed.event is None:
        return DailyWebhookAck(received=True, type=parsed.type, handled=False)
    recording = await apply_event(state, "daily", parsed.event)
    if recording is not None:
        tasks.add_task(ingest_in_background, state, recording)
    return DailyWebhookAck(received=True, type=parsed.type, handled=True)
