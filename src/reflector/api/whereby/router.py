"""``POST /v1/whereby/webhook``: Whereby's participant events. No user signs in here: the body
is believed only when its ``whereby-signature`` checks out (401 otherwise)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from reflector.api.deps import State
from reflector.api.whereby import service
from reflector.api.whereby.schemas import WEBHOOK_BODY, WebhookAck

router = APIRouter(prefix="/v1/whereby", tags=["whereby"])


@router.post(
    "/webhook",
    response_model=WebhookAck,
    openapi_extra={"requestBody": WEBHOOK_BODY},
    responses={
        400: {"description": "A signed body that is not a Whereby event"},
        401: {"description": "A missing, wrong or expired signature"},
    },
)
async def whereby_webhook(request: Request, state: State) -> WebhookAck:
    # The raw bytes, as they came: the signature covers them, not a re-encoding of the JSON.
    body = await request.body()
    return await service.handle_webhook(state, body, request.headers)
