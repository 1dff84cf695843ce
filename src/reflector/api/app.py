"""The FastAPI application: ``create_app(settings)`` wires storage, bus, jobs and routers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reflector import __version__
from reflector.api.problems import install_problem_handlers
from reflector.api.routers import (
    api_keys,
    audio,
    events,
    exports,
    health,
    live,
    openai_audio,
    search,
    transcripts,
    translations,
    uploads,
    voice,
    voice_ws,
)
from reflector.api.signing import load_or_create_secret
from reflector.api.state import AppState
from reflector.api.url_guard import RejectNulInUrl
from reflector.api.voice_services import build_voice_services
from reflector.db import repository
from reflector.db.engine import upgrade_database_async
from reflector.jobs.resources import check_settings, open_resources
from reflector.jobs.runner import JobDeps
from reflector.settings import Settings

log = structlog.get_logger(__name__)

REQUEST_SECONDS = Histogram(
    "reflector_http_request_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
)


def _submitter(settings: Settings, deps: JobDeps, app_extras: dict):
    if settings.jobs_backend == "celery":
        from reflector.jobs.celery_app import enqueue_job

        async def submit(job_id: str) -> None:
            enqueue_job(job_id)

        return submit, None
    from reflector.jobs.inprocess import InProcessRunner

    runner = InProcessRunner(deps, workers=settings.job_workers)
    app_extras["runner"] = runner
    return runner.submit, runner


def create_app(settings: Settings) -> FastAPI:
    """A Reflector server for ``settings``; resources open and close with the app's lifespan.

    Raises :class:`ValueError` at once when a setting cannot work (not at the first request).
    """
    check_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url()
        await upgrade_database_async(url)
        engine, deps = open_resources(settings)
        sessions, blobs, bus = deps.sessions, deps.blobs, deps.bus
        async with sessions() as session:
            await repository.ensure_user(session, repository.LOCAL_USER_ID, "Local user")
            await session.commit()
        extras: dict = {}
        submit, runner = _submitter(settings, deps, extras)
        app.state.reflector = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            blobs=blobs,
            bus=bus,
            secret_key=load_or_create_secret(settings.secret_key, settings.data_dir),
            submit_job=submit,
            voice=build_voice_services(settings),
            extras=extras,
        )
        if runner is not None:
            await runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()
            await bus.close()
            await app.state.reflector.voice.cache.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Reflector",
        version=__version__,
        description="Transcripts, speakers, summaries and live events for recordings.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(RejectNulInUrl)
    for module in (
        transcripts,
        uploads,
        exports,
        audio,
        search,
        events,
        live,
        api_keys,
        health,
        openai_audio,
        translations,
        voice,
        voice_ws,
    ):
        app.include_router(module.router)

    app.add_middleware(RequestTimer)
    return app


class RequestTimer:
    """Request latency per route template, as pure ASGI middleware: the function-style
    ``@app.middleware("http")`` wraps every request in extra tasks and streams, which cost more
    than many whole answers (a cached speech request takes a few milliseconds)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
