"""Who is asking: the owner of an API key, a signed-in browser (session cookie), or the local
user (single-user mode).

Keys come as ``Authorization: Bearer rk_…`` or ``X-API-Key: rk_…``. Browsers cannot set
headers on a WebSocket, so sockets also take the key as a subprotocol entry
(``Sec-WebSocket-Protocol: reflector.v1, bearer.rk_…``; the server answers ``reflector.v1``), or,
kept for older clients, as ``?api_key=`` (which ends up in proxy logs and browser history), or
the session cookie. A wrong Reflector key (``rk_…``) is always an error, even in single-user
mode, so a typo never silently acts as somebody else; any other bearer token is taken, in
single-user mode only, as the local user, as local OpenAI-compatible servers do (clients that
insist on sending some key then work unchanged).

A browser signed in with a cookie must send ``X-CSRF-Token`` on every write (POST, PUT, PATCH,
DELETE): the token is an HMAC of its session, handed over at sign-in and in the
``reflector_csrf`` cookie that the page can read and other sites cannot. Requests with a key
carry no ambient credentials, so they need no token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from reflector.api.oidc import Identity, InvalidToken, OidcUnavailable
from reflector.api.problems import Problem
from reflector.db import accounts
from reflector.db.tables import User


@dataclass(frozen=True)
class CurrentUser:
    id: str
    via_api_key: bool
    is_admin: bool = False
    via_session: bool = False
    """Authenticated by the session cookie (writes need the CSRF token)."""


SESSION_COOKIE = "reflector_session"
CSRF_COOKIE = "reflector_csrf"
CSRF_HEADER = "x-csrf-token"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


def csrf_token(secret: bytes, session_token: str) -> str:
    """The CSRF token of a session: only the server can make it, and only for that session."""
    return hmac.new(secret, b"csrf\n" + session_token.encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, secret: bytes, session_token: str) -> None:
    if request.scope.get("method") not in _WRITES:  # reads, and WebSockets (origin-checked)
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token(secret, session_token).encode()):
        raise Problem(
            403,
            "csrf-token-invalid",
            f"a signed-in browser's writes need the {CSRF_COOKIE} cookie's value in the "
            "X-CSRF-Token header",
        )


def client_address(request: Request) -> str:
    """The caller's address as the server sees it: behind a proxy, from its
    ``X-Forwarded-For`` when uvicorn trusts the proxy (loopback, or ``FORWARDED_ALLOW_IPS``),
    else the proxy's own."""
    return request.client.host if request.client else "unknown"


def _local_user() -> CurrentUser:
    # Whoever reaches a single-user server owns it.
    return CurrentUser(accounts.LOCAL_USER_ID, via_api_key=False, is_admin=True)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's database session (``deps.Session``): one per request, shared by the
    lookup of the caller's key or sign-in and by the route, so authenticating costs one query,
    not a connection and a transaction of its own."""
    async with request.app.state.reflector.sessions() as session:
        yield session


SharedSession = Annotated[AsyncSession | None, Depends(request_session)]


@asynccontextmanager
async def _session(state, shared: AsyncSession | None) -> AsyncIterator[AsyncSession]:
    if shared is not None:
        yield shared
    else:  # called outside a route's dependencies (a WebSocket): a session of its own
        async with state.sessions() as session:
            yield session


async def current_user(request: Request, session: SharedSession = None) -> CurrentUser:
    state = request.app.state.reflector
    single_user = state.settings.auth_mode == "single-user"
    key = _presented_key(request)
    if key is None and request.scope.get("type") == "websocket":
        key = _subprotocol_key(request.headers) or request.query_params.get("api_key")
    if key is not None:
        if single_user and not key.startswith(accounts.API_KEY_PREFIX):
            return _local_user()
        # Counted per address before the lookup (wrong keys too), then per user.
        await state.rate_limiter.hit("api-key", "ip", client_address(request))
        if state.oidc is not None and _looks_like_jwt(key):
            return await _jwt_user(state, session, key)
        async with _session(state, session) as db:
            owner = await accounts.key_owner(db, key)
        if owner is None:
            raise Problem(
                401, "invalid-api-key", "the API key is not valid (revoked, expired or mistyped)"
            )
        await state.rate_limiter.hit("api-key", "user", owner.user_id)
        # The local user owns a single-user server, with or without a key.
        admin = owner.is_admin or (single_user and owner.user_id == accounts.LOCAL_USER_ID)
        return CurrentUser(owner.user_id, via_api_key=True, is_admin=admin)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with _session(state, session) as db:
            user = await accounts.user_for_session(db, token)
        if user is not None:
            check_csrf(request, state.secret_key, token)
            return CurrentUser(user.id, via_api_key=False, is_admin=user.is_admin, via_session=True)
    if single_user:
        return _local_user()
    raise authentication_required()


def _looks_like_jwt(token: str) -> bool:
    return not token.startswith(accounts.API_KEY_PREFIX) and token.count(".") == 2


async def oidc_account(session: AsyncSession, identity: Identity) -> User | None:
    """The account of an identity the issuer vouched for (a bearer JWT or a browser's sign-in),
    made at its first use; ``None`` for a disabled account. Both ways in find the same
    account: :func:`reflector.db.accounts.user_for_oidc`."""
    return await accounts.user_for_oidc(
        session, identity.subject, email=identity.email, email_verified=identity.email_verified,
        name=identity.name,
    )  # fmt: skip


async def _jwt_user(state, shared: AsyncSession | None, token: str) -> CurrentUser:
    """The user of an OpenID Connect issuer's JWT (made at its first use); 401
    ``invalid-token`` for a token that does not check out (``api.oidc``)."""
    try:
        identity = state.oidc.identity(await state.oidc.verify(token))
    except InvalidToken as invalid:  # as a Problem, so WebSockets close with its words too
        raise Problem(
            401, "invalid-token", str(invalid), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    except OidcUnavailable as down:
        raise Problem(503, "oidc-unavailable", str(down)) from None
    async with _session(state, shared) as db:
        user = await oidc_account(db, identity)
    if user is None:
        raise Problem(401, "invalid-token", "the account of this token is disabled")
    await state.rate_limiter.hit("api-key", "user", user.id)
    return CurrentUser(user.id, via_api_key=True, is_admin=user.is_admin)


def authentication_required() -> Problem:
    """The 401 for a request that came without credentials where it needs some."""
    return Problem(
        401,
        "authentication-required",
        "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>', or sign in",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def optional_user(request: Request, session: SharedSession = None) -> CurrentUser | None:
    """The caller, or ``None`` for somebody who sent no credentials at all on a multi-user
    server (a reader of a public transcript). Wrong credentials are still refused (401)."""
    try:
        return await current_user(request, session)
    except Problem as problem:
        if problem.slug == "authentication-required":
            return None
        raise
