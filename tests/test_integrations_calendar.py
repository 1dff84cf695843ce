"""Room calendars (ICS): events read with their time zones, recurring events expanded with
their exceptions (EXDATE, a moved occurrence, a cancelled one), events matched to a room by its
link, and a room's upcoming meetings kept in step with a calendar served over HTTP (created,
updated, cancelled; ETag and 304; a malformed or unreachable calendar reported in words while
nothing else changes; private addresses refused unless allowed), through the API too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from reflector.blobs.local import LocalBlobStore
from reflector.db import repository
from reflector.db.engine import make_engine, make_sessionmaker, upgrade_database_async
from reflector.db.tables import MeetingRow, RoomRow
from reflector.integrations.calendar import (
    CalendarError,
    events_between,
    parse_calendar,
    room_matcher,
)
from reflector.integrations.calendar_sync import sync_room
from reflector.settings import Settings
from reflector_testkit.calendars import calendar_server
from reflector_testkit.ports import free_port
from reflector_testkit.servers import (
    postgres_database,
    running_client,
    server_settings,
    sqlite_sessions,
)

PUBLIC = "https://reflector.example.org"
ROOM = "team-sync"
ROOM_LINK = f"{PUBLIC}/rooms/{ROOM}"

BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE"""


def ics(*events: str, extra: str = "") -> str:
    body = "\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", extra, *events])
    lines = [line for line in (body + "\nEND:VCALENDAR").splitlines() if line.strip()]
    return "\r\n".join(lines) + "\r\n"


