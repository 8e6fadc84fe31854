"""The card's own mail domains, edited on the counterparty's form (one per line)."""

from __future__ import annotations

from crm.models import Counterparty
from tests.web.conftest import Web, create, read, user
from tests.web.test_forms import FORM, beside


def test_mail_domains_are_edited_one_per_line_and_keep_the_other_contacts(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(
        web.database,
        ivanov,
        "counterparties",
        legal_name="ООО «Ромашка»",
        contacts=[{"kind": "phone", "value": "+7 495 123-45-67"}],
    )
    web.sign_in("ivanov")
    assert 'id="f-mail_domains"' in web.get(f"/counterparties/{cp.id}/edit").text
    r = web.post(
        f"/counterparties/{cp.id}/edit", {**FORM, "mail_domains": "Romashka.ru\n@romashka-opt.ru\n"}
    )
    assert r.status_code == 303, r.text
    stored = read(web.database, Counterparty, cp.id)
    assert stored.contacts == [
        {"kind": "phone", "value": "+74951234567"},
        {"kind": "domain", "value": "romashka.ru"},
        {"kind": "domain", "value": "romashka-opt.ru"},
    ]
    form = web.get(f"/counterparties/{cp.id}/edit").text
    assert ">romashka.ru\nromashka-opt.ru</textarea>" in form
    assert "Почтовый домен" in web.get(f"/counterparties/{cp.id}").text

    # the same list again (as the form sends it back) does not touch the contacts: no new version
    r = web.post(
        f"/counterparties/{cp.id}/edit",
        {**FORM, "version": "2", "mail_domains": "romashka.ru\nromashka-opt.ru"},
    )
    assert r.status_code == 303 and read(web.database, Counterparty, cp.id).version == 2


def test_a_public_mail_service_is_refused_beside_the_domains_and_nothing_changes(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    r = web.post(
        f"/counterparties/{cp.id}/edit", {**FORM, "mail_domains": "romashka.ru\ngmail.com"}
    )
    assert r.status_code == 422
    assert (
        beside(r.text, "mail_domains")
        == "Это общедоступная почтовая служба, а не собственный домен компании"
    )
    assert ">romashka.ru\ngmail.com</textarea>" in r.text  # what was typed stays
    stored = read(web.database, Counterparty, cp.id)
    assert stored.contacts == [] and stored.version == 1
