"""Merge fields: what each one gives, and what is refused (mail/templates.py)."""

from __future__ import annotations

from datetime import date

import pytest

from crm import accounts, records
from crm.database import Database
from crm.models import Interaction, utcnow
from mail.templates import FIELDS, TemplateError, context_for, merge, render

CONTEXT = {
    "counterparty.name": "ООО «Вектор»",
    "contact.first_name": "Пётр",
    "today": "05.03.2026",
    "contact.patronymic": None,
}


def test_fields_are_replaced_with_or_without_spaces_inside_the_braces() -> None:
    text = "Уважаемый {{contact.first_name}}! Для {{  counterparty.name\t}} на {{today}}."
    assert render(text, CONTEXT) == "Уважаемый Пётр! Для ООО «Вектор» на 05.03.2026."


def test_text_without_fields_and_single_braces_stay_as_they_are() -> None:
    text = "Цена {1} и {2}; {{ не закрыто"
    assert render(text, CONTEXT) == text


def test_an_unknown_field_is_refused_by_name() -> None:
    with pytest.raises(TemplateError, match=r"unknown merge field \{\{client\.name\}\}"):
        render("Для {{ client.name }}", CONTEXT)


def test_a_field_without_a_value_is_refused_by_name() -> None:
    with pytest.raises(TemplateError, match=r"\{\{contact\.patronymic\}\} has no value"):
        render("{{contact.patronymic}}", CONTEXT)


def test_a_value_is_never_scanned_again() -> None:
    context = {**CONTEXT, "counterparty.name": "{{today}} {{ secret }}"}
    assert render("Для {{counterparty.name}}", context) == "Для {{today}} {{ secret }}"


def test_line_breaks_of_a_value_are_flattened_in_a_subject_only() -> None:
    context = {**CONTEXT, "counterparty.name": "ООО\r\nBcc: evil@x.ru\n«Вектор»\u2028"}
    assert (
        render("Для {{counterparty.name}}", context, one_line=True)
        == "Для ООО Bcc: evil@x.ru «Вектор»"
    )
    assert "\r\n" in render("{{counterparty.name}}", context)


def _letter(
    database: Database,
    full_name: str,
    *,
    short_name: str | None = "Вектор",
    email: str | None = None,
    subject: str = "",
    notes: str = "",
) -> Interaction:
    with database.write() as session:
        user = accounts.create_user(session, login="ivanov", full_name="Иванов Иван", email=email)
        cp = records.create(
            session,
            user,
            records.record_type("counterparties"),
            {"legal_name": "ООО «Вектор Плюс»", "short_name": short_name},
        )
        person = records.create(
            session,
            user,
            records.record_type("contact-persons"),
            {"counterparty_id": cp.id, "full_name": full_name},
        )
        return records.create(
            session,
            user,
            records.record_type("interactions"),
            {
                "counterparty_id": cp.id,
                "contact_person_id": person.id,
                "kind": "letter",
                "subject": subject,
                "notes": notes,
                "starts_at": utcnow(),
            },
        )


@pytest.mark.parametrize(
    ("full_name", "first", "patronymic"),
    [
        ("Смирнов Пётр Алексеевич", "Пётр", "Алексеевич"),
        ("Мамедов Рашид Ильхам оглы", "Рашид", "Ильхам оглы"),
        ("Анна Петрова", "Анна", None),
        ("Ольга", "Ольга", None),
    ],
)
def test_context_reads_a_russian_full_name(
    database: Database, full_name: str, first: str, patronymic: str | None
) -> None:
    item = _letter(database, full_name)
    with database.read() as session:
        context = context_for(session, item, today=date(2026, 3, 5))
    assert set(context) == set(FIELDS)
    assert (
        context["contact.name"],
        context["contact.first_name"],
        context["contact.patronymic"],
    ) == (full_name, first, patronymic)
    assert context["counterparty.name"] == "Вектор"
    assert context["counterparty.legal_name"] == "ООО «Вектор Плюс»"
    assert context["salesperson.name"] == "Иванов Иван"
    assert context["today"] == "05.03.2026"


def test_merge_fills_subject_and_body(database: Database) -> None:
    item = _letter(
        database,
        "Смирнов Пётр Алексеевич",
        short_name=None,
        subject="Предложение для {{counterparty.name}}",
        notes="Уважаемый {{contact.first_name}} {{contact.patronymic}}!\n--\n{{salesperson.name}}, "
        "{{salesperson.email}}",
    )
    with database.read() as session:
        subject, body = merge(session, item, sender_address="sales@torgdom.test")
    assert subject == "Предложение для ООО «Вектор Плюс»"  # no short name: the legal one
    assert body == "Уважаемый Пётр Алексеевич!\n--\nИванов Иван, sales@torgdom.test"


def test_salesperson_email_is_the_users_own_first(database: Database) -> None:
    item = _letter(
        database, "Анна Петрова", email="ivanov@torgdom.test", notes="{{salesperson.email}}"
    )
    with database.read() as session:
        assert merge(session, item, sender_address="sales@torgdom.test")[1] == "ivanov@torgdom.test"
        with pytest.raises(TemplateError, match="salesperson.phone"):
            render("{{salesperson.phone}}", context_for(session, item))
