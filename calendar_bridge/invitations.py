"""Meeting invitations by mail: iTIP objects (RFC 5546) sent and read back over iMIP (RFC 6047).

Pure functions, no I/O and no database: :func:`invitation` turns a meeting's values
into the bytes of a REQUEST or CANCEL; :func:`parse_reply` reads the attendees'
answers out of a calendar object that came back by mail; :func:`interaction_id_from_uid`
maps the UID back to the interaction it was made from.

The event is written as the calendar feed (:mod:`calendar_bridge.ical`) writes it, with
its helpers: UID ``f"{interaction.id}@satchel"`` (the same UID as in the feed),
SEQUENCE = the record's version, DTSTAMP from the record (the same data gives the same
bytes), times in UTC, every text from a person through :func:`~calendar_bridge.ical.clean_text`
so that no line break can start a property of its own, UTF-8, CRLF, lines folded at
75 octets between characters, never inside a Cyrillic one.

How the caller attaches the object (RFC 6047 §2.4; what Outlook, Gmail, Apple Mail and
phone mail apps accept)::

    multipart/alternative
      text/plain; charset=utf-8                          the letter's text
      text/calendar; method=REQUEST; charset=utf-8        the bytes of invitation(...)

The ``method`` parameter of the Content-Type must equal the METHOD inside the object
(REQUEST or CANCEL); Outlook shows no Accept/Decline buttons without it. Give the part
as *bytes* with ``Content-Transfer-Encoding: base64`` so that its CRLF line ends survive
any mail policy, e.g. with :class:`email.message.EmailMessage`::

    msg.set_content(text, charset="utf-8")
    msg.add_alternative(ics, maintype="text", subtype="calendar",
                        params={"method": "REQUEST", "charset": "utf-8"}, cte="base64")

Optionally the same bytes may also go as an attachment ``invite.ics``
(``application/ics`` or ``text/calendar`` without ``method``, Content-Disposition
attachment) for clients that only offer to import files; then the whole becomes a
multipart/mixed of the multipart/alternative and the attachment. Never send the
attachment alone: without the inline part with ``method`` the invitation is a file, not
an invitation.

Rules of iTIP the caller keeps (RFC 5546 §2.1.4, §2.1.5, §3.2):

* every change of time, place or attendees goes out as a new REQUEST with the same UID
  and a higher SEQUENCE, to every attendee; clients drop a message whose SEQUENCE (then
  DTSTAMP) is not newer than the one they hold;
* a CANCEL carries the same UID, a SEQUENCE higher than the last REQUEST's and every
  attendee (those removed from a meeting get a CANCEL of their own);
* the organizer's address should be the mailbox the letter is sent from, or replies
  go elsewhere and Outlook may call the sender a delegate.

Reading replies: give :func:`parse_reply` the body of each text/calendar part (or .ics
attachment) of an incoming letter, decoded from base64/quoted-printable but not from
its charset, with the part's ``method`` parameter as ``method_hint``. A reply is
untrusted mail: the caller maps ``uid`` to an interaction with
:func:`interaction_id_from_uid`, ignores a reply whose ``sequence`` is older than the
meeting's current version (an answer to a time that has since moved), and takes the
answer only from an address that is one of the meeting's attendees.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event, vCalAddress
from icalendar.cal import Component

from calendar_bridge.ical import (
    _LINE_BREAK,
    _UNSAFE,
    PRODID,
    _add_optional_text,
    _display_alarm,
    _Text,
    _utc,
    clean_text,
)

__all__ = [
    "ALARM_BEFORE",
    "METHODS",
    "PARTSTATS",
    "Reply",
    "interaction_id_from_uid",
    "invitation",
    "parse_reply",
]

METHODS = frozenset({"REQUEST", "CANCEL"})
# The participation states of an attendee of a VEVENT (RFC 5545 §3.2.12).
PARTSTATS = frozenset({"NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED"})
ALARM_BEFORE = timedelta(minutes=15)

# STATUS a VEVENT may have (§3.8.1.11), by method: a request is confirmed unless said
# otherwise, a cancellation is always cancelled (RFC 5546 §3.2.5).
_STATUSES = {"REQUEST": frozenset({"CONFIRMED", "TENTATIVE"}), "CANCEL": frozenset({"CANCELLED"})}
_DEFAULT_STATUS = {"REQUEST": "CONFIRMED", "CANCEL": "CANCELLED"}

# One address, bare (no "mailto:", no display name): no whitespace or controls, none of
# the characters that would need quoting in a mail header or a URI, one "@" between a
# non-empty local part and a domain with a dot. Non-ASCII letters (an .рф domain) pass.
_ATOM = r"[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff@<>()\[\]\\,;:\"]"
_ADDRESS = re.compile(rf"{_ATOM}+@{_ATOM}+\.(?:(?!\.){_ATOM})+")
_MAILTO = re.compile(r"\s*mailto:", re.IGNORECASE)
_FOLD = re.compile(r"\r?\n[ \t]")
_BYTE_FOLD = re.compile(rb"\r?\n[ \t]")
_UID = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@satchel", re.IGNORECASE
)


# --- sending --------------------------------------------------------------------


def _address(address: object, what: str) -> str:
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise ValueError(
            f"{what} must be a bare e-mail address (name@domain, no spaces or line breaks), "
            f"got {address!r:.120}"
        )
    return address


def _name(name: object, what: str) -> str:
    """A display name fit for a CN parameter (RFC 5545 §3.2.2), or "" for none.

    A parameter value cannot hold a line break or a DQUOTE: line breaks and controls
    become spaces, a DQUOTE an apostrophe (ООО "Ромашка" reads ООО 'Ромашка'). RFC 6868's
    ^' escape would keep the DQUOTE, but Outlook and vobject show it literally.
    """
    if name is None:
        return ""
    if not isinstance(name, str):
        raise ValueError(f"{what} must be text, got {name!r:.120}")
    return " ".join(_UNSAFE.sub(" ", _LINE_BREAK.sub(" ", name)).replace('"', "'").split())


def _cal_address(name: str, address: str, **params: str) -> vCalAddress:
    value = vCalAddress(f"mailto:{address}")
    if name:
        value.params["CN"] = name  # icalendar quotes it: Cyrillic, spaces, commas, colons
    for key, param in params.items():
        value.params[key.replace("_", "-").upper()] = param
    return value


def _attendees(
    attendees: Sequence[tuple[str, str] | tuple[str, str, str | None]],
) -> list[vCalAddress]:
    if isinstance(attendees, str | bytes) or not attendees:
        raise ValueError("a meeting invitation needs at least one attendee")
    result: list[vCalAddress] = []
    seen: set[str] = set()
    for number, attendee in enumerate(attendees, 1):
        if not isinstance(attendee, tuple) or len(attendee) not in (2, 3):
            raise ValueError(
                f"attendee {number} must be (name, address, partstat), got {attendee!r:.120}"
            )
        name, address = attendee[0], attendee[1]
        partstat = (attendee[2] if len(attendee) == 3 else None) or "NEEDS-ACTION"
        address = _address(address, f"the address of attendee {number}")
        if address.lower() in seen:
            raise ValueError(f"attendee {address!r} is listed twice")
        seen.add(address.lower())
        if not isinstance(partstat, str) or partstat.upper() not in PARTSTATS:
            raise ValueError(
                f"PARTSTAT of attendee {address!r} must be one of {sorted(PARTSTATS)}, "
                f"got {partstat!r:.40}"
            )
        result.append(
            _cal_address(
                _name(name, f"the name of attendee {number}"),
                address,
                role="REQ-PARTICIPANT",
                partstat=partstat.upper(),
                rsvp="TRUE",
            )
        )
    return result


def invitation(
    *,
    uid: str,
    sequence: int,
    method: str,
    summary: str,
    start: datetime,
    end: datetime,
    organizer: tuple[str, str],
    attendees: Sequence[tuple[str, str] | tuple[str, str, str | None]],
    location: str | None,
    description: str | None,
    stamp: datetime,
    status: str | None = None,
) -> bytes:
    """The iTIP object (RFC 5546) of a meeting: a VCALENDAR with METHOD and one VEVENT.

    ``method`` is REQUEST (an invitation, first or updated) or CANCEL. ``uid`` is the
    interaction's ``f"{id}@satchel"``, ``sequence`` its version, ``stamp`` (DTSTAMP) the
    time it was last changed; all of ``start``, ``end`` and ``stamp`` must be aware and are
    written in UTC. ``organizer`` is (name, address); each attendee (name, address,
    partstat), partstat one of :data:`PARTSTATS` (any case; "" or None, or a pair
    without it, is NEEDS-ACTION). Addresses are bare: ``ivanov@torgdom.ru``, no
    ``mailto:``. ``status`` is the VEVENT's STATUS: CONFIRMED (default) or TENTATIVE for a
    REQUEST, CANCELLED (the only choice) for a CANCEL. A REQUEST carries a display alarm
    :data:`ALARM_BEFORE` the start; a CANCEL none.

    Raises ValueError, with the reason, for an unknown method or status, ``end`` not
    after ``start``, a naive datetime, a negative sequence, a UID with spaces around or
    control characters, no attendees, the same attendee twice, an unknown PARTSTAT, or
    an address that is not one bare e-mail address (a CR or LF in it included).
    """
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(f"method must be REQUEST or CANCEL, got {method!r:.40}")
    method = method.upper()
    status = _DEFAULT_STATUS[method] if status is None else str(status).upper()
    if status not in _STATUSES[method]:
        raise ValueError(
            f"STATUS of a {method} must be one of {sorted(_STATUSES[method])}, got {status!r:.40}"
        )
    # A UID is made by us, never typed by a person: a bad one is a bug (the feed's rule).
    if (
        not isinstance(uid, str)
        or not uid
        or uid != uid.strip()
        or _UNSAFE.search(uid)
        or _LINE_BREAK.search(uid)
    ):
        raise ValueError(f"UID must be non-empty printable text, got {uid!r:.120}")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise ValueError(f"SEQUENCE must be a non-negative integer, got {sequence!r:.40}")
    begins, ends, stamped = _utc(start, "start"), _utc(end, "end"), _utc(stamp, "stamp")
    if ends <= begins:
        raise ValueError(
            f"the meeting must end after it starts: start {begins.isoformat()}, end {ends.isoformat()}"
        )
    if not isinstance(organizer, tuple) or len(organizer) != 2:
        raise ValueError(f"organizer must be (name, address), got {organizer!r:.120}")
    chair = _cal_address(
        _name(organizer[0], "the organizer's name"),
        _address(organizer[1], "the organizer's address"),
    )
    people = _attendees(attendees)
    if not isinstance(summary, str):
        raise ValueError(f"summary must be text, got {summary!r:.40}")
    title = clean_text(summary)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    event = Event()
    event.add("uid", _Text(uid))
    event.add("sequence", sequence)
    event.add("dtstamp", stamped)
    event.add("dtstart", begins)
    event.add("dtend", ends)
    event.add("summary", _Text(title))
    _add_optional_text(event, "location", location)
    _add_optional_text(event, "description", description)
    event.add("organizer", chair)
    for person in people:
        event.add("attendee", person)
    event.add("status", status)
    event.add("transp", "OPAQUE")
    if method == "REQUEST":
        event.add_component(_display_alarm(title, -ALARM_BEFORE))
    calendar.add_component(event)
    return bytes(calendar.to_ical(sorted=False))


# --- replies --------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One attendee's answer to an invitation (RFC 5546 §3.2.3).

    ``attendee`` is the bare address in lower case; ``partstat`` one of
    :data:`PARTSTATS`, upper case (a value a client made up counts as NEEDS-ACTION,
    RFC 5545 §3.2.12); ``sequence`` the SEQUENCE the attendee answered, None if the
    reply has none (Outlook's always has); ``comment`` the attendee's note, if any.
    """

    uid: str
    sequence: int | None
    attendee: str
    partstat: str
    comment: str | None


