"""What the Whereby webhook answers, and the event shape it documents in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class WebhookAck(BaseModel):
    """A webhook was received and is not to be sent again."""

    type: str
    """The event type Whereby named."""
    handled: bool
    """Whether it changed anything here: ``false`` for event types Reflector does not use and
    for meetings it does not know."""


WEBHOOK_BODY: dict[str, Any] = {
    "required": True,
    "description": "A Whereby webhook event, signed in the `whereby-signature` header.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type", "data"],
                "properties": {
                    "id": {"type": "string"},
                    "apiVersion": {"type": "string"},
                    "createdAt": {"type": "string", "format": "date-time"},
                    "type": {"type": "string", "examples": ["room.client.joined"]},
                    "data": {
                        "type": "object",
                        "properties": {
                            "meetingId": {"type": "string"},
                            "roomName": {"type": "string"},
                            "participantId": {"type": "string"},
                            "displayName": {"type": "string"},
                            "externalId": {"type": ["string", "null"]},
                            "numClients": {"type": "integer", "minimum": 0},
                        },
                    },
                },
            }
        }
    },
}
