"""People of a multi-user test server and their things, made straight in its database: users
with an API key, a revoked and an expired key and a signed-in browser session; transcripts in
any share mode; rooms. Each helper takes the ``TestClient`` of a running app
(:func:`reflector_testkit.servers.running_client`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from reflector.api.auth import CSRF_HEADER, SESSION_COOKIE, csrf_token
from reflector.db import accounts
from reflector.db.tables import RoomRow, TranscriptRow, utcnow


@dataclass(frozen=True)
class Person:
    """A user and every way of calling the API as them."""

    id: str
    email: str
    key: str
    """A working API key."""
    revoked_key: str
    expired_key: str
    session_token: str
    """The ``reflector_session`` cookie of a signed-in browser."""
    csrf: str
    """That session's CSRF token (``X-CSRF-Token`` on writes)."""
    is_admin: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def key_headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def browser_headers(self) -> dict[str, str]:
        """The cookie and the CSRF token a signed-in page sends (on reads and writes alike)."""
        return {"Cookie": f"{SESSION_COOKIE}={self.session_token}", CSRF_HEADER: self.csrf}


def make_person(client: Any, who: str = "user", *, admin: bool = False) -> Person:
    """A new user with a key, a revoked key, an expired key and a signed-in session."""
    state = client.app.state.reflector
    email = f"{who}-{uuid.uuid4().hex[:8]}@example.org"

    async def make() -> Person:
        async with state.sessions() as session:
            user = await accounts.create_user(session, email, name=who, is_admin=admin)
            _, key = await accounts.create_api_key(session, user.id, "key")
            revoked, revoked_key = await accounts.create_api_key(session, user.id, "revoked")
            revoked.revoked_at = utcnow()
            _, expired_key = await accounts.create_api_key(
                session, user.id, "expired", expires_at=utcnow() - timedelta(minutes=1)
            )
            _, token = await accounts.create_login_session(session, user.id, timedelta(hours=1))
            await session.commit()
            return Person(
                id=user.id,
                email=email,
                key=key,
                revoked_key=revoked_key,
                expired_key=expired_key,
                session_token=token,
                csrf=csrf_token(state.secret_key, token),
                is_admin=admin,
            )

    return client.portal.call(make)


def make_room(client: Any, owner_id: str, *, shared: bool = False, **fields: Any) -> RoomRow:
    """A room of ``owner_id`` (shared with every signed-in user when ``shared``)."""

    async def make() -> RoomRow:
        async with client.app.state.reflector.sessions() as session:
            row = RoomRow(
                name=f"room-{uuid.uuid4().hex[:10]}", user_id=owner_id, is_shared=shared, **fields
            )
            session.add(row)
            await session.commit()
            return row

    return client.portal.call(make)


def make_transcript(client: Any, owner_id: str, **fields: Any) -> TranscriptRow:
    """A transcript of ``owner_id``, with ``fields`` (``share_mode``, ``room_id``, ``text``,
    ``status`` …) set as given."""

    async def make() -> TranscriptRow:
        async with client.app.state.reflector.sessions() as session:
            row = TranscriptRow(user_id=owner_id, **{"name": "meeting", **fields})
            session.add(row)
            await session.commit()
            return row

    return client.portal.call(make)