def _decode(data: bytes | str) -> str:
    """The calendar as text, lines unfolded (RFC 5545 §3.1).

    Bytes are unfolded before they are decoded: some writers fold at 75 octets in the
    middle of a Cyrillic letter, which is invalid UTF-8 only until the fold is removed.
    """
    if isinstance(data, str):
        return _FOLD.sub("", data)
    data = _BYTE_FOLD.sub(b"", data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Outlook in a Russian locale and old Exchange write windows-1251; 0x98 is its only
        # undefined byte, and a reply must not be lost for it.
        return data.decode("cp1251", errors="replace")


def _text(value: object) -> str:
    """A property or parameter value as plain text, whatever shape icalendar gave it."""
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).strip()


def _values(component: Component, name: str) -> list[object]:
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _sequence(event: Component) -> int | None:
    try:
        sequence = int(_text(event.get("SEQUENCE")))
    except (TypeError, ValueError):
        return None
    return sequence if sequence >= 0 else None


def _comment(event: Component, attendee: object) -> str | None:
    """COMMENT of the VEVENT (Outlook, Apple), else Google's X-RESPONSE-COMMENT on the attendee."""
    parts = [_text(c) for c in _values(event, "COMMENT")]
    params = getattr(attendee, "params", None) or {}
    if not any(parts) and params.get("X-RESPONSE-COMMENT"):
        parts = [_text(params["X-RESPONSE-COMMENT"])]
    comment = clean_text("\n".join(p for p in parts if p)).strip()
    return comment or None


