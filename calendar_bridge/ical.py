"""iCalendar feeds of planned contacts, reminders and birthdays (RFC 5545, RFC 7986).

A feed is what Outlook, Google Calendar and phone calendars (ICSx5, Apple)
subscribe to by URL. This module only turns values into bytes: it reads no
database and knows no records, so the same input always gives the same bytes
and the HTTP layer can use their hash as a strong ETag.

Every text that came from a person (summary, description, location, category,
feed name) is cleaned before it reaches the icalendar object model: line breaks
become the TEXT escape ``\\n`` and other control characters are removed, so no
value can start a property of its own (RFC 5545 §3.3.11, §3.1).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from urllib.parse import quote

from icalendar import Alarm, Calendar, Event
from icalendar.prop import vCategory, vDuration, vRecur, vText

__all__ = ["BUSY_SUMMARY", "PRODID", "AllDay", "Birthday", "TimedEvent", "clean_text", "feed"]

PRODID = "-//Satchel//CRM//RU"
BUSY_SUMMARY = "Занят / Busy"

# An all-day event starts at midnight; a same-day birthday alarm at midnight
# would wake nobody, so it goes off at 09:00 local time instead.
_SAME_DAY_ALARM = timedelta(hours=9)

_END = b"END:VCALENDAR\r\n"


@dataclass(frozen=True)
class TimedEvent:
    """A planned call or meeting, or a reminder shown as an event (RFC 5545 §3.6.1).

    ``start``, ``end`` and ``last_modified`` must be aware; they are written in
    UTC. ``last_modified`` doubles as DTSTAMP so that unchanged data gives
    unchanged bytes. An ``end`` equal to ``start`` gives an event without DTEND,
    which §3.6.1 defines as lasting no time (a reminder).
    """

    uid: str
    summary: str
    start: datetime
    end: datetime
    last_modified: datetime
    sequence: int
    location: str | None = None
    description: str | None = None
    url: str | None = None
    alarm_before: timedelta | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Birthday:
    """A yearly all-day event on a contact person's birthday (RFC 5545 §3.8.5.3).

    ``born`` is the real birth date. ``remind_days`` days before it a display
    alarm goes off at the all-day start; 0 means 09:00 on the day itself.
    """

    uid: str
    summary: str
    born: date
    last_modified: datetime
    remind_days: int
    description: str | None = None


@dataclass(frozen=True)
class AllDay:
    """A task due on a day, shown as a one-day all-day event (RFC 5545 §3.6.1: DATE values,
    DTEND the next day), with an alarm at 09:00 that day — a complaint's deadline. It does not
    make its day busy (TRANSP:TRANSPARENT)."""

    uid: str
    summary: str
    day: date
    last_modified: datetime
    sequence: int
    description: str | None = None
    url: str | None = None
    categories: tuple[str, ...] = ()


FeedItem = TimedEvent | Birthday | AllDay


# --- text -----------------------------------------------------------------

# NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR are line breaks to a person, and
# str.splitlines() (used by some Python parsers) splits on them too.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# RFC 5545 CONTROL (%x00-08, %x0A-1F, %x7F) is not allowed in TEXT; the newline
# is kept (escaped later), TAB is WSP and allowed. C1 controls and lone
# surrogates are dropped as well: the first confuse clients, the second are not
# encodable as UTF-8 at all.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_SPECIALS = re.compile(r"[\\;,\n]")
_TEXT_ESCAPES = {"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n"}


def clean_text(text: str) -> str:
    """``text`` as it will read in a calendar: line breaks as ``\\n``, no other controls.

    Any of CRLF, CR, LF, NEL, U+2028 and U+2029 becomes one LF. TAB stays;
    every other C0 or C1 control character, DEL and any lone surrogate is removed.
    """
    if text.isprintable():  # the usual case, checked at C speed: nothing to change
        return text
    return _UNSAFE.sub("", _LINE_BREAK.sub("\n", text))


class _Text(vText):
    """A TEXT value escaped in one pass (RFC 5545 §3.3.11).

    icalendar's own vText turns a literal backslash-N into a line break before
    escaping backslashes, so "C:\\New" would come back as "C:", newline, "ew".
    Values reaching this class are already cleaned by :func:`clean_text`.
    """

    def to_ical(self) -> bytes:
        escaped = _TEXT_SPECIALS.sub(lambda m: _TEXT_ESCAPES[m.group()], str(self))
        return escaped.encode("utf-8")


def _categories(values: Iterable[str]) -> vCategory:
    """CATEGORIES with every value escaped by :class:`_Text` (§3.8.1.2)."""
    category = vCategory([])
    category.cats = list(dict.fromkeys(_Text(v) for v in values))
    return category


# Characters RFC 3986 allows unencoded in a URI; "%" stays so that an address
# already percent-encoded is not encoded twice.
_URI_SAFE = "!#$%&'()*+,-./:;=?@[]_~"


_URI_AS_IS = re.compile(r"[A-Za-z0-9\-._~!#$%&'()*+,/:;=?@\[\]]+")


def _uri(url: str) -> str:
    """``url`` as a URI value (§3.3.13): controls removed, spaces and non-ASCII percent-encoded."""
    if _URI_AS_IS.fullmatch(url):
        return url
    return quote(_UNSAFE.sub("", _LINE_BREAK.sub("", url)).strip(), safe=_URI_SAFE)


# --- values -----------------------------------------------------------------


def _utc(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC, whole seconds: DATE-TIME form #2 (§3.3.5)."""
    if moment.tzinfo is UTC:  # what the database hands back
        return moment.replace(microsecond=0) if moment.microsecond else moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {moment!r}")
    return moment.astimezone(UTC).replace(microsecond=0)


