"""Security headers on every response, as pure ASGI middleware (see ``asgi`` for why not
``@app.middleware``). A header a route set itself is kept."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reflector.api.asgi import PureMiddleware

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Only this server's own scripts, styles, sockets and media; never framed by another page."""

DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "default-src 'self';", "default-src 'self'; style-src 'self' 'unsafe-inline';"
)
"""The API docs page also styles elements inline (Swagger UI); its scripts are still local."""

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders(PureMiddleware):
    def __init__(self, app: ASGIApp, docs_prefixes: tuple[str, ...] = ()) -> None:
        super().__init__(app)
        self.docs_prefixes = docs_prefixes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        docs = bool(self.docs_prefixes) and scope["path"].startswith(self.docs_prefixes)
        policy = DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)