def _replies(calendar: Component, method_hint: str | None) -> list[Reply]:
    method = _text(calendar.get("METHOD") or method_hint or "").upper()
    if method != "REPLY":
        return []
    replies = []
    for event in calendar.walk("VEVENT"):
        uid = _text(event.get("UID") or "")
        if not uid:
            continue
        sequence = _sequence(event)
        for attendee in _values(event, "ATTENDEE"):
            address = _MAILTO.sub("", _text(attendee), count=1).strip().lower()
            if "@" not in address or _UNSAFE.search(address) or any(c.isspace() for c in address):
                continue
            params = getattr(attendee, "params", None) or {}
            partstat = _text(params.get("PARTSTAT") or "NEEDS-ACTION").upper()
            replies.append(
                Reply(
                    uid=uid,
                    sequence=sequence,
                    attendee=address,
                    partstat=partstat if partstat in PARTSTATS else "NEEDS-ACTION",
                    comment=_comment(event, attendee),
                )
            )
    return replies


def parse_reply(data: bytes | str, method_hint: str | None = None) -> list[Reply]:
    """The answers in a calendar object that came back by mail; [] unless it is a REPLY.

    ``data`` is the body of the text/calendar part (or an .ics attachment), decoded from
    its transfer encoding; the charset is UTF-8, else windows-1251. ``method_hint`` is the
    ``method`` parameter of the part's Content-Type, used only when the VCALENDAR itself
    has no METHOD (some Outlook versions). One :class:`Reply` per ATTENDEE of each VEVENT
    (a REPLY normally has one); ``MAILTO:`` in any case is understood. Never raises: what
    cannot be parsed gives [].
    """
    try:
        text = _decode(data)
        components = Calendar.from_ical(text, multiple=True)
        replies: list[Reply] = []
        for calendar in components:
            if getattr(calendar, "name", None) == "VCALENDAR":
                replies += _replies(calendar, method_hint)
        return replies
    except Exception:  # noqa: BLE001 - anything a mail can carry must not stop the ingest
        return []


def interaction_id_from_uid(uid: str) -> str | None:
    """The interaction id in a UID this server made (``"<uuid>@satchel"``), lower case; else None.

    Birthday UIDs (``birthday-<uuid>@satchel``) and other servers' UIDs give None.
    """
    if not isinstance(uid, str):
        return None
    match = _UID.fullmatch(uid.strip())
    return match.group(1).lower() if match else None
