"""The background sender: claims due deliveries, posts them signed, records how it went.

Deliveries are rows, so any number of senders (the server's loop, Celery workers) can run: a
sender *claims* a delivery with one conditional UPDATE (``pending`` and due → ``sending`` with
a lease) and a sender that dies mid-way leaves it to another once the lease runs out, so every
event reaches its endpoint at least once (receivers dedupe on the event ``id``).

A failed try is retried (see :mod:`.retry`) until the delivery is older than
``webhook_retry_window_seconds``; an endpoint whose tries all failed for
``webhook_disable_after_seconds`` is disabled, with a notice stored on it and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from reflector import __version__
from reflector.db.tables import WebhookDeliveryRow, WebhookEventRow, WebhookRow, as_utc, utcnow
from reflector.integrations.webhooks.build import EventGone, build_payload
from reflector.integrations.webhooks.netguard import (
    PinnedTransport,
    Resolver,
    UnsafeWebhookUrl,
    system_resolver,
)
from reflector.integrations.webhooks.payloads import PAYLOAD_VERSION
from reflector.integrations.webhooks.retry import (
    WebhookRetryPolicy,
    is_retryable,
    retry_after_seconds,
)
from reflector.integrations.webhooks.signing import SIGNATURE_HEADER, signature_header
from reflector.settings import Settings
from reflector.shutdown import wait_for_event

log = structlog.get_logger(__name__)

PREVIEW_BYTES = 1024
"""How much of a receiver's answer the delivery log keeps."""

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class SendResult:
    status: int | None
    """The receiver's HTTP status; ``None`` when it never answered."""
    latency_ms: float
    preview: str | None = None
    error: str | None = None
    retry_after: float | None = None
    refused: bool = False
    """Not sent: the URL leads to an address webhooks may not call (not retried)."""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return not self.refused and is_retryable(self.status)


async def _read_preview(response: httpx.Response) -> str:
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= PREVIEW_BYTES:
            break
    return data[:PREVIEW_BYTES].decode("utf-8", errors="replace")


