"""Refuse URLs with NUL characters (``%00``) before any handler sees them.

PostgreSQL text cannot hold U+0000, so an id or a filter with one would fail in the database;
no valid id, filter or file name contains it, so the request is answered with a problem instead.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from reflector.api.problems import problem_response

_POLICY_VIOLATION = 1008


def _has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"\x00" in unquote_to_bytes(query)


class RejectNulInUrl:
    """Pure ASGI middleware, so request bodies (uploads) stream through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not _has_nul(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _POLICY_VIOLATION})
            return
        message = "must not contain NUL (%00) characters"
        response = problem_response(
            422,
            "validation-error",
            f"url: {message}",
            scope.get("path", "").replace("\x00", "%00"),
            errors=[{"location": "url", "message": message}],
        )
        await response(scope, receive, send)
