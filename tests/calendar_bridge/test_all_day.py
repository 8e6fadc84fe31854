"""A task due on a day (a complaint's deadline) as a one-day all-day event."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from calendar_bridge import ical
from calendar_bridge.ical import BUSY_SUMMARY, AllDay, feed
from tests.calendar_bridge.parsers import parse_three

MODIFIED = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _due(**extra: object) -> AllDay:
    values: dict[str, object] = {
        "uid": "c-1@satchel",
        "summary": "Срок по рекламации: Ромашка (Кольцо 585)",
        "day": date(2026, 12, 12),
        "last_modified": MODIFIED,
        "sequence": 3,
        "description": "Камень выпал через неделю\nОткрыть: https://crm.example.ru/counterparties/1",
        "url": "https://crm.example.ru/counterparties/1",
        "categories": ("complaint",),
    }
    values.update(extra)
    return AllDay(**values)  # type: ignore[arg-type]


def test_an_all_day_event_reads_the_same_in_three_parsers() -> None:
    body = feed("План", [_due()])
    calendar, _, _ = parse_three(body)
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == date(2026, 12, 12)
    assert event.decoded("DTEND") == date(2026, 12, 13)
    assert str(event["TRANSP"]) == "TRANSPARENT" and event["SEQUENCE"] == 3
    (alarm,) = event.walk("VALARM")
    assert alarm.decoded("TRIGGER") == timedelta(hours=9)  # 09:00 on the day
    assert feed("План", [_due()]) == body  # the same data, the same bytes


def test_a_free_busy_feed_tells_nothing_of_it() -> None:
    body = feed("План", [_due()], free_busy=True)
    (event,) = parse_three(body)[0].walk("VEVENT")
    assert str(event["SUMMARY"]) == BUSY_SUMMARY and "DESCRIPTION" not in event
    assert not event.walk("VALARM")


_TEXT = st.text(st.characters(codec="utf-8"), max_size=120)


@settings(max_examples=200, deadline=None)
@given(
    summary=_TEXT,
    description=st.none() | _TEXT,
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 30)),
    sequence=st.integers(0, 1000),
    categories=st.lists(_TEXT, max_size=3),
    url=st.none() | _TEXT,
    free_busy=st.booleans(),
)
def test_direct_writer_equals_icalendar_for_all_day_events(  # type: ignore[no-untyped-def]
    summary, description, day, sequence, categories, url, free_busy
) -> None:
    event = AllDay(
        uid="d@satchel",
        summary=summary,
        day=day,
        last_modified=MODIFIED,
        sequence=sequence,
        description=description,
        url=url,
        categories=tuple(categories),
    )
    assert ical._vevent(event, free_busy) == ical.reference_vevent(event, free_busy)
