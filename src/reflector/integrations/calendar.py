"""Reading a room's calendar: an ICS file (RFC 5545) into the meetings it holds for a while.

Recurring events are expanded (``recurring-ical-events``: RRULE, RDATE, EXDATE, and single
instances moved or cancelled by a component with a ``RECURRENCE-ID``), time zones come from the
file's ``VTIMEZONE``/``TZID`` (calendars that name theirs only in ``X-WR-TIMEZONE``, as Google's
do, are repaired first), and times without a zone ("floating") are read as UTC. All-day events
and events whose ``STATUS`` is ``CANCELLED`` are not meetings and are left out.

Each occurrence gets a stable key: the event's ``UID`` for a single event (so moving it updates
the same meeting), ``UID/<original start in UTC>`` for one occurrence of a recurring event (a
moved occurrence keeps its key: it is its ``RECURRENCE-ID``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import icalendar
import recurring_ical_events
import x_wr_timezone

from reflector.errors import BadInputError

MAX_OCCURRENCES = 1000
"""Occurrences read from one window at most: a rule that repeats every minute cannot make a
sync run for long."""
DEFAULT_DURATION = timedelta(hours=1)
"""The length of an event that states neither an end nor a duration."""
MAX_TEXT = 4000
"""Longest title or description kept from an event."""

_URL = re.compile(r"(?:https?|webcal)://[^\s<>\"'()\[\]]+", re.IGNORECASE)


class CalendarError(BadInputError):
    """The file is not a calendar that can be read; the message says why."""

    status = 422
    problem_type = "invalid-calendar"


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True)
class CalendarEvent:
    """One occurrence of an event: what a meeting created ahead of time needs."""

    key: str
    title: str
    start: datetime
    """Aware, in UTC."""
    end: datetime
    description: str = ""
    location: str = ""
    url: str = ""
    attendees: tuple[Attendee, ...] = field(default_factory=tuple)

    def calendar_data(self) -> dict[str, Any]:
        """The meeting's ``calendar_data``."""
        return {
            "title": self.title,
            "description": self.description,
            "location": self.location,
            "attendees": [attendee.as_dict() for attendee in self.attendees],
        }


def parse_calendar(body: bytes) -> icalendar.Calendar:
    """The calendar in ``body``; raises :class:`CalendarError` in words for anything else."""
    if not body.strip():
        raise CalendarError("the calendar file is empty")
    head = body.lstrip()[:64].upper()
    if not head.startswith(b"BEGIN:VCALENDAR"):
        raise CalendarError(
            "this is not an iCalendar file: it does not start with BEGIN:VCALENDAR "
            "(is the URL the calendar's ICS export, not its web page?)"
        )
    try:
        calendar = icalendar.Calendar.from_ical(body)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise CalendarError(f"the calendar file could not be read: {exc}") from exc
    if not isinstance(calendar, icalendar.Calendar):
        raise CalendarError("the file holds no VCALENDAR")
    try:
        return x_wr_timezone.to_standard(calendar)
    except Exception as exc:  # a broken X-WR-TIMEZONE: the file is unusable as given
        raise CalendarError(f"the calendar's time zone could not be read: {exc}") from exc


