"""Checks on every request before any route runs: a trusted ``Host``, and for WebSockets an
allowed ``Origin``; sockets that authenticate by subprotocol get it selected in the answer.

Pure ASGI middleware (see ``asgi``), so bodies (uploads) and sockets pass through untouched.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reflector.api.asgi import PureMiddleware
from reflector.api.auth import WEBSOCKET_PROTOCOL, offered_subprotocols
from reflector.api.hosts import host_is_trusted, origin_is_allowed, split_host, trusted_hosts
from reflector.api.problems import problem_response
from reflector.settings import Settings

POLICY_VIOLATION = 1008


async def _refuse_socket(send: Send, reason: str) -> None:
    """A close before the socket is accepted: the server answers the handshake with 403 and
    the client never gets a byte of data."""
    await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason})


class TrustedHosts(PureMiddleware):
    """400 ``untrusted-host`` for a ``Host`` the server does not answer to (DNS rebinding)."""

    handles = frozenset({"http", "websocket"})

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(app)
        self.patterns = trusted_hosts(settings)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        name, _ = split_host(Headers(scope=scope).get("host", ""))
        if host_is_trusted(name, self.patterns):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await _refuse_socket(send, "untrusted host")
            return
        response = problem_response(
            400,
            "untrusted-host",
            "the Host header names a host this server does not answer to "
            "(add it to REFLECTOR_TRUSTED_HOSTS)",
        )
        await response(scope, receive, send)


class WebSocketOrigins(PureMiddleware):
    """Refuses a WebSocket whose ``Origin`` is another site before it is accepted; clients that
    send none (programs, not browsers) pass. A socket that offered ``reflector.v1`` gets it
    selected when its route accepts without naming one (browsers drop a socket whose offered
    subprotocols the server does not answer)."""

    handles = frozenset({"websocket"})

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and not origin_is_allowed(
            origin, headers.get("host", ""), self.settings
        ):
            await _refuse_socket(send, "origin not allowed")
            return
        if WEBSOCKET_PROTOCOL not in offered_subprotocols(headers):
            await self.app(scope, receive, send)
            return

        async def select_protocol(message: Message) -> None:
            if message["type"] == "websocket.accept" and not message.get("subprotocol"):
                message = {**message, "subprotocol": WEBSOCKET_PROTOCOL}
            await send(message)

        await self.app(scope, receive, select_protocol)
