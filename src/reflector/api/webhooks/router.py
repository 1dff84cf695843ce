"""``/v1/webhooks``: the caller's endpoints for signed event deliveries, their delivery log,
and test deliveries. Another user's webhook id is 404, as an unknown one is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from reflector.api.deps import Session, State, User
from reflector.api.schemas import Page, page_of
from reflector.api.webhooks import service
from reflector.api.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookOut, WebhookUpdate
from reflector.integrations.webhooks.sender import WebhookSender

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookOut)
async def create_webhook(
    body: WebhookCreate, session: Session, state: State, user: User
) -> WebhookOut:
    """Register an endpoint. The answer holds the signing secret: keep it, it is not shown
    again (``PATCH`` with ``rotate_secret`` makes a new one)."""
    row = await service.create_webhook(session, user, body, state.settings)
    return service.webhook_out(row, with_secret=True)


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(session: Session, user: User) -> list[WebhookOut]:
    return [service.webhook_out(r) for r in await service.list_webhooks(session, user)]


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, session: Session, user: User) -> WebhookOut:
    return service.webhook_out(await service.owned_webhook(session, webhook_id, user))


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    webhook_id: str, body: WebhookUpdate, session: Session, state: State, user: User
) -> WebhookOut:
    row = await service.owned_webhook(session, webhook_id, user)
    changed_secret = await service.update_webhook(session, row, body, state.settings)
    return service.webhook_out(row, with_secret=changed_secret)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, session: Session, user: User) -> Response:
    row = await service.owned_webhook(session, webhook_id, user)
    await service.delete_webhook(session, row)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
async def list_deliveries(
    webhook_id: str,
    session: Session,
    user: User,
    status: Annotated[str | None, Query(pattern="^(pending|sending|delivered|failed)$")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[DeliveryOut]:
    """The endpoint's deliveries, newest first: status, tries, the next try, the last
    answer's status, latency and first KiB."""
    await service.owned_webhook(session, webhook_id, user)
    items, total = await service.deliveries(session, webhook_id, status, (page - 1) * size, size)
    return page_of(DeliveryOut, items, total, page, size)


@router.post("/{webhook_id}/test", response_model=DeliveryOut)
async def send_test(webhook_id: str, session: Session, state: State, user: User) -> DeliveryOut:
    """Send a ``webhook.test`` event now, once (no retries; also to a disabled endpoint),
    and answer with how it went. It does not count towards disabling the endpoint."""
    row = await service.owned_webhook(session, webhook_id, user)
    delivery_id = await service.queue_test(session, row)
    async with WebhookSender(state.sessions, state.settings) as sender:
        await sender.deliver(delivery_id, test=True)
    return await service.delivery_out(session, delivery_id)
