"""Large JSON answers, gzipped for the clients that accept it.

Only the routes that build their answer as bytes use this, so streamed answers, WebSockets and
the audio's range requests are never touched (a middleware would see all of them).
"""

from __future__ import annotations

import asyncio
import zlib

from starlette.requests import Request
from starlette.responses import Response

GZIP_MINIMUM = 64 * 1024
"""Smaller answers go as they are: compressing them saves less time than it costs."""
GZIP_LEVEL = 1
"""The 1.8 MB of a 2-hour meeting's segments: 245 KB in about 15 ms at level 1; level 6 makes
it 200 KB in three times as long."""


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header takes gzip: its ``gzip`` entry, else its ``*``
    entry, with a quality above 0."""
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        quality = params.strip().lower().removeprefix("q=")
        try:
            qualities[coding.strip().lower()] = float(quality) if params.strip() else 1.0
        except ValueError:
            qualities[coding.strip().lower()] = 0.0
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


def _gzip(body: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
    return compressor.compress(body) + compressor.flush()


async def json_answer(request: Request, body: bytes) -> Response:
    """``body`` (JSON) as a 200 answer: gzipped when it is large and the client accepts it."""
    headers = {"Vary": "Accept-Encoding"}
    if len(body) >= GZIP_MINIMUM and accepts_gzip(request.headers.get("accept-encoding", "")):
        body = await asyncio.to_thread(_gzip, body)  # zlib lets other requests run meanwhile
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)