def _check(item: FeedItem) -> None:
    """Refuse what no calendar can show correctly.

    Every item is checked before any is built, so whether a feed fails does
    not depend on which events the size budget happens to leave out.
    """
    # A UID is made by us, never typed by a person: a bad one is a bug, and
    # silently cleaning it would change the identity clients key on (§3.8.4.7).
    uid = item.uid
    if not uid or uid != uid.strip() or _UNSAFE.search(uid) or _LINE_BREAK.search(uid):
        raise ValueError(f"UID must be non-empty printable text, got {uid!r}")
    _utc(item.last_modified, "last_modified")
    if isinstance(item, Birthday):
        if item.remind_days < 0:
            raise ValueError(f"remind_days must not be negative, got {item.remind_days}")
        return
    if item.sequence < 0:
        raise ValueError(f"SEQUENCE must not be negative, got {item.sequence}")
    if isinstance(item, AllDay):
        return
    if _utc(item.end, "end") < _utc(item.start, "start"):
        raise ValueError(f"event {uid!r} ends before it starts")
    if item.alarm_before is not None and item.alarm_before < timedelta(0):
        raise ValueError(f"alarm_before must not be negative, got {item.alarm_before}")


def _display_alarm(summary: str, trigger: timedelta) -> Alarm:
    """One VALARM with ACTION:DISPLAY (§3.6.6); Outlook keeps only the first alarm anyway."""
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", _Text(summary))
    alarm.add("trigger", vDuration(trigger))
    return alarm


def _stamp(component: Event, uid: str, last_modified: datetime) -> None:
    """UID, DTSTAMP and LAST-MODIFIED; DTSTAMP is not "now" so that bytes stay stable (§3.8.7.2)."""
    modified = _utc(last_modified, "last_modified")
    component.add("uid", _Text(uid))
    component.add("dtstamp", modified)
    component.add("last-modified", modified)


def _timed_event(item: TimedEvent, free_busy: bool) -> Event:
    """A VEVENT for a call, meeting or reminder (§3.6.1)."""
    start = _utc(item.start, "start")
    end = _utc(item.end, "end")
    event = Event()
    _stamp(event, item.uid, item.last_modified)
    event.add("sequence", item.sequence)
    event.add("dtstart", start)
    if end > start:
        event.add("dtend", end)
    event.add("transp", "OPAQUE")
    if free_busy:
        # Whoever sees a colleague's busy time learns when, never with whom.
        event.add("summary", _Text(BUSY_SUMMARY))
        event.add("class", "PRIVATE")
        return event

    summary = clean_text(item.summary)
    event.add("summary", _Text(summary))
    _add_optional_text(event, "location", item.location)
    _add_optional_text(event, "description", item.description)
    if item.url is not None and (url := _uri(item.url)):
        event.add("url", url)
    categories = [c for c in (clean_text(c).strip() for c in item.categories) if c]
    if categories:
        event.add("categories", _categories(categories))
    if item.alarm_before is not None:
        event.add_component(_display_alarm(summary, -item.alarm_before))
    return event


