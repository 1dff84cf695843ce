"""``GET /v1/transcripts/{id}/events``: the stored events over HTTP, exactly as the WebSocket
replays them; every event model in the OpenAPI schema; a status move that lost a race is a 409."""

from __future__ import annotations

import pytest

from reflector.db import repository
from reflector.domain.status import TranscriptStatus
from reflector_testkit.servers import postgres_database, running_client, server_settings

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"events-{request.param}")
    if request.param == "sqlite":
        with running_client(server_settings(data_dir, None)) as client:
            yield client
    else:
        with postgres_database() as url, running_client(server_settings(data_dir, url)) as client:
            yield client


def _edited_transcript(client) -> str:
    """A transcript whose events come from a person's edits (no model needed)."""
    tid = client.post("/v1/transcripts", json={"name": "Weekly"}).json()["id"]
    changed = client.patch(
        f"/v1/transcripts/{tid}",
        json={"title": "Budget", "short_summary": "Short.", "long_summary": None},
    )
    assert changed.status_code == 200, changed.text
    added = client.post(f"/v1/transcripts/{tid}/participants", json={"name": "Ana", "speaker": 0})
    assert added.status_code == 201, added.text
    removed = client.delete(f"/v1/transcripts/{tid}/participants/{added.json()['id']}")
    assert removed.status_code == 204
    return tid


def _replayed(client, transcript_id: str, count: int) -> list[dict]:
    with client.websocket_connect(f"/v1/transcripts/{transcript_id}/events") as socket:
        return [socket.receive_json() for _ in range(count)]


def test_stored_events_over_http_are_what_the_websocket_replays(server):
    tid = _edited_transcript(server)
    response = server.get(f"/v1/transcripts/{tid}/events")
    assert response.status_code == 200, response.text
    events = response.json()
    assert [e["type"] for e in events] == [
        "FINAL_TITLE",
        "FINAL_SHORT_SUMMARY",
        "FINAL_LONG_SUMMARY",
        "PARTICIPANTS",
        "PARTICIPANTS",
    ]
    assert events[0]["data"] == {"title": "Budget"}
    assert events[2]["data"] == {"long_summary": None}
    assert events[3]["data"]["participants"][0]["name"] == "Ana"
    assert events[4]["data"] == {"participants": []}
    assert _replayed(server, tid, len(events)) == events
    later = server.get(f"/v1/transcripts/{tid}/events", params={"after_id": events[1]["id"]})
    assert later.json() == events[2:]


def test_events_of_an_unknown_transcript_are_404(server):
    response = server.get("/v1/transcripts/nope/events")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"].endswith("/not-found")
    assert body["detail"] == "transcript 'nope' does not exist"


def test_every_event_model_is_in_the_openapi_schema(server):
    schema = server.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    ok = schema["paths"]["/v1/transcripts/{transcript_id}/events"]["get"]["responses"]["200"]
    union = ok["content"]["application/json"]["schema"]["items"]
    mapping = union["discriminator"]["mapping"]
    assert union["discriminator"]["propertyName"] == "type"
    assert len(mapping) == 13 and mapping["STATUS"] == "#/components/schemas/StatusEvent"
    user_events = components["UserEvent"]["discriminator"]["mapping"]
    assert set(user_events) == {"TRANSCRIPT_CREATED", "TRANSCRIPT_STATUS", "TRANSCRIPT_DELETED"}
    for ref in [*mapping.values(), *user_events.values()]:
        assert ref.removeprefix("#/components/schemas/") in components
    for name in ("LiveWordsData", "LabelledSegment", "UserStatusData", "TranscriptStatus"):
        assert name in components
    status = components["TranscriptOut"]["properties"]["status"]
    assert status == {"$ref": "#/components/schemas/TranscriptStatus"}
    assert components["TranscriptStatus"]["enum"] == [s.value for s in TranscriptStatus]


def test_a_status_move_the_lifecycle_forbids_is_a_conflict(server):
    """The routes refuse a busy transcript first; a request that still reaches a forbidden move
    (another request changed the transcript meanwhile) is a 409, and changes nothing."""
    tid = server.post("/v1/transcripts", json={}).json()["id"]
    state = server.app.state.reflector

    async def idle_with_audio() -> None:
        async with state.sessions() as session:
            row = await repository.get_transcript(session, tid, None)
            row.upload_key = f"transcripts/{tid}/upload.wav"  # as if an upload were racing
            await session.commit()

    server.portal.call(idle_with_audio)
    response = server.post(f"/v1/transcripts/{tid}/process")
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"].endswith("/illegal-transition")
    assert "'idle' to 'processing'" in body["detail"]
    assert server.get(f"/v1/transcripts/{tid}").json()["status"] == "idle"
    assert server.get(f"/v1/transcripts/{tid}/events").json() == []
