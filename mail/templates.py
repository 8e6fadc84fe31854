"""Merge fields in a letter's subject and body: ``{{counterparty.name}}`` and the like.

The substitution is a regular expression over ``{{ name }}`` (whitespace inside the
braces allowed), one pass, nothing else: a template is text people type, and text
must never execute anything, so there is no Jinja, no attribute access, no filters.
A value put in is never scanned again, so a counterparty named «{{today}}» stays so.

The fields (:data:`FIELDS`):

- ``counterparty.name`` — the short name, else the legal name; ``counterparty.legal_name``;
- ``contact.name`` — the letter's contact person's full name; ``contact.first_name`` and
  ``contact.patronymic`` read it as a Russian full name, «Фамилия Имя Отчество»: with
  three or more words the first name is the second word and the patronymic the rest
  («Мамедов Рашид Ильхам оглы» → «Рашид», «Ильхам оглы»); with one or two words the
  first name is the first word («Анна Петрова» → «Анна») and there is no patronymic;
- ``salesperson.name``, ``salesperson.email`` — the letter's responsible user (else its
  author); the email is the user's, else the address the letter is sent from. There is
  no ``salesperson.phone``: users have no phone in Satchel;
- ``today`` — the server's local date, DD.MM.YYYY.

An unknown field, and a known one without a value for this letter (no contact person,
a two-word name asked for its patronymic), raise :class:`TemplateError` naming it:
the outbox marks the letter failed with that message rather than send «Уважаемый ,».
A value with line breaks is flattened to one line in the subject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from sqlmodel import Session

from crm.models import ContactPerson, Counterparty, Interaction, User

__all__ = ["FIELDS", "TemplateError", "context_for", "merge", "render"]

FIELDS = (
    "counterparty.name",
    "counterparty.legal_name",
    "contact.name",
    "contact.first_name",
    "contact.patronymic",
    "salesperson.name",
    "salesperson.email",
    "today",
)

_FIELD = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_BREAKS = re.compile(r"[\r\n\0\v\f\x1c-\x1e\x85\u2028\u2029]+")


class TemplateError(ValueError):
    """A merge field cannot be filled; the message names it."""


def render(text: str, context: Mapping[str, str | None], *, one_line: bool = False) -> str:
    """``text`` with every ``{{ field }}`` replaced by its value in ``context``.

    A field missing from ``context`` is unknown; one whose value is None or blank has
    no value for this letter; both raise :class:`TemplateError`. ``one_line`` (for a
    subject) turns the line breaks of a value into spaces.
    """

    def fill(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in context:
            raise TemplateError(
                f"unknown merge field {{{{{name}}}}}; known fields: "
                + ", ".join(f"{{{{{f}}}}}" for f in context)
            )
        value = context[name]
        if value is None or not value.strip():
            raise TemplateError(f"merge field {{{{{name}}}}} has no value for this letter")
        return " ".join(_BREAKS.sub(" ", value).split()) if one_line else value

    return _FIELD.sub(fill, text)


def _name_parts(full_name: str) -> tuple[str | None, str | None]:
    """(first name, patronymic) of a Russian full name «Фамилия Имя Отчество»."""
    words = full_name.split()
    if len(words) >= 3:
        return words[1], " ".join(words[2:])
    return (words[0] if words else None), None


def context_for(
    session: Session,
    interaction: Interaction,
    *,
    today: date | None = None,
    sender_address: str | None = None,
) -> dict[str, str | None]:
    """Every field of :data:`FIELDS` for ``interaction``; None where this letter has no value."""
    context: dict[str, str | None] = dict.fromkeys(FIELDS)
    counterparty = session.get(Counterparty, interaction.counterparty_id)
    if counterparty is not None:
        context["counterparty.name"] = counterparty.short_name or counterparty.legal_name
        context["counterparty.legal_name"] = counterparty.legal_name
    person = (
        session.get(ContactPerson, interaction.contact_person_id)
        if interaction.contact_person_id
        else None
    )
    if person is not None:
        context["contact.name"] = person.full_name
        context["contact.first_name"], context["contact.patronymic"] = _name_parts(person.full_name)
    user_id = interaction.responsible_id or interaction.created_by
    user = session.get(User, user_id) if user_id else None
    if user is not None:
        context["salesperson.name"] = user.full_name
    context["salesperson.email"] = (user.email if user is not None else None) or sender_address
    context["today"] = (today or date.today()).strftime("%d.%m.%Y")
    return context


def merge(
    session: Session,
    interaction: Interaction,
    *,
    today: date | None = None,
    sender_address: str | None = None,
) -> tuple[str, str]:
    """(subject, body) of ``interaction`` with its merge fields filled in."""
    subject, body = interaction.subject or "", interaction.notes or ""
    if "{{" not in subject and "{{" not in body:
        return subject, body
    context = context_for(session, interaction, today=today, sender_address=sender_address)
    return render(subject, context, one_line=True), render(body, context)
