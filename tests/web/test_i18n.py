"""Russian by default, English as the user's setting; every message of the screens is in the ru catalog."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select

from crm.models import User
from tests.conftest import SQLITE_ONLY
from tests.web.conftest import Web, create, user
from web import i18n

WEB = Path(__file__).parents[2] / "web"


def _catalog(locale: str) -> dict[str, str]:
    with (WEB / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id}


def test_every_message_of_the_screens_is_translated_to_russian() -> None:
    used = {
        msg
        for _f, _l, msg, _c, _x in extract_from_dir(
            str(WEB),
            method_map=[("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")],
            options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        )
    }
    ru, en = _catalog("ru"), _catalog("en")
    assert used, "nothing extracted"
    assert sorted(m for m in used if not ru.get(m)) == []
    assert sorted(used - en.keys()) == []  # English keeps its ids; the catalog still lists them
    assert sorted(ru.keys() - used) == []  # nothing stale


def test_switching_to_english_is_the_users_setting(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    assert "Мой день" in web.get("/").text
    r = web.post("/settings/language", {"locale": "en", "back": "/settings"})
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    with web.database.read() as db:
        assert db.execute(select(User.locale).where(User.id == ivanov.id)).scalar_one() == "en"
    page = web.get("/").text
    assert '<html lang="en">' in page and "Planned for today" in page and "Agenda" in page
    # a date in English, and problems beside the field in English too
    r = web.post(
        f"/counterparties/{cp.id}/edit",
        {
            "legal_name": "ООО «Ромашка»",
            "inn": "7707083894",
            "stage": "lead",
            "visibility": "private",
        },
    )
    assert "The INN check digit does not match (expected 3, got 4)" in r.text and ">INN<" in r.text
    # the setting follows the user to a new browser
    web.client.cookies.clear()
    web.sign_in("ivanov")
    assert "Planned for today" in web.get("/").text


@SQLITE_ONLY  # the language is chosen and checked before any SQL
def test_an_unknown_language_is_refused(web: Web) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    assert web.post("/settings/language", {"locale": "xx"}).status_code == 422


def test_the_sign_in_form_speaks_both() -> None:
    assert i18n.gettext_for("en")("Sign in") == "Sign in"
    assert i18n.gettext_for("ru")("Sign in") == "Вход"


def test_dates_follow_the_locale() -> None:
    from datetime import UTC, date, datetime

    moment = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert i18n.Formats("ru", "Europe/Moscow").datetime(moment) == "01.12.2026, 10:30"
    assert i18n.Formats("en", "Europe/Moscow").datetime(moment) == "12/1/26, 10:30\u202fAM"
    assert i18n.Formats("ru", "Europe/Moscow").day_month(date(2026, 12, 5)) == "5 декабря"
    assert i18n.Formats("en", "Europe/Moscow").day_month(date(2026, 12, 5)) == "December 5"


@SQLITE_ONLY  # the language is chosen and checked before any SQL
def test_the_sign_in_page_language_can_be_chosen(web: Web) -> None:
    assert "Password" in web.get("/signin?lang=en").text
    assert "Password" in web.get("/signin").text  # remembered by this browser
    web.client.cookies.clear()
    assert "Пароль" in web.get("/signin").text


def test_domain_problems_that_reach_the_screens_are_in_russian() -> None:
    """The English of crm.rules / crm.validation, as it reaches a form or an error page, is translated."""
    ru = i18n.gettext_for("ru")
    for message, russian in [
        ("a sole trader (ИП) has a 12-digit INN", "У ИП ИНН из 12 цифр"),
        ("an organisation has a 10-digit INN", "У организации ИНН из 10 цифр"),
        (
            "phone '12': not a possible phone number (wrong number of digits for the country)",
            "Такого номера не бывает: неверное число цифр",
        ),
        (
            "phone 'abc': not a phone number (Missing or invalid default region.)",
            "Это не номер телефона",
        ),
        (
            "email 'a@@b.ru': must contain exactly one '@'",
            "В адресе электронной почты ровно один знак @",
        ),
        (
            "email 'a@b': domain must be like 'example.ru' (a dot, no empty parts)",
            "Это не адрес электронной почты",
        ),
        (
            "must list at least one of client, prospect, supplier, partner, competitor",
            "Выберите хотя бы одно из предложенных значений",
        ),
        ("must be between 0 and 100", "Должно быть от 0 до 100"),
        ("must be between 0 and 10080 (a week)", "Должно быть от 0 до 10080"),
        ("must not be negative", "Не может быть отрицательным"),
        (
            "must be a three-letter ISO 4217 code such as RUB",
            "Трёхбуквенный код валюты, например RUB",
        ),
        ("at most 2 decimal places; got '1.005'", "Не более 2 знаков после запятой"),
        (
            "Input should be a valid integer, unable to parse string as an integer",
            "Укажите целое число",
        ),
        ("Input should be a valid date or datetime, invalid character in year", "Укажите дату"),
        (
            "the form's security token is missing or stale; reload the page",
            "Ключ безопасности формы отсутствует или устарел; обновите страницу.",
        ),
        ("you may see but not change counterparty 1234", "Вы можете это видеть, но не изменять."),
        ("you may see but not delete deal 12", "Вы можете это видеть, но не удалять."),
        (
            "you may see but not send mailing 7: its owner, their manager or an admin sends it",
            "Рассылку отправляет её владелец, его руководитель или администратор.",
        ),
        (
            "only the office and administrators import sales",
            "Это могут делать только офис и администраторы.",
        ),
        (
            "the mail review queue is for office staff and administrators",
            "Разбор почты доступен только офису и администраторам.",
        ),
        ("letter 42 was already settled (filed)", "Это письмо уже разобрал кто-то другой."),
        (
            "contact_person has invalid fields: full_name, phones",
            "Отклонены поля: full_name, phones",
        ),
    ]:
        assert i18n.problem(message, ru) == russian, message
    # what the catalog does not know is shown as the domain wrote it
    assert i18n.problem("something new", ru) == "something new"


def test_a_lost_deal_is_one_word_everywhere() -> None:
    """ "Проиграна" agrees with "сделка" (the stage of a deal); a counterparty that went away is "Потерян"."""
    from web import render

    labels = '{% import "labels.html" as l %}{{ l.deal_stage("lost") }}|{{ l.stage("lost") }}'
    assert render.environment("ru").from_string(labels).render() == "Проиграна|Потерян"
    assert render.environment("en").from_string(labels).render() == "Lost|Lost"
    ru = i18n.gettext_for("ru")
    assert "проигр" in ru("Say why the deal was lost") and "проигр" in ru("Why lost")
