"""Outgoing webhooks: registered through the API, queued when transcripts settle and meetings
start or end, signed, sent to a real HTTP receiver on loopback, retried, logged, disabled, and
kept away from private networks."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from reflector.db import accounts
from reflector.db.tables import (
    JobRow,
    MeetingRow,
    RoomRow,
    TranscriptRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebhookRow,
    as_utc,
    utcnow,
)
from reflector.domain.status import TranscriptStatus
from reflector.integrations.webhooks import queue_meeting_event, queue_transcript_settled
from reflector.integrations.webhooks.netguard import blocked_reason
from reflector.integrations.webhooks.payloads import WEBHOOK_PAYLOAD, TranscriptWebhook
from reflector.integrations.webhooks.queue import queue_event
from reflector.integrations.webhooks.retry import WebhookRetryPolicy, is_retryable
from reflector.integrations.webhooks.sender import WebhookSender
from reflector.integrations.webhooks.signing import signature_header
from reflector.integrations.webhooks.signing import verify as signed_by
from reflector_testkit.servers import (
    postgres_database,
    running_client,
    server_settings,
    wait_for_status,
)
from reflector_testkit.webhook_receiver import WebhookReceiver

DOCS = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"
PROBLEM = "https://reflector.local/problems/"


def docs_verifier() -> Callable[..., bool]:
    """The verifier printed in docs/webhooks.md, run as a receiver would copy it."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    source = next(b for b in blocks if "def verify_reflector_signature" in b)
    assert len(source.strip().splitlines()) <= 10, "the docs promise a 10-line verifier"
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    return namespace["verify_reflector_signature"]


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def client(tmp_path) -> Iterator:
    """The server on SQLite, with private networks allowed (the receiver is on loopback) and
    its own sending loop idle, so each test sends with a sender and a clock of its own."""
    settings = server_settings(
        tmp_path, None, webhook_allow_private_networks=True, webhook_poll_seconds=300
    )
    with running_client(settings) as test_client:
        yield test_client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def call(client, fn, *args):
    """Run ``fn(state, *args)`` (a coroutine function) on the app's event loop."""
    return client.portal.call(fn, client.app.state.reflector, *args)


def send_due(client, *, clock=None, rand=None, resolver=None, **settings) -> int:
    async def run(state) -> int:
        options: dict[str, Any] = {}
        if clock is not None:
            options["clock"] = clock
        if rand is not None:
            options["rand"] = rand
        if resolver is not None:
            options["resolver"] = resolver
        config = state.settings.model_copy(update=settings)
        async with WebhookSender(state.sessions, config, **options) as sender:
            return await sender.run_due(100)

    return call(client, run)


def register(client, url: str, **body) -> dict:
    response = client.post("/v1/webhooks", json={"url": url, **body})
    assert response.status_code == 201, response.text
    return response.json()


def new_transcript(client, **columns) -> str:
    tid = client.post("/v1/transcripts", json={"name": "standup.m4a"}).json()["id"]

    async def fill(state) -> None:
        async with state.sessions() as session:
            row = await session.get(TranscriptRow, tid)
            row.title, row.short_summary = "Weekly standup", "The team agreed to ship."
            row.status, row.duration = "ended", 42.0
            for name, value in columns.items():
                setattr(row, name, value)
            await session.commit()

    call(client, fill)
    return tid


def settle(client, tid: str, status: TranscriptStatus = TranscriptStatus.ENDED) -> None:
    async def run(state) -> None:
        async with state.sessions() as session:
            await queue_transcript_settled(session, tid, status)

    call(client, run)


def queue_for(client, webhook_id: str, tid: str) -> str:
    """A ``transcript.completed`` event for one endpoint; its delivery id."""

    async def run(state) -> str:
        async with state.sessions() as session:
            endpoint = await session.get(WebhookRow, webhook_id)
            key = f"test:{uuid.uuid4().hex}"
            event_id = await queue_event(
                session, "transcript.completed", key, [endpoint], transcript_id=tid
            )
            await session.commit()
            return await session.scalar(
                select(WebhookDeliveryRow.id).where(WebhookDeliveryRow.event_id == event_id)
            )

    return call(client, run)


