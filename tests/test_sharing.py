"""Sharing transcripts, on SQLite and PostgreSQL, on a multi-user server: private ones are their
owner's alone; semi-private ones open for any signed-in user with the link, public ones for
anyone, read-only; a shared room's transcripts are every signed-in user's to read; shared
transcripts show in the list and search of the people they are shared with, marked, and stop
showing the moment their owner makes them private."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from starlette.websockets import WebSocketDisconnect

from reflector_testkit.people import make_person, make_room, make_transcript
from reflector_testkit.servers import postgres_database, running_client, server_settings

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"sharing-{request.param}")
    if request.param == "sqlite":
        with running_client(server_settings(data_dir, None, auth_mode="multi-user")) as client:
            yield client
    else:
        with (
            postgres_database() as url,
            running_client(server_settings(data_dir, url, auth_mode="multi-user")) as client,
        ):
            yield client


def _problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"].endswith("/" + slug), body
    return body


def _listed(server, person, **params) -> dict[str, bool]:
    """Transcript id → its ``shared_with_me`` mark, in the person's list."""
    response = server.get("/v1/transcripts", params=params, headers=person.key_headers())
    assert response.status_code == 200, response.text
    return {item["id"]: item["shared_with_me"] for item in response.json()["items"]}


def _found(server, person, words: str) -> dict[str, bool]:
    response = server.get("/v1/search", params={"q": words}, headers=person.key_headers())
    assert response.status_code == 200, response.text
    return {hit["id"]: hit["shared_with_me"] for hit in response.json()["items"]}


def _word() -> str:
    """A made-up word that only one test's transcript contains."""
    return "zq" + uuid.uuid4().hex[:8].replace("0", "a")


def test_private_transcripts_are_their_owners_alone(server):
    ann, bob, admin = (
        make_person(server, "ann"),
        make_person(server, "bob"),
        make_person(server, "admin", admin=True),
    )
    word = _word()
    row = make_transcript(server, ann.id, text=f"the {word} budget")
    url = f"/v1/transcripts/{row.id}"
    assert server.get(url, headers=ann.key_headers()).json()["shared_with_me"] is False
    for person in (bob, admin):
        _problem(server.get(url, headers=person.key_headers()), 404, "not-found")
        _problem(server.get(f"{url}/segments", headers=person.browser_headers()), 404, "not-found")
        assert row.id not in _listed(server, person)
        assert row.id not in _found(server, person, word)
    # Somebody not signed in is asked to sign in, as for an id that does not exist.
    _problem(server.get(url), 401, "authentication-required")
    _problem(server.get("/v1/transcripts/does-not-exist"), 401, "authentication-required")
    assert _found(server, ann, word) == {row.id: False}


def test_semi_private_links_open_for_signed_in_users_and_are_remembered(server):
    ann, bob, carl = (make_person(server, n) for n in ("ann", "bob", "carl"))
    word = _word()
    row = make_transcript(server, ann.id, text=f"notes about {word}")
    url = f"/v1/transcripts/{row.id}"
    changed = server.patch(url, json={"share_mode": "semi-private"}, headers=ann.key_headers())
    assert changed.status_code == 200 and changed.json()["share_mode"] == "semi-private"

    _problem(server.get(url), 401, "authentication-required")
    assert row.id not in _listed(server, bob)  # not opened yet: nothing to remember
    opened = server.get(url, headers=bob.browser_headers())
    assert opened.status_code == 200, opened.text
    assert opened.json()["shared_with_me"] is True
    assert server.get(f"{url}/segments", headers=bob.key_headers()).status_code == 200

    # Bob opened the link: it is in his list and search, marked; not in Carl's.
    assert _listed(server, bob)[row.id] is True
    assert _listed(server, bob, scope="shared") == {row.id: True}
    assert row.id not in _listed(server, bob, scope="mine")
    assert _found(server, bob, word) == {row.id: True}
    assert row.id not in _listed(server, carl) and _found(server, carl, word) == {}
    assert _listed(server, ann, scope="shared") == {}
    assert _listed(server, ann)[row.id] is False

    # Read-only for Bob: every change is refused as not his, nothing changes.
    _problem(server.patch(url, json={"name": "mine"}, headers=bob.key_headers()), 403,
             "not-owner")  # fmt: skip
    _problem(server.delete(url, headers=bob.browser_headers()), 403, "not-owner")
    _problem(server.delete(url, params={"permanent": "true"}, headers=bob.key_headers()), 403,
             "not-owner")  # fmt: skip
    _problem(server.post(f"{url}/participants", json={"name": "Bob"}, headers=bob.key_headers()),
             403, "not-owner")  # fmt: skip
    _problem(server.post(f"{url}/uploads", json={"filename": "a.mp3"}, headers=bob.key_headers()),
             403, "not-owner")  # fmt: skip
    assert server.get(url, headers=ann.key_headers()).json()["name"] == "meeting"

    # Private again: gone from Bob's list and search at once, and his link stops working.
    server.patch(url, json={"share_mode": "private"}, headers=ann.key_headers())
    assert row.id not in _listed(server, bob)
    assert _found(server, bob, word) == {}
    _problem(server.get(url, headers=bob.key_headers()), 404, "not-found")
    _problem(server.patch(url, json={"name": "mine"}, headers=bob.key_headers()), 404, "not-found")


