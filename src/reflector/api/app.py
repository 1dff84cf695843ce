"""The FastAPI application: ``create_app(settings)`` wires storage, bus, jobs and routers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reflector import __version__, memory
from reflector.api.accounts import login_router as sign_in
from reflector.api.accounts import oidc_router as oidc_sign_in
from reflector.api.accounts import router as accounts
from reflector.api.asgi import PureMiddleware
from reflector.api.body_limit import BodyLimit
from reflector.api.daily import router as daily_webhooks
from reflector.api.docs import DOCS_PATH, install_docs
from reflector.api.events import router as events
from reflector.api.events.openapi import include_user_events
from reflector.api.guards import TrustedHosts, WebSocketOrigins
from reflector.api.headers import SecurityHeaders
from reflector.api.health import router as health
from reflector.api.integrations import calendar_router as room_calendars
from reflector.api.integrations import email_router as summary_emails
from reflector.api.integrations import zulip_router as zulip
from reflector.api.keys import router as api_keys
from reflector.api.live import router as live
from reflector.api.live import speech_router as translations
from reflector.api.meetings import router as meetings
from reflector.api.oidc import OidcProvider, check_issuer_url
from reflector.api.problems import install_problem_handlers
from reflector.api.rate_limits import RateLimiter
from reflector.api.rooms import router as rooms
from reflector.api.server import router as server_info
from reflector.api.signing import load_or_create_secret
from reflector.api.state import AppState
from reflector.api.transcripts import audio_router as audio
from reflector.api.transcripts import export_router as exports
from reflector.api.transcripts import router as transcripts
from reflector.api.transcripts import search_router as search
from reflector.api.uploads import router as uploads
from reflector.api.uploads import tracks_router as upload_tracks
from reflector.api.url_guard import RejectNulInUrl
from reflector.api.voice import openai_router as openai_audio
from reflector.api.voice import router as voice
from reflector.api.voice import ws_router as voice_ws
from reflector.api.voice.services import build_voice_services
from reflector.api.webapp import install_web_app
from reflector.api.webhooks import router as webhooks
from reflector.api.whereby import router as whereby_webhooks
from reflector.db import repository
from reflector.db.engine import upgrade_database_async
from reflector.jobs.resources import check_settings, open_resources
from reflector.jobs.runner import JobDeps
from reflector.settings import Settings
from reflector.shutdown import finish_or_cancel

if TYPE_CHECKING:
    from reflector.jobs.inprocess import InProcessRunner

log = structlog.get_logger(__name__)

REQUEST_SECONDS = Histogram(
    "reflector_http_request_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
)


def _submitter(
    settings: Settings, deps: JobDeps
) -> tuple[Callable[[str], Awaitable[None]], InProcessRunner | None]:
    """How jobs are handed on: to Celery, or to a runner in this process (also returned)."""
    if settings.jobs_backend == "celery":
        from reflector.jobs.celery_app import enqueue_job

        async def submit(job_id: str) -> None:
            # Sending blocks (and retries for a few seconds when the broker is away).
            await asyncio.to_thread(enqueue_job, job_id)

        return submit, None
    from reflector.jobs.inprocess import InProcessRunner

    runner = InProcessRunner(deps, workers=settings.job_workers)
    return runner.submit, runner


def create_app(settings: Settings) -> FastAPI:
    """A Reflector server for ``settings``; resources open and close with the app's lifespan.

    Raises :class:`ValueError` at once when a setting cannot work (not at the first request).
    """
    check_settings(settings)
    if settings.oidc_issuer:
        check_issuer_url(settings.oidc_issuer)
        if not settings.oidc_client_id:
            raise ValueError("REFLECTOR_OIDC_ISSUER needs REFLECTOR_OIDC_CLIENT_ID too")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url()
        await upgrade_database_async(url)
        engine, deps = open_resources(settings)
        sessions, blobs, bus = deps.sessions, deps.blobs, deps.bus
        async with sessions() as session:
            await repository.ensure_user(session, repository.LOCAL_USER_ID, "Local user")
            await session.commit()
        submit, runner = _submitter(settings, deps)
        app.state.reflector = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            blobs=blobs,
            bus=bus,
            secret_key=load_or_create_secret(settings.secret_key, settings.data_dir),
            submit_job=submit,
            voice=build_voice_services(settings),
            runner=runner,
            rate_limiter=RateLimiter.from_settings(settings),
            oidc=OidcProvider(settings) if settings.oidc_issuer else None,
        )
        if runner is not None:
            await runner.start()
        if settings.freeze_startup_objects:
            memory.freeze_long_lived_objects()
        stop_releasing = asyncio.Event()
        releasing = asyncio.create_task(
            memory.run_periodically(stop_releasing, settings.memory_release_seconds)
        )
        try:
            yield
        finally:
            stop_releasing.set()
            await finish_or_cancel([releasing], 5.0)
            if runner is not None:
                await runner.stop()
            await bus.close()
            await app.state.reflector.rate_limiter.aclose()
            if app.state.reflector.oidc is not None:
                await app.state.reflector.oidc.aclose()
            await app.state.reflector.voice.cache.aclose()
            await engine.dispose()

    app = ReflectorApp(
        title="Reflector",
        version=__version__,
        description="Transcripts, speakers, summaries and live events for recordings.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    install_problem_handlers(app)
    install_docs(app)
    # Added innermost first: a request meets the trusted-host check, then CORS, the WebSocket
    # origin check, the body limit and the URL check (security headers wrap them all).
    app.add_middleware(RejectNulInUrl)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(WebSocketOrigins, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(TrustedHosts, settings=settings)
    for module in (
        transcripts,
        uploads,
        upload_tracks,
        exports,
        audio,
        search,
        events,
        live,
        api_keys,
        zulip,
        room_calendars,
        summary_emails,
        webhooks,
        accounts,
        sign_in,
        oidc_sign_in,
        health,
        server_info,
        openai_audio,
        translations,
        voice,
        voice_ws,
        whereby_webhooks,
        rooms,
        meetings,
        daily_webhooks,
    ):
        app.include_router(module.router)
    include_user_events(app)
    # Last: it answers only the paths no other route has.
    install_web_app(app, frame_sources=settings.meeting_frame_sources)

    app.add_middleware(RequestTimer)
    return app


class ReflectorApp(FastAPI):
    """FastAPI with the security headers outside everything else, Starlette's own error
    middleware included, so that even an unexpected error's 500 carries them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), docs_prefixes=(DOCS_PATH,))


class RequestTimer(PureMiddleware):
    """Request latency per route template (pure ASGI: the function-style middleware costs more
    than many whole answers; a cached speech request takes a few milliseconds)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_SECONDS.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