def delivery(client, delivery_id: str) -> WebhookDeliveryRow:
    async def run(state) -> WebhookDeliveryRow:
        async with state.sessions() as session:
            return await session.get(WebhookDeliveryRow, delivery_id)

    return call(client, run)


def other_user(client) -> dict[str, str]:
    async def make(state) -> str:
        async with state.sessions() as session:
            user = await accounts.create_user(session, f"o-{uuid.uuid4().hex[:8]}@example.org")
            _, key = await accounts.create_api_key(session, user.id, "other")
            await session.commit()
            return key

    return {"Authorization": f"Bearer {call(client, make)}"}


# --- signatures and payload ------------------------------------------------------------------


def test_deliveries_are_signed_and_verify_with_the_documented_verifier(client, receiver):
    verify = docs_verifier()
    hook = register(client, receiver.url)
    secret = hook["secret"]
    assert secret.startswith("whsec_") and hook["secret_prefix"] == secret[:10]
    assert client.get(f"/v1/webhooks/{hook['id']}").json()["secret"] is None  # shown once
    tid = new_transcript(client)
    settle(client, tid)
    assert send_due(client) == 1
    [request] = receiver.wait_for(1)
    header = request.headers["reflector-signature"]

    assert verify(secret, request.body, header)
    assert not verify(secret, request.body.replace(b"standup", b"standuq"), header)
    assert not verify("whsec_another-secret-entirely", request.body, header)
    stale = signature_header(secret, request.body, int(time.time()) - 301)
    assert not verify(secret, request.body, stale)
    assert verify(secret, request.body, signature_header(secret, request.body))

    payload = WEBHOOK_PAYLOAD.validate_json(request.body)
    assert isinstance(payload, TranscriptWebhook)
    assert payload.version == 1 and payload.type == "transcript.completed"
    assert payload.created_at.tzinfo is not None and payload.data.created_at.tzinfo is not None
    assert payload.data.id == tid and payload.data.title == "Weekly standup"
    assert payload.data.links.web.endswith(f"/transcripts/{tid}")
    assert payload.data.links.exports["srt"].endswith(f"/v1/transcripts/{tid}/export?format=srt")
    assert request.headers["reflector-event"] == "transcript.completed"
    assert request.headers["reflector-webhook-version"] == "1"
    assert request.headers["content-type"] == "application/json"


def test_a_header_may_carry_two_signatures_while_a_secret_changes():
    body, now = b'{"type":"transcript.completed"}', int(time.time())
    new = signature_header("whsec_new", body, now)
    both = f"{new},v1={signature_header('whsec_old', body, now).partition(',v1=')[2]}"
    assert signed_by("whsec_new", body, both) and signed_by("whsec_old", body, both)
    assert not signed_by("whsec_other", body, both)
    for garbled in ("", "v1=abc", f"t=-{now},v1=abc", f"t={now}", new.replace(",v1=", ",v2=")):
        assert not signed_by("whsec_new", body, garbled)


# --- retries ------------------------------------------------------------------------------


def test_backoff_doubles_up_to_a_cap_and_jitter_stays_within_bounds():
    policy = WebhookRetryPolicy(base=10, cap=3600, jitter=0.2)
    nominal = [policy.nominal_delay(n) for n in range(1, 12)]
    assert nominal[:5] == [10, 20, 40, 80, 160]
    assert all(b >= a for a, b in itertools.pairwise(nominal))
    assert nominal[-1] == 3600 and policy.nominal_delay(500) == 3600
    assert policy.delay(3, rand=lambda: 0.0) == pytest.approx(40 * 0.8)
    assert policy.delay(3, rand=lambda: 0.999999) == pytest.approx(40 * 1.2, rel=1e-5)
    samples = [policy.delay(4) for _ in range(2000)]
    assert all(64 <= s <= 96 for s in samples) and len({round(s, 3) for s in samples}) > 100
    with pytest.raises(ValueError):
        WebhookRetryPolicy(base=10, cap=5)


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        *((status, False) for status in (400, 401, 404, 410, 422, 301)),
        *((status, True) for status in (408, 429, 500, 502, 503)),
    ],
)
def test_which_answers_are_retried(status, retried):
    assert is_retryable(status) is retried
    assert is_retryable(None)  # no answer at all


