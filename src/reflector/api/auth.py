"""Who is asking: the local user (embedded single-user mode) or the owner of an API key.

Keys come as ``Authorization: Bearer rk_…`` or ``X-API-Key: rk_…``. Browsers cannot set
headers on a WebSocket, so sockets also take the key as a subprotocol entry
(``Sec-WebSocket-Protocol: reflector.v1, bearer.rk_…``; the server answers ``reflector.v1``), or,
kept for older clients, as ``?api_key=`` (which ends up in proxy logs and browser history). A
wrong key is always an error, even in single-user mode, so a typo never silently acts as
somebody else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request

from reflector.api.problems import Problem
from reflector.db import repository


@dataclass(frozen=True)
class CurrentUser:
    id: str
    via_api_key: bool


WEBSOCKET_PROTOCOL = "reflector.v1"
"""The subprotocol a WebSocket client offers next to its key; the server selects it."""
BEARER_PROTOCOL_PREFIX = "bearer."


def offered_subprotocols(headers: Mapping[str, str]) -> list[str]:
    """The entries of a WebSocket handshake's ``Sec-WebSocket-Protocol``, in order."""
    offered = headers.get("sec-websocket-protocol", "")
    return [entry.strip() for entry in offered.split(",") if entry.strip()]


def _subprotocol_key(headers: Mapping[str, str]) -> str | None:
    for entry in offered_subprotocols(headers):
        if entry.lower().startswith(BEARER_PROTOCOL_PREFIX):
            return entry[len(BEARER_PROTOCOL_PREFIX) :] or None
    return None


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def current_user(request: Request) -> CurrentUser:
    state = request.app.state.reflector
    key = _presented_key(request)
    if key is None and request.scope.get("type") == "websocket":
        key = _subprotocol_key(request.headers) or request.query_params.get("api_key")
    if key is not None:
        async with state.sessions() as session:
            user = await repository.user_for_api_key(session, key)
            await session.commit()
        if user is None:
            raise Problem(401, "invalid-api-key", "the API key is not valid (revoked or mistyped)")
        return CurrentUser(user.id, via_api_key=True)
    if state.settings.auth_mode == "single-user":
        return CurrentUser(repository.LOCAL_USER_ID, via_api_key=False)
    raise Problem(
        401,
        "authentication-required",
        "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
        headers={"WWW-Authenticate": "Bearer"},
    )
