"""Message catalogs (ru, the default, and en) and locale-aware formatting.

The catalogs are plain ``.po`` files under ``web/locales``; they are compiled
in memory with Babel the first time a language is used, so there is no build
step and no ``.mo`` file to forget. Message ids are English; ``en.po`` may stay
empty (an id is its own English text), ``ru.po`` must translate every id (a
test holds it to that).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations
from babel.units import format_unit

LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"
LOCALE_NAMES = {"ru": "Русский", "en": "English"}
_DIR = Path(__file__).parent / "locales"


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined; translated where it is shown."""
    return message


def pick(locale: str | None) -> str:
    """A supported locale for whatever a user's setting says."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


@cache
def translations(locale: str) -> Translations:
    path = _DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext_for(locale: str) -> Callable[[str], str]:
    return translations(pick(locale)).gettext


def phone(value: str) -> str:
    """A stored phone (E.164, "+74951234567") as people read it: "+7 495 123-45-67"; anything else as it is."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# ``Formats`` has methods named ``date`` and ``datetime``, which hide the types in its annotations.
_Date = date
_DateTime = datetime


class Formats:
    """Dates and times of one user: their language, the home's time zone."""

    def __init__(self, locale: str, timezone: str) -> None:
        self.locale = Locale.parse(pick(locale))
        self.zone = ZoneInfo(timezone)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def datetime(self, moment: datetime | None) -> str:
        return (
            ""
            if moment is None
            else format_datetime(self.local(moment), "short", locale=self.locale)
        )

    def date(self, day: _Date | _DateTime | None, form: str = "medium") -> str:
        if day is None:
            return ""
        if isinstance(day, datetime):
            day = self.local(day).date()
        return format_date(day, form, locale=self.locale)

    def time(self, moment: _DateTime | None) -> str:
        return (
            "" if moment is None else format_time(self.local(moment), "short", locale=self.locale)
        )

    def month(self, day: _Date) -> str:
        """A month of a report: "дек. 2026", "Dec 2026"."""
        return format_skeleton("yMMM", day, locale=self.locale)

    def day_month(self, day: _Date) -> str:
        """A birthday: day and month, no year ("5 декабря", "December 5")."""
        return format_skeleton("MMMMd", day, locale=self.locale)

    def phone(self, value: str) -> str:
        return phone(value)

    def money(self, amount: Decimal, currency: str) -> str:
        return format_currency(amount, currency, locale=self.locale)

    def price(self, amount: Decimal, currency: str) -> str:
        """A price as stored, to four decimals ("12,345 ₽"; "1 200,00 ₽": two at least)."""
        return format_currency(
            Decimal(amount).normalize(), currency, locale=self.locale, decimal_quantization=False
        )

    def size(self, count: int | None) -> str:
        """A file's size as people read it: "500 Б", "12,3 кБ", "1.5 MB"."""
        if count is None:
            return ""
        for unit, scale in (("digital-megabyte", 1024 * 1024), ("digital-kilobyte", 1024)):
            if count >= scale:
                return format_unit(
                    round(count / scale, 1), unit, length="short", locale=self.locale
                )
        return format_unit(count, "digital-byte", length="short", locale=self.locale)


