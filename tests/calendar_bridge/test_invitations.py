"""Tests for calendar_bridge.invitations: iTIP REQUEST/CANCEL out, REPLY back in.

What goes out must read the same in three independent parsers (icalendar, the
strict ``ical`` and ``vobject``), standing in for Outlook, Gmail and phones; what
comes back is written here as Outlook, Google and Apple write it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calendar_bridge.ical import PRODID
from calendar_bridge.invitations import Reply, interaction_id_from_uid, invitation, parse_reply
from tests.calendar_bridge.parsers import parse_three

MOSCOW = ZoneInfo("Europe/Moscow")
ID = "0b6f1c9e-4a55-4d38-9a0c-3f6f0c7d2e11"
UID = f"{ID}@satchel"
SUMMARY = "Встреча: ООО Ромашка — поставка арматуры"
ORGANIZER = ("Иванов Иван", "ivanov@torgdom.test")
ATTENDEES = [
    ("Петров Пётр", "Petrov@Romashka.test", "NEEDS-ACTION"),
    ("Сидорова, Анна Сергеевна", "sidorova@romashka.test", "ACCEPTED"),
]
START = datetime(2025, 3, 3, 10, 30, tzinfo=MOSCOW)


def make(**changes: object) -> bytes:
    values: dict[str, object] = dict(
        uid=UID,
        sequence=3,
        method="REQUEST",
        summary=SUMMARY,
        start=START,
        end=START + timedelta(hours=1, minutes=30),
        organizer=ORGANIZER,
        attendees=ATTENDEES,
        location="Москва, ул. Большая Ордынка, д. 40, стр. 4; переговорная «Север»",
        description="Обсудить поставку арматуры А500С, 12 т.\nВзять образцы и прайс.",
        stamp=datetime(2025, 2, 20, 16, 45, 12, tzinfo=MOSCOW),
    )
    values.update(changes)
    return invitation(**values)  # type: ignore[arg-type]


def unfolded_lines(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def parse_everywhere(data: bytes) -> tuple[icalendar.Calendar, object, object]:
    """Parse with all three parsers, fail on any error; the three results, holding one event."""
    calendar, strict, loose = parse_three(data)
    assert len(calendar.walk("VEVENT")) == 1
    return calendar, strict, loose


# ---------------------------------------------------------------------- REQUEST and CANCEL


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_invitation_reads_the_same_in_three_parsers(method: str) -> None:
    data = make(method=method, sequence=4 if method == "CANCEL" else 3)
    sequence = 4 if method == "CANCEL" else 3
    status = "CANCELLED" if method == "CANCEL" else "CONFIRMED"
    calendar, strict, loose = parse_everywhere(data)

    # icalendar
    assert calendar["METHOD"] == method
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"] == PRODID
    [event] = calendar.walk("VEVENT")
    assert event["UID"] == UID
    assert event["SEQUENCE"] == sequence
    assert event["SUMMARY"] == SUMMARY
    assert event["STATUS"] == status and event["TRANSP"] == "OPAQUE"
    assert event.start == datetime(2025, 3, 3, 7, 30, tzinfo=UTC)
    assert event.end == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert event["DTSTAMP"].dt == datetime(2025, 2, 20, 13, 45, 12, tzinfo=UTC)
    assert event["ORGANIZER"] == "mailto:ivanov@torgdom.test"
    assert event["ORGANIZER"].params["CN"] == "Иванов Иван"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == [
        "mailto:Petrov@Romashka.test",
        "mailto:sidorova@romashka.test",
    ]
    assert [a.params["CN"] for a in attendees] == ["Петров Пётр", "Сидорова, Анна Сергеевна"]
    assert [a.params["PARTSTAT"] for a in attendees] == ["NEEDS-ACTION", "ACCEPTED"]
    assert all(
        a.params["RSVP"] == "TRUE" and a.params["ROLE"] == "REQ-PARTICIPANT" for a in attendees
    )
    alarms = event.walk("VALARM")
    if method == "REQUEST":
        [alarm] = alarms
        assert alarm["ACTION"] == "DISPLAY" and alarm["TRIGGER"].dt == -timedelta(minutes=15)
    else:
        assert alarms == []

    # ical (strict)
    assert strict.method == method
    [strict_event] = strict.events
    assert strict_event.uid == UID and strict_event.sequence == sequence
    assert strict_event.summary == SUMMARY
    assert strict_event.status == status
    assert strict_event.dtstart == datetime(2025, 3, 3, 7, 30, tzinfo=UTC)
    assert strict_event.dtend == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert strict_event.organizer.common_name == "Иванов Иван"
    assert [(a.uri, a.common_name, a.status, a.rsvp) for a in strict_event.attendees] == [
        ("mailto:Petrov@Romashka.test", "Петров Пётр", "NEEDS-ACTION", True),
        ("mailto:sidorova@romashka.test", "Сидорова, Анна Сергеевна", "ACCEPTED", True),
    ]

    # vobject
    assert loose.method.value == method
    vevent = loose.vevent
    assert vevent.uid.value == UID and int(vevent.sequence.value) == sequence
    assert vevent.summary.value == SUMMARY
    assert vevent.dtstart.value == datetime(2025, 3, 3, 7, 30, tzinfo=UTC)
    assert vevent.dtend.value == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert vevent.organizer.params["CN"] == ["Иванов Иван"]
    assert [
        (a.value, a.params["CN"], a.params["PARTSTAT"], a.params["RSVP"])
        for a in vevent.attendee_list
    ] == [
        ("mailto:Petrov@Romashka.test", ["Петров Пётр"], ["NEEDS-ACTION"], ["TRUE"]),
        ("mailto:sidorova@romashka.test", ["Сидорова, Анна Сергеевна"], ["ACCEPTED"], ["TRUE"]),
    ]


def test_wire_lines() -> None:
    data = make()
    lines = unfolded_lines(data)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2:] == ["END:VCALENDAR", ""]
    for line in (
        "METHOD:REQUEST",
        f"UID:{UID}",
        "SEQUENCE:3",
        "DTSTART:20250303T073000Z",
        "DTEND:20250303T090000Z",
        "DTSTAMP:20250220T134512Z",
        "STATUS:CONFIRMED",
        "TRANSP:OPAQUE",
        "TRIGGER:-PT15M",
        'ORGANIZER;CN="Иванов Иван":mailto:ivanov@torgdom.test',
        # the comma in the name is inside the quotes: Outlook reads one CN, not two values
        'ATTENDEE;CN="Сидорова, Анна Сергеевна";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE:'
        "mailto:sidorova@romashka.test",
    ):
        assert line in lines, line
    assert any(
        line.startswith(b" ") for line in data.split(b"\r\n")
    )  # long Cyrillic lines were folded


def test_long_cyrillic_text_is_folded_between_characters() -> None:
    long = "Очень длинное описание встречи с клиентом из Новосибирска, ёжик «Ъ» " * 8
    data = make(
        summary=long,
        description=long,
        location=long,
        attendees=[
            ("Константинопольский-Щербаковский Александр Вячеславович" * 2, "k@romashka.test", None)
        ],
    )
    calendar, strict, loose = parse_everywhere(data)
    [event] = calendar.walk("VEVENT")
    assert event["SUMMARY"] == event["DESCRIPTION"] == event["LOCATION"] == long
    assert (
        strict.events[0].attendees[0].common_name
        == "Константинопольский-Щербаковский Александр Вячеславович" * 2
    )
    assert loose.vevent.summary.value == long


def test_same_input_gives_same_bytes() -> None:
    assert make() == make()
    assert make(method="CANCEL", sequence=4) == make(method="CANCEL", sequence=4)
    # the same moment in another zone is the same event
    assert (
        make(
            start=START.astimezone(UTC),
            end=(START + timedelta(hours=1, minutes=30)).astimezone(UTC),
        )
        == make()
    )


def test_update_keeps_uid_and_raises_sequence() -> None:
    moved = START + timedelta(days=1, hours=2)
    first = icalendar.Calendar.from_ical(make()).walk("VEVENT")[0]
    update = make(
        sequence=4,
        start=moved,
        end=moved + timedelta(hours=1),
        stamp=datetime(2025, 2, 21, 9, 0, tzinfo=MOSCOW),
    )
    second = parse_everywhere(update)[0].walk("VEVENT")[0]
    assert second["UID"] == first["UID"] == UID
    assert second["SEQUENCE"] > first["SEQUENCE"]
    assert second.start == datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    assert second["DTSTAMP"].dt > first["DTSTAMP"].dt


def test_line_breaks_in_text_cannot_inject_a_property() -> None:
    evil = "Встреча\r\nATTENDEE:mailto:evil@x.ru"
    data = make(
        summary=evil,
        location="Офис\nORGANIZER:mailto:evil@x.ru",
        description="a\rSTATUS:CANCELLED\u2028b",
        attendees=[("Петров\r\nATTENDEE:mailto:evil@x.ru", "petrov@romashka.test", None)],
    )
    calendar, strict, loose = parse_everywhere(data)
    [event] = calendar.walk("VEVENT")
    attendees = event["ATTENDEE"]
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert [str(a) for a in attendees] == ["mailto:petrov@romashka.test"]
    assert len(calendar.walk("VEVENT")) == 1 and [c.name for c in calendar.subcomponents] == [
        "VEVENT"
    ]
    assert sum(line.startswith("ATTENDEE") for line in unfolded_lines(data)) == 1
    assert str(event["ORGANIZER"]) == "mailto:ivanov@torgdom.test"
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Встреча\nATTENDEE:mailto:evil@x.ru"  # shown as text, on two lines
    assert len(strict.events[0].attendees) == 1
    assert len(loose.vevent.attendee_list) == 1
    assert loose.vevent.attendee.params["CN"] == ["Петров ATTENDEE:mailto:evil@x.ru"]


def test_quotes_in_a_name_become_apostrophes() -> None:
    data = make(attendees=[('ООО "Ромашка"; Петров', "petrov@romashka.test", None)])
    calendar, strict, loose = parse_everywhere(data)
    expected = "ООО 'Ромашка'; Петров"
    assert calendar.walk("VEVENT")[0]["ATTENDEE"].params["CN"] == expected
    assert strict.events[0].attendees[0].common_name == expected
    assert loose.vevent.attendee.params["CN"] == [expected]


def test_pairs_and_empty_partstat_mean_needs_action_and_empty_name_means_no_cn() -> None:
    data = make(
        attendees=[
            ("", "a@romashka.test"),
            ("Б", "b@romashka.test", ""),
            ("В", "c@romashka.test", "tentative"),
        ]
    )
    attendees = parse_everywhere(data)[0].walk("VEVENT")[0]["ATTENDEE"]
    assert [a.params["PARTSTAT"] for a in attendees] == [
        "NEEDS-ACTION",
        "NEEDS-ACTION",
        "TENTATIVE",
    ]
    assert "CN" not in attendees[0].params


def test_optional_texts_and_tentative_status() -> None:
    data = make(location=None, description="  \r\n", status="TENTATIVE")
    event = parse_everywhere(data)[0].walk("VEVENT")[0]
    assert "LOCATION" not in event
    assert event["STATUS"] == "TENTATIVE"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": START}, "end after it starts"),
        ({"end": START - timedelta(minutes=1)}, "end after it starts"),
        ({"attendees": []}, "at least one attendee"),
        (
            {"attendees": [("Петров", "petrov@romashka.test\r\nBcc: x@y.ru", None)]},
            "address of attendee 1",
        ),
        ({"attendees": [("Петров", "petrov@romashka.test\n", None)]}, "address of attendee 1"),
        ({"attendees": [("Петров", "petrov.romashka.test", None)]}, "address of attendee 1"),
        ({"attendees": [("Петров", "mailto:petrov@romashka.test", None)]}, "address of attendee 1"),
        (
            {"attendees": [("Петров", "Петров <petrov@romashka.test>", None)]},
            "address of attendee 1",
        ),
        (
            {"attendees": [("А", "a@romashka.test", None), ("Б", "A@Romashka.test", None)]},
            "listed twice",
        ),
        ({"attendees": [("А", "a@romashka.test", "MAYBE")]}, "PARTSTAT"),
        ({"organizer": ("Иванов", "ivanov@torgdom.test\r")}, "organizer's address"),
        ({"method": "PUBLISH"}, "REQUEST or CANCEL"),
        ({"method": "REPLY"}, "REQUEST or CANCEL"),
        ({"method": "CANCEL", "status": "CONFIRMED"}, "STATUS"),
        ({"status": "CANCELLED"}, "STATUS"),
        ({"start": datetime(2025, 3, 3, 10, 30)}, "aware"),
        ({"stamp": datetime(2025, 3, 3, 10, 30)}, "aware"),
        ({"sequence": -1}, "SEQUENCE"),
        ({"uid": f"{UID}\r\nX: y"}, "UID"),
        ({"uid": ""}, "UID"),
    ],
)
def test_invalid_input_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**changes)


def test_method_is_case_insensitive_on_input() -> None:
    assert make(method="request") == make()


# ---------------------------------------------------------------------- replies

OUTLOOK_ACCEPTED = f"""BEGIN:VCALENDAR
METHOD:REPLY
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VTIMEZONE
TZID:Russian Standard Time
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0300
TZOFFSETTO:+0300
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T000000
TZOFFSETFROM:+0300
TZOFFSETTO:+0300
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
ATTENDEE;PARTSTAT=ACCEPTED;CN="Петров Пётр":MAILTO:Petrov@Romashka.test
COMMENT;LANGUAGE=ru-RU:Буду\\, но опоздаю минут на десять. Пропуск закажите
 \\, пожалуйста.\\n
