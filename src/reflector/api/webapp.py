"""The web app at ``/``: the files ``npm run build`` wrote into ``reflector/web_dist``, with every
other page path answered by its ``index.html`` (the app picks the page from the URL).

The route is added after every other one and never matches the server's own paths (``/v1``,
``/docs``, ``/healthz``, …) nor any method but GET and HEAD, so an unknown API path still gets
its 404 problem and a wrong method its 405, exactly as without the app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

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


def install_web_app(app: FastAPI, dist: Path = WEB_DIST) -> None:
    """Serve the built app at ``/``; call it after every other route is added."""
    root = dist.resolve()
    index = root / "index.html"

    async def web_app(request: Request) -> Response:
        if not index.is_file():
            return HTMLResponse(NOT_BUILT_PAGE, status_code=503)
        relative = request.path_params["path"]
        found = _file_in(root, relative)
        if found is not None:
            headers = _IMMUTABLE if relative.startswith("assets/") else _REVALIDATE
            return FileResponse(found, headers=headers)
        if relative.startswith("assets/"):
            # A missing script or style must fail as such, not load the page as JavaScript.
            return Response("not found\n", status_code=404, media_type="text/plain")
        return FileResponse(index, headers=_REVALIDATE, media_type="text/html")

    app.router.routes.append(
        _WebAppRoute("/{path:path}", web_app, methods=["GET"], include_in_schema=False)
    )
