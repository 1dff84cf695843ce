"""A platform's REST API over HTTP: a client with the platform's bearer key, and one call that
answers a JSON object or raises :class:`~reflector.platforms.base.PlatformError` saying, in
words, what went wrong (unreachable, an error status, an answer that is not a JSON object)."""

from __future__ import annotations

from typing import Any

import httpx

from reflector.platforms.base import PlatformError


def bearer_client(
    base_url: str,
    api_key: str,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An HTTP client for an API under ``base_url`` that takes ``api_key`` as a bearer token."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=timeout,
        transport=transport,
    )


async def call_json(
    client: httpx.AsyncClient,
    service: str,
    method: str,
    path: str,
    *,
    missing_ok: bool = False,
    **request: Any,
) -> dict[str, Any]:
    """``method path`` through ``client`` (``request``: httpx's ``json``, ``params`` …); the
    JSON object it answers (``{}`` for an empty body, and for a 404 when ``missing_ok``: a
    thing the platform no longer has). ``service`` names the platform in the messages."""
    try:
        response = await client.request(method, path, **request)
    except httpx.HTTPError as error:
        raise PlatformError(f"{service}'s API cannot be reached: {error!r}") from error
    if missing_ok and response.status_code == 404:
        return {}
    if response.status_code >= 400:
        raise PlatformError(
            f"{service}'s API answered {method} {path} with {response.status_code}: "
            f"{response.text[:300]}"
        )
    if not response.content:
        return {}
    try:
        answer = response.json()
    except ValueError as error:
        raise PlatformError(f"{service}'s API answered {method} {path} with no JSON") from error
    if not isinstance(answer, dict):
        raise PlatformError(
            f"{service}'s API answered {method} {path} with {type(answer).__name__}, "
            "not a JSON object"
        )
    return answer