def _birthday(item: Birthday) -> Event:
    """A yearly all-day VEVENT: DATE values with DTEND the next day (§3.6.1, §3.8.5.3)."""
    event = Event()
    _stamp(event, item.uid, item.last_modified)
    event.add("dtstart", item.born)
    event.add("dtend", item.born + timedelta(days=1))
    if (item.born.month, item.born.day) == (2, 29):
        # FREQ=YEARLY alone skips the invalid 29 February of common years
        # (§3.3.10); the last day of February shows it on the 28th instead.
        event.add("rrule", vRecur(freq="YEARLY", bymonth=2, bymonthday=-1))
    else:
        event.add("rrule", vRecur(freq="YEARLY"))
    summary = clean_text(item.summary)
    event.add("summary", _Text(summary))
    _add_optional_text(event, "description", item.description)
    # A birthday is not busy time: free/busy lookups must skip it (§3.8.2.7).
    event.add("transp", "TRANSPARENT")
    trigger = -timedelta(days=item.remind_days) if item.remind_days else _SAME_DAY_ALARM
    event.add_component(_display_alarm(summary, trigger))
    return event


def _all_day(item: AllDay, free_busy: bool) -> Event:
    """A one-day all-day VEVENT (§3.6.1) with a display alarm at 09:00 on the day."""
    event = Event()
    _stamp(event, item.uid, item.last_modified)
    event.add("sequence", item.sequence)
    event.add("dtstart", item.day)
    event.add("dtend", item.day + timedelta(days=1))
    event.add("transp", "TRANSPARENT")
    if free_busy:
        event.add("summary", _Text(BUSY_SUMMARY))
        event.add("class", "PRIVATE")
        return event
    summary = clean_text(item.summary)
    event.add("summary", _Text(summary))
    _add_optional_text(event, "description", item.description)
    if item.url is not None and (url := _uri(item.url)):
        event.add("url", url)
    categories = [c for c in (clean_text(c).strip() for c in item.categories) if c]
    if categories:
        event.add("categories", _categories(categories))
    event.add_component(_display_alarm(summary, _SAME_DAY_ALARM))
    return event


def _add_optional_text(event: Event, name: str, value: str | None) -> None:
    if value is not None and (text := clean_text(value)):
        event.add(name, _Text(text))


def _sort_key(item: FeedItem) -> tuple[datetime, str]:
    if isinstance(item, Birthday):
        return datetime.combine(item.born, time(), UTC), item.uid
    if isinstance(item, AllDay):
        return datetime.combine(item.day, time(), UTC), item.uid
    return _utc(item.start, "start"), item.uid


# --- the feed ---------------------------------------------------------------