def _utc(value: datetime | date) -> datetime | None:
    """``value`` in UTC; ``None`` for a date (an all-day event)."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _text(component: icalendar.Component, name: str) -> str:
    value = component.get(name)
    return str(value).strip()[:MAX_TEXT] if value is not None else ""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _address(value: Any) -> str:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return unquote(text).strip().lower()


def attendees(component: icalendar.Component) -> tuple[Attendee, ...]:
    """Who is expected: the organizer and every attendee who has not declined, once each by
    address, with the name the calendar gives (``CN``), else the address."""
    people: dict[str, Attendee] = {}
    entries = _as_list(component.get("ORGANIZER")) + _as_list(component.get("ATTENDEE"))
    for entry in entries:
        params = getattr(entry, "params", {})
        if str(params.get("PARTSTAT", "")).upper() == "DECLINED":
            continue
        if str(params.get("CUTYPE", "INDIVIDUAL")).upper() not in ("INDIVIDUAL", "UNKNOWN"):
            continue  # a meeting room or a projector is nobody to name
        email = _address(entry)
        if not email or email in people:
            continue
        name = str(params.get("CN", "")).strip().strip('"') or email
        people[email] = Attendee(name=name[:200], email=email[:320])
    return tuple(people.values())


def _recurring_uids(calendar: icalendar.Calendar) -> set[str]:
    uids: set[str] = set()
    for component in calendar.walk("VEVENT"):
        if any(name in component for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
            uids.add(str(component.get("UID", "")))
    return uids


def _key(component: icalendar.Component, recurring: set[str]) -> str:
    uid = str(component.get("UID", "")).strip()
    if uid in recurring and "RECURRENCE-ID" in component:
        original = _utc(component.decoded("RECURRENCE-ID"))
        if original is not None:
            return f"{uid}/{original.strftime('%Y%m%dT%H%M%SZ')}"
    return uid


def _end(component: icalendar.Component, start: datetime) -> datetime:
    if "DTEND" in component:
        end = _utc(component.decoded("DTEND"))
        if end is not None and end > start:
            return end
    if "DURATION" in component:
        duration = component.decoded("DURATION")
        if isinstance(duration, timedelta) and duration > timedelta(0):
            return start + duration
    return start + DEFAULT_DURATION


def _event(component: icalendar.Component, recurring: set[str]) -> CalendarEvent | None:
    if str(component.get("STATUS", "")).upper() == "CANCELLED":
        return None
    if "DTSTART" not in component or not str(component.get("UID", "")).strip():
        return None
    start = _utc(component.decoded("DTSTART"))
    if start is None:
        return None
    return CalendarEvent(
        key=_key(component, recurring)[:500],
        title=_text(component, "SUMMARY")[:500],
        start=start,
        end=_end(component, start),
        description=_text(component, "DESCRIPTION"),
        location=_text(component, "LOCATION"),
        url=_text(component, "URL"),
        attendees=attendees(component),
    )


def events_between(
    calendar: icalendar.Calendar, start: datetime, end: datetime
) -> list[CalendarEvent]:
    """The meetings of ``calendar`` that overlap ``start``…``end``, by start time; raises
    :class:`CalendarError` when its rules cannot be expanded."""
    recurring = _recurring_uids(calendar)
    found: list[CalendarEvent] = []
    try:
        occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).after(start)
        for count, component in enumerate(occurrences):
            if count >= MAX_OCCURRENCES:
                break
            begins = _utc(component.decoded("DTSTART")) if "DTSTART" in component else None
            if begins is not None and begins >= end:
                break
            event = _event(component, recurring)
            if event is not None and event.end > start:
                found.append(event)
    except CalendarError:
        raise
    except Exception as exc:  # the library raises many kinds for a broken rule or date
        raise CalendarError(f"the calendar's events could not be expanded: {exc}") from exc
    return found


def urls_in(texts: Iterable[str]) -> list[str]:
    """Every web address written in ``texts``."""
    return [match.group(0).rstrip(".,;:!?") for text in texts for match in _URL.finditer(text)]


def room_matcher(room_name: str, public_url: str) -> Callable[[CalendarEvent], bool]:
    """Whether an event takes place in the room: its location, description or URL holds a
    link to the room, ``<public URL>/rooms/<name>`` (any host: the server may be reached by
    several names) or ``<public URL>/<name>``."""
    name = room_name.lower()
    public = urlsplit(public_url)
    base_path = public.path.rstrip("/").lower()
    wanted_anywhere = f"/rooms/{name}"
    wanted_here = {f"{base_path}/{name}", f"{base_path}/rooms/{name}"}

    def matches(event: CalendarEvent) -> bool:
        for link in urls_in((event.location, event.description, event.url)):
            parts = urlsplit(link)
            path = unquote(parts.path).rstrip("/").lower()
            if path.endswith(wanted_anywhere):
                return True
            if parts.netloc.lower() == public.netloc.lower() and path in wanted_here:
                return True
        return False

    return matches
