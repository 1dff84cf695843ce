"""The FastAPI application: ``create_app(settings)`` wires storage, bus, jobs and routers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import Histogram

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

    @app.middleware("http")
    async def measure(request: Request, call_next) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        REQUEST_SECONDS.labels(request.method, template, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    return app
