"""``/healthz`` (the process answers), ``/readyz`` (its dependencies answer), ``/metrics``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reflector.api.deps import State
from reflector.db.engine import check_database

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(name: str, probe) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe(), timeout=5)
        return name, "ok"
    except Exception as error:  # any failure means "not ready"; say which and why
        return name, f"error: {type(error).__name__}: {error}"[:300]


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    results = dict(
        await asyncio.gather(
            _check("database", lambda: check_database(state.engine)),
            _check("storage", state.blobs.check),
            _check("bus", state.bus.check),
        )
    )
    ready = all(value == "ok" for value in results.values())
    # Live models do not gate readiness (everything else works without them): a load balancer
    # that routes live streams can wait for "ready" here.
    return JSONResponse(
        {
            "status": "ready" if ready else "not ready",
            "checks": results,
            "live_models": state.live.models.status(),
        },
        status_code=200 if ready else 503,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
