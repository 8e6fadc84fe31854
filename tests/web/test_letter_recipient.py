"""The new letter's contact person gives "To" its address: in the page for the script, and on the
server when "To" is left empty (a browser without the script)."""

from __future__ import annotations

from sqlalchemy import select

from crm.models import Interaction
from tests.web.conftest import Web, create, user


def test_the_chosen_persons_email_is_used_when_to_is_empty(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova", team="Питер")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    petr = create(
        web.database,
        ivanov,
        "contact-persons",
        counterparty_id=cp.id,
        full_name="Пётр Ромашкин",
        contacts=[
            {"kind": "phone", "value": "+7 916 123-45-67"},
            {"kind": "email", "value": "petr@romashka.ru"},
            {"kind": "email", "value": "petr@home.ru"},
        ],
    )
    mute = create(
        web.database, ivanov, "contact-persons", counterparty_id=cp.id, full_name="Без почты"
    )
    hers = create(web.database, petrova, "counterparties", legal_name="ООО «Василёк»")
    other = create(
        web.database,
        petrova,
        "contact-persons",
        counterparty_id=hers.id,
        full_name="Чужой",
        contacts=[{"kind": "email", "value": "secret@vasilek.ru"}],
    )
    web.sign_in("ivanov")
    form = web.get(f"/counterparties/{cp.id}/letters/new").text
    assert 'data-fills="l-to"' in form
    assert f'<option value="{petr.id}" data-email="petr@romashka.ru">' in form
    assert f'<option value="{mute.id}" data-email="">' in form

    base = {"to": "", "cc": "", "subject": "Счёт", "text": "Добрый день", "reply_to_id": ""}
    r = web.post(f"/counterparties/{cp.id}/letters", {**base, "contact_person_id": petr.id})
    assert r.status_code == 303, r.text
    with web.database.read() as db:
        [sent] = db.execute(select(Interaction)).scalars().all()
        assert [(p["role"], p["address"], p["name"]) for p in sent.participants] == [
            ("to", "petr@romashka.ru", "Пётр Ромашкин")
        ]
        assert sent.contact_person_id == petr.id

    # A person without an email, or another card's person: "To" is still wanted, beside the field.
    for person in (mute.id, other.id):
        r = web.post(f"/counterparties/{cp.id}/letters", {**base, "contact_person_id": person})
        assert r.status_code == 422 and 'id="l-to-error">Укажите хотя бы один адрес<' in r.text, (
            r.text
        )
        assert "secret@vasilek.ru" not in r.text
    # What was typed in "To" wins over the person's address.
    r = web.post(
        f"/counterparties/{cp.id}/letters",
        {**base, "to": "buh@romashka.ru", "contact_person_id": petr.id},
    )
    assert r.status_code == 303
    with web.database.read() as db:
        addresses = sorted(
            p["address"] for i in db.execute(select(Interaction)).scalars() for p in i.participants
        )
    assert addresses == ["buh@romashka.ru", "petr@romashka.ru"]
