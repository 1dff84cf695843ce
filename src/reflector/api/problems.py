"""Errors as ``application/problem+json`` (RFC 9457) with a stable ``type`` per kind of problem.

Clients branch on ``type`` (``https://reflector.local/problems/<slug>``); ``detail`` is written
for people. Validation errors list every wrong field in ``errors``. Errors of the two families in
:mod:`reflector.errors` that a route lets through are answered here, with the status and type
their class names, so routes do not translate them one by one.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reflector.errors import ReflectorError

PROBLEM_BASE = "https://reflector.local/problems/"
PROBLEM_JSON = "application/problem+json"
OPENAI_COMPATIBLE_PATHS = ("/v1/audio/", "/v1/models")

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Invalid request",
    423: "Locked",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
    507: "Insufficient storage",
}


class Problem(ReflectorError):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def openai_error(
    status: int, slug: str, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object, which its clients read the message from (for ``/v1/audio`` and
    ``/v1/models``, next to the problem document's own fields)."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"message": message, "type": kind, "param": param, "code": code or slug}


def not_found(what: str, identifier: str) -> Problem:
    return Problem(404, "not-found", f"{what} {identifier!r} does not exist")


def problem_response(
    status: int,
    slug: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **({"instance": instance} if instance else {}),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        extra = exc.extra
        if "error" not in extra and request.url.path.startswith(OPENAI_COMPATIBLE_PATHS):
            extra = {**extra, "error": openai_error(exc.status, exc.slug, exc.detail)}
        return problem_response(
            exc.status, exc.slug, exc.detail, request.url.path, exc.headers, **extra
        )

    async def _family(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ReflectorError)
        if exc.status >= 500 and exc.status not in (503, 507):
            # A class that declares no answer of its own is a fault, not news for the caller.
            return await _unexpected(request, exc)
        detail = str(exc)
        extra = {}
        if request.url.path.startswith(OPENAI_COMPATIBLE_PATHS):
            extra["error"] = openai_error(exc.status, exc.problem_type, detail)
        return problem_response(exc.status, exc.problem_type, detail, request.url.path, **extra)

    # One handler for every error of ours: the class says the status (4xx or 503) and the
    # type; engine-wide bases such as a bare ``TtsError`` answer what they declare too.
    app.add_exception_handler(ReflectorError, _family)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": ".".join(str(part) for part in error.get("loc", ())),
                "message": error.get("msg", ""),
            }
            for error in exc.errors()
        ]
        malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
        slug = "malformed-json" if malformed else "validation-error"
        detail = (
            "the request body is not valid JSON"
            if malformed
            else "; ".join(f"{e['location']}: {e['message']}" for e in errors)
        )
        extra = {}
        if request.url.path.startswith(OPENAI_COMPATIBLE_PATHS):
            extra["error"] = openai_error(422, slug, detail)
        return problem_response(422, slug, detail, request.url.path, errors=errors, **extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(
            exc.status_code,
            slug,
            str(exc.detail),
            request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        import structlog

        structlog.get_logger(__name__).exception("unhandled_error", path=request.url.path)
        return problem_response(500, "internal-error", "an unexpected error occurred")