class WebhookSender:
    """Sends due deliveries. ``clock``, ``rand`` and ``resolver`` are for tests."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        rand: Callable[[], float] = random.random,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.rand = rand
        base = settings.webhook_retry_base_seconds
        self.policy = WebhookRetryPolicy(
            base=base, cap=max(base, settings.webhook_retry_max_seconds)
        )
        self.concurrency = settings.webhook_concurrency
        self.total_timeout = 2 * settings.webhook_read_timeout + settings.webhook_connect_timeout
        self.lease = timedelta(seconds=self.total_timeout + 30)
        self.client = httpx.AsyncClient(
            transport=PinnedTransport(settings.webhook_allow_private_networks, resolver),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(
                settings.webhook_read_timeout, connect=settings.webhook_connect_timeout
            ),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # --- claiming ------------------------------------------------------------------------

    def _due(self, now: datetime):
        return or_(
            and_(WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.next_attempt_at <= now),
            and_(WebhookDeliveryRow.status == "sending", WebhookDeliveryRow.lease_expires < now),
        )

    async def claim(self, limit: int) -> list[str]:
        """Take up to ``limit`` due deliveries (oldest due first) for this sender."""
        now = self.clock()
        async with self.sessions() as session:
            query = (
                select(WebhookDeliveryRow.id)
                .where(self._due(now))
                .order_by(WebhookDeliveryRow.next_attempt_at)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                # Senders side by side take different rows instead of racing for the same.
                query = query.with_for_update(skip_locked=True)
            candidates = (await session.scalars(query)).all()
            claimed = []
            for delivery_id in candidates:
                result = await session.execute(
                    update(WebhookDeliveryRow)
                    .where(WebhookDeliveryRow.id == delivery_id, self._due(now))
                    .values(
                        status="sending",
                        lease_expires=now + self.lease,
                        attempts=WebhookDeliveryRow.attempts + 1,
                        last_attempt_at=now,
                    )
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(delivery_id)
            await session.commit()
        return claimed

    # --- sending -------------------------------------------------------------------------

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        """One signed POST; never raises for the receiver's or the network's faults."""
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        try:
            async with asyncio.timeout(self.total_timeout):
                async with self.client.stream("POST", url, content=body, headers=headers) as r:
                    preview = await _read_preview(r)
        except UnsafeWebhookUrl as exc:
            return SendResult(None, elapsed(), error=f"refused: {exc}", refused=True)
        except (TimeoutError, httpx.TimeoutException):
            return SendResult(None, elapsed(), error="no answer in time")
        except httpx.HTTPError as exc:
            return SendResult(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])
        status = r.status_code
        error = None
        if not 200 <= status < 300:
            error = f"HTTP {status}"
            if 300 <= status < 400:
                error += " (redirects are not followed: register the final URL)"
        retry_after = None
        if status in (429, 503):
            retry_after = retry_after_seconds(r.headers.get("retry-after"), self.policy.cap)
        return SendResult(status, elapsed(), preview, error, retry_after)

    def _headers(self, secret: str, body: bytes, event_type: str, delivery_id: str) -> dict:
        return {
            "Content-Type": "application/json",
            "User-Agent": f"Reflector-Webhooks/{__version__}",
            SIGNATURE_HEADER: signature_header(secret, body, int(self.clock().timestamp())),
            "Reflector-Event": event_type,
            "Reflector-Delivery": delivery_id,
            "Reflector-Webhook-Version": str(PAYLOAD_VERSION),
        }

    async def _prepare(self, delivery_id: str, test: bool) -> tuple[str, str, bytes, str] | None:
        """``(url, secret, body, event type)`` of a claimed delivery; ``None`` (and the
        delivery closed) when there is nothing to send any more."""
        async with self.sessions() as session:
            delivery = await session.get(WebhookDeliveryRow, delivery_id)
            if delivery is None:
                return None
            endpoint = await session.get(WebhookRow, delivery.webhook_id)
            event = await session.get(WebhookEventRow, delivery.event_id)
            reason = None
            if endpoint is None or event is None:
                reason = "the endpoint or event was deleted"
            elif not endpoint.enabled and not test:
                reason = "the endpoint is disabled"
            elif event.payload is None:
                try:
                    event.payload = await build_payload(
                        session, event, self.settings.resolved_public_url()
                    )
                except EventGone as exc:
                    reason = str(exc)
            if reason is not None:
                delivery.status, delivery.error = "failed", reason
                delivery.lease_expires = delivery.next_attempt_at = None
                await session.commit()
                return None
            assert endpoint is not None and event is not None and event.payload is not None
            prepared = (endpoint.url, endpoint.secret, event.payload, event.type)
            await session.commit()
        url, secret, payload, event_type = prepared
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return url, secret, body, event_type

    async def deliver(self, delivery_id: str, *, test: bool = False) -> SendResult | None:
        """Send one claimed delivery and record the outcome (``None``: nothing was sent)."""
        prepared = await self._prepare(delivery_id, test)
        if prepared is None:
            return None
        url, secret, body, event_type = prepared
        result = await self.post(url, body, self._headers(secret, body, event_type, delivery_id))
        await self.record(delivery_id, result, test=test)
        return result

    # --- outcomes ------------------------------------------------------------------------

    async def record(self, delivery_id: str, result: SendResult, *, test: bool = False) -> None:
        """Store the try's outcome; schedule the next try, or give up; track the endpoint's
        failures (tests do not count: they are sent to check a fix)."""
        now = self.clock()
        async with self.sessions() as session:
            delivery = await session.get(WebhookDeliveryRow, delivery_id)
            if delivery is None:
                return
            endpoint = await session.get(WebhookRow, delivery.webhook_id)
            delivery.response_status = result.status
            delivery.response_preview = result.preview
            delivery.latency_ms = round(result.latency_ms, 1)
            delivery.error = result.error
            delivery.lease_expires = None
            delivery.next_attempt_at = None
            if result.delivered:
                delivery.status, delivery.delivered_at = "delivered", now
                if endpoint is not None and not test:
                    endpoint.failing_since = None
            else:
                if endpoint is not None and not test:
                    await self._note_failure(session, endpoint, now, result)
                window = timedelta(seconds=self.settings.webhook_retry_window_seconds)
                young = now - as_utc(delivery.created_at) < window
                enabled = endpoint is not None and endpoint.enabled
                if result.retryable and young and enabled and not test:
                    wait = result.retry_after or self.policy.delay(delivery.attempts, self.rand)
                    delivery.status = "pending"
                    delivery.next_attempt_at = now + timedelta(seconds=wait)
                else:
                    delivery.status = "failed"
            await session.commit()

    async def _note_failure(
        self, session, endpoint: WebhookRow, now: datetime, result: SendResult
    ) -> None:
        if endpoint.failing_since is None:
            endpoint.failing_since = now
            return
        since = as_utc(endpoint.failing_since)
        limit = timedelta(seconds=self.settings.webhook_disable_after_seconds)
        if not endpoint.enabled or now - since < limit:
            return
        endpoint.enabled = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = (
            f"Disabled automatically on {now:%Y-%m-%d %H:%M} UTC: every delivery since "
            f"{since:%Y-%m-%d %H:%M} UTC failed (last: {result.error}). Fix the receiver, "
            "send a test, then enable the endpoint again."
        )
        await session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.webhook_id == endpoint.id,
                WebhookDeliveryRow.status == "pending",
            )
            .values(status="failed", next_attempt_at=None, error="the endpoint was disabled")
        )
        log.warning(
            "webhook_disabled",
            webhook=endpoint.id,
            user=endpoint.user_id,
            room=endpoint.room_id,
            failing_since=since.isoformat(),
            last_error=result.error,
        )

    # --- loops ---------------------------------------------------------------------------

    async def _deliver_logged(self, delivery_id: str) -> None:
        try:
            await self.deliver(delivery_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database went away mid-way: the lease runs out and the delivery is retried.
            log.exception("webhook_delivery_crashed", delivery=delivery_id)

    async def run_due(self, limit: int | None = None) -> int:
        """Claim and send the deliveries due now (up to ``limit``, default the concurrency),
        all at once; how many were claimed."""
        claimed = await self.claim(limit or self.concurrency)
        await asyncio.gather(*(self._deliver_logged(d) for d in claimed))
        return len(claimed)

    async def drain(self, seconds: float) -> int:
        """Send due deliveries until none is due or ``seconds`` have passed (a periodic task)."""
        deadline = time.monotonic() + seconds
        total = 0
        while time.monotonic() < deadline:
            sent = await self.run_due()
            total += sent
            if sent == 0:
                break
        return total

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Keep up to ``concurrency`` deliveries in flight, looking for due ones every
        ``webhook_poll_seconds`` when idle, until ``stop`` is set (then the deliveries in
        flight end on their own, within their timeouts) or the task is cancelled."""
        stop = stop or asyncio.Event()
        running: set[asyncio.Task] = set()
        try:
            while not stop.is_set():
                free = self.concurrency - len(running)
                claimed: list[str] = []
                if free > 0:
                    try:
                        claimed = await self.claim(free)
                    except Exception:
                        log.exception("webhook_claim_failed")  # the database may be away
                for delivery_id in claimed:
                    task = asyncio.create_task(self._deliver_logged(delivery_id))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if len(running) >= self.concurrency:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                elif not claimed:
                    await wait_for_event(stop, self.settings.webhook_poll_seconds)
            if running:
                await asyncio.wait(running, timeout=self.total_timeout)
        finally:
            for task in running:
                task.cancel()
            for task in list(running):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.aclose()


async def run_sender(
    sessions: async_sessionmaker, settings: Settings, stop: asyncio.Event | None = None
) -> None:
    """The server's sending loop (the in-process job backend), until ``stop`` is set or it
    is cancelled."""
    await WebhookSender(sessions, settings).run_forever(stop)


async def drain_due(sessions: async_sessionmaker, settings: Settings, seconds: float) -> int:
    """One periodic sending round (a Celery beat task)."""
    async with WebhookSender(sessions, settings) as sender:
        return await sender.drain(seconds)
