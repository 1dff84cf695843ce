"""Summary emails, against a real SMTP server (aiosmtpd) in the test process: a participant
asks during the meeting and gets the summary and a link when the transcript ends (plain text
and HTML, with everything from the transcript escaped), once; a request for an ended
transcript is sent at once; a refused address keeps its error and the others still get theirs;
a bad address, or a server without SMTP, is refused when asking."""

from __future__ import annotations

import time

import pytest

from reflector.db import repository
from reflector.db.tables import ActionItemRow, EmailRequestRow, MeetingRow, RoomRow, TranscriptRow
from reflector.domain.status import TranscriptStatus
from reflector.integrations.digest import Digest
from reflector.integrations.mail import InvalidAddressError, check_address, compose
from reflector_testkit.notifications import send_notifications, settle
from reflector_testkit.servers import running_client, server_settings
from reflector_testkit.smtp import smtp_server

# The test server takes a login over plain SMTP on loopback, which aiosmtpd warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

PUBLIC = "https://reflector.example.org"
SENDER = "reflector@example.org"


@pytest.fixture
def inbox():
    with smtp_server(login=("mailer", "s3cret")) as server:
        yield server


def _server(tmp_path, inbox, **overrides):
    values = {
        "public_url": PUBLIC,
        "smtp_host": inbox.host,
        "smtp_port": inbox.port,
        "smtp_username": "mailer",
        "smtp_password": "s3cret",
        "smtp_from": SENDER,
        "smtp_starttls": False,  # the test server speaks plain SMTP on loopback
        **overrides,
    }
    return running_client(server_settings(tmp_path, None, **values))


def _meeting_with_transcript(client, status: str = "processing") -> tuple[str, str]:
    state = client.app.state.reflector

    async def make() -> tuple[str, str]:
        async with state.sessions() as session:
            room = RoomRow(name=f"room-{time.monotonic_ns()}", user_id=repository.LOCAL_USER_ID)
            session.add(room)
            await session.flush()
            meeting = MeetingRow(room_id=room.id, platform="daily", platform_meeting_id=room.name)
            session.add(meeting)
            await session.flush()
            row = TranscriptRow(
                user_id=repository.LOCAL_USER_ID,
                status=status,
                source="room",
                room_id=room.id,
                meeting_id=meeting.id,
                title="Budget <review> & next steps",
                short_summary='We cut <script>alert("x")</script> travel costs.',
            )
            session.add(row)
            await session.flush()
            session.add(
                ActionItemRow(
                    transcript_id=row.id,
                    kind="next_step",
                    position=0,
                    text="Send the <b>new</b> budget",
                    person="Ana",
                )
            )
            await session.commit()
            return meeting.id, row.id

    return client.portal.call(make)


def test_a_participant_gets_the_summary_when_the_transcript_ends(tmp_path, inbox):
    with _server(tmp_path, inbox) as client:
        meeting_id, transcript_id = _meeting_with_transcript(client)
        asked = client.post(f"/v1/meetings/{meeting_id}/email", json={"email": " Ann@Example.org "})
        assert asked.status_code == 202, asked.text
        assert asked.json()["queued"] is False and asked.json()["email"] == "ann@example.org"
        again = client.post(f"/v1/meetings/{meeting_id}/email", json={"email": "ann@example.org"})
        assert again.json()["id"] == asked.json()["id"]  # asking twice is one request
        send_notifications(client)
        assert inbox.messages == []  # not before the transcript has ended

        settle(client, transcript_id)
        send_notifications(client)
        (mail,) = inbox.messages
        assert mail["To"] == "ann@example.org" and mail["From"] == SENDER
        assert mail["Subject"] == "Summary: Budget <review> & next steps"
        link = f"{PUBLIC}/transcripts/{transcript_id}"
        plain = mail.get_body(("plain",)).get_content()
        assert 'We cut <script>alert("x")</script> travel costs.' in plain
        assert "- Send the <b>new</b> budget (Ana)" in plain
        assert f"The whole transcript: {link}" in plain
        html = mail.get_body(("html",)).get_content()
        assert "<h2>Budget &lt;review&gt; &amp; next steps</h2>" in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert "<script>" not in html and "<b>new</b>" not in html
        assert f'<a href="{link}">' in html
        assert inbox.envelopes == [(SENDER, ["ann@example.org"])]

        # Processed again: nobody gets a second mail.
        settle(client, transcript_id, TranscriptStatus.PROCESSING)
        settle(client, transcript_id)
        send_notifications(client)
        assert len(inbox.messages) == 1
        notifications = client.get(f"/v1/transcripts/{transcript_id}/notifications").json()
        assert [(n["kind"], n["status"]) for n in notifications["notifications"]] == [
            ("email", "sent")
        ]