SUMMARY;LANGUAGE=ru-RU:Принято: {SUMMARY}
DTSTART;TZID=Russian Standard Time:20250303T103000
DTEND;TZID=Russian Standard Time:20250303T120000
UID:{UID}
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:20250221T080312Z
TRANSP:OPAQUE
STATUS:CONFIRMED
SEQUENCE:3
LOCATION;LANGUAGE=ru-RU:Москва\\, ул. Большая Ордынка\\, д. 40
X-MICROSOFT-CDO-APPT-SEQUENCE:3
X-MICROSOFT-CDO-OWNERAPPTID:-1804352118
X-MICROSOFT-CDO-BUSYSTATUS:BUSY
X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY
X-MICROSOFT-CDO-ALLDAYEVENT:FALSE
X-MICROSOFT-CDO-IMPORTANCE:1
X-MICROSOFT-CDO-INSTTYPE:0
X-MICROSOFT-DISALLOW-COUNTER:FALSE
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n")

GOOGLE_DECLINED = f"""BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:REPLY
BEGIN:VEVENT
DTSTART:20250303T073000Z
DTEND:20250303T090000Z
DTSTAMP:20250221T101500Z
ORGANIZER;CN=Иванов Иван:mailto:ivanov@torgdom.test
UID:{UID}
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=DECLINED;CN=Сидоро
 ва Анна;X-NUM-GUESTS=0;X-RESPONSE-COMMENT="Не смогу, уезжаю в Тверь":mailt
 o:sidorova@romashka.test
SEQUENCE:3
STATUS:CONFIRMED
SUMMARY:{SUMMARY}
TRANSP:OPAQUE
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n")

APPLE_TENTATIVE = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//iPhone OS 17.4//EN
METHOD:reply
BEGIN:VEVENT
UID:{UID}
DTSTAMP:20250221T111111Z
SEQUENCE:4
DTSTART:20250303T073000Z
DTEND:20250303T090000Z
ORGANIZER;CN="Иванов Иван":mailto:ivanov@torgdom.test
ATTENDEE;CN="Козлов К.";PARTSTAT=TENTATIVE:mailto:kozlov@romashka.test
SUMMARY:{SUMMARY}
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n")


def test_outlook_accepted() -> None:
    assert parse_reply(OUTLOOK_ACCEPTED.encode("utf-8")) == [
        Reply(
            uid=UID,
            sequence=3,
            attendee="petrov@romashka.test",
            partstat="ACCEPTED",
            comment="Буду, но опоздаю минут на десять. Пропуск закажите, пожалуйста.",
        )
    ]


def test_google_declined_with_its_response_comment() -> None:
    assert parse_reply(GOOGLE_DECLINED.encode("utf-8")) == [
        Reply(
            uid=UID,
            sequence=3,
            attendee="sidorova@romashka.test",
            partstat="DECLINED",
            comment="Не смогу, уезжаю в Тверь",
        )
    ]


def test_apple_tentative_lower_case_method() -> None:
    assert parse_reply(APPLE_TENTATIVE.encode("utf-8")) == [
        Reply(
            uid=UID, sequence=4, attendee="kozlov@romashka.test", partstat="TENTATIVE", comment=None
        )
    ]


def test_no_method_in_calendar_uses_the_mime_hint() -> None:
    data = OUTLOOK_ACCEPTED.replace("METHOD:REPLY\r\n", "").encode("utf-8")
    assert parse_reply(data) == []
    [reply] = parse_reply(data, method_hint="reply")
    assert (reply.attendee, reply.partstat) == ("petrov@romashka.test", "ACCEPTED")
    # the calendar's own METHOD wins over the hint
    assert (
        parse_reply(
            APPLE_TENTATIVE.replace("METHOD:reply", "METHOD:REQUEST").encode(), method_hint="REPLY"
        )
        == []
    )


def test_a_request_or_cancel_is_no_reply() -> None:
    assert parse_reply(make()) == []
    assert parse_reply(make(), method_hint="REPLY") == []
    assert parse_reply(make(method="CANCEL")) == []


def test_our_own_request_turned_into_a_reply_round_trips() -> None:
    data = make().replace(b"METHOD:REQUEST", b"METHOD:REPLY")
    assert [(r.uid, r.sequence, r.attendee, r.partstat) for r in parse_reply(data)] == [
        (UID, 3, "petrov@romashka.test", "NEEDS-ACTION"),
        (UID, 3, "sidorova@romashka.test", "ACCEPTED"),
    ]


def test_windows_1251_is_decoded() -> None:
    data = OUTLOOK_ACCEPTED.encode("cp1251")
    [reply] = parse_reply(data)
    assert reply.comment is not None and reply.comment.startswith("Буду, но опоздаю")
    assert reply.partstat == "ACCEPTED" and reply.uid == UID


def test_utf8_with_bom_and_lf_line_ends() -> None:
    data = b"\xef\xbb\xbf" + OUTLOOK_ACCEPTED.replace("\r\n", "\n").encode("utf-8")
    [reply] = parse_reply(data)
    assert reply.comment is not None and reply.comment.endswith("пожалуйста.")


def test_a_fold_inside_a_cyrillic_letter_is_undone_before_decoding() -> None:
    raw = GOOGLE_DECLINED.encode("utf-8")
    comment = "Не смогу".encode()
    split = comment[:3] + b"\r\n " + comment[3:]  # "Н" then half of "е" | the other half
    [reply] = parse_reply(raw.replace(comment, split))
    assert reply.comment == "Не смогу, уезжаю в Тверь"


def test_unknown_partstat_and_missing_partstat_are_needs_action() -> None:
    odd = APPLE_TENTATIVE.replace("PARTSTAT=TENTATIVE", "PARTSTAT=X-MAYBE").encode()
    assert parse_reply(odd)[0].partstat == "NEEDS-ACTION"
    bare = APPLE_TENTATIVE.replace(";PARTSTAT=TENTATIVE", "").encode()
    assert parse_reply(bare)[0].partstat == "NEEDS-ACTION"


def test_broken_parts_are_skipped_not_fatal() -> None:
    no_uid = APPLE_TENTATIVE.replace(f"UID:{UID}\r\n", "").encode()
    assert parse_reply(no_uid) == []
    no_at = APPLE_TENTATIVE.replace("mailto:kozlov@romashka.test", "mailto:kozlov").encode()
    assert parse_reply(no_at) == []
    bad_sequence = APPLE_TENTATIVE.replace("SEQUENCE:4", "SEQUENCE:четыре").encode()
    assert parse_reply(bad_sequence)[0].sequence is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"\x00\xff\xfe" * 50,
        b"BEGIN:VCALENDAR\r\n",
        b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n",
        b"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n",
        b"END:VCALENDAR\r\n",
        "Привет".encode("cp1251"),
        OUTLOOK_ACCEPTED.encode()[:700],
        b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nATTENDEE;;;:\r\n",
    ],
)
def test_garbage_gives_nothing(data: bytes) -> None:
    assert parse_reply(data) == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    assert isinstance(parse_reply(data, method_hint="REPLY"), list)


_LINES = OUTLOOK_ACCEPTED.split("\r\n") + GOOGLE_DECLINED.split("\r\n")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(_LINES) | st.text(max_size=40), max_size=40),
    st.sampled_from(["\r\n", "\n", "\r"]),
)
def test_never_raises_on_shuffled_calendar_lines(lines: list[str], newline: str) -> None:
    for reply in parse_reply(
        newline.join(lines).encode("utf-8", errors="surrogatepass"), method_hint="REPLY"
    ):
        assert reply.attendee == reply.attendee.lower() and "@" in reply.attendee
        assert reply.partstat in {"ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED", "NEEDS-ACTION"}


# ---------------------------------------------------------------------- UIDs


@pytest.mark.parametrize(
    ("uid", "expected"),
    [
        (UID, ID),
        (UID.upper().replace("@SATCHEL", "@satchel"), ID),
        (f"  {UID}\r\n", ID),
        ("birthday-0b6f1c9e-4a55-4d38-9a0c-3f6f0c7d2e11@satchel", None),
        (ID, None),
        (f"{ID}@example.com", None),
        (f"{ID}@satchel.evil", None),
        ("0b6f1c9e4a554d389a0c3f6f0c7d2e11@satchel", None),
        ("not-a-uuid@satchel", None),
        ("040000008200E00074C5B7101A82E00800000000@satchel", None),
        ("", None),
    ],
)
def test_interaction_id_from_uid(uid: str, expected: str | None) -> None:
    assert interaction_id_from_uid(uid) == expected


def test_interaction_id_from_a_reply() -> None:
    [reply] = parse_reply(OUTLOOK_ACCEPTED.encode())
    assert interaction_id_from_uid(reply.uid) == ID