def test_retries_follow_the_schedule_until_delivered(client, receiver):
    hook = register(client, receiver.url)
    tid = new_transcript(client)
    delivery_id = queue_for(client, hook["id"], tid)
    receiver.respond(200, script=[503, 500, 408, 429])
    clock = Clock()
    waits = []
    for _ in range(4):
        assert send_due(client, clock=clock, rand=lambda: 0.5) == 1
        row = delivery(client, delivery_id)
        assert row.status == "pending" and row.next_attempt_at is not None
        waits.append((as_utc(row.next_attempt_at) - clock.now).total_seconds())
        assert send_due(client, clock=clock) == 0  # not due yet
        clock.now = as_utc(row.next_attempt_at)
    assert waits == pytest.approx([10, 20, 40, 80])
    assert send_due(client, clock=clock) == 1
    row = delivery(client, delivery_id)
    assert (row.status, row.attempts, row.response_status) == ("delivered", 5, 200)
    assert receiver.count() == 5
    assert client.get(f"/v1/webhooks/{hook['id']}").json()["failing_since"] is None


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_a_client_error_is_not_retried(client, receiver, status):
    hook = register(client, receiver.url)
    delivery_id = queue_for(client, hook["id"], new_transcript(client))
    receiver.respond(status)
    send_due(client)
    row = delivery(client, delivery_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    assert row.response_status == status and row.error == f"HTTP {status}"


def test_retry_after_is_honoured(client, receiver):
    hook = register(client, receiver.url)
    delivery_id = queue_for(client, hook["id"], new_transcript(client))
    receiver.respond(429, headers={"Retry-After": "120"})
    clock = Clock()
    send_due(client, clock=clock)
    row = delivery(client, delivery_id)
    assert row.status == "pending"
    assert (as_utc(row.next_attempt_at) - clock.now).total_seconds() == pytest.approx(120)


def test_an_unreachable_receiver_is_retried(client):
    hook = register(client, "http://127.0.0.1:9/nothing-listens")
    delivery_id = queue_for(client, hook["id"], new_transcript(client))
    send_due(client)
    row = delivery(client, delivery_id)
    assert row.status == "pending" and row.response_status is None and row.error


# --- disabling ----------------------------------------------------------------------------


def test_an_endpoint_failing_for_a_day_is_disabled_with_a_notice(client, receiver):
    hook = register(client, receiver.url)
    tid = new_transcript(client)
    delivery_id = queue_for(client, hook["id"], tid)
    waiting_id = queue_for(client, hook["id"], new_transcript(client))
    receiver.respond(500)
    clock = Clock()
    start = clock.now
    with capture_logs() as logs:
        for _ in range(100):
            send_due(client, clock=clock)
            state = client.get(f"/v1/webhooks/{hook['id']}").json()
            if not state["enabled"]:
                break
            clock.now = as_utc(delivery(client, delivery_id).next_attempt_at)
    assert not state["enabled"]
    disabled_after = clock.now - start
    assert timedelta(hours=24) <= disabled_after <= timedelta(hours=25, minutes=15)
    assert state["disabled_reason"].startswith("Disabled automatically")
    assert "HTTP 500" in state["disabled_reason"] and state["disabled_at"]
    assert any(e["event"] == "webhook_disabled" and e["webhook"] == hook["id"] for e in logs)
    for delivery_id_ in (delivery_id, waiting_id):
        assert delivery(client, delivery_id_).status == "failed"
    # A disabled endpoint gets no new deliveries, until it is enabled again.
    settle(client, new_transcript(client))
    assert send_due(client, clock=clock) == 0
    enabled = client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": True}).json()
    assert enabled["enabled"] and enabled["disabled_reason"] is None
    assert enabled["failing_since"] is None and enabled["secret"] is None


def test_a_delivered_try_starts_the_day_again(client, receiver):
    hook = register(client, receiver.url)
    receiver.respond(500)
    queue_for(client, hook["id"], new_transcript(client))
    clock = Clock()
    send_due(client, clock=clock)
    assert client.get(f"/v1/webhooks/{hook['id']}").json()["failing_since"] is not None
    clock.now += timedelta(hours=23)
    receiver.respond(200)
    queue_for(client, hook["id"], new_transcript(client))
    send_due(client, clock=clock)
    assert client.get(f"/v1/webhooks/{hook['id']}").json()["failing_since"] is None
    receiver.respond(500)
    clock.now += timedelta(hours=2)
    queue_for(client, hook["id"], new_transcript(client))
    send_due(client, clock=clock)
    assert client.get(f"/v1/webhooks/{hook['id']}").json()["enabled"]


# --- private networks ---------------------------------------------------------------------

PRIVATE_URLS = [
    "http://127.0.0.1/hook",
    "http://127.8.9.10:8080/hook",
    "http://localhost:1250/hook",
    "http://0.0.0.0/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://172.31.255.254/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://224.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fc00::1]/hook",
    "http://[fd12:3456::1]/hook",
    "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://[2002:c0a8:0101::1]/hook",
    "https://2130706433/hook",
]


def test_private_addresses_are_refused_at_registration(tmp_path):
    with running_client(server_settings(tmp_path, None)) as strict:
        for url in PRIVATE_URLS:
            response = strict.post("/v1/webhooks", json={"url": url})
            assert response.status_code == 422, (url, response.text)
            problem = response.json()
            assert problem["type"] == PROBLEM + "unsafe-webhook-url", (url, problem)
            assert "public" in problem["detail"]
        unresolvable = strict.post("/v1/webhooks", json={"url": "https://hooks.invalid/x"})
        assert unresolvable.status_code == 422
        assert "could not be resolved" in unresolvable.json()["detail"]
        public = strict.post("/v1/webhooks", json={"url": "https://93.184.216.34/hook"})
        assert public.status_code == 201, public.text
        # Changing the URL later is checked the same way.
        patched = strict.patch(
            f"/v1/webhooks/{public.json()['id']}", json={"url": "http://10.0.0.8/hook"}
        )
        assert patched.status_code == 422
        assert patched.json()["type"] == PROBLEM + "unsafe-webhook-url"


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("8.8.8.8", False),
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
        ("64:ff9b::808:808", False),  # NAT64 of 8.8.8.8
        ("127.0.0.1", True),
        ("10.255.0.1", True),
        ("172.20.1.1", True),
        ("192.168.0.1", True),
        ("169.254.0.1", True),
        ("100.127.255.255", True),
        ("0.0.0.0", True),
        ("255.255.255.255", True),
        ("::1", True),
        ("::", True),
        ("fc00::5", True),
        ("fdff::1", True),
        ("fe80::1", True),
        ("febf::1", True),
        ("::ffff:192.168.1.1", True),
        ("::127.0.0.1", True),  # IPv4-compatible
        ("64:ff9b::7f00:1", True),  # NAT64 of 127.0.0.1
        ("2002:a00:1::1", True),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", True),  # Teredo of 10.0.0.1
    ],
)
def test_every_private_range_is_blocked(address, blocked):
    import ipaddress

    assert (blocked_reason(ipaddress.ip_address(address)) is not None) is blocked


