"""Checking the RFC 9457 problems the API answers errors with, as tests do."""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The problem ``response`` (an httpx or test client response) carries, once checked: its
    status is ``status``, it is ``application/problem+json``, its ``type`` ends in ``/<slug>``
    and its body repeats the status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["type"].endswith("/" + slug) and body["status"] == status, body
    return body
