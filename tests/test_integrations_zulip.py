"""Zulip, against a local server speaking Zulip's documented REST API: a room's transcript is
posted to its stream and topic when it ends (title, summary, action items, link; nobody is
mentioned), in the background; processed again, the same message is edited; streams and topics
are listed for the web app; wrong credentials, a missing stream and an unreachable Zulip are
reported in words; a post that could not be sent is tried again."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import update

from reflector.db import repository
from reflector.db.tables import ActionItemRow, NotificationRow, RoomRow, TranscriptRow, utcnow
from reflector.domain.status import TranscriptStatus
from reflector.integrations.digest import Digest
from reflector.integrations.zulip import MAX_CONTENT_BYTES, render_post
from reflector_testkit.notifications import send_notifications, settle
from reflector_testkit.servers import running_client, running_on, server_settings
from reflector_testkit.zulip import fake_zulip

PUBLIC = "https://reflector.example.org"


@pytest.fixture
def zulip():
    with fake_zulip(streams={1: "general", 2: "meetings"}) as fake:
        yield fake


@contextmanager
def _server(tmp_path, zulip, database: str = "sqlite", **overrides):
    values = {
        "public_url": PUBLIC,
        "zulip_site": zulip.base_url,
        "zulip_bot_email": zulip.bot_email,
        "zulip_api_key": zulip.api_key,
        **overrides,
    }
    with running_on(database, tmp_path, **values) as client:
        yield client


def _seed(client, *, stream: str | None = "meetings", topic: str | None = "Weekly") -> str:
    """A room that posts to Zulip and a transcript of it being processed; its id."""
    state = client.app.state.reflector

    async def make() -> str:
        async with state.sessions() as session:
            room = RoomRow(
                name=f"room-{time.monotonic_ns()}",
                user_id=repository.LOCAL_USER_ID,
                zulip_auto_post=stream is not None,
                zulip_stream=stream,
                zulip_topic=topic,
            )
            session.add(room)
            await session.flush()
            row = TranscriptRow(
                user_id=repository.LOCAL_USER_ID,
                name="recording.mp3",
                status="processing",
                source="room",
                room_id=room.id,
                title="Quarterly planning",
                short_summary="We agreed on the roadmap. Ping @**all** if it slips.",
                duration=1830.0,
            )
            session.add(row)
            await session.flush()
            session.add_all(
                [
                    ActionItemRow(
                        transcript_id=row.id,
                        kind="decision",
                        position=0,
                        text="Ship the billing service in March",
                    ),
                    ActionItemRow(
                        transcript_id=row.id,
                        kind="next_step",
                        position=0,
                        text="Write the migration plan",
                        person="Ana",
                        deadline="Friday",
                    ),
                ]
            )
            await session.commit()
            return row.id

    return client.portal.call(make)


def _change(client, transcript_id: str, **values) -> None:
    state = client.app.state.reflector

    async def change() -> None:
        async with state.sessions() as session:
            await session.execute(
                update(TranscriptRow).where(TranscriptRow.id == transcript_id).values(**values)
            )
            await session.commit()

    client.portal.call(change)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_an_ended_transcript_is_posted_and_edited_when_processed_again(tmp_path, zulip, database):
    with _server(tmp_path, zulip, database) as client:
        transcript_id = _seed(client)
        settle(client, transcript_id)
        assert zulip.messages == {}  # queued, not sent in the request or the job
        send_notifications(client)

        (message,) = zulip.messages.values()
        assert (message.stream, message.topic) == ("meetings", "Weekly")
        link = f"{PUBLIC}/transcripts/{transcript_id}"
        assert f"**[Quarterly planning]({link})**" in message.content
        assert "We agreed on the roadmap." in message.content
        assert "@**all**" not in message.content  # text from the transcript mentions nobody
        assert "**Decisions**\n- Ship the billing service in March" in message.content
        assert "- Write the migration plan (Ana, Friday)" in message.content
        assert "30 min" in message.content
        status = client.get(f"/v1/transcripts/{transcript_id}/notifications").json()
        assert status["zulip_message_id"] == message.id
        (zulip_status,) = status["notifications"]
        assert (zulip_status["kind"], zulip_status["status"], zulip_status["error"]) == (
            "zulip",
            "sent",
            None,
        )

        # Reprocessed: a new title, the same message edited, nothing new posted.
        settle(client, transcript_id, TranscriptStatus.PROCESSING)
        _change(client, transcript_id, title="Quarterly planning (revised)")
        settle(client, transcript_id)
        send_notifications(client)
        assert list(zulip.messages) == [message.id]
        assert message.edits == 1
        assert "Quarterly planning (revised)" in message.content
        patches = [r for r in zulip.requests if r[0] == "PATCH"]
        assert [path for _, path, _ in patches] == [f"/api/v1/messages/{message.id}"]


def test_the_housekeeping_posts_in_the_background(tmp_path, zulip):
    with _server(tmp_path, zulip, job_sweep_seconds=1.0) as client:
        transcript_id = _seed(client)
        settle(client, transcript_id)
        deadline = time.monotonic() + 120  # a busy machine can be slow; not a timing test
        while not zulip.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(zulip.messages) == 1
        body = client.get(f"/v1/transcripts/{transcript_id}/notifications").json()
        assert body["notifications"][0]["status"] == "sent"


def test_rooms_that_do_not_post_and_failed_transcripts_send_nothing(tmp_path, zulip):
    with _server(tmp_path, zulip) as client:
        quiet_room = _seed(client, stream=None)
        settle(client, quiet_room)
        failed = _seed(client)
        settle(client, failed, TranscriptStatus.ERROR)
        send_notifications(client)
        assert zulip.messages == {}
        assert client.get(f"/v1/transcripts/{failed}/notifications").json()["notifications"] == []


def test_wrong_credentials_are_reported_in_words(tmp_path, zulip):
    with _server(tmp_path, zulip, zulip_api_key="not-the-key") as client:
        streams = client.get("/v1/zulip/streams")
        assert streams.status_code == 502
        problem = streams.json()
        assert problem["type"].endswith("/zulip-error")
        assert "refused the bot's credentials" in problem["detail"]
        assert "Invalid API key" in problem["detail"]

        transcript_id = _seed(client)
        settle(client, transcript_id)
        send_notifications(client)
        (failed,) = client.get(f"/v1/transcripts/{transcript_id}/notifications").json()[
            "notifications"
        ]
        assert failed["status"] == "failed"  # no retry can fix credentials
        assert "refused the bot's credentials" in failed["error"]
        assert zulip.messages == {}


def test_a_missing_stream_fails_in_words(tmp_path, zulip):
    with _server(tmp_path, zulip) as client:
        transcript_id = _seed(client, stream="no-such-stream")
        settle(client, transcript_id)
        send_notifications(client)
        (failed,) = client.get(f"/v1/transcripts/{transcript_id}/notifications").json()[
            "notifications"
        ]
        assert failed["status"] == "failed"
        assert "'no-such-stream' does not exist" in failed["error"]


def test_an_unavailable_zulip_is_tried_again_later(tmp_path, zulip):
    with _server(tmp_path, zulip) as client:
        transcript_id = _seed(client)
        settle(client, transcript_id)
        zulip.unavailable = True
        send_notifications(client)
        (waiting,) = client.get(f"/v1/transcripts/{transcript_id}/notifications").json()[
            "notifications"
        ]
        assert waiting["status"] == "pending" and waiting["attempts"] == 1
        assert "cannot serve now (503)" in waiting["error"]
        send_notifications(client)  # not due yet: nothing is sent again at once
        assert len([r for r in zulip.requests if r[0] == "POST"]) == 1

        zulip.unavailable = False
        state = client.app.state.reflector

        async def make_due() -> None:
            async with state.sessions() as session:
                await session.execute(
                    update(NotificationRow).values(next_attempt_at=utcnow() - timedelta(seconds=1))
                )
                await session.commit()

        client.portal.call(make_due)
        send_notifications(client)
        assert len(zulip.messages) == 1
        body = client.get(f"/v1/transcripts/{transcript_id}/notifications").json()
        assert body["notifications"][0]["status"] == "sent"
        assert body["notifications"][0]["attempts"] == 2


def test_streams_and_topics_are_listed_for_the_web_app(tmp_path, zulip):
    with _server(tmp_path, zulip) as client:
        streams = client.get("/v1/zulip/streams")
        assert streams.status_code == 200
        assert [(s["stream_id"], s["name"]) for s in streams.json()] == [
            (1, "general"),
            (2, "meetings"),
        ]
        assert client.get("/v1/zulip/streams/2/topics").json() == []
        transcript_id = _seed(client, topic="Standups")
        settle(client, transcript_id)
        send_notifications(client)
        (topic,) = client.get("/v1/zulip/streams/2/topics").json()
        assert topic["name"] == "Standups"
        missing = client.get("/v1/zulip/streams/99/topics")
        assert missing.status_code == 502 and "Invalid channel ID" in missing.json()["detail"]


def test_posting_by_hand_to_another_stream(tmp_path, zulip):
    with _server(tmp_path, zulip) as client:
        transcript_id = _seed(client, stream=None)
        early = client.post(f"/v1/transcripts/{transcript_id}/zulip", json={})
        assert early.status_code == 409  # still processing
        settle(client, transcript_id)
        nowhere = client.post(f"/v1/transcripts/{transcript_id}/zulip", json={})
        assert nowhere.status_code == 422 and nowhere.json()["type"].endswith("/no-zulip-stream")
        queued = client.post(
            f"/v1/transcripts/{transcript_id}/zulip", json={"stream": "general", "topic": "Ad hoc"}
        )
        assert queued.status_code == 202
        assert queued.json()["notifications"][0]["status"] == "pending"
        send_notifications(client)
        (message,) = zulip.messages.values()
        assert (message.stream, message.topic) == ("general", "Ad hoc")


def test_without_a_zulip_bot_the_routes_say_so(tmp_path):
    with running_client(server_settings(tmp_path, None)) as client:
        for response in (
            client.get("/v1/zulip/streams"),
            client.get("/v1/zulip/streams/1/topics"),
        ):
            assert response.status_code == 422
            assert response.json()["type"].endswith("/zulip-not-configured")
            assert "REFLECTOR_ZULIP_SITE" in response.json()["detail"]


def test_an_unreachable_zulip_is_reported_in_words(tmp_path):
    settings = server_settings(
        tmp_path,
        None,
        zulip_site="http://127.0.0.1:9",
        zulip_bot_email="bot@zulip.test",
        zulip_api_key="key",
    )
    with running_client(settings) as client:
        response = client.get("/v1/zulip/streams")
        assert response.status_code == 503
        assert response.json()["type"].endswith("/zulip-unavailable")
        assert "could not reach Zulip at http://127.0.0.1:9" in response.json()["detail"]


def test_a_long_post_fits_zulip_and_keeps_its_link():
    post = Digest(
        title="[Long] meeting",
        link="https://r.example/transcripts/abc",
        summary="word " * 5000,
        next_steps=["x" * 100] * 50,
    )
    content = render_post(post)
    assert len(content.encode()) <= MAX_CONTENT_BYTES
    assert content.startswith("**[(Long) meeting](https://r.example/transcripts/abc)**")
    assert content.endswith("[Open the transcript](https://r.example/transcripts/abc)")


def test_the_celery_beat_task_posts_too(tmp_path, zulip):
    """``reflector.integrations``, the task beat runs, in a process of its own (as a worker)."""
    import asyncio
    import os
    import subprocess
    import sys

    from reflector.db.engine import sqlite_url
    from reflector.integrations.settled import queue_chat_and_email
    from reflector_testkit.servers import sqlite_sessions

    async def seed() -> str:
        async with (
            sqlite_sessions(tmp_path / "db.sqlite", user_id="owner") as sessions,
            sessions() as session,
        ):
            room = RoomRow(
                name="celery-room",
                user_id="owner",
                zulip_auto_post=True,
                zulip_stream="general",
            )
            session.add(room)
            await session.flush()
            row = TranscriptRow(
                user_id="owner", status="ended", room_id=room.id, title="From a worker"
            )
            session.add(row)
            await session.commit()
            await queue_chat_and_email(session, row.id, TranscriptStatus.ENDED)
            return row.id

    transcript_id = asyncio.run(seed())
    env = {
        **os.environ,
        "REFLECTOR_DATA_DIR": str(tmp_path),
        "REFLECTOR_DATABASE_URL": sqlite_url(tmp_path / "db.sqlite"),
        "REFLECTOR_PUBLIC_URL": PUBLIC,
        "REFLECTOR_ZULIP_SITE": zulip.base_url,
        "REFLECTOR_ZULIP_BOT_EMAIL": zulip.bot_email,
        "REFLECTOR_ZULIP_API_KEY": zulip.api_key,
    }
    code = "from reflector.jobs.celery_app import integrations; print(integrations.apply().get())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "1"
    (message,) = zulip.messages.values()
    assert message.stream == "general" and "From a worker" in message.content
    assert f"/transcripts/{transcript_id}" in message.content
