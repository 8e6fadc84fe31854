"""A counterparty's own mail domains: how they are typed, what is refused, what the website names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clients.replica import Replica
from crm import records, validation
from crm.database import Database
from crm.errors import ValidationFailed
from crm.models import Counterparty, User
from crm.models.base import construct
from tests.conftest import make_user


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("romashka.ru", "romashka.ru"),
        (" @Romashka.RU ", "romashka.ru"),
        ("Ромашка.рф", "xn--80aa3agjl3d.xn--p1ai"),
        ("mail.romashka.ru", "mail.romashka.ru"),
        ("corp.mail.ru", "corp.mail.ru"),
    ],
)
def test_a_domain_is_stored_as_mail_compares_it(typed: str, stored: str) -> None:
    assert validation.mail_domain(typed) == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("gmail.com", "public mail service"),
        ("@mail.ru", "public mail service"),
        ("yandex.ru", "public mail service"),
        ("romashka", "domain"),
        ("a b.ru", "whitespace"),
        ("192.168.0.1", "IP address"),
        ("", "a dot"),
        ("evil.ru\r\nBcc: x@y.ru", "whitespace"),
    ],
)
def test_what_is_not_a_companys_own_domain_is_refused_with_the_reason(
    typed: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        validation.mail_domain(typed)
    assert str(caught.value).startswith("mail domain ")


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.romashka.ru/about", "romashka.ru"),
        ("http://Romashka.RU", "romashka.ru"),
        ("https://shop.romashka.ru:8443/", "shop.romashka.ru"),
        ("www.romashka.ru", "romashka.ru"),
        ("romashka.ru/contacts", "romashka.ru"),
        ("javascript:alert(1)", None),
        ("mailto:info@romashka.ru", None),
        ("romashka", None),
        ("https://vk.com/romashka", None),
        ("https://romashka.tilda.ws", None),
        ("https://192.168.1.1/", None),
        ("https://gmail.com", None),
        ("ftp://romashka.ru", None),
        ("", None),
        (None, None),
    ],
)
def test_the_website_names_a_mail_domain_only_when_it_is_a_companys_own(
    website: str | None, domain: str | None
) -> None:
    assert validation.website_domain(website) == domain


def _found(session: Any, actor: User, q: str) -> list[str]:
    return [
        r.id
        for r in records.list_records(
            session, actor, records.record_type("counterparties"), q=q
        ).items
    ]


def test_a_website_changed_alone_moves_the_domain_the_counterparty_is_found_by(
    database: Database,
) -> None:
    seller = make_user(database, "ivanov")
    counterparties = records.record_type("counterparties")
    with database.write() as session:
        me = session.get_one(User, seller.id)
        cp = records.create(session, me, counterparties, {"legal_name": "ООО «Сайт»"})
    for website, found, gone in (
        ("https://www.sait-opt.test/", "@sait-opt.test", None),
        ("https://novyi-sait.test", "@novyi-sait.test", "@sait-opt.test"),
        ("", None, "@novyi-sait.test"),
    ):
        with database.write() as session:
            me = session.get_one(User, seller.id)
            records.update(session, me, counterparties, cp.id, {"website": website})
        with database.read() as session:
            me = session.get_one(User, seller.id)
            if found:
                assert _found(session, me, found) == [cp.id], website
            if gone:
                assert _found(session, me, gone) == [], website


def test_the_laptop_finds_a_counterparty_by_its_websites_domain(tmp_path: Path) -> None:
    replica = Replica.open(tmp_path / "replica.db")
    user = records.to_dict(
        records.record_type("users"), construct(User, login="ivanov", full_name="Иванов")
    )
    replica.remember_login(
        server="http://example.test", login="ivanov", token="t", device_id="d1", user=user
    )
    cp = records.to_dict(
        records.record_type("counterparties"),
        construct(
            Counterparty,
            id="cp-1",
            legal_name="ООО «Сайт»",
            owner_id=user["id"],
            visibility="private",
        ),
    )
    for version, website, found, gone in (
        (1, "https://www.sait-opt.test/kontakty", "@sait-opt.test", None),
        (2, "http://novyi-sait.test", "@novyi-sait.test", "@sait-opt.test"),
    ):
        replica.apply_pull(
            {
                "cursor": str(version),
                "more": False,
                "conflicts": [],
                "changes": [
                    {
                        "op": "upsert",
                        "type": "counterparties",
                        "id": "cp-1",
                        "version": version,
                        "record": {**cp, "website": website, "version": version},
                    }
                ],
            }
        )
        assert [r["id"] for r in replica.list("counterparties", q=found)] == ["cp-1"]
        if gone:
            assert replica.list("counterparties", q=gone) == []
    replica.close()


def test_a_counterparty_never_claims_the_companys_own_domain(database: Database) -> None:
    """Else every colleague's letter, or every letter of a mailbox, would be filed to that client."""
    from mail.models import Mailbox

    seller = make_user(database, "ivanov")
    colleague = make_user(database, "petrova")
    counterparties = records.record_type("counterparties")
    with database.write() as session:
        session.get_one(User, colleague.id).email = "Petrova@TorgDom.test"
        session.add(
            Mailbox(
                name="Магазин",
                address="shop@torgdom-shop.test",
                imap_host="imap.test",
                login="shop",
            )
        )
    for data, field in (
        ({"contacts": [{"kind": "domain", "value": "torgdom.test"}]}, "contacts[0]"),
        ({"contacts": [{"kind": "domain", "value": "@TORGDOM-SHOP.test"}]}, "contacts[0]"),
        ({"website": "https://www.torgdom.test/"}, "website"),
    ):
        with database.write() as session:
            me = session.get_one(User, seller.id)
            with pytest.raises(ValidationFailed) as refused:
                records.create(session, me, counterparties, {"legal_name": "ООО «Захват»", **data})
            assert "the company's own" in refused.value.details[field]
    with database.read() as session:
        me = session.get_one(User, seller.id)
        assert records.list_records(session, me, counterparties).items == []
    # A client's own domain is still theirs; a claim stored before does not block the rest of the card.
    with database.write() as session:
        me = session.get_one(User, seller.id)
        cp = records.create(
            session,
            me,
            counterparties,
            {
                "legal_name": "ООО «Клиент»",
                "contacts": [{"kind": "domain", "value": "client.test"}],
            },
        )
    with database.write() as session:
        session.get_one(Counterparty, cp.id).contacts = [
            {"kind": "domain", "value": "torgdom.test"}
        ]
    with database.write() as session:
        me = session.get_one(User, seller.id)
        records.update(session, me, counterparties, cp.id, {"notes": "звонить после обеда"})
        with pytest.raises(ValidationFailed):
            records.update(
                session,
                me,
                counterparties,
                cp.id,
                {
                    "contacts": [
                        {"kind": "domain", "value": "torgdom.test"},
                        {"kind": "domain", "value": "new.test"},
                    ]
                },
            )