def test_asking_after_the_end_sends_at_once_and_refused_addresses_keep_errors(tmp_path, inbox):
    inbox.refuse.add("gone@example.org")
    with _server(tmp_path, inbox) as client:
        meeting_id, transcript_id = _meeting_with_transcript(client, status="ended")
        for address in ("gone@example.org", "bob@example.org"):
            asked = client.post(f"/v1/transcripts/{transcript_id}/email", json={"email": address})
            assert asked.status_code == 202 and asked.json()["queued"] is True
        late = client.post(f"/v1/meetings/{meeting_id}/email", json={"email": "cy@example.org"})
        assert late.json()["queued"] is True  # the meeting's transcript has ended
        send_notifications(client)
        assert sorted(str(m["To"]) for m in inbox.messages) == [
            "bob@example.org",
            "cy@example.org",
        ]
        state = client.app.state.reflector

        async def requests() -> dict[str, EmailRequestRow]:
            from sqlalchemy import select

            async with state.sessions() as session:
                rows = await session.scalars(select(EmailRequestRow))
                return {row.email: row for row in rows}

        stored = client.portal.call(requests)
        assert stored["bob@example.org"].sent_at is not None
        assert stored["cy@example.org"].transcript_id == transcript_id
        refused = stored["gone@example.org"]
        assert refused.sent_at is None
        assert "refused the recipient" in refused.error and "550" in refused.error


def test_a_wrong_smtp_login_is_reported_in_words_and_the_mail_waits(tmp_path, inbox):
    with _server(tmp_path, inbox, smtp_password="wrong") as client:
        _, transcript_id = _meeting_with_transcript(client, status="ended")
        client.post(f"/v1/transcripts/{transcript_id}/email", json={"email": "ann@example.org"})
        send_notifications(client)
        (failed,) = client.get(f"/v1/transcripts/{transcript_id}/notifications").json()[
            "notifications"
        ]
        assert failed["status"] == "failed"
        assert "refused the login" in failed["error"]
        assert "REFLECTOR_SMTP_PASSWORD" in failed["error"]
        assert inbox.messages == []


def test_bad_addresses_and_unknown_meetings_are_refused(tmp_path, inbox):
    with _server(tmp_path, inbox) as client:
        meeting_id, _ = _meeting_with_transcript(client)
        for address in ("not an address", "ann@example.org\r\nBcc: all@example.org", "a@b"):
            response = client.post(f"/v1/meetings/{meeting_id}/email", json={"email": address})
            assert response.status_code == 422, address
        bad = client.post(f"/v1/meetings/{meeting_id}/email", json={"email": "nobody at home"})
        assert bad.json()["type"].endswith("/invalid-email")
        assert "is not an email address" in bad.json()["detail"]
        unknown = client.post("/v1/meetings/0000/email", json={"email": "ann@example.org"})
        assert unknown.status_code == 404


def test_without_smtp_asking_is_refused_and_nothing_is_kept(tmp_path):
    with running_client(server_settings(tmp_path, None)) as client:
        meeting_id, transcript_id = _meeting_with_transcript(client)
        for path in (f"/v1/meetings/{meeting_id}/email", f"/v1/transcripts/{transcript_id}/email"):
            response = client.post(path, json={"email": "ann@example.org"})
            assert response.status_code == 422
            assert response.json()["type"].endswith("/email-not-configured")
            assert "REFLECTOR_SMTP_HOST" in response.json()["detail"]
        state = client.app.state.reflector

        async def count() -> int:
            from sqlalchemy import func, select

            async with state.sessions() as session:
                return int(await session.scalar(select(func.count()).select_from(EmailRequestRow)))

        assert client.portal.call(count) == 0


def test_the_message_has_both_parts_and_no_header_from_the_title():
    message = compose(
        Digest(title="Hello\r\nBcc: everyone@example.org", link="https://r.example/t/1"),
        SENDER,
        "ann@example.org",
    )
    assert message["Subject"] == "Summary: Hello Bcc: everyone@example.org"
    assert message["Bcc"] is None
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    with pytest.raises(InvalidAddressError):
        check_address("ann@example.org, bob@example.org")
