"""Users and API keys made directly in a running test server's database."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from reflector.db import accounts


def new_account(client: TestClient, name: str, *, admin: bool = False) -> tuple[str, str]:
    """(user id, API key) of a new user of the server behind ``client``."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.org"

    async def make() -> tuple[str, str]:
        async with client.app.state.reflector.sessions() as session:
            user = await accounts.create_user(session, email, name=name, is_admin=admin)
            _, key = await accounts.create_api_key(session, user.id, "test")
            await session.commit()
            return user.id, key

    return client.portal.call(make)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