def test_public_transcripts_are_read_by_anyone_without_signing_in(server):
    ann, bob = make_person(server, "ann"), make_person(server, "bob")
    row = make_transcript(
        server,
        ann.id,
        share_mode="public",
        status="ended",
        title="Weekly sync",
        text="hello there",
        waveform=[0.0, 0.5, 1.0],
        duration=3.0,
        audio_key="shared-test/audio.mp3",
    )
    server.portal.call(
        server.app.state.reflector.blobs.put_bytes, "shared-test/audio.mp3", b"ID3 not-really-mp3"
    )
    url = f"/v1/transcripts/{row.id}"
    body = server.get(url).json()
    assert body["title"] == "Weekly sync" and body["shared_with_me"] is True
    for path in ("/segments", "/topics", "/participants", "/action-items", "/events", "/waveform"):
        assert server.get(url + path).status_code == 200, path
    exported = server.get(f"{url}/export", params={"format": "md"})
    assert exported.status_code == 200 and "Weekly sync" in exported.text
    audio = server.get(f"{url}/audio.mp3", headers={"Range": "bytes=0-2"})
    assert audio.status_code == 206 and audio.content == b"ID3"
    link = server.post(f"{url}/audio/link")
    assert link.status_code == 200 and server.get(link.json()["url"]).status_code == 200
    with server.websocket_connect(f"{url}/events") as socket:
        socket.close()

    # Read-only: writes need an account, and then its owner's.
    _problem(server.patch(url, json={"name": "x"}), 401, "authentication-required")
    _problem(server.delete(url), 401, "authentication-required")
    _problem(server.patch(url, json={"name": "x"}, headers=bob.key_headers()), 403, "not-owner")
    _problem(server.post(f"{url}/speakers/merge", json={"speakers": [1], "into": 0},
                         headers=bob.key_headers()), 403, "not-owner")  # fmt: skip
    # Wrong credentials are refused even where none are needed.
    _problem(server.get(url, headers=ann.key_headers(ann.revoked_key)), 401, "invalid-api-key")
    # Opening it signed in remembers it, like a semi-private link.
    assert server.get(url, headers=bob.key_headers()).status_code == 200
    assert _listed(server, bob, scope="shared") == {row.id: True}

    # Private again: the anonymous reader is asked to sign in, its events socket refused.
    server.patch(url, json={"share_mode": "private"}, headers=ann.key_headers())
    _problem(server.get(url), 401, "authentication-required")
    _problem(server.get(f"{url}/audio.mp3"), 401, "authentication-required")
    with pytest.raises(WebSocketDisconnect) as refused, server.websocket_connect(f"{url}/events"):
        pass
    assert refused.value.code == 1008


def test_transcripts_of_a_shared_room_are_every_signed_in_users(server):
    ann, bob = make_person(server, "ann"), make_person(server, "bob")
    word = _word()
    room = make_room(server, ann.id, shared=True)
    private_room = make_room(server, ann.id)
    in_room = make_transcript(server, ann.id, room_id=room.id, source="room", text=word)
    elsewhere = make_transcript(server, ann.id, room_id=private_room.id, text=word)

    # No link needed: Bob sees the shared room's transcript in his list and search, marked.
    assert _listed(server, bob, scope="shared") == {in_room.id: True}
    assert _listed(server, bob, room_id=room.id) == {in_room.id: True}
    assert _found(server, bob, word) == {in_room.id: True}
    assert server.get(f"/v1/transcripts/{in_room.id}", headers=bob.key_headers()).json()[
        "shared_with_me"
    ]
    _problem(server.get(f"/v1/transcripts/{elsewhere.id}", headers=bob.key_headers()), 404,
             "not-found")  # fmt: skip
    _problem(server.get(f"/v1/transcripts/{in_room.id}"), 401, "authentication-required")
    _problem(server.patch(f"/v1/transcripts/{in_room.id}", json={"name": "x"},
                          headers=bob.key_headers()), 403, "not-owner")  # fmt: skip
    assert _found(server, ann, word) == {in_room.id: False, elsewhere.id: False}

    # The trash is its owner's alone.
    assert server.delete(f"/v1/transcripts/{in_room.id}", headers=ann.key_headers()).status_code \
        == 204  # fmt: skip
    assert _listed(server, bob, scope="shared") == {}
    assert _listed(server, bob, deleted="true") == {}
    _problem(server.get(f"/v1/transcripts/{in_room.id}", headers=bob.key_headers()), 404,
             "not-found")  # fmt: skip


