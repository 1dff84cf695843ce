"""The user events in the OpenAPI schema.

They travel only on ``WS /v1/events``, and OpenAPI describes no WebSocket, so no route brings
their models into the schema (the transcript events come in with
``GET /v1/transcripts/{id}/events``). They are added as components: ``UserEvent`` (the union,
told apart by ``type``) and one per event and payload.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from reflector.domain.events import USER_EVENTS

USER_EVENT_COMPONENT = "UserEvent"


def user_event_components() -> dict[str, Any]:
    """``UserEvent`` and the models it refers to, as OpenAPI components."""
    union = USER_EVENTS.json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    return {**union.pop("$defs", {}), USER_EVENT_COMPONENT: union}


def include_user_events(app: FastAPI) -> None:
    """Make ``app.openapi()`` also list the user event models."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI builds it once and keeps it: merge once, too
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if USER_EVENT_COMPONENT not in components:
            for name, component in user_event_components().items():
                components.setdefault(name, component)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
