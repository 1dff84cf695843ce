"""Requests that once got a 500 (found by ``test_api_schema.py``); each must now be a clear 422.

Most of them only failed on PostgreSQL (NUL characters, 64-bit speaker numbers, times that
overflow when converted to UTC), so every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from reflector.db.tables import ActionItemRow
from reflector_testkit.servers import postgres_database, running_client, server_settings

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"regressions-{request.param}")
    if request.param == "sqlite":
        with running_client(server_settings(data_dir, None, auth_mode="single-user")) as client:
            yield client
    else:
        with (
            postgres_database() as url,
            running_client(server_settings(data_dir, url, auth_mode="single-user")) as client,
        ):
            yield client


def _invalid(response, field: str | None = None) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"].endswith("/validation-error"), body
    if field is not None:
        assert field in body["detail"], body
    return body


def _transcript(client) -> str:
    response = client.post("/v1/transcripts", json={"name": "Regression"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_patch_transcript_name_null_is_refused(server):
    tid = _transcript(server)
    _invalid(server.patch(f"/v1/transcripts/{tid}", json={"name": None}), "name")
    # Nothing was half-applied: the other fields of the refused request were not stored either.
    _invalid(server.patch(f"/v1/transcripts/{tid}", json={"title": "T", "name": None}), "name")
    assert server.get(f"/v1/transcripts/{tid}").json()["title"] is None
    assert server.patch(f"/v1/transcripts/{tid}", json={"title": None}).status_code == 200


def _add_action_item(client, transcript_id: str) -> str:
    """Action items come from processing; this stores one directly, on the app's own loop."""
    state = client.app.state.reflector

    async def add() -> str:
        async with state.sessions() as session:
            item = ActionItemRow(
                transcript_id=transcript_id, kind="next_step", position=0, text="Send notes"
            )
            session.add(item)
            await session.commit()
            return item.id

    return client.portal.call(add)


def test_patch_action_item_text_or_done_null_is_refused(server):
    tid = _transcript(server)
    item = _add_action_item(server, tid)
    path = f"/v1/transcripts/{tid}/action-items/{item}"
    _invalid(server.patch(path, json={"text": None}), "text")
    _invalid(server.patch(path, json={"done": None, "person": "Ana"}), "done")
    stored = server.get(f"/v1/transcripts/{tid}/action-items").json()
    assert stored[0]["text"] == "Send notes" and stored[0]["person"] is None
    changed = server.patch(path, json={"person": None, "done": True})
    assert changed.status_code == 200 and changed.json()["done"] is True


def test_speaker_numbers_must_fit_the_database(server):
    tid = _transcript(server)
    huge = 2**40
    _invalid(
        server.post(f"/v1/transcripts/{tid}/participants", json={"name": "A", "speaker": huge})
    )
    added = server.post(f"/v1/transcripts/{tid}/participants", json={"name": "A", "speaker": 3})
    assert added.status_code == 201, added.text
    participant = added.json()["id"]
    _invalid(
        server.patch(f"/v1/transcripts/{tid}/participants/{participant}", json={"speaker": huge})
    )
    assign = {"start": 0, "end": 1, "speaker": huge}
    _invalid(server.post(f"/v1/transcripts/{tid}/speakers/assign", json=assign))
    merge = {"speakers": [huge], "into": 0}
    _invalid(server.post(f"/v1/transcripts/{tid}/speakers/merge", json=merge))
    assert server.get(f"/v1/transcripts/{tid}/participants").json()[0]["speaker"] == 3


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/transcripts", {"name": "a\x00b"}),
        ("PATCH", "/v1/transcripts/{tid}", {"title": "a\x00b"}),
        ("POST", "/v1/transcripts/{tid}/participants", {"name": "\x00"}),
        ("POST", "/v1/transcripts/{tid}/uploads", {"filename": "a\x00.wav"}),
        ("POST", "/v1/api-keys", {"name": "key\x00"}),
    ],
)
def test_nul_characters_in_json_bodies_are_refused(server, method, path, body):
    tid = _transcript(server)
    body = _invalid(server.request(method, path.format(tid=tid), json=body))
    assert "NUL" in body["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/v1/transcripts/%00",
        "/v1/transcripts/a%00b/segments",
        "/v1/transcripts?room_id=%00",
        "/v1/search?q=hello%00world",
        "/v1/api-keys/%00",
    ],
)
def test_nul_characters_in_urls_are_refused(server, url):
    body = _invalid(server.get(url) if "api-keys" not in url else server.delete(url), "url")
    assert body["errors"] == [{"location": "url", "message": body["detail"].removeprefix("url: ")}]


def test_nul_in_upload_filename_query_is_refused_and_bodies_still_stream(server):
    tid = _transcript(server)
    _invalid(server.post(f"/v1/transcripts/{tid}/upload?filename=a%00.wav", content=b"abc"))
    # Raw bytes (which may well contain NUL bytes) are not inspected: they reach the handler.
    response = server.post(f"/v1/transcripts/{tid}/upload?filename=a.wav", content=b"\x00" * 64)
    assert response.status_code == 415, response.text


@pytest.mark.parametrize(
    "query",
    [
        {"created_before": "0001-01-01T00:00:00+14:00"},
        {"created_after": "9999-12-31T23:59:59-12:00"},
    ],
)
def test_times_that_overflow_in_utc_are_refused(server, query):
    _invalid(server.get("/v1/transcripts", params=query), next(iter(query)))


def test_times_at_the_edges_still_filter(server):
    tid = _transcript(server)
    everything = {"created_after": "0001-01-01T00:00:00-12:00"}
    assert tid in [
        t["id"] for t in server.get("/v1/transcripts", params=everything).json()["items"]
    ]
    nothing = {"created_after": "9999-12-31T23:59:59+00:00"}
    assert server.get("/v1/transcripts", params=nothing).json()["total"] == 0


def test_nul_characters_in_websocket_urls_close_the_socket(server):
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        server.websocket_connect("/v1/transcripts/a%00b/events"),
    ):
        pass
    assert closed.value.code == 1008
