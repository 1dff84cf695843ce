"""The common shape of this API's pure ASGI middleware.

Pure ASGI rather than ``@app.middleware("http")``: that wraps every request in extra tasks and
streams, and buffers nothing here, so uploads and sockets pass through untouched.
"""

from __future__ import annotations

from typing import ClassVar

from starlette.types import ASGIApp, Receive, Scope, Send


class PureMiddleware:
    """Handles the connections whose scope type is in ``handles``; passes the rest (lifespan,
    and whichever of ``http`` and ``websocket`` it does not name) straight to the app."""

    handles: ClassVar[frozenset[str]] = frozenset({"http"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in self.handles:
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