# The domain reports problems in English free text. These patterns turn the
# common ones into catalog messages, so a Russian user reads Russian beside the
# field; anything unrecognised is shown as the domain wrote it.
_PROBLEMS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"^INN .*: check digit mismatch \(expected (?P<expected>\d+), got (?P<got>\d+)\)$"
        ),
        N_("The INN check digit does not match (expected %(expected)s, got %(got)s)"),
    ),
    (re.compile(r"^INN .*: must contain only digits 0-9$"), N_("The INN must contain only digits")),
    (
        re.compile(r"^INN .*: must have 10 digits .* got (?P<n>\d+)$"),
        N_("The INN must have 10 digits (legal entity) or 12 (individual); got %(n)s"),
    ),
    (
        re.compile(r"^KPP .*: must have 9 characters, got (?P<n>\d+)$"),
        N_("The KPP must have 9 characters; got %(n)s"),
    ),
    (
        re.compile(r"^KPP .*: must be 4 digits.*$"),
        N_("The KPP must be 4 digits, 2 digits or Latin letters, 3 digits"),
    ),
    (
        re.compile(r"^a sole trader \(12-digit INN\) has no KPP$"),
        N_("A sole trader (12-digit INN) has no KPP"),
    ),
    (re.compile(r"^must not be empty$"), N_("Must not be empty")),
    (re.compile(r"^is required$"), N_("Required")),
    (
        re.compile(r"^user (?P<login>\S+) cannot see this counterparty; .*$"),
        N_("%(login)s cannot see this counterparty: share it with them or hand it over first"),
    ),
    (
        re.compile(r"^no \w+ with id \S+ at this counterparty$"),
        N_("This counterparty has no such record"),
    ),
    (
        re.compile(r"^at most (?P<limit>\d+) characters; got (?P<n>\d+)$"),
        N_("At most %(limit)s characters; got %(n)s"),
    ),
    (re.compile(r"^must be one of .*$"), N_("Choose one of the offered values")),
    (re.compile(r"^a lost deal must say why it was lost$"), N_("Say why the deal was lost")),
    (
        re.compile(r"^a sole trader \(ИП\) has a 12-digit INN$"),
        N_("A sole trader (ИП) has a 12-digit INN"),
    ),
    (re.compile(r"^an organisation has a 10-digit INN$"), N_("An organisation has a 10-digit INN")),
    (
        re.compile(r"^must list at least one of .*$"),
        N_("Choose at least one of the offered values"),
    ),
    (
        re.compile(r"^phone .*: not a possible phone number .*$"),
        N_("Not a possible phone number: wrong number of digits"),
    ),
    (re.compile(r"^phone .*: not a phone number .*$"), N_("Not a phone number")),
    (
        re.compile(r"^email .*: must contain exactly one '@'$"),
        N_("An email address has exactly one @"),
    ),
    (re.compile(r"^email .*$"), N_("Not an email address")),
    (
        re.compile(r"^mail domain .*: a public mail service.*$"),
        N_("A public mail service, not the company's own domain"),
    ),
    (
        re.compile(r"^mail domain .*: the company's own .*$"),
        N_("Our own company's domain, not a counterparty's"),
    ),
    (re.compile(r"^mail domain .*$"), N_("Not a mail domain such as romashka.ru")),
    (re.compile(r"^value must not be empty$"), N_("Must not be empty")),
    (re.compile(r"^must not be negative$"), N_("Must not be negative")),
    (re.compile(r"^must not be before starts_on$"), N_("Must not be before the first day")),
    (
        re.compile(r"^is a participant of this event already$"),
        N_("Is at this event already"),
    ),
    (
        re.compile(r"^send to exactly one of segment_id or event_id$"),
        N_("Choose a segment or an event: one of the two"),
    ),
    (
        re.compile(r"^only an event's participants have statuses$"),
        N_("Statuses choose among an event's participants: choose the event"),
    ),
    (
        re.compile(r"^unknown merge field (?P<fields>.*?); known: .*$"),
        N_("Unknown merge field %(fields)s"),
    ),
    (
        re.compile(r"^nobody to write to$"),
        N_("Nobody to write to: everyone asked for no mailings or cannot be reached"),
    ),
    (
        re.compile(r"^the mailing is queued: .*$"),
        N_("The mailing is queued: its letters are written and it no longer changes"),
    ),
    (
        re.compile(r"^must be between (?P<low>-?\d+) and (?P<high>\d+)( .*)?$"),
        N_("Must be between %(low)s and %(high)s"),
    ),
    (
        re.compile(r"^must be (an ISO 4217 currency code|a three-letter ISO 4217 code) .*$"),
        N_("A three-letter currency code such as RUB"),
    ),
    (
        re.compile(r"^at most (?P<scale>\d+) decimal places; .*$"),
        N_("At most %(scale)s digits after the comma"),
    ),
    (
        re.compile(r"^must lie between the years (?P<low>\d+) and (?P<high>\d+); .*$"),
        N_("Must lie between the years %(low)s and %(high)s"),
    ),
    (re.compile(r"^Input should be a valid (integer|number).*$"), N_("Enter a whole number")),
    (
        re.compile(r"^(Input should be a valid decimal|Decimal input should).*$"),
        N_("Enter an amount"),
    ),
    (re.compile(r"^Input should be a valid date.*$"), N_("Enter a date")),
    (re.compile(r"^(Input should be|Value error).*$"), N_("This value cannot be read")),
    (
        re.compile(r"^a (resolved|rejected) complaint must say what was done or why not$"),
        N_("Say what was done, or why the complaint is rejected"),
    ),
    (
        re.compile(r"^a (resolved|rejected) complaint must name its cause: .*$"),
        N_("Choose the cause"),
    ),
    (
        re.compile(r"^a complaint goes from \S+ only to none: it is closed; .*$"),
        N_("This complaint is closed already"),
    ),
    (
        re.compile(r"^a complaint goes from \S+ only to .*$"),
        N_("A complaint moves from new to in work, then to resolved or rejected"),
    ),
    (
        re.compile(
            r"^(?P<group>.+) of this counterparty is claimed by (?P<who>.+) until (?P<day>\S+)$"
        ),
        N_("%(group)s of this client is claimed by %(who)s until %(day)s"),
    ),
    (
        re.compile(r"^a claim lasts at most \d+ days; renew it when it ends$"),
        N_("A claim lasts a year at most; renew it when it ends"),
    ),
    (re.compile(r"^must not be before starts_on$"), N_("The end must not be before the start")),
    (re.compile(r"^no User with id .*$"), N_("No such user")),
    # A counterparty the user does not see is answered as one that does not exist (crm.records).
    (re.compile(r"^no Counterparty with id \S+$"), N_("No such counterparty")),
    (re.compile(r"^no \w+ with id \S+$"), N_("No such record")),
    (
        re.compile(r"^changed meanwhile by someone else; here are the terms now$"),
        N_("Someone else changed these terms meanwhile; here they are now"),
    ),
    (
        re.compile(r"^must be written out in digits, e\.g\. 1500\.50, not in scientific form; .*$"),
        N_("Write the amount out in digits, e.g. 1500,50"),
    ),
    (re.compile(r"^user (?P<login>\S+) is disabled$"), N_("%(login)s is disabled")),
    (
        re.compile(r"^overlaps their (?P<kind>\S+) from (?P<starts>\S+) to (?P<ends>\S+)$"),
        N_("overlaps %(kind)s from %(starts)s to %(ends)s"),
    ),
    (re.compile(r"^an absence lasts at most \d+ days$"), N_("An absence lasts a year at most")),
    (re.compile(r"^a substitute is someone else$"), N_("A substitute is someone else")),
    (
        re.compile(r"^the mail bridge cannot stand in for anyone$"),
        N_("The mail bridge cannot stand in for anyone"),
    ),
    # A saved segment's criteria (crm.segments.problems), beside their fields.
    (re.compile(r"^at most (?P<n>\d+) values$"), N_("At most %(n)s values")),
    (
        re.compile(r"^each value is 1 to (?P<n>\d+) characters$"),
        N_("Each value is 1 to %(n)s characters long"),
    ),
    (
        re.compile(r"^'(?P<value>.*)' is not one of (?P<choices>.+) \(or - for none\)$"),
        N_("%(value)s is not one of %(choices)s (or - for none)"),
    ),
    (re.compile(r"^must be a list of texts$"), N_("Must be a list of values")),
    (
        re.compile(r"^unknown criterion '(?P<name>.*)'; known: (?P<known>.+)$"),
        N_("Unknown criterion %(name)s; the criteria are %(known)s"),
    ),
    # Refusals shown as the detail of an error page.
    (re.compile(r"^you may see but not change .*$"), N_("You may see this but not change it.")),
    (re.compile(r"^you may not (create|restore|move|give) .*$"), N_("You may not do this here.")),
    (re.compile(r"^you may see but not delete .*$"), N_("You may see this but not delete it.")),
    (
        re.compile(r"^you may see but not send mailing .*$"),
        N_("Only the mailing's owner, their manager or an administrator sends it."),
    ),
    (
        re.compile(r"^only the office and administrators .*$"),
        N_("Only the office and administrators may do this."),
    ),
    (
        re.compile(r"^this form was sent from another site$"),
        N_("This form was sent from another site."),
    ),
    (
        re.compile(r"^the form's security token is missing or stale; reload the page$"),
        N_("The form's security token is missing or stale; reload the page."),
    ),
    (
        re.compile(r"^only the owner of counterparty .* changes who sees it$"),
        N_(
            "Only the owner of the counterparty, their manager or an administrator changes who sees it."
        ),
    ),
    (
        re.compile(r"^only a manager of both salespeople or an admin hands counterparty .*$"),
        N_(
            "Only a manager of both salespeople or an administrator hands a counterparty to another owner."
        ),
    ),
    (
        re.compile(r"^the mail review queue is for office staff and administrators$"),
        N_("The mail review queue is for office staff and administrators."),
    ),
    (
        re.compile(r"^the outbox is for office staff and administrators$"),
        N_("The outbox is for office staff and administrators."),
    ),
    (
        re.compile(r"^only an administrator manages users$"),
        N_("Only an administrator manages users."),
    ),
    (re.compile(r"^letter \S+ was already settled .*$"), N_("Someone sorted this letter already.")),
    (
        re.compile(r"^the sign-in form's security token is missing or stale$"),
        N_("The form's security token is missing or stale; reload the page."),
    ),
    (
        re.compile(r"^you cannot disable yourself; another administrator can$"),
        N_("You cannot disable yourself; another administrator can."),
    ),
    (re.compile(r"^\S+ has invalid fields: (?P<fields>.*)$"), N_("Refused fields: %(fields)s")),
    (re.compile(r"^\w+ is not valid: (?P<fields>.*)$"), N_("Refused fields: %(fields)s")),
]


# A kind a problem message quotes (``(?P<kind>…)``) in words: an absence's kind.
_VALUES = {
    "trip": N_("Business trip"),
    "vacation": N_("Vacation"),
    "sick_leave": N_("Sick leave"),
    "day_off": N_("Day off"),
}


def problem(message: str, gettext: Callable[[str], str]) -> str:
    """A domain problem message in the user's language where we know it."""
    for pattern, msgid in _PROBLEMS:
        found = pattern.match(message)
        if found:
            values = {
                k: gettext(_VALUES[v]) if k == "kind" and v in _VALUES else v
                for k, v in found.groupdict().items()
            }
            return gettext(msgid) % values
    return message