def event(uid: str, start: str, end: str, summary: str = "Meeting", **props: str) -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", start, end, f"SUMMARY:{summary}"]
    lines += [f"{name.replace('_', '-')}{value}" for name, value in props.items()]
    return "\n".join([*lines, "END:VEVENT"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# --- reading calendars -------------------------------------------------------------------------

RECURRING = ics(
    BERLIN,
    event(
        "standup@example.org",
        "DTSTART;TZID=Europe/Berlin:20260105T100000",
        "DTEND;TZID=Europe/Berlin:20260105T103000",
        "Standup",
        RRULE=":FREQ=DAILY;COUNT=5",
        EXDATE=";TZID=Europe/Berlin:20260106T100000",
        LOCATION=f":{ROOM_LINK}",
        ATTENDEE=";CN=Tom Baker;PARTSTAT=ACCEPTED:mailto:tom@example.org",
    ),
    # The occurrence of the 7th moved half an hour later, with its own title.
    event(
        "standup@example.org",
        "DTSTART;TZID=Europe/Berlin:20260107T103000",
        "DTEND;TZID=Europe/Berlin:20260107T110000",
        "Standup (late)",
        RECURRENCE_ID=";TZID=Europe/Berlin:20260107T100000",
        LOCATION=f":{ROOM_LINK}",
    ),
    # The occurrence of the 8th cancelled.
    event(
        "standup@example.org",
        "DTSTART;TZID=Europe/Berlin:20260108T100000",
        "DTEND;TZID=Europe/Berlin:20260108T103000",
        "Standup",
        RECURRENCE_ID=";TZID=Europe/Berlin:20260108T100000",
        STATUS=":CANCELLED",
    ),
    event("holiday@example.org", "DTSTART;VALUE=DATE:20260106", "DTEND;VALUE=DATE:20260107"),
    event("floating@example.org", "DTSTART:20260105T150000", "DTEND:20260105T160000", "Float"),
    event(
        "ny@example.org",
        "DTSTART;TZID=America/New_York:20260105T090000",
        "DURATION:PT45M",
        "From New York",
    ),
)


def test_recurring_events_are_expanded_with_their_exceptions_and_time_zones():
    calendar = parse_calendar(RECURRING.encode())
    found = events_between(
        calendar, datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC)
    )
    standups = [e for e in found if e.key.startswith("standup@")]
    # 5 daily occurrences, less the EXDATE (6th) and the cancelled one (8th).
    assert [(e.start, e.title) for e in standups] == [
        (datetime(2026, 1, 5, 9, 0, tzinfo=UTC), "Standup"),  # 10:00 Berlin = 09:00 UTC
        (datetime(2026, 1, 7, 9, 30, tzinfo=UTC), "Standup (late)"),
        (datetime(2026, 1, 9, 9, 0, tzinfo=UTC), "Standup"),
    ]
    # The moved occurrence keeps the key of its original time.
    assert standups[1].key == "standup@example.org/20260107T090000Z"
    assert standups[0].end - standups[0].start == timedelta(minutes=30)
    assert standups[0].attendees[0].as_dict() == {"name": "Tom Baker", "email": "tom@example.org"}
    by_title = {e.title: e for e in found}
    assert "holiday@example.org" not in {e.key for e in found}  # all-day: not a meeting
    assert by_title["Float"].start == datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # floating: UTC
    ny = by_title["From New York"]
    assert ny.key == "ny@example.org"  # a single event keeps its UID as its key
    assert ny.start == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # EST is UTC-5
    assert ny.end == datetime(2026, 1, 5, 14, 45, tzinfo=UTC)  # DURATION


def test_attendees_leave_out_declined_people_and_rooms_and_name_by_address_otherwise():
    text = ics(
        event(
            "a@x",
            "DTSTART:20260105T100000Z",
            "DTEND:20260105T110000Z",
            ORGANIZER=";CN=Ann Lee:mailto:Ann@Example.org",
            ATTENDEE=";PARTSTAT=DECLINED;CN=No Body:mailto:no@example.org",
        ).replace(
            "END:VEVENT",
            "ATTENDEE:mailto:ann@example.org\n"
            "ATTENDEE;CUTYPE=ROOM;CN=Room 4:mailto:room4@example.org\n"
            "ATTENDEE:mailto:bob@example.org\nEND:VEVENT",
        )
    )
    (found,) = events_between(
        parse_calendar(text.encode()),
        datetime(2026, 1, 5, tzinfo=UTC),
        datetime(2026, 1, 6, tzinfo=UTC),
    )
    assert [a.as_dict() for a in found.attendees] == [
        {"name": "Ann Lee", "email": "ann@example.org"},
        {"name": "bob@example.org", "email": "bob@example.org"},
    ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"<!doctype html><html><body>Sign in</body></html>", "BEGIN:VCALENDAR"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:not-a-date\r\n", "could not be read"),
    ],
)
def test_a_malformed_calendar_is_refused_in_words(body, words):
    with pytest.raises(CalendarError, match=words):
        calendar = parse_calendar(body)
        events_between(calendar, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


def test_events_match_the_room_by_its_link():
    from reflector.integrations.calendar import CalendarEvent

    def at(**where: str) -> CalendarEvent:
        now = datetime(2026, 1, 5, tzinfo=UTC)
        return CalendarEvent(key="k", title="t", start=now, end=now, **where)

    matches = room_matcher(ROOM, PUBLIC)
    assert matches(at(location=ROOM_LINK))
    assert matches(at(description=f"Join us at {ROOM_LINK}/ (dial-in below)."))
    assert matches(at(url=f"http://internal-name:1250/rooms/{ROOM.upper()}?x=1"))
    assert matches(at(location=f"{PUBLIC}/{ROOM}"))  # the short form on the public host
    assert not matches(at(location=f"{PUBLIC}/rooms/{ROOM}-2"))
    assert not matches(at(location=f"https://elsewhere.example/{ROOM}"))
    assert not matches(at(location="Meeting room 4, second floor"))


# --- a room's meetings kept in step -----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request, tmp_path):
    """A migrated database (SQLite, or a fresh PostgreSQL one) as a session maker."""
    if request.param == "sqlite":
        async with sqlite_sessions(tmp_path / "db.sqlite") as sessions:
            yield sessions
        return
    with postgres_database() as url:
        await upgrade_database_async(url)
        engine = make_engine(url)
        try:
            yield make_sessionmaker(engine)
        finally:
            await engine.dispose()


def _settings(tmp_path, **overrides) -> Settings:
    values = {
        "data_dir": tmp_path,
        "public_url": PUBLIC,
        "ics_allow_private_networks": True,
        **overrides,
    }
    return Settings(**values)


async def _room(sessions, url: str, name: str = ROOM) -> str:
    async with sessions() as session:
        await repository.ensure_user(session, "owner", "Owner")
        room = RoomRow(name=name, user_id="owner", ics_url=url, ics_enabled=True)
        session.add(room)
        await session.commit()
        return room.id


async def _meetings(sessions, room_id: str) -> dict[str, MeetingRow]:
    async with sessions() as session:
        rows = await session.scalars(
            select(MeetingRow).where(MeetingRow.room_id == room_id).order_by(MeetingRow.start_date)
        )
        return {row.calendar_event_id: row for row in rows}


def _soon(now: datetime, minutes: int) -> datetime:
    return (now + timedelta(minutes=minutes)).replace(second=0, microsecond=0)


@pytest.mark.anyio
async def test_a_room_calendar_becomes_upcoming_meetings_that_follow_its_changes(tmp_path, db):
    now = datetime.now(UTC)
    settings = _settings(tmp_path)
    blobs = LocalBlobStore(tmp_path / "blobs")
    review = _soon(now, 120)
    planning = _soon(now, 300)

    def calendar(review_start: datetime, with_planning: bool, review_status: str = "") -> str:
        events = [
            event(
                "review@x",
                f"DTSTART:{stamp(review_start)}",
                f"DTEND:{stamp(review_start + timedelta(hours=1))}",
                "Design review",
                LOCATION=f":{ROOM_LINK}",
                DESCRIPTION=":Agenda: <b>the new API</b>",
                ATTENDEE=";CN=Ann Lee:mailto:ann@example.org",
                **({"STATUS": f":{review_status}"} if review_status else {}),
            ),
            event(
                "elsewhere@x",
                f"DTSTART:{stamp(review_start)}",
                f"DTEND:{stamp(review_start + timedelta(hours=1))}",
                "Another room's meeting",
                LOCATION=f":{PUBLIC}/rooms/other-room",
            ),
            event(
                "next-week@x",
                f"DTSTART:{stamp(now + timedelta(days=7))}",
                f"DTEND:{stamp(now + timedelta(days=7, hours=1))}",
                "Too far ahead",
                LOCATION=f":{ROOM_LINK}",
            ),
        ]
        if with_planning:
            events.append(
                event(
                    "planning@x",
                    f"DTSTART:{stamp(planning)}",
                    f"DTEND:{stamp(planning + timedelta(minutes=30))}",
                    "Planning",
                    DESCRIPTION=f":Join: {ROOM_LINK}",
                )
            )
        return ics(*events)

    with calendar_server() as server:
        url = server.put("/team.ics", calendar(review, with_planning=True))
        sessions = db
        room_id = await _room(sessions, url)

        first = await sync_room(sessions, blobs, settings, room_id, now=now)
        assert (first.ok, first.status, first.events_found, first.created) == (
            True,
            "ok",
            2,
            2,
        )
        meetings = await _meetings(sessions, room_id)
        assert set(meetings) == {"review@x", "planning@x"}
        upcoming = meetings["review@x"]
        assert upcoming.platform_meeting_id is None  # not on the platform yet
        assert upcoming.is_active and upcoming.start_date.replace(tzinfo=UTC) == review
        assert upcoming.calendar_data == {
            "title": "Design review",
            "description": "Agenda: <b>the new API</b>",
            "location": ROOM_LINK,
            "attendees": [{"name": "Ann Lee", "email": "ann@example.org"}],
        }

        # Unchanged: a conditional GET answered 304, and the meetings stay as they are.
        again = await sync_room(sessions, blobs, settings, room_id, now=now)
        assert again.not_modified and again.ok and again.events_found == 2
        assert (again.created, again.updated, again.cancelled) == (0, 0, 0)
        assert server.answers("/team.ics") == [200, 304]
        conditional = server.requests[-1][1]
        assert conditional["If-None-Match"] == server.files["/team.ics"][1]

        # The review moves an hour later; the planning disappears from the calendar.
        server.put("/team.ics", calendar(review + timedelta(hours=1), with_planning=False))
        changed = await sync_room(sessions, blobs, settings, room_id, now=now)
        assert (changed.created, changed.updated, changed.cancelled) == (0, 1, 1)
        meetings = await _meetings(sessions, room_id)
        assert set(meetings) == {"review@x"}
        moved = meetings["review@x"]
        assert moved.id == upcoming.id  # the same meeting, updated
        assert moved.start_date.replace(tzinfo=UTC) == review + timedelta(hours=1)

        # Cancelled in the calendar: the upcoming meeting goes.
        server.put("/team.ics", calendar(review, with_planning=False, review_status="CANCELLED"))
        cancelled = await sync_room(sessions, blobs, settings, room_id, now=now)
        assert cancelled.cancelled == 1 and cancelled.events_found == 0
        assert await _meetings(sessions, room_id) == {}

        async with sessions() as session:
            room = await session.get(RoomRow, room_id)
            assert room.ics_status == "ok" and room.ics_events_found == 0
            assert room.ics_etag == server.files["/team.ics"][1]


@pytest.mark.anyio
async def test_a_broken_calendar_is_reported_in_words_and_changes_nothing(tmp_path):
    now = datetime.now(UTC)
    settings = _settings(tmp_path)
    blobs = LocalBlobStore(tmp_path / "blobs")
    start = _soon(now, 60)
    good = ics(
        event(
            "weekly@x",
            f"DTSTART:{stamp(start)}",
            f"DTEND:{stamp(start + timedelta(hours=1))}",
            "Weekly",
            LOCATION=f":{ROOM_LINK}",
        )
    )
    with calendar_server() as server:
        url = server.put("/team.ics", good)
        async with sqlite_sessions(tmp_path / "db.sqlite") as sessions:
            room_id = await _room(sessions, url)
            assert (await sync_room(sessions, blobs, settings, room_id, now=now)).created == 1

            server.put("/team.ics", "<html><body>Please sign in</body></html>")
            broken = await sync_room(sessions, blobs, settings, room_id, now=now)
            assert not broken.ok
            assert broken.status.startswith("the calendar could not be read: this is not an")
            assert set(await _meetings(sessions, room_id)) == {"weekly@x"}  # untouched

            server.statuses["/team.ics"] = 500
            down = await sync_room(sessions, blobs, settings, room_id, now=now)
            assert down.status.startswith("the calendar could not be fetched")
            assert "500" in down.status
            assert set(await _meetings(sessions, room_id)) == {"weekly@x"}

            async with sessions() as session:
                room = await session.get(RoomRow, room_id)
                room.ics_url = f"http://127.0.0.1:{free_port()}/gone.ics"
                await session.commit()
            gone = await sync_room(sessions, blobs, settings, room_id, now=now)
            assert gone.status.startswith("the calendar could not be fetched: could not connect")

            async with sessions() as session:
                room = await session.get(RoomRow, room_id)
                assert room.ics_status == gone.status
                assert set(await _meetings(sessions, room_id)) == {"weekly@x"}


@pytest.mark.anyio
async def test_calendar_urls_inside_the_network_are_refused_unless_allowed(tmp_path):
    settings = _settings(tmp_path, ics_allow_private_networks=False)
    blobs = LocalBlobStore(tmp_path / "blobs")
    with calendar_server() as server:
        url = server.put("/team.ics", ics())
        async with sqlite_sessions(tmp_path / "db.sqlite") as sessions:
            room_id = await _room(sessions, url)
            result = await sync_room(sessions, blobs, settings, room_id)
    assert not result.ok
    assert "127.0.0.1 is inside the network (loopback" in result.status
    assert "REFLECTOR_ICS_ALLOW_PRIVATE_NETWORKS" in result.status
    assert server.requests == []  # nothing was sent there


# --- through the API --------------------------------------------------------------------------


def test_sync_now_and_status_through_the_api(tmp_path):
    now = datetime.now(UTC)
    start = _soon(now, 90)
    calendar = ics(
        event(
            "demo@x",
            f"DTSTART:{stamp(start)}",
            f"DTEND:{stamp(start + timedelta(minutes=45))}",
            "Demo",
            LOCATION=f":{ROOM_LINK}",
            ATTENDEE=";CN=Bob Stone:mailto:bob@example.org",
        )
    )
    settings = server_settings(tmp_path, None, public_url=PUBLIC, ics_allow_private_networks=True)
    with calendar_server() as calendars, running_client(settings) as client:
        url = calendars.put("/demo.ics", calendar)
        state = client.app.state.reflector

        async def add_rooms() -> None:
            async with state.sessions() as session:
                for name, ics_url in ((ROOM, url), ("no-calendar", None)):
                    session.add(
                        RoomRow(
                            name=name,
                            user_id=repository.LOCAL_USER_ID,
                            ics_url=ics_url,
                            ics_enabled=ics_url is not None,
                            ics_fetch_interval=600,
                        )
                    )
                await session.commit()

        client.portal.call(add_rooms)
        before = client.get(f"/v1/rooms/{ROOM}/ics/status").json()
        assert before["status"] is None and before["last_sync"] is None and before["enabled"]

        synced = client.post(f"/v1/rooms/{ROOM}/ics/sync")
        assert synced.status_code == 200, synced.text
        body = synced.json()
        assert (body["ok"], body["status"], body["events_found"], body["created"]) == (
            True,
            "ok",
            1,
            1,
        )
        last = datetime.fromisoformat(body["last_sync"])
        assert datetime.fromisoformat(body["next_sync"]) - last == timedelta(seconds=600)

        status = client.get(f"/v1/rooms/{ROOM}/ics/status").json()
        assert status["status"] == "ok" and status["events_found"] == 1

        refused = client.post("/v1/rooms/no-calendar/ics/sync")
        assert refused.status_code == 409
        assert refused.json()["type"].endswith("/calendar-not-set")
        assert client.post("/v1/rooms/nobody-has-this/ics/sync").status_code == 404

        calendars.put("/demo.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:yesterday\r\n")
        broken = client.post(f"/v1/rooms/{ROOM}/ics/sync").json()
        assert broken["ok"] is False and "could not be read" in broken["status"]
        status = client.get(f"/v1/rooms/{ROOM}/ics/status").json()
        assert status["status"] == broken["status"]


# --- attendees name the speakers --------------------------------------------------------------


def test_attendees_complete_and_confirm_the_names_heard_in_the_meeting():
    from reflector.domain.transcript import Segment, Transcript
    from reflector.intelligence import SummaryOptions, summarize_meeting

    lines = [
        (0, "Let's begin with the budget."),
        (1, "Okay, I have the numbers here."),
        (0, "Thanks, Nora. And the hiring plan?"),
        (1, "Next point then, the hiring plan is ready."),
        (2, "Hi all, Tom here, sorry I'm late."),
    ]
    segments, at = [], 0.0
    for speaker, text in lines:
        end = at + 0.4 * len(text.split())
        segments.append(Segment(start=at, end=end, text=" " + text, speaker=speaker))
        at = end + 0.5
    transcript = Transcript(language="en", duration=at, segments=segments)

    plain = summarize_meeting(transcript, options=SummaryOptions())
    assert 1 not in plain.speaker_names  # one "thanks, Nora" is not enough on its own
    expected = ("Nora Klein", "Tom Baker", "Tomas Ruiz", "ann@example.org")
    named = summarize_meeting(transcript, options=SummaryOptions(expected_names=expected))
    assert named.speaker_names[1] == "Nora Klein"  # completed, and now trusted
    assert named.speaker_names[2] == "Tom Baker"
    nora = next(p for p in named.participants if p.speaker == 1)
    assert "expected: Nora Klein" in nora.evidence


def test_a_name_shared_by_two_attendees_is_left_as_heard():
    from reflector.domain.summary import Participant
    from reflector.intelligence.participants import match_expected

    heard = [Participant(speaker=0, name="Sam", confidence=0.85, evidence=["I'm Sam"])]
    (same,) = match_expected(heard, ["Sam Lee", "Sam Ortiz"])
    assert same == heard[0]


@pytest.mark.anyio
async def test_the_meeting_of_a_transcript_offers_its_attendees(tmp_path):
    from reflector.db.tables import TranscriptRow
    from reflector.integrations.attendees import expected_names

    async with (
        sqlite_sessions(tmp_path / "db.sqlite", user_id="owner") as sessions,
        sessions() as session,
    ):
        room = RoomRow(name=ROOM, user_id="owner")
        session.add(room)
        await session.flush()
        meeting = MeetingRow(
            room_id=room.id,
            platform="daily",
            calendar_event_id="e@x",
            calendar_data={
                "title": "t",
                "attendees": [
                    {"name": "Ann Lee", "email": "ann@example.org"},
                    {"name": "bob@example.org", "email": "bob@example.org"},
                ],
            },
        )
        session.add(meeting)
        await session.flush()
        row = TranscriptRow(user_id="owner", meeting_id=meeting.id)
        other = TranscriptRow(user_id="owner")
        session.add_all([row, other])
        await session.commit()
        assert await expected_names(session, row.id) == ("Ann Lee",)
        assert await expected_names(session, other.id) == ()


@pytest.mark.anyio
async def test_fetching_follows_redirects_and_refuses_what_it_should_not_read():
    from reflector.integrations.outbound import FetchLimits, OutboundError, fetch, normalise_url

    allowed = FetchLimits(allow_private=True, max_bytes=2048)
    with calendar_server() as server:
        target = server.put("/new.ics", ics())
        server.redirects["/old.ics"] = "/new.ics"
        moved = await fetch(server.url("/old.ics"), limits=allowed)
        assert moved.status == 200 and moved.url == target
        assert moved.body.startswith(b"BEGIN:VCALENDAR")

        server.redirects["/loop.ics"] = "/loop.ics"
        with pytest.raises(OutboundError, match="more than 5 redirects"):
            await fetch(server.url("/loop.ics"), limits=allowed)
        server.put("/huge.ics", "X" * 4096)
        with pytest.raises(OutboundError, match="too large"):
            await fetch(server.url("/huge.ics"), limits=allowed)
    with pytest.raises(OutboundError, match=r"169.254.169.254 is inside the network \(link-local"):
        await fetch("http://169.254.169.254/latest/meta-data/")
    assert normalise_url("webcal://cal.example.org/a.ics") == "https://cal.example.org/a.ics"
    for url in ("ftp://cal.example.org/a.ics", "file:///etc/passwd", "not a url"):
        with pytest.raises(OutboundError):
            normalise_url(url)