def _shell(name: str, refresh: timedelta, left_out: int, max_bytes: int) -> bytes:
    """The VCALENDAR without its events, END line included (§3.4, §3.7; RFC 7986 §5)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    title = clean_text(name)
    calendar.add("name", _Text(title))
    calendar.add("x-wr-calname", _Text(title))
    # RFC 7986 §5.7 requires the VALUE parameter; X-PUBLISHED-TTL is what
    # Outlook and older Apple clients read instead.
    calendar.add("refresh-interval", vDuration(refresh), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(refresh))
    if left_out:
        calendar.add(
            "x-wr-caldesc",
            _Text(
                f"Пропущено событий: {left_out} (предел ленты {max_bytes} байт) / "
                f"{left_out} events left out (feed limit {max_bytes} bytes)"
            ),
        )
    return bytes(calendar.to_ical(sorted=False))


def _leading(
    blocks: Iterator[bytes], total: int, shell: Callable[[int], bytes], max_bytes: int
) -> list[bytes]:
    """The leading serialised events that fit in ``max_bytes`` together with the shell.

    Events are serialised only until one no longer fits even around the
    smallest shell, so the work is bounded by ``max_bytes``, not by how many
    events the caller passes. Once any event is left out, the shell gains an
    X-WR-CALDESC line, and events are given back from the end until it fits.
    """
    smallest_shell = len(shell(0))
    kept: list[bytes] = []
    used = 0
    for block in blocks:
        if smallest_shell + used + len(block) > max_bytes:
            break
        kept.append(block)
        used += len(block)
    if len(kept) == total and smallest_shell + used <= max_bytes:
        return kept
    while kept and len(shell(total - len(kept))) + used > max_bytes:
        used -= len(kept.pop())
    if not kept and len(shell(total)) > max_bytes:
        raise ValueError(f"max_bytes={max_bytes} is too small even for an empty feed")
    return kept


_LIMIT = (
    74  # octets of content per physical line; a continuation line adds its leading space (§3.1)
)


def _fold(line: str) -> bytes:
    """One content line folded as icalendar folds it, at a fraction of the cost (§3.1).

    icalendar walks every character to fold; most lines are short, and a long
    one can be cut on its UTF-8 bytes, backing off to the start of a character
    so that no Cyrillic letter is split, and off a trailing backslash or caret
    so that no escape is split (as icalendar does).
    """
    data = line.encode("utf-8")
    if len(data) <= _LIMIT:  # most lines
        return data
    parts: list[bytes] = []
    start = 0
    while len(data) - start > _LIMIT:
        cut = start + _LIMIT
        while data[cut] & 0xC0 == 0x80:  # inside a multi-byte character
            cut -= 1
        if cut - start > 1 and data[cut - 1] in b"\\^":
            cut -= 1
        parts.append(data[start:cut])
        start = cut
    parts.append(data[start:])
    return b"\r\n ".join(parts)


def reference_vevent(item: FeedItem, free_busy: bool) -> bytes:
    """The event serialised through icalendar's object model: the reference :func:`_vevent` must equal."""
    if isinstance(item, Birthday):
        component = _birthday(item)
    elif isinstance(item, AllDay):
        component = _all_day(item, free_busy)
    else:
        component = _timed_event(item, free_busy)
    lines = component.content_lines(sorted=False)
    return b"".join(_fold(line) + b"\r\n" for line in lines if line)


def _esc(text: str) -> str:
    """TEXT escaping (§3.3.11) as :class:`_Text` does it: backslashes first, so none is doubled twice.

    Four C-speed replaces beat one pass in Python (and ``str.translate``, slow on Cyrillic).
    """
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


@cache
def _duration(value: timedelta) -> str:
    return vDuration(value).to_ical().decode()


def _stamp_utc(moment: datetime) -> str:
    return f"{moment.year:04d}{moment.month:02d}{moment.day:02d}T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}Z"


def _alarm_lines(summary: str, trigger: timedelta) -> list[str]:
    return [
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        f"DESCRIPTION:{_esc(summary)}",
        f"TRIGGER:{_duration(trigger)}",
        "END:VALARM",
    ]


