"""Tests for calendar_bridge.ical: every feed must read the same in three independent parsers.

icalendar (the model we write with), ical (a strict pydantic parser) and vobject
(an older, different lexer) stand in for the clients we cannot run here:
Outlook, Google Calendar, ICSx5 and Apple Calendar.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import vobject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ical.calendar_stream import IcsCalendarStream

from calendar_bridge import ical
from calendar_bridge.ical import BUSY_SUMMARY, PRODID, Birthday, TimedEvent, feed
from tests.calendar_bridge.parsers import check_wire_format, parse_three

MOSCOW = ZoneInfo("Europe/Moscow")
EDITED = datetime(2025, 2, 20, 16, 45, 12, tzinfo=MOSCOW)
GOLDEN = Path(__file__).parent.parent / "data" / "calendar" / "sample_feed.ics"
INJECTION = "Встреча\r\nATTENDEE:mailto:evil@example.com"


def meeting(uid: str = "0b6f@satchel", **changes: object) -> TimedEvent:
    start = datetime(2025, 3, 3, 10, 30, tzinfo=MOSCOW)
    event = TimedEvent(
        uid=uid,
        summary="Встреча: ООО «Ромашка», обсудить отгрузку; счёт № 17",
        start=start,
        end=start + timedelta(hours=1, minutes=30),
        last_modified=EDITED,
        sequence=3,
        location="Москва, ул. Большая Ордынка, д. 40, стр. 4",
        description="Взять образцы.\nПозвонить Петрову за час до встречи.",
        url="https://crm.example.ru/interactions/0b6f",
        alarm_before=timedelta(minutes=15),
        categories=("Встреча", "Ключевой клиент"),
    )
    return replace(event, **changes)  # type: ignore[arg-type]


def birthday(
    uid: str = "7c1e@satchel", born: date = date(1988, 2, 29), **changes: object
) -> Birthday:
    event = Birthday(
        uid=uid,
        summary="День рождения: Петров Пётр (ООО «Ромашка»)",
        born=born,
        last_modified=EDITED,
        remind_days=3,
        description="Любит коньяк, не любит звонков до 10:00",
    )
    return replace(event, **changes)  # type: ignore[arg-type]


def sample() -> list[TimedEvent | Birthday]:
    reminder_at = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    return [
        meeting(),
        TimedEvent(
            "91aa@satchel", "Напомнить: выставить счёт", reminder_at, reminder_at, EDITED, 0
        ),
        birthday(),
        birthday(
            "33d0@satchel",
            date(1975, 5, 15),
            summary="День рождения: Иванова Анна",
            remind_days=0,
            description=None,
        ),
    ]


# ---------------------------------------------------------------------- checks


def parse_everywhere(data: bytes) -> icalendar.Calendar:
    """Parse with all three parsers, fail on any error, return icalendar's result."""
    return parse_three(data)[0]