def _insert_webhook(client, url: str) -> str:
    async def run(state) -> str:
        async with state.sessions() as session:
            row = WebhookRow(
                user_id="local",
                url=url,
                secret="whsec_0123456789abcdef",
                events=["transcript.completed"],
            )
            session.add(row)
            await session.commit()
            return row.id

    return call(client, run)


def test_the_address_is_checked_again_after_dns_when_sending(client, receiver):
    """A name that resolved to a public address when registered and to a private one now
    (DNS rebinding) is not called; with private networks allowed, the connection goes to the
    address that was resolved and checked, under the original name."""
    url = f"http://hooks.example.test:{receiver.port}/hook"
    webhook_id = _insert_webhook(client, url)

    async def rebound(host: str, port: int) -> list[str]:
        assert host == "hooks.example.test"
        return ["127.0.0.1"]

    delivery_id = queue_for(client, webhook_id, new_transcript(client))
    send_due(client, resolver=rebound, webhook_allow_private_networks=False)
    row = delivery(client, delivery_id)
    assert (row.status, row.attempts, row.response_status) == ("failed", 1, None)
    assert row.error.startswith("refused") and "127.0.0.1" in row.error
    assert receiver.count() == 0

    delivery_id = queue_for(client, webhook_id, new_transcript(client))
    send_due(client, resolver=rebound)
    assert delivery(client, delivery_id).status == "delivered"
    [request] = receiver.wait_for(1)
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"


