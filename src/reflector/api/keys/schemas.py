"""Request and response bodies of ``/v1/api-keys``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from reflector.api.schemas import StrictBody


class ApiKeyCreate(StrictBody):
    name: str = Field(default="", max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    """After this many days the key stops working; ``null``: never."""


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    """To the minute."""
    expires_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str
    """The key itself: shown this once, never again."""