def events_by_uid(calendar: icalendar.Calendar) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def unfolded_lines(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def expected_text(text: str) -> str:
    """What a text must read like after the trip: the rule of clean_text, restated by category."""
    out = []
    for char in text.replace("\r\n", "\n"):
        if char in "\r\n\x85\u2028\u2029":
            out.append("\n")
        elif char == "\t" or unicodedata.category(char) not in ("Cc", "Cs"):
            out.append(char)
    return "".join(out)


# ---------------------------------------------------------------------- the calendar


def test_calendar_properties() -> None:
    data = feed("Петров: звонки и встречи", sample(), refresh=timedelta(hours=6))
    calendar = parse_everywhere(data)
    lines = unfolded_lines(data)
    assert lines[0] == "BEGIN:VCALENDAR"
    for line in (
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "NAME:Петров: звонки и встречи",
        "X-WR-CALNAME:Петров: звонки и встречи",
        "REFRESH-INTERVAL;VALUE=DURATION:PT6H",
        "X-PUBLISHED-TTL:PT6H",
    ):
        assert line in lines
    assert "X-WR-CALDESC" not in calendar
    strict = IcsCalendarStream.calendar_from_ics(data.decode())
    assert strict.refresh_interval == timedelta(hours=6)
    assert strict.method == "PUBLISH"


def test_empty_feed_parses() -> None:
    calendar = parse_everywhere(feed("Пусто", []))
    assert calendar.walk("VEVENT") == []


def test_long_cyrillic_lines_are_folded_between_characters() -> None:
    long = "Очень длинное название встречи с клиентом из Новосибирска " * 6
    data = feed("Ёлки-палки " * 10, [meeting(summary=long, description=long * 3, location=long)])
    assert any(line.startswith(b" ") for line in data.split(b"\r\n"))
    event = events_by_uid(parse_everywhere(data))["0b6f@satchel"]
    assert event["SUMMARY"] == long
    assert str(event["SUMMARY"]).encode("utf-8") == long.encode("utf-8")


def test_cyrillic_round_trips_in_every_parser() -> None:
    original = meeting()
    data = feed("Календарь", [original])
    event = events_by_uid(parse_everywhere(data))[original.uid]
    assert (event["SUMMARY"], event["LOCATION"], event["DESCRIPTION"]) == (
        original.summary,
        original.location,
        original.description,
    )
    assert event.categories == list(original.categories)

    strict = IcsCalendarStream.calendar_from_ics(data.decode()).events[0]
    assert (strict.summary, strict.location, strict.description) == (
        original.summary,
        original.location,
        original.description,
    )
    loose = vobject.readOne(data.decode()).vevent
    assert loose.summary.value == original.summary
    assert loose.location.value == original.location


# ---------------------------------------------------------------------- timed events


def test_timed_event_is_written_in_utc_with_one_alarm() -> None:
    data = feed("Календарь", [meeting()])
    lines = unfolded_lines(data)
    for line in (
        "DTSTART:20250303T073000Z",
        "DTEND:20250303T090000Z",
        "DTSTAMP:20250220T134512Z",
        "LAST-MODIFIED:20250220T134512Z",
        "SEQUENCE:3",
        "TRANSP:OPAQUE",
        "URL:https://crm.example.ru/interactions/0b6f",
        "TRIGGER:-PT15M",
        "ACTION:DISPLAY",
    ):
        assert line in lines
    event = events_by_uid(parse_everywhere(data))["0b6f@satchel"]
    assert event.start == datetime(2025, 3, 3, 7, 30, tzinfo=UTC)
    assert event.end == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    [alarm] = event.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY"
    assert alarm["DESCRIPTION"] == meeting().summary
    assert alarm["TRIGGER"].dt == -timedelta(minutes=15)
    assert "CLASS" not in event


def test_no_alarm_unless_asked_and_a_zero_length_reminder_has_no_dtend() -> None:
    at = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
    data = feed("Календарь", [TimedEvent("r@satchel", "Напомнить", at, at, EDITED, 0)])
    event = events_by_uid(parse_everywhere(data))["r@satchel"]
    assert event.walk("VALARM") == []
    assert "DTEND" not in event  # RFC 5545 §3.6.1: DTSTART alone lasts no time
    assert not {"LOCATION", "DESCRIPTION", "URL", "CATEGORIES"} & set(event)


def test_url_is_a_valid_uri() -> None:
    data = feed("К", [meeting(url="https://crm.example.ru/поиск?q=ООО Ромашка\r\nX-EVIL:1")])
    event = events_by_uid(parse_everywhere(data))["0b6f@satchel"]
    assert event["URL"] == (
        "https://crm.example.ru/%D0%BF%D0%BE%D0%B8%D1%81%D0%BA"
        "?q=%D0%9E%D0%9E%D0%9E%20%D0%A0%D0%BE%D0%BC%D0%B0%D1%88%D0%BA%D0%B0X-EVIL:1"
    )
    assert "X-EVIL" not in event


# ---------------------------------------------------------------------- birthdays


def test_birthday_is_a_yearly_all_day_event() -> None:
    data = feed("Дни рождения", [birthday(born=date(1975, 5, 15))])
    lines = unfolded_lines(data)
    for line in (
        "DTSTART;VALUE=DATE:19750515",
        "DTEND;VALUE=DATE:19750516",
        "RRULE:FREQ=YEARLY",
        "TRANSP:TRANSPARENT",
        "TRIGGER:-P3D",
    ):
        assert line in lines
    event = events_by_uid(parse_everywhere(data))["7c1e@satchel"]
    assert "CLASS" not in event
    [alarm] = event.walk("VALARM")
    assert alarm["DESCRIPTION"] == birthday().summary


def test_same_day_birthday_alarm_rings_at_nine() -> None:
    data = feed("Дни рождения", [birthday(remind_days=0)])
    [alarm] = events_by_uid(parse_everywhere(data))["7c1e@satchel"].walk("VALARM")
    assert alarm["TRIGGER"].dt == timedelta(hours=9)
    assert "TRIGGER:PT9H" in unfolded_lines(data)


def occurrences(data: bytes, uid: str) -> list[date]:
    calendar = parse_everywhere(data)
    found = recurring_ical_events.of(calendar).between(date(2025, 1, 1), date(2033, 1, 1))
    return sorted(e["DTSTART"].dt for e in found if e["UID"] == uid)


def test_leap_day_birthday_falls_on_28_february_in_common_years() -> None:
    data = feed("Дни рождения", [birthday(born=date(1988, 2, 29))])
    rule = events_by_uid(icalendar.Calendar.from_ical(data))["7c1e@satchel"]["RRULE"]
    assert rule == {"FREQ": ["YEARLY"], "BYMONTH": [2], "BYMONTHDAY": [-1]}
    assert occurrences(data, "7c1e@satchel") == [
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_ordinary_birthday_recurs_on_its_day() -> None:
    data = feed("Дни рождения", [birthday(born=date(1975, 5, 15))])
    assert occurrences(data, "7c1e@satchel") == [date(year, 5, 15) for year in range(2025, 2033)]


# ---------------------------------------------------------------------- free/busy


def test_free_busy_hides_details_and_birthdays() -> None:
    data = feed("Петров: занятость", sample(), free_busy=True)
    events = events_by_uid(parse_everywhere(data))
    assert set(events) == {"0b6f@satchel", "91aa@satchel"}
    for event in events.values():
        assert event["SUMMARY"] == BUSY_SUMMARY
        assert event["CLASS"] == "PRIVATE"
        assert event["TRANSP"] == "OPAQUE"
        assert not {"DESCRIPTION", "LOCATION", "URL", "CATEGORIES"} & set(event)
        assert event.walk("VALARM") == []
    assert events["0b6f@satchel"].start == datetime(2025, 3, 3, 7, 30, tzinfo=UTC)
    text = data.decode()
    for secret in ("Ромашка", "Ордынка", "образцы", "crm.example.ru", "Ключевой", "Петров Пётр"):
        assert secret not in text


# ---------------------------------------------------------------------- hostile text


@pytest.mark.parametrize("field", ["summary", "location", "description"])
def test_line_break_cannot_inject_a_property(field: str) -> None:
    data = feed("Календарь", [meeting(**{field: INJECTION})])
    assert not any(line.startswith("ATTENDEE") for line in unfolded_lines(data))
    event = events_by_uid(parse_everywhere(data))["0b6f@satchel"]
    assert "ATTENDEE" not in event
    assert event[field.upper()] == "Встреча\nATTENDEE:mailto:evil@example.com"
    assert IcsCalendarStream.calendar_from_ics(data.decode()).events[0].attendees == []
    assert "attendee" not in vobject.readOne(data.decode()).vevent.contents


def test_injection_through_name_and_categories() -> None:
    data = feed("Мой\r\nX-EVIL:1", [meeting(categories=(INJECTION, "\r\n"))])
    calendar = parse_everywhere(data)
    assert "X-EVIL" not in calendar
    event = events_by_uid(calendar)["0b6f@satchel"]
    assert "ATTENDEE" not in event
    assert event.categories == ["Встреча\nATTENDEE:mailto:evil@example.com"]


def test_other_control_characters_are_removed() -> None:
    summary = "Звонок\x00\x07\x0b\x0c\x1b[31m\x7f\x9b\ud800 клиенту\tсегодня\x85\u2028итог"
    event = events_by_uid(parse_everywhere(feed("К", [meeting(summary=summary)])))["0b6f@satchel"]
    assert event["SUMMARY"] == "Звонок[31m клиенту\tсегодня\n\nитог"


def test_backslash_sequences_survive() -> None:
    # icalendar's own vText would turn the literal "\N" of "C:\New" into a line break.
    text = r"C:\New folder\notes; a,b \\N \n"
    data = feed("К", [meeting(summary=text, description=text)])
    event = events_by_uid(parse_everywhere(data))["0b6f@satchel"]
    assert event["SUMMARY"] == text
    assert IcsCalendarStream.calendar_from_ics(data.decode()).events[0].summary == text
    assert vobject.readOne(data.decode()).vevent.summary.value == text


hostile_text = st.lists(
    st.one_of(
        st.characters(),
        st.characters(categories=["Cc", "Cs", "Zl", "Zp"]),
        st.sampled_from(list('\r\n\\;,:"NnЖё ') + ["\r\n", "\\N", "ATTENDEE:", "\r\nATTENDEE:x"]),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(summary=hostile_text, location=hostile_text)
def test_any_text_round_trips_without_adding_properties(summary: str, location: str) -> None:
    data = feed(
        "Календарь", [meeting(summary=summary, location=location, description=None, categories=())]
    )
    check_wire_format(data)
    calendar = icalendar.Calendar.from_ical(data)
    [event] = calendar.walk("VEVENT")
    assert not any(c.errors for c in calendar.walk())
    assert event["SUMMARY"] == expected_text(summary)
    if expected_text(location):
        assert event["LOCATION"] == expected_text(location)
    assert set(event) <= {
        "UID",
        "DTSTAMP",
        "LAST-MODIFIED",
        "SEQUENCE",
        "DTSTART",
        "DTEND",
        "TRANSP",
        "SUMMARY",
        "LOCATION",
        "URL",
    }
    [alarm] = event.walk("VALARM")
    assert set(alarm) == {"ACTION", "DESCRIPTION", "TRIGGER"}
    assert len(calendar.walk()) == 3
    assert vobject.readOne(data.decode()).vevent.summary.value == expected_text(summary)
    assert IcsCalendarStream.calendar_from_ics(data.decode()).events[0].summary == expected_text(
        summary
    )


# ---------------------------------------------------------------------- determinism


def test_same_data_same_bytes_in_any_input_order() -> None:
    events = sample() + [
        meeting(f"{n:04}@satchel", start=datetime(2025, 3, 3, 7, 30, tzinfo=UTC)) for n in range(20)
    ]
    first = feed("Календарь", events)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    assert feed("Календарь", shuffled) == first
    uids = [str(e["UID"]) for e in parse_everywhere(first).walk("VEVENT")]
    # Birthdays sort by birth date; ties in start time are broken by UID.
    assert uids[:2] == ["33d0@satchel", "7c1e@satchel"]
    assert uids[2:22] == [f"{n:04}@satchel" for n in range(20)]


def test_sample_feed_matches_recorded_bytes() -> None:
    assert feed("Петров: звонки и встречи", sample()) == GOLDEN.read_bytes(), (
        "the bytes changed, so every subscriber's ETag changes: if that is intended, "
        "rewrite the file with `python -m tests.calendar_bridge.test_ical`"
    )


# ---------------------------------------------------------------------- size budget


def test_large_feed_is_cut_to_the_budget_keeping_the_leading_events() -> None:
    start = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
    description = "Обсудить отгрузку, сверить акт, напомнить о договоре. " * 8
    events = [
        meeting(
            f"{n:05}@satchel",
            start=start + timedelta(hours=n),
            end=start + timedelta(hours=n, minutes=30),
            description=f"{n}: {description}",
        )
        for n in range(5000)
    ]
    data = feed("Большой", events, max_bytes=1_000_000)
    assert len(data) <= 1_000_000
    calendar = parse_everywhere(data)
    kept = sorted(events_by_uid(calendar))
    assert 0 < len(kept) < 5000
    assert kept == [f"{n:05}@satchel" for n in range(len(kept))]
    left_out = 5000 - len(kept)
    assert f"Пропущено событий: {left_out} " in str(calendar["X-WR-CALDESC"])
    # The budget is used, not wasted: the next event would not have fitted.
    next_event = len(feed("x", [events[len(kept)]])) - len(feed("x", []))
    assert len(data) + next_event > 1_000_000


def test_budget_is_exact_at_the_boundary() -> None:
    events = sample()
    whole = feed("К", events)
    assert feed("К", events, max_bytes=len(whole)) == whole
    cut = feed("К", events, max_bytes=len(whole) - 1)
    assert len(cut) <= len(whole) - 1
    assert len(events_by_uid(parse_everywhere(cut))) == len(events) - 1
    # Importance is the caller's order: reversing it changes which event goes.
    reversed_cut = feed("К", events[::-1], max_bytes=len(whole) - 1)
    assert set(events_by_uid(parse_everywhere(reversed_cut))) != set(
        events_by_uid(parse_everywhere(cut))
    )


def test_budget_too_small_for_an_empty_feed() -> None:
    with pytest.raises(ValueError, match="too small"):
        feed("К", sample(), max_bytes=100)


# ---------------------------------------------------------------------- refused input


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([meeting(start=datetime(2025, 3, 3, 10, 0))], "aware"),
        ([meeting(last_modified=datetime(2025, 3, 3, 10, 0))], "aware"),
        ([meeting(), birthday(uid="0b6f@satchel")], "unique"),
        ([meeting(end=datetime(2025, 3, 3, 0, 0, tzinfo=UTC))], "ends before"),
        ([meeting(sequence=-1)], "SEQUENCE"),
        ([meeting(alarm_before=timedelta(minutes=-5))], "alarm_before"),
        ([meeting(uid="a@satchel\r\nX-EVIL:1")], "UID"),
        ([birthday(remind_days=-1)], "remind_days"),
    ],
)
def test_refused_input(events: list[TimedEvent | Birthday], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        feed("К", events)


def test_events_beyond_the_budget_are_checked_too() -> None:
    # Whether a feed fails must not depend on which events the budget leaves out.
    whole = feed("К", [meeting()])
    late = meeting("late@satchel", start=datetime(2025, 3, 3, 10, 0))
    with pytest.raises(ValueError, match="aware"):
        feed("К", iter([meeting(), late]), max_bytes=len(whole))


def test_refresh_must_be_positive() -> None:
    with pytest.raises(ValueError, match="refresh"):
        feed("К", [], refresh=timedelta(0))


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_bytes(feed("Петров: звонки и встречи", sample()))
    print(f"wrote {GOLDEN}")


# The direct writer must say exactly what icalendar's object model says.
_TEXT = st.text(st.characters(codec="utf-8"), max_size=120)
_MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(
    summary=_TEXT,
    location=st.none() | _TEXT,
    description=st.none() | _TEXT,
    start=_MOMENTS,
    minutes=st.integers(0, 10_000),
    sequence=st.integers(0, 1000),
    alarm=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    categories=st.lists(_TEXT, max_size=3),
    url=st.none() | _TEXT,
    free_busy=st.booleans(),
)
def test_direct_writer_equals_icalendar_for_timed_events(
    summary, location, description, start, minutes, sequence, alarm, categories, url, free_busy
) -> None:  # type: ignore[no-untyped-def]
    event = ical.TimedEvent(
        uid="x@satchel",
        summary=summary,
        start=start,
        end=start + timedelta(minutes=minutes),
        last_modified=start,
        sequence=sequence,
        location=location,
        description=description,
        url=url,
        alarm_before=alarm,
        categories=tuple(categories),
    )
    assert ical._vevent(event, free_busy) == ical.reference_vevent(event, free_busy)


@settings(max_examples=200, deadline=None)
@given(
    summary=_TEXT,
    description=st.none() | _TEXT,
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)),
    remind=st.integers(0, 60),
)
def test_direct_writer_equals_icalendar_for_birthdays(summary, description, born, remind) -> None:  # type: ignore[no-untyped-def]
    event = ical.Birthday(
        uid="b@satchel",
        summary=summary,
        born=born,
        last_modified=datetime(2026, 1, 1, tzinfo=UTC),
        remind_days=remind,
        description=description,
    )
    assert ical._vevent(event, False) == ical.reference_vevent(event, False)
