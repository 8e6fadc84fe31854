"""Letter templates: written by administrators and office staff, offered to everyone when a letter is written."""

from __future__ import annotations

from typing import Any

import pytest

from crm import accounts, records
from crm.errors import PermissionDenied, ValidationFailed
from tests.web.conftest import Web, create, user


def _template(web: Web, login: str, **data: Any) -> Any:
    with web.database.write() as db:
        actor = accounts.find_user(db, login)
        return records.create(db, actor, records.record_type("letter-templates"), data)


def test_a_salesperson_starts_a_letter_from_a_template(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "office", role="office")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    template = _template(
        web,
        "office",
        name="Прайс-лист",
        subject="Прайс-лист на декабрь",
        body="Здравствуйте, {{contact.first_name}}!\nВысылаю прайс-лист.",
    )
    web.sign_in("ivanov")
    form = web.get(f"/counterparties/{cp.id}/letters/new").text
    assert f'<option value="{template.id}">Прайс-лист</option>' in form
    filled = web.get(f"/counterparties/{cp.id}/letters/new", params={"template": template.id}).text
    assert 'value="Прайс-лист на декабрь"' in filled
    assert "Здравствуйте, {{contact.first_name}}!\nВысылаю прайс-лист.</textarea>" in filled
    assert (
        web.get(f"/counterparties/{cp.id}/letters/new", params={"template": "no-such"}).status_code
        == 404
    )


def test_only_administrators_and_office_staff_write_templates(web: Web) -> None:
    user(web.database, "ivanov")
    user(web.database, "office", role="office")
    made = _template(web, "office", name="Счёт", subject="Счёт", body="Счёт во вложении.")
    with pytest.raises(PermissionDenied):
        _template(web, "ivanov", name="Мой шаблон", subject="x", body="y")
    with web.database.write() as db:
        ivanov = accounts.find_user(db, "ivanov")
        assert (
            records.get(db, ivanov, records.record_type("letter-templates"), made.id).name == "Счёт"
        )  # reads it
        with pytest.raises(PermissionDenied):
            records.update(
                db, ivanov, records.record_type("letter-templates"), made.id, {"body": "взлом"}
            )


@pytest.mark.parametrize("name", ["Счёт", "СЧЁТ ", "Сч\u0435\u0308т", "Счёт\u200b", "Счёт\u00a0"])
def test_a_template_name_that_looks_the_same_is_refused(web: Web, name: str) -> None:
    user(web.database, "office", role="office")
    _template(web, "office", name="Счёт", subject="Счёт", body="Счёт во вложении.")
    with pytest.raises(ValidationFailed) as refused:
        _template(web, "office", name=name, subject="x", body="y")
    assert "name" in refused.value.details


def test_a_template_subject_is_one_line(web: Web) -> None:
    user(web.database, "office", role="office")
    with pytest.raises(ValidationFailed) as refused:
        _template(web, "office", name="Взлом", subject="Счёт\r\nBcc: evil@example.ru", body="y")
    assert "subject" in refused.value.details
