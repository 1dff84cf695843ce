"""A size limit on every request body, counted while it is read (``Content-Length`` can be
absent, with chunked transfer, or wrong), answered with 413 ``request-too-large``.

Each route has its limit: uploads count their own bytes as they stream them to disk (with
their own 413s), the speech-to-text routes take ``max_audio_bytes`` of audio (base64 or
multipart around it), speech synthesis its longest text, and every other route
``max_request_bytes``. Pure ASGI middleware: the route is known once routing has run, which is
before the body is first read.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reflector.api.asgi import PureMiddleware
from reflector.api.problems import problem_response
from reflector.settings import Settings

_SELF_LIMITED = frozenset(
    {
        "/v1/transcripts/{transcript_id}/uploads/{upload_id}",
        "/v1/transcripts/{transcript_id}/upload",
    }
)
"""Routes that stream their body to disk and stop it at their own limits."""
_TRACKS = "/v1/transcripts/{transcript_id}/tracks"
"""A multitrack upload: every file in one multipart body, up to the upload limit together."""
_SPEECH_TO_TEXT = frozenset({"/api/stt", "/v1/audio/transcriptions", "/v1/audio/translations"})
_TEXT_TO_SPEECH = frozenset({"/api/tts", "/v1/audio/speech"})
_ENVELOPE_BYTES = 1024**2
"""Room for a request's other fields and its multipart or JSON wrapping: more than the routes
allow themselves, so that their own, more precise 413s (``audio-too-large``) answer first."""


def body_limit(route_path: str | None, settings: Settings) -> int | None:
    """The largest body the route at ``route_path`` (its template) takes; ``None``: its own."""
    if route_path in _SELF_LIMITED:
        return None
    if route_path == _TRACKS:
        return settings.max_upload_bytes + _ENVELOPE_BYTES
    if route_path in _SPEECH_TO_TEXT:  # base64 makes 3 bytes of audio 4
        return settings.max_audio_bytes * 4 // 3 + _ENVELOPE_BYTES
    if route_path in _TEXT_TO_SPEECH:  # up to 4 bytes per character in UTF-8
        return max(settings.max_request_bytes, settings.max_tts_chars * 4 + _ENVELOPE_BYTES)
    return settings.max_request_bytes


class BodyLimit(PureMiddleware):
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit: int | None = None
        checked = False
        received = 0
        answered = False  # the 413 went out; the route's own answer is dropped

        async def refuse() -> Message:
            nonlocal answered
            answered = True
            response = problem_response(
                413,
                "request-too-large",
                f"the request body is over this route's limit of {limit} bytes",
                scope.get("path"),
            )
            await response(scope, receive, send)
            return {"type": "http.disconnect"}  # what the route sees: the client has gone

        async def counting_receive() -> Message:
            nonlocal limit, checked, received
            if answered:
                return {"type": "http.disconnect"}
            if not checked:
                checked = True
                limit = body_limit(getattr(scope.get("route"), "path", None), self.settings)
                declared = Headers(scope=scope).get("content-length", "")
                if limit is not None and declared.isdigit() and int(declared) > limit:
                    return await refuse()  # before reading a byte
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    return await refuse()
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not answered:
                raise
            # The route failed on the body it did not get (a disconnect): already answered.