def test_redirects_are_not_followed(client, receiver):
    with WebhookReceiver(host="127.0.0.2") as inside:
        receiver.respond(302, headers={"Location": inside.url})
        hook = register(client, receiver.url)
        delivery_id = queue_for(client, hook["id"], new_transcript(client))
        send_due(client)
        row = delivery(client, delivery_id)
        assert (row.status, row.response_status, row.attempts) == ("failed", 302, 1)
        assert "redirects are not followed" in row.error
        assert inside.count() == 0


# --- the delivery log and test deliveries -----------------------------------------------------


def test_the_delivery_log_shows_each_delivery(client, receiver):
    hook = register(client, receiver.url)
    for _ in range(3):
        queue_for(client, hook["id"], new_transcript(client))
    receiver.respond(200, body=b"thanks " * 400)
    send_due(client)
    failing = queue_for(client, hook["id"], new_transcript(client))
    receiver.respond(503)
    send_due(client)

    log = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    assert log["total"] == 4 and len(log["items"]) == 4
    newest = log["items"][0]
    assert newest["id"] == failing and newest["status"] == "pending"
    assert newest["response_status"] == 503 and newest["next_attempt_at"] is not None
    delivered = [d for d in log["items"] if d["status"] == "delivered"]
    assert len(delivered) == 3
    for item in delivered:
        assert item["attempts"] == 1 and item["response_status"] == 200
        assert item["latency_ms"] > 0 and item["next_attempt_at"] is None
        assert item["event_type"] == "transcript.completed" and item["transcript_id"]
        assert len(item["response_preview"]) == 1024
    page = client.get(f"/v1/webhooks/{hook['id']}/deliveries?size=3&page=2").json()
    assert (page["pages"], len(page["items"])) == (2, 1)
    pending = client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=pending").json()
    assert [d["id"] for d in pending["items"]] == [failing]
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=lost").status_code == 422


def test_send_test_posts_at_once_and_reports(client, receiver):
    verify = docs_verifier()
    hook = register(client, receiver.url)
    result = client.post(f"/v1/webhooks/{hook['id']}/test")
    assert result.status_code == 200, result.text
    body = result.json()
    assert (body["status"], body["response_status"], body["attempts"]) == ("delivered", 200, 1)
    assert body["event_type"] == "webhook.test"
    [request] = receiver.wait_for(1)
    assert verify(hook["secret"], request.body, request.headers["reflector-signature"])
    assert WEBHOOK_PAYLOAD.validate_json(request.body).data.webhook_id == hook["id"]

    receiver.respond(500)
    failed = client.post(f"/v1/webhooks/{hook['id']}/test").json()
    assert (failed["status"], failed["response_status"], failed["next_attempt_at"]) == (
        "failed",
        500,
        None,
    )
    after = client.get(f"/v1/webhooks/{hook['id']}").json()
    assert after["failing_since"] is None  # tests do not count
    # Also to a disabled endpoint: to check a fix before enabling it again.
    client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": False})
    receiver.respond(200)
    assert client.post(f"/v1/webhooks/{hook['id']}/test").json()["status"] == "delivered"
    assert client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["total"] == 3


