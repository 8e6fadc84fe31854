"""Reading calendar bytes the way clients do: the wire format, then three independent parsers."""

from __future__ import annotations

import icalendar
import vobject
from ical.calendar_stream import IcsCalendarStream

from calendar_bridge.ical import PRODID


def check_wire_format(data: bytes) -> None:
    """CRLF only, every physical line at most 75 octets and valid UTF-8 by itself (RFC 5545 §3.1)."""
    assert data.endswith(b"\r\n")
    for line in data[:-2].split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line, line
        assert len(line) <= 75, line
        line.decode("utf-8")  # raises if a fold split a character


def parse_three(data: bytes) -> tuple[icalendar.Calendar, object, object]:
    """Parse with icalendar, ``ical`` (strict) and vobject, failing on any error; the three results.

    Each parser must see as many events as icalendar does.
    """
    check_wire_format(data)
    calendar = icalendar.Calendar.from_ical(data)
    for component in calendar.walk():
        assert not component.errors, (component.name, component.errors)
    text = data.decode("utf-8")
    strict = IcsCalendarStream.calendar_from_ics(text)
    assert strict.prodid == PRODID  # an empty stream also "parses", into a blank calendar
    events = len(calendar.walk("VEVENT"))
    assert len(strict.events) == events
    loose = vobject.readOne(text)
    assert len(loose.contents.get("vevent", [])) == events
    return calendar, strict, loose