def test_share_mode_is_checked_and_owner_only(server):
    ann, bob = make_person(server, "ann"), make_person(server, "bob")
    row = make_transcript(server, ann.id)
    url = f"/v1/transcripts/{row.id}"
    bad = _problem(server.patch(url, json={"share_mode": "everyone"}, headers=ann.key_headers()),
                   422, "validation-error")  # fmt: skip
    assert "share_mode" in str(bad["errors"])
    _problem(server.patch(url, json={"share_mode": None}, headers=ann.key_headers()), 422,
             "validation-error")  # fmt: skip
    _problem(server.patch(url, json={"share_mode": "public"}, headers=bob.key_headers()), 404,
             "not-found")  # fmt: skip
    # A signed-in browser changes it with its CSRF token, and only with it.
    cookie_only = {"Cookie": ann.browser_headers()["Cookie"]}
    _problem(server.patch(url, json={"share_mode": "public"}, headers=cookie_only), 403,
             "csrf-token-invalid")  # fmt: skip
    done = server.patch(url, json={"share_mode": "public"}, headers=ann.browser_headers())
    assert done.status_code == 200 and done.json()["share_mode"] == "public"
    _problem(server.get("/v1/transcripts", params={"scope": "others"},
                        headers=ann.key_headers()), 422, "validation-error")  # fmt: skip


def _pages(server, person, size: int, **params) -> tuple[list[str], set[int]]:
    """Every page of the person's list, in order: the ids, and the totals the pages gave."""
    ids: list[str] = []
    totals: set[int] = set()
    page = 1
    while True:
        response = server.get(
            "/v1/transcripts",
            params={**params, "page": page, "size": size},
            headers=person.key_headers(),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        totals.add(body["total"])
        ids += [item["id"] for item in body["items"]]
        if not body["items"]:
            return ids, totals
        page += 1


def test_pages_merge_own_room_and_link_transcripts_in_every_sort(server):
    """The list reads its own, shared-room and opened-link transcripts apart and merges them:
    every page in order, each transcript once (one both in a shared room and opened through
    its link too), the trash and other people's private ones never."""
    ann, bob = make_person(server, "ann"), make_person(server, "bob")
    room = make_room(server, ann.id, shared=True)
    day = datetime(2025, 3, 1, tzinfo=UTC)

    def made(owner, n: int, **fields):
        # Two pairs share a creation time, so the id must break ties the same way everywhere.
        return make_transcript(
            server,
            owner.id,
            title=f"title {n:02d}",
            duration=float(100 - n),
            created_at=day + timedelta(hours=n // 2),
            **fields,
        )

    own = [made(bob, n) for n in (0, 3, 4, 9)]
    in_room = [made(ann, n, room_id=room.id) for n in (1, 5)]
    linked = [made(ann, n, share_mode="semi-private") for n in (2, 7)]
    both = made(ann, 6, room_id=room.id, share_mode="public")
    for row in [*linked, both]:
        opened = server.get(f"/v1/transcripts/{row.id}", headers=bob.key_headers())
        assert opened.status_code == 200, opened.text
    made(ann, 8)  # Ann's private one
    trashed = made(bob, 10)
    assert server.delete(f"/v1/transcripts/{trashed.id}", headers=bob.key_headers()).status_code \
        == 204  # fmt: skip

    rows = {r.id: r for r in [*own, *in_room, *linked, both]}
    shared = {r.id for r in [*in_room, *linked, both]}
    for sort in ("-created_at", "created_at", "title", "-title", "duration", "-duration"):
        field = sort.lstrip("-")
        for scope, wanted in (
            ("all", set(rows)),
            ("shared", shared),
            ("mine", {r.id for r in own}),
        ):
            expected = sorted(wanted, key=lambda i, f=field: (getattr(rows[i], f), i))
            if sort.startswith("-"):
                expected.reverse()
            for size in (2, 3, 50):
                ids, totals = _pages(server, bob, size, sort=sort, scope=scope)
                assert ids == expected, (sort, scope, size)
                assert totals == {len(expected)}, (sort, scope, size)
    assert _pages(server, bob, 2, deleted="true") == ([trashed.id], {1})