# --- the API's answers to bad input ---------------------------------------------------------


def test_bad_input_gets_clear_problems(client, receiver):
    malformed = client.post(
        "/v1/webhooks", content=b'{"url": "http://x', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["type"] == PROBLEM + "malformed-json"
    for url in ("ftp://example.org/hook", "javascript:alert(1)", "example.org/hook", "http://"):
        response = client.post("/v1/webhooks", json={"url": url})
        assert response.status_code == 422, url
        problem = response.json()
        assert problem["type"] == PROBLEM + "validation-error"
        assert problem["errors"][0]["location"] == "body.url"
    for body in (
        {"url": receiver.url, "events": ["transcript.deleted"]},
        {"url": receiver.url, "events": []},
        {"url": receiver.url, "secret": "short"},
        {"url": receiver.url, "colour": "blue"},
    ):
        assert client.post("/v1/webhooks", json=body).status_code == 422, body
    hook = register(client, receiver.url, events=["transcript.failed", "transcript.failed"])
    assert hook["events"] == ["transcript.failed"]


def test_other_users_webhooks_are_not_found(client, receiver):
    hook = register(client, receiver.url)
    stranger = other_user(client)
    base = f"/v1/webhooks/{hook['id']}"
    for method, path, body in (
        ("GET", base, None),
        ("PATCH", base, {"description": "mine now"}),
        ("DELETE", base, None),
        ("POST", f"{base}/test", None),
        ("GET", f"{base}/deliveries", None),
    ):
        response = client.request(method, path, json=body, headers=stranger)
        assert response.status_code == 404, (method, path)
        assert response.json()["type"] == PROBLEM + "not-found"
    assert client.get("/v1/webhooks", headers=stranger).json() == []
    assert receiver.count() == 0
    assert client.get(base).status_code == 200
    assert client.delete(base).status_code == 204
    assert client.get(base).status_code == 404


# --- what is queued, and for whom ---------------------------------------------------------


def _job(client, tid: str, status: str, age_seconds: float) -> None:
    """A job row as the runner leaves it; a running job of the transcript is marked done."""

    async def run(state) -> None:
        async with state.sessions() as session:
            for job in await session.scalars(
                select(JobRow).where(JobRow.transcript_id == tid, JobRow.status == "running")
            ):
                job.status = "done"
            created = utcnow() - timedelta(seconds=age_seconds)
            session.add(JobRow(transcript_id=tid, status=status, created_at=created))
            await session.commit()

    call(client, run)


def _event_types(client, tid: str) -> list[str]:
    async def run(state) -> list[str]:
        async with state.sessions() as session:
            rows = await session.scalars(
                select(WebhookEventRow.type)
                .where(WebhookEventRow.transcript_id == tid)
                .order_by(WebhookEventRow.created_at)
            )
            return list(rows)

    return call(client, run)


def test_completed_reprocessed_and_failed_are_told_apart(client, receiver):
    register(client, receiver.url)
    tid = new_transcript(client)
    _job(client, tid, "running", 30)
    settle(client, tid)
    settle(client, tid)  # the same job finishing again (resumed): reported once
    _job(client, tid, "failed", 20)  # the first job is done now
    settle(client, tid, TranscriptStatus.ERROR)
    _job(client, tid, "running", 10)
    settle(client, tid)

    other = new_transcript(client)
    _job(client, other, "failed", 20)
    settle(client, other, TranscriptStatus.ERROR)
    _job(client, other, "running", 10)
    settle(client, other)  # no job of it completed before: its first completion
    assert _event_types(client, tid) == [
        "transcript.completed",
        "transcript.failed",
        "transcript.reprocessed",
    ]
    assert _event_types(client, other) == ["transcript.failed", "transcript.completed"]


def test_events_go_only_to_endpoints_that_want_them(client, receiver):
    failed_only = register(client, receiver.url, events=["transcript.failed"])
    tid = new_transcript(client)
    settle(client, tid)
    assert send_due(client) == 0
    settle(client, tid, TranscriptStatus.ERROR)
    assert send_due(client) == 1
    [request] = receiver.wait_for(1)
    payload = WEBHOOK_PAYLOAD.validate_json(request.body)
    assert payload.type == "transcript.failed" and payload.data.status == "error"
    assert request.headers["reflector-delivery"]
    assert failed_only["events"] == ["transcript.failed"]


def test_room_webhooks_and_meeting_events(client, receiver):
    verify = docs_verifier()
    room_secret = "room-secret-0123456789"
    with WebhookReceiver() as mine:
        user_hook = register(client, mine.url, events=["meeting.started"])

        async def make_room(state) -> tuple[str, str]:
            async with state.sessions() as session:
                room = RoomRow(
                    name=f"team-{uuid.uuid4().hex[:6]}",
                    user_id="local",
                    webhook_url=receiver.url,
                    webhook_secret=room_secret,
                )
                session.add(room)
                await session.flush()
                meeting = MeetingRow(room_id=room.id, platform="daily", platform_meeting_id="m1")
                session.add(meeting)
                await session.flush()
                first = await queue_meeting_event(session, meeting, "started")
                again = await queue_meeting_event(session, meeting, "started")
                await session.commit()
                assert first is not None and again is None
                return room.id, meeting.id

        room_id, meeting_id = call(client, make_room)
        assert send_due(client) == 2
        [to_room] = receiver.wait_for(1)
        [to_user] = mine.wait_for(1)
    assert verify(room_secret, to_room.body, to_room.headers["reflector-signature"])
    assert verify(user_hook["secret"], to_user.body, to_user.headers["reflector-signature"])
    started = WEBHOOK_PAYLOAD.validate_json(to_room.body)
    assert started.type == "meeting.started" and started.data.id == meeting_id
    assert started.data.room_id == room_id and "/rooms/team-" in started.data.links["room"]
    assert to_room.body == to_user.body  # one event, the same bytes for every endpoint

    # A transcript of the room goes to the room's webhook too; it is listed with the room.
    tid = new_transcript(client, room_id=room_id, source="room")
    settle(client, tid)
    assert send_due(client) == 1  # the user's endpoint wants only meeting.started
    listed = {h["room_id"]: h for h in client.get("/v1/webhooks").json()}
    assert listed[room_id]["url"] == receiver.url and listed[None]["id"] == user_hook["id"]
    log = client.get(f"/v1/webhooks/{listed[room_id]['id']}/deliveries").json()
    assert [d["event_type"] for d in log["items"]] == ["transcript.completed", "meeting.started"]
    assert client.post("/v1/webhooks", json={"url": receiver.url, "room_id": room_id}).json()[
        "type"
    ] == (PROBLEM + "room-has-webhook")
    stranger = other_user(client)
    response = client.post(
        "/v1/webhooks", json={"url": receiver.url, "room_id": room_id}, headers=stranger
    )
    assert response.status_code == 404
    # Changing the room's endpoint changes the room; deleting it clears the room's webhook.
    client.patch(f"/v1/webhooks/{listed[room_id]['id']}", json={"rotate_secret": True})

    async def room_columns(state) -> tuple[str | None, str | None]:
        async with state.sessions() as session:
            room = await session.get(RoomRow, room_id)
            return room.webhook_url, room.webhook_secret

    url, secret = call(client, room_columns)
    assert url == receiver.url and secret != room_secret
    assert client.delete(f"/v1/webhooks/{listed[room_id]['id']}").status_code == 204
    assert call(client, room_columns) == (None, None)


def test_queueing_and_sending_on_postgresql(tmp_path, receiver):
    """The same on PostgreSQL: an event queued twice goes out once, claims are exclusive."""
    with postgres_database() as url:
        settings = server_settings(
            tmp_path, url, webhook_allow_private_networks=True, webhook_poll_seconds=300
        )
        with running_client(settings) as pg:
            hook = register(pg, receiver.url)
            tid = new_transcript(pg)
            settle(pg, tid)
            settle(pg, tid)
            for _ in range(5):
                queue_for(pg, hook["id"], tid)

            async def two_senders(state) -> list[int]:
                async with (
                    WebhookSender(state.sessions, state.settings) as one,
                    WebhookSender(state.sessions, state.settings) as two,
                ):
                    return list(await asyncio.gather(one.run_due(4), two.run_due(4)))

            assert sum(call(pg, two_senders)) == 6
            log = pg.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    assert receiver.count() == 6
    assert {d["status"] for d in log["items"]} == {"delivered"} and log["total"] == 6
    assert len({r.headers["reflector-delivery"] for r in receiver.received}) == 6


def test_the_celery_round_sends_what_is_due(client, receiver):
    """``reflector beat`` sends ``reflector.deliver_webhooks`` to the quick queue; the task
    sends every due delivery in one round."""
    from reflector.integrations.webhooks.sender import drain_due
    from reflector.jobs.celery_app import make_celery

    state = client.app.state.reflector
    schedule = make_celery(state.settings).conf.beat_schedule["deliver-webhooks"]
    assert schedule["task"] == "reflector.deliver_webhooks"
    assert schedule["options"]["queue"] == "quick"
    hook = register(client, receiver.url)
    for _ in range(3):
        queue_for(client, hook["id"], new_transcript(client))

    async def round_(state) -> int:
        return await drain_due(state.sessions, state.settings, seconds=10)

    assert call(client, round_) == 3
    assert receiver.count() == 3


# --- end to end -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_processed_upload_is_delivered_by_the_server(tmp_path, piper_clip, receiver):
    """Upload → the in-process job → ``transcript.completed`` at the receiver, sent by the
    server's own loop; processing it again → ``transcript.reprocessed``."""
    verify = docs_verifier()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFLECTOR_LLM_BACKEND", "extractive")
        settings = server_settings(
            tmp_path,
            None,
            webhook_allow_private_networks=True,
            webhook_poll_seconds=0.2,
            public_url="https://reflector.example.org",
        )
        with running_client(settings) as app:
            hook = register(app, receiver.url)
            tid = app.post("/v1/transcripts", json={"name": "clip"}).json()["id"]
            app.post(
                f"/v1/transcripts/{tid}/upload",
                params={"filename": "clip.wav", "summarize": "true"},
                content=piper_clip.path.read_bytes(),
            )
            wait_for_status(app, tid, {"ended"})
            [completed] = receiver.wait_for(1, timeout=30)
            assert app.post(f"/v1/transcripts/{tid}/process").status_code == 202
            wait_for_status(app, tid, {"ended"}, timeout=180)
            [_, reprocessed] = receiver.wait_for(2, timeout=30)
            # The sender records a delivery once the receiver has answered: a moment later.
            deadline = time.monotonic() + 10
            while True:
                log = app.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
                if all(d["status"] != "sending" for d in log["items"]):
                    break
                assert time.monotonic() < deadline, log
                time.sleep(0.05)
    for request in (completed, reprocessed):
        assert verify(hook["secret"], request.body, request.headers["reflector-signature"])
    first = WEBHOOK_PAYLOAD.validate_json(completed.body)
    again = WEBHOOK_PAYLOAD.validate_json(reprocessed.body)
    assert (first.type, again.type) == ("transcript.completed", "transcript.reprocessed")
    assert first.data.id == tid and first.data.duration > 0 and first.data.title
    assert first.data.links.web == f"https://reflector.example.org/transcripts/{tid}"
    assert first.data.links.audio == f"https://reflector.example.org/v1/transcripts/{tid}/audio.mp3"
    assert first.id != again.id
    assert [d["status"] for d in log["items"]] == ["delivered", "delivered"]
