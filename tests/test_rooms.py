"""Rooms and their meetings, on SQLite and PostgreSQL, against a local Daily speaking its
documented REST API: owners create, change and delete rooms (others see shared ones, and
nothing else), opening a room gives everybody one meeting with the right way in (a meeting
token for signed-in users, the owner flag for the owner), meetings end, list and record as the
room's rules say, and two servers opening a room at once on PostgreSQL make one meeting."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from reflector.db.tables import MeetingRow, utcnow
from reflector_testkit.accounts import bearer, new_account
from reflector_testkit.daily import new_secret, participant_joined, running_daily, signed_headers
from reflector_testkit.problems import problem
from reflector_testkit.servers import postgres_database, running_client, running_on, server_settings

SECRET = new_secret()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory, daily):
    data_dir = tmp_path_factory.mktemp(f"rooms-{request.param}")
    with running_on(request.param, data_dir, auth_mode="multi-user", **daily.settings(SECRET)) as c:
        yield c


@pytest.fixture(scope="module")
def people(server):
    """API-key headers of an owner, another user and an administrator."""
    return {
        who: bearer(new_account(server, who, admin=who == "admin")[1])
        for who in ("owner", "other", "admin")
    }


_counter = iter(range(1_000_000))


def _room(server, headers, **fields) -> dict:
    body = {"name": f"room-{next(_counter)}-{id(server) % 997}", **fields}
    response = server.post("/v1/rooms", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


# --- rooms ---------------------------------------------------------------------------------------


def test_owner_creates_lists_reads_changes_and_deletes_a_room(server, people):
    owner = people["owner"]
    room = _room(
        server,
        owner,
        recording_type="cloud",
        # A public address literal: the server refuses names it cannot resolve.
        webhook_url="https://1.2.3.4/r",
        webhook_secret="s3cret",
        zulip_stream="general",
        zulip_topic="meetings",
        ics_url="https://calendar.example.org/team.ics",
        ics_enabled=True,
    )
    assert room["is_owner"] is True and room["platform"] == "daily"
    assert room["webhook_secret"] == "s3cret" and room["ics_fetch_interval"] == 300
    listed = server.get("/v1/rooms", headers=owner).json()
    assert room["name"] in [r["name"] for r in listed["items"]]
    assert server.get(f"/v1/rooms/{room['name']}", headers=owner).json()["id"] == room["id"]

    changed = server.patch(
        f"/v1/rooms/{room['name']}",
        json={"is_shared": True, "zulip_auto_post": True, "ics_fetch_interval": 600,
              "webhook_url": None, "room_mode": "group"},
        headers=owner,
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["is_shared"] and body["zulip_auto_post"] and body["ics_fetch_interval"] == 600
    assert body["webhook_url"] is None and body["room_mode"] == "group"

    assert server.delete(f"/v1/rooms/{room['name']}", headers=owner).status_code == 204
    problem(server.get(f"/v1/rooms/{room['name']}", headers=owner), 404, "not-found")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "https://10.1.2.3/hook", "http://[::1]/hook"]
)
def test_a_room_webhook_into_the_servers_own_network_is_refused(server, people, url):
    owner = people["owner"]
    body = {"name": f"room-{next(_counter)}-{id(server) % 997}", "webhook_url": url}
    problem(server.post("/v1/rooms", json=body, headers=owner), 422, "unsafe-webhook-url")
    room = _room(server, owner)
    refused = server.patch(f"/v1/rooms/{room['name']}", json={"webhook_url": url}, headers=owner)
    problem(refused, 422, "unsafe-webhook-url")
    assert server.get(f"/v1/rooms/{room['name']}", headers=owner).json()["webhook_url"] is None


@pytest.mark.parametrize(
    "name", ["Upper", "with space", "-leading", "trailing-", "two--dashes", "ümlaut", "", "a" * 61]
)
def test_invalid_room_names_are_refused(server, people, name):
    response = server.post("/v1/rooms", json={"name": name}, headers=people["owner"])
    problem(response, 422, "validation-error")


def test_bad_room_settings_are_refused(server, people):
    owner = people["owner"]
    for body in (
        {"name": "settings-x", "recording_type": "tape"},
        {"name": "settings-x", "platform": "zoom"},
        {"name": "settings-x", "ics_url": "file:///etc/passwd"},
        {"name": "settings-x", "ics_fetch_interval": 5},
        {"name": "settings-x", "unknown": 1},
    ):
        problem(server.post("/v1/rooms", json=body, headers=owner), 422, "validation-error")
    room = _room(server, owner)
    response = server.patch(f"/v1/rooms/{room['name']}", json={"name": None}, headers=owner)
    problem(response, 422, "validation-error")
    malformed = server.post(
        "/v1/rooms", content=b"{not json", headers={**owner, "content-type": "application/json"}
    )
    problem(malformed, 422, "malformed-json")


def test_a_taken_name_is_a_conflict(server, people):
    first = _room(server, people["owner"])
    again = server.post("/v1/rooms", json={"name": first["name"]}, headers=people["other"])
    problem(again, 409, "room-name-taken")
    second = _room(server, people["owner"])
    rename = server.patch(
        f"/v1/rooms/{second['name']}", json={"name": first["name"]}, headers=people["owner"]
    )
    problem(rename, 409, "room-name-taken")


def test_other_users_see_shared_rooms_only_and_change_none(server, people):
    owner, other, admin = people["owner"], people["other"], people["admin"]
    private = _room(server, owner, webhook_secret="hidden")
    shared = _room(server, owner, is_shared=True, webhook_secret="hidden")
    names = [r["name"] for r in server.get("/v1/rooms?size=200", headers=other).json()["items"]]
    assert shared["name"] in names and private["name"] not in names

    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"is_locked": True}} if method == "patch" else {}
        response = getattr(server, method)(f"/v1/rooms/{private['name']}", headers=other, **kwargs)
        problem(response, 404, "not-found")
    seen = server.get(f"/v1/rooms/{shared['name']}", headers=other).json()
    assert seen["is_owner"] is False and seen["webhook_secret"] is None
    patch = server.patch(f"/v1/rooms/{shared['name']}", json={"is_locked": True}, headers=other)
    problem(patch, 403, "not-room-owner")
    problem(server.delete(f"/v1/rooms/{shared['name']}", headers=other), 403, "not-room-owner")

    by_admin = server.patch(f"/v1/rooms/{private['name']}", json={"is_locked": True}, headers=admin)
    assert by_admin.status_code == 200 and by_admin.json()["is_locked"] is True
    problem(server.get("/v1/rooms"), 401, "authentication-required")


# --- meetings ------------------------------------------------------------------------------------


def test_opening_a_room_gives_one_meeting_with_tokens_for_signed_in_people(server, people, daily):
    owner, other = people["owner"], people["other"]
    room = _room(server, owner, is_shared=True)
    opened = server.post(f"/v1/rooms/{room['name']}/meeting", headers=owner)
    assert opened.status_code == 200, opened.text
    first = opened.json()
    meeting = first["meeting"]
    assert meeting["platform"] == "daily" and meeting["is_active"]
    assert meeting["room_url"].startswith(daily.room_base)
    assert first["join"]["is_owner"] is True and first["join"]["token"]
    assert parse_qs(urlsplit(first["join"]["url"]).query)["t"] == [first["join"]["token"]]

    created = daily.state.rooms[urlsplit(meeting["room_url"]).path.strip("/")]
    properties = created["config"]
    assert properties["enable_recording"] == "raw-tracks" and properties["exp"] > 0
    token = daily.state.tokens[first["join"]["token"]]
    assert token["is_owner"] is True and token["room_name"] == created["name"]
    assert token["user_name"] == "owner"

    # Someone else opening it gets the same meeting, with a token that is not the owner's.
    second = server.post(f"/v1/rooms/{room['name']}/meeting", headers=other).json()
    assert second["meeting"]["id"] == meeting["id"]
    assert second["join"]["is_owner"] is False
    assert daily.state.tokens[second["join"]["token"]]["is_owner"] is False
    assert second["meeting"]["host_room_url"] is None

    # A guest without an account joins by the bare address (no token).
    guest = server.post(f"/v1/rooms/{room['name']}/meeting").json()
    assert guest["meeting"]["id"] == meeting["id"]
    assert guest["join"]["token"] is None and guest["join"]["url"] == meeting["room_url"]
    assert guest["room"]["skip_consent"] is False and "webhook_url" not in guest["room"]


def test_unknown_room_and_unconfigured_platform(server, people, tmp_path):
    problem(server.post("/v1/rooms/nobody-has-this/meeting"), 404, "not-found")
    settings = server_settings(tmp_path, None, live_preload=False)  # Daily not configured
    with running_client(settings) as bare:
        made = bare.post("/v1/rooms", json={"name": "no-daily"})
        assert made.status_code == 201
        problem(bare.post("/v1/rooms/no-daily/meeting"), 503, "platform-not-configured")


def test_changed_settings_or_an_ended_meeting_make_a_new_meeting(server, people, daily):
    owner = people["owner"]
    room = _room(server, owner)
    first = server.post(f"/v1/rooms/{room['name']}/meeting", headers=owner).json()["meeting"]
    server.patch(f"/v1/rooms/{room['name']}", json={"recording_type": "none"}, headers=owner)
    second = server.post(f"/v1/rooms/{room['name']}/meeting", headers=owner).json()["meeting"]
    assert second["id"] != first["id"] and second["recording_type"] == "none"
    daily_room = urlsplit(second["room_url"]).path.strip("/")
    assert "enable_recording" not in daily.state.rooms[daily_room]["config"]

    listed = server.get(f"/v1/rooms/{room['name']}/meetings", headers=owner).json()
    assert {m["id"] for m in listed["active"]} == {first["id"], second["id"]}

    ended = server.post(f"/v1/meetings/{second['id']}/deactivate", headers=owner)
    assert ended.status_code == 200 and ended.json()["is_active"] is False
    assert daily_room not in daily.state.rooms  # ended on Daily too
    again = server.post(f"/v1/meetings/{second['id']}/deactivate", headers=owner)
    assert again.status_code == 200  # idempotent
    problem(server.post(f"/v1/meetings/{second['id']}/join"), 410, "meeting-ended")
    third = server.post(f"/v1/rooms/{room['name']}/meeting", headers=owner).json()["meeting"]
    assert third["id"] not in (first["id"], second["id"])


def test_upcoming_meetings_are_listed_and_joinable(server, people):
    owner = people["owner"]
    room = _room(server, owner)

    async def plan() -> str:
        async with server.app.state.reflector.sessions() as session:
            row = MeetingRow(
                room_id=room["id"],
                platform="daily",
                start_date=utcnow() + timedelta(hours=2),
                end_date=utcnow() + timedelta(hours=3),
                calendar_event_id="uid-1",
                calendar_data={"title": "Planning", "attendees": [{"email": "a@example.org"}]},
            )
            session.add(row)
            await session.commit()
            return row.id

    meeting_id = server.portal.call(plan)
    listed = server.get(f"/v1/rooms/{room['name']}/meetings", headers=owner).json()
    assert [m["id"] for m in listed["upcoming"]] == [meeting_id]
    assert listed["upcoming"][0]["room_url"] is None
    assert listed["upcoming"][0]["calendar_data"]["title"] == "Planning"

    joined = server.post(f"/v1/meetings/{meeting_id}/join", headers=owner)
    assert joined.status_code == 200, joined.text
    assert joined.json()["meeting"]["room_url"] and joined.json()["join"]["token"]
    # The room's own opening does not take the calendar's meeting.
    opened = server.post(f"/v1/rooms/{room['name']}/meeting", headers=owner).json()
    assert opened["meeting"]["id"] != meeting_id


def test_other_users_meetings_are_not_theirs_to_end(server, people):
    owner, other = people["owner"], people["other"]
    private = _room(server, owner)
    shared = _room(server, owner, is_shared=True)
    private_meeting = server.post(f"/v1/rooms/{private['name']}/meeting", headers=owner).json()
    shared_meeting = server.post(f"/v1/rooms/{shared['name']}/meeting", headers=owner).json()
    response = server.post(
        f"/v1/meetings/{private_meeting['meeting']['id']}/deactivate", headers=other
    )
    problem(response, 404, "not-found")
    response = server.post(
        f"/v1/meetings/{shared_meeting['meeting']['id']}/deactivate", headers=other
    )
    problem(response, 403, "not-room-owner")
    problem(server.get(f"/v1/rooms/{private['name']}/meetings", headers=other), 404, "not-found")
    problem(
        server.post("/v1/meetings/0123456789abcdef/deactivate", headers=owner), 404, "not-found"
    )


def test_only_participants_and_the_owner_start_a_recording(server, people, daily):
    owner, other = people["owner"], people["other"]
    other_id = new_account(server, "joiner")
    room = _room(server, owner)
    meeting = server.post(f"/v1/rooms/{room['name']}/meeting", headers=owner).json()["meeting"]
    path = f"/v1/meetings/{meeting['id']}/recordings/start"

    problem(server.post(path, json={}), 401, "authentication-required")
    problem(server.post(path, json={}, headers=other), 404, "not-found")
    problem(server.post(path, json={"type": "video"}, headers=owner), 422, "validation-error")

    before = len(daily.state.recordings_started)
    started = server.post(path, json={"type": "raw-tracks"}, headers=owner)
    assert started.status_code == 200, started.text
    assert started.json()["recording_id"]
    assert daily.state.recordings_started[before]["type"] == "raw-tracks"

    # Someone the platform reports in the meeting may start it too.
    daily_room = urlsplit(meeting["room_url"]).path.strip("/")
    body = participant_joined(
        daily_room, "5f1c1c55-4c1a-4bb8-9c1f-0b8c6e3c6f11", user_id=other_id[0], user_name="J"
    )
    hook = server.post("/v1/daily/webhook", content=body, headers=signed_headers(SECRET, body))
    assert hook.status_code == 200, hook.text
    by_joiner = server.post(path, json={}, headers=bearer(other_id[1]))
    assert by_joiner.status_code == 200, by_joiner.text

    server.patch(f"/v1/rooms/{room['name']}", json={"recording_type": "none"}, headers=owner)
    unrecorded = server.post(f"/v1/rooms/{room['name']}/meeting", headers=owner).json()
    response = server.post(
        f"/v1/meetings/{unrecorded['meeting']['id']}/recordings/start", json={}, headers=owner
    )
    problem(response, 409, "recording-disabled")


# --- two servers at once ------------------------------------------------------------------------


def test_two_servers_opening_a_room_at_once_make_one_meeting(tmp_path_factory):
    """Two app instances on one PostgreSQL database (as two server processes would be), and a
    Daily that takes a while to create a room, so both requests are inside the lock at once:
    the room row's lock makes the second wait and reuse the first's meeting."""
    with running_daily() as daily, postgres_database() as url:
        settings = [
            server_settings(tmp_path_factory.mktemp(f"race-{n}"), url,
                            auth_mode="single-user", live_preload=False,
                            **daily.settings(SECRET))
            for n in range(2)
        ]  # fmt: skip
        with running_client(settings[0]) as first, running_client(settings[1]) as second:
            assert first.post("/v1/rooms", json={"name": "busy-room"}).status_code == 201
            daily.state.room_delay = 0.5
            answers: list = [None, None]
            barrier = threading.Barrier(2)

            def open_room(index: int, client) -> None:
                barrier.wait()
                answers[index] = client.post("/v1/rooms/busy-room/meeting")

            threads = [
                threading.Thread(target=open_room, args=(i, c))
                for i, c in enumerate((first, second))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert all(a is not None and a.status_code == 200 for a in answers), answers
            ids = {a.json()["meeting"]["id"] for a in answers}
            assert len(ids) == 1
            assert daily.calls("POST", "/v1/rooms") == 1