def _vevent(item: FeedItem, free_busy: bool) -> bytes:
    """The VEVENT's bytes, written directly: the same lines as :func:`reference_vevent`
    (a property test holds them equal), without icalendar's per-property objects,
    which cost about a millisecond an event — a second for a 1,000-event feed."""
    modified = _stamp_utc(_utc(item.last_modified, "last_modified"))
    lines = [
        "BEGIN:VEVENT",
        f"UID:{_esc(item.uid)}",
        f"DTSTAMP:{modified}",
        f"LAST-MODIFIED:{modified}",
    ]
    if isinstance(item, Birthday):
        lines += [
            f"DTSTART;VALUE=DATE:{item.born.strftime('%Y%m%d')}",
            f"DTEND;VALUE=DATE:{(item.born + timedelta(days=1)).strftime('%Y%m%d')}",
            "RRULE:FREQ=YEARLY;BYMONTHDAY=-1;BYMONTH=2"
            if (item.born.month, item.born.day) == (2, 29)
            else "RRULE:FREQ=YEARLY",
        ]
        summary = clean_text(item.summary)
        lines.append(f"SUMMARY:{_esc(summary)}")
        if item.description is not None and (text := clean_text(item.description)):
            lines.append(f"DESCRIPTION:{_esc(text)}")
        lines.append("TRANSP:TRANSPARENT")
        trigger = -timedelta(days=item.remind_days) if item.remind_days else _SAME_DAY_ALARM
        lines += _alarm_lines(summary, trigger)
    elif isinstance(item, AllDay):
        lines += [
            f"SEQUENCE:{item.sequence}",
            f"DTSTART;VALUE=DATE:{item.day.strftime('%Y%m%d')}",
            f"DTEND;VALUE=DATE:{(item.day + timedelta(days=1)).strftime('%Y%m%d')}",
            "TRANSP:TRANSPARENT",
        ]
        if free_busy:
            lines += [f"SUMMARY:{_esc(BUSY_SUMMARY)}", "CLASS:PRIVATE"]
        else:
            summary = clean_text(item.summary)
            lines.append(f"SUMMARY:{_esc(summary)}")
            if item.description is not None and (text := clean_text(item.description)):
                lines.append(f"DESCRIPTION:{_esc(text)}")
            if item.url is not None and (url := _uri(item.url)):
                lines.append(f"URL:{url}")
            categories = list(
                dict.fromkeys(c for c in (clean_text(c).strip() for c in item.categories) if c)
            )
            if categories:
                lines.append("CATEGORIES:" + ",".join(_esc(c) for c in categories))
            lines += _alarm_lines(summary, _SAME_DAY_ALARM)
    else:
        start, end = _utc(item.start, "start"), _utc(item.end, "end")
        lines += [f"SEQUENCE:{item.sequence}", f"DTSTART:{_stamp_utc(start)}"]
        if end > start:
            lines.append(f"DTEND:{_stamp_utc(end)}")
        lines.append("TRANSP:OPAQUE")
        if free_busy:
            lines += [f"SUMMARY:{_esc(BUSY_SUMMARY)}", "CLASS:PRIVATE"]
        else:
            summary = clean_text(item.summary)
            lines.append(f"SUMMARY:{_esc(summary)}")
            for name, value in (("LOCATION", item.location), ("DESCRIPTION", item.description)):
                if value is not None and (text := clean_text(value)):
                    lines.append(f"{name}:{_esc(text)}")
            if item.url is not None and (url := _uri(item.url)):
                lines.append(f"URL:{url}")
            categories = list(
                dict.fromkeys(c for c in (clean_text(c).strip() for c in item.categories) if c)
            )
            if categories:
                lines.append("CATEGORIES:" + ",".join(_esc(c) for c in categories))
            if item.alarm_before is not None:
                lines += _alarm_lines(summary, -item.alarm_before)
    lines.append("END:VEVENT")
    # A line of at most 18 characters is at most 72 octets: no need to look closer.
    return (
        b"\r\n".join([line.encode() if len(line) <= 18 else _fold(line) for line in lines])
        + b"\r\n"
    )


def feed(
    name: str,
    events: Iterable[FeedItem],
    *,
    free_busy: bool = False,
    refresh: timedelta = timedelta(hours=1),
    max_bytes: int = 1_000_000,
) -> bytes:
    """The iCalendar object (§3.4) for ``events``: UTF-8, CRLF, lines folded at 75 octets.

    ``events`` come in order of importance: when the feed would exceed
    ``max_bytes`` the leading ones are kept, the rest are left out and
    X-WR-CALDESC says how many. In the output, events are ordered by start (a
    birthday by its birth date), then UID, so the same data gives the same
    bytes. With ``free_busy`` every event reads :data:`BUSY_SUMMARY` with no
    details, alarms or categories and is CLASS:PRIVATE; birthdays are left out.

    Raises ValueError for a naive datetime, a duplicated or unprintable UID, an
    event ending before it starts, a negative sequence, alarm or refresh, or a
    ``max_bytes`` too small for an empty feed.
    """
    if refresh <= timedelta(0):
        raise ValueError(f"refresh must be positive, got {refresh}")
    items = list(events)
    for item in items:
        _check(item)
    # Two events with one UID would be taken for one event by every client (§3.8.4.7).
    repeated = sorted(
        uid for uid, times in Counter(item.uid for item in items).items() if times > 1
    )
    if repeated:
        raise ValueError(f"UIDs must be unique in a feed; repeated: {repeated[:5]}")
    if free_busy:
        items = [item for item in items if not isinstance(item, Birthday)]

    def shell(left_out: int) -> bytes:
        return _shell(name, refresh, left_out, max_bytes)

    # Each VEVENT is serialised once: its size decides the budget and its bytes
    # are the very ones that go into the feed, since a VCALENDAR is its own
    # lines, then each component's lines, then END (§3.4).
    kept = _leading((_vevent(item, free_busy) for item in items), len(items), shell, max_bytes)
    order = sorted(range(len(kept)), key=lambda i: _sort_key(items[i]))
    head = shell(len(items) - len(kept)).removesuffix(_END)
    return head + b"".join(kept[i] for i in order) + _END
