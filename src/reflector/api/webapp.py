"""The web app at ``/``: the files ``npm run build`` wrote into ``reflector/web_dist``, with every
other page path answered by its ``index.html`` (the app picks the page from the URL).

The route is added after every other one and never matches the server's own paths (``/v1``,
``/docs``, ``/healthz``, …) nor any method but GET and HEAD, so an unknown API path still gets
its 404 problem and a wrong method its 405, exactly as without the app."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from reflector.api.headers import CONTENT_SECURITY_POLICY

WEB_DIST = Path(__file__).resolve().parent.parent / "web_dist"
"""Where the build puts the app: package data of ``reflector``."""

RESERVED_PREFIXES = (
    "/v1",
    "/api",
    "/docs",
    "/ws",
    "/healthz",
    "/readyz",
    "/metrics",
    "/stats",
    "/openapi.json",
)
"""Paths that belong to the server, never to the app, with everything under them."""

NOT_BUILT_PAGE = (
    "<!doctype html><title>Reflector</title><p>The web app is not built: run "
    "<code>bash scripts/install.sh</code> in Reflector's source folder, then restart the server."
    " The API works meanwhile (<a href=/docs>/docs</a>).</p>\n"
)

_IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}
"""Files under ``assets/`` have their content's hash in their name."""

_REVALIDATE = {"cache-control": "no-cache"}

NONCE_META = "csp-nonce"
"""The page's ``<meta name>`` that carries its style nonce to its scripts."""


def _page(html: str, frame_src: str = "") -> HTMLResponse:
    """The app's page with a fresh style nonce, in its Content-Security-Policy and in a
    ``<meta>`` the scripts read. The waveform player (wavesurfer.js) styles its shadow DOM with
    one ``<style>`` element; the nonce lets exactly that element in, and no inline style an
    attacker could inject (they cannot know the nonce, new on every load)."""
    nonce = secrets.token_urlsafe(18)
    meta = f'<meta name="{NONCE_META}" content="{nonce}" />'
    body = html.replace("<head>", f"<head>\n    {meta}", 1)
    policy = f"{CONTENT_SECURITY_POLICY}{frame_src}; style-src 'self' 'nonce-{nonce}'"
    return HTMLResponse(body, headers={**_REVALIDATE, "content-security-policy": policy})


def is_reserved(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED_PREFIXES)


class _WebAppRoute(Route):
    """A catch-all route that steps aside for the server's own paths and for writes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or is_reserved(scope["path"])
        ):
            return Match.NONE, {}
        return super().matches(scope)


def _file_in(root: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``root``, or None (a folder, missing, or outside)."""
    if not relative:
        return None
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def install_web_app(
    app: FastAPI, dist: Path = WEB_DIST, frame_sources: Sequence[str] | None = None
) -> None:
    """Serve the built app at ``/``; call it after every other route is added.
    ``frame_sources``: where a page may embed a frame from (the room page embeds the video
    platform's meeting); ``None`` leaves the default (this server only)."""
    root = dist.resolve()
    frame_src = ""
    if frame_sources is not None:
        frame_src = "; frame-src " + (" ".join(frame_sources) or "'none'")
    index = root / "index.html"

    async def web_app(request: Request) -> Response:
        if not index.is_file():
            return HTMLResponse(NOT_BUILT_PAGE, status_code=503)
        relative = request.path_params["path"]
        if relative in ("", "index.html"):
            return _page(await asyncio.to_thread(index.read_text, encoding="utf-8"), frame_src)
        found = _file_in(root, relative)
        if found is not None:
            headers = _IMMUTABLE if relative.startswith("assets/") else _REVALIDATE
            return FileResponse(found, headers=headers)
        if relative.startswith("assets/"):
            # A missing script or style must fail as such, not load the page as JavaScript.
            return Response("not found\n", status_code=404, media_type="text/plain")
        return _page(await asyncio.to_thread(index.read_text, encoding="utf-8"), frame_src)

    app.router.routes.append(
        _WebAppRoute("/{path:path}", web_app, methods=["GET"], include_in_schema=False)
    )
