"""A counterparty's own mail domains, and its website's: a letter from a new colleague there is filed at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm import records
from tests.mail.servers import SALES, DovecotServer
from tests.mail.world import World, letter, make_world


@pytest.fixture
def world(database, tmp_path: Path, dovecot: DovecotServer) -> World:  # type: ignore[no-untyped-def]
    world = make_world(database, tmp_path, dovecot)
    world.add_mailbox(SALES)
    return world


def _counterparty(world: World, **data: object) -> str:
    with world.database.write() as session:
        return str(
            records.create(
                session,
                world.ivanov,
                records.record_type("counterparties"),
                {"visibility": "team", **data},
            ).id
        )


@pytest.mark.parametrize(
    ("data", "sender"),
    [
        (
            {
                "legal_name": "ООО «Вектор Групп»",
                "contacts": [{"kind": "domain", "value": "@Vector-Group.test"}],
            },
            "Новый Коллега <new.colleague@vector-group.test>",
        ),
        (
            {"legal_name": "ООО «Сайт»", "website": "https://www.sait-opt.test/kontakty"},
            "zakaz@sait-opt.test",
        ),
    ],
)
def test_a_letter_from_an_unknown_address_on_the_counterpartys_domain_is_filed_to_it(
    world: World, data: dict[str, object], sender: str
) -> None:
    cp = _counterparty(world, **data)
    raw, _ = letter(sender=sender)
    world.dovecot.append(SALES, "INBOX", raw)
    world.run()
    [filed] = world.letters()
    assert (filed.counterparty_id, filed.mail_rule) == (cp, "domain")


def test_a_domain_two_counterparties_claim_goes_to_review_not_to_either(world: World) -> None:
    _counterparty(
        world, legal_name="ООО «Один»", contacts=[{"kind": "domain", "value": "shared.test"}]
    )
    _counterparty(world, legal_name="ООО «Два»", website="http://shared.test")
    raw, _ = letter(sender="someone@shared.test")
    world.dovecot.append(SALES, "INBOX", raw)
    world.run()
    assert world.letters() == []
