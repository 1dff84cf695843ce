"""Whereby's recordings, found through the bucket's S3 notifications on an SQS queue.

Whereby writes each cloud recording into the bucket and says nothing; the bucket sends an
``ObjectCreated`` event for every new object to an SQS queue, which Reflector reads. This module
only speaks SQS and the S3 event format; what a file means (which meeting, which transcript) is
decided by :mod:`reflector.pipelines.whereby_recordings`.

boto3 is synchronous, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from reflector.errors import BadInputError
from reflector.platforms.base import PlatformError

if TYPE_CHECKING:
    from reflector.settings import Settings

MAX_MESSAGES = 10
"""The most SQS hands out per receive."""


class MalformedNotification(BadInputError, ValueError):
    """A queue message that is not an S3 event notification: it can never be processed."""


@dataclass(frozen=True)
class CreatedObject:
    """One object an S3 ``ObjectCreated`` event reports."""

    bucket: str
    key: str
    """Decoded: S3 sends keys URL-encoded (``+`` for spaces, ``%3A`` for colons)."""
    size: int | None = None
    event_time: datetime | None = None


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    """What deleting the message takes (valid for this delivery only)."""
    body: str
    receive_count: int = 1
    """How many times SQS has handed this message out (1 the first time)."""


@dataclass(frozen=True)
class SqsConfig:
    queue_url: str
    region: str | None = None
    endpoint_url: str | None = None
    """An SQS-compatible endpoint; ``None`` for AWS."""
    access_key: str | None = None
    """``None``: boto3's usual credential chain."""
    secret_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SqsConfig | None:
        """The queue the settings name, or ``None`` when none is set (no polling)."""
        if not settings.whereby_sqs_queue_url:
            return None
        secret = settings.whereby_recordings_secret_key
        return cls(
            queue_url=settings.whereby_sqs_queue_url,
            region=settings.whereby_sqs_region or settings.whereby_recordings_region,
            endpoint_url=settings.whereby_sqs_endpoint_url,
            access_key=settings.whereby_recordings_access_key,
            secret_key=secret.get_secret_value() if secret else None,
        )


class SqsQueue:
    """Receive and delete messages of one SQS queue."""

    def __init__(self, config: SqsConfig) -> None:
        self.config = config
        self._client = boto3.client(
            "sqs",
            region_name=config.region or "us-east-1",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key,
            config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3}),
        )

    async def receive(
        self, max_messages: int = MAX_MESSAGES, wait_seconds: int = 0
    ) -> list[QueueMessage]:
        """Up to ``max_messages`` messages, waiting up to ``wait_seconds`` for the first one
        (SQS long polling). Each stays invisible to other readers for the queue's visibility
        timeout, then comes back unless deleted."""

        def call() -> dict[str, Any]:
            return self._client.receive_message(
                QueueUrl=self.config.queue_url,
                MaxNumberOfMessages=max(1, min(max_messages, MAX_MESSAGES)),
                WaitTimeSeconds=max(0, min(wait_seconds, 20)),
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )

        answer = await self._run(call, "receive messages from")
        messages = []
        for message in answer.get("Messages", []):
            count = message.get("Attributes", {}).get("ApproximateReceiveCount", "1")
            messages.append(
                QueueMessage(
                    message_id=message["MessageId"],
                    receipt_handle=message["ReceiptHandle"],
                    body=message.get("Body", ""),
                    receive_count=int(count) if str(count).isdigit() else 1,
                )
            )
        return messages

    async def delete(self, message: QueueMessage) -> None:
        """Remove a handled message from the queue for good."""
        await self._run(
            lambda: self._client.delete_message(
                QueueUrl=self.config.queue_url, ReceiptHandle=message.receipt_handle
            ),
            "delete a message from",
        )

    async def _run(self, call: Any, doing: str) -> Any:
        try:
            return await asyncio.to_thread(call)
        except (BotoCoreError, ClientError) as exc:
            raise PlatformError(
                f"could not {doing} the SQS queue {self.config.queue_url}: {exc}"
            ) from exc

    def close(self) -> None:
        self._client.close()


def parse_notification(body: str) -> list[CreatedObject]:
    """The objects an S3 event notification reports as created (directly on the queue, or
    wrapped in an SNS notification). S3's test event, and events of other kinds, report none.
    Raises :class:`MalformedNotification` for anything else."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise MalformedNotification("the message is not JSON") from exc
    if isinstance(payload, dict) and payload.get("Type") == "Notification":
        message = payload.get("Message")
        if not isinstance(message, str):
            raise MalformedNotification("an SNS notification without a 'Message'")
        return parse_notification(message)
    if not isinstance(payload, dict):
        raise MalformedNotification("the message is not a JSON object")
    if payload.get("Event") == "s3:TestEvent":
        return []  # sent once when the bucket's notifications are set up
    records = payload.get("Records")
    if not isinstance(records, list):
        raise MalformedNotification("the message has no 'Records' list")
    return [created for record in records if (created := _created_object(record)) is not None]


def _created_object(record: object) -> CreatedObject | None:
    if not isinstance(record, dict):
        raise MalformedNotification("a record is not an object")
    name = record.get("eventName")
    if not isinstance(name, str):
        raise MalformedNotification("a record has no 'eventName'")
    if record.get("eventSource") != "aws:s3" or not name.startswith("ObjectCreated:"):
        return None
    s3 = record.get("s3")
    bucket = s3.get("bucket") if isinstance(s3, dict) else None
    obj = s3.get("object") if isinstance(s3, dict) else None
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise MalformedNotification("an ObjectCreated record without 's3.bucket'/'s3.object'")
    bucket_name, key = bucket.get("name"), obj.get("key")
    if not isinstance(bucket_name, str) or not bucket_name:
        raise MalformedNotification("an ObjectCreated record without a bucket name")
    if not isinstance(key, str) or not key:
        raise MalformedNotification("an ObjectCreated record without an object key")
    size = obj.get("size")
    event_time = None
    if isinstance(record.get("eventTime"), str):
        try:
            event_time = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
        except ValueError:
            event_time = None  # informative only
    return CreatedObject(
        bucket=bucket_name,
        key=unquote_plus(key),
        size=size if isinstance(size, int) and size >= 0 else None,
        event_time=event_time,
    )
