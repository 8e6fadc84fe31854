"""Whose a filed letter is: the personal mailbox's owner when they see the client, else the
client's owner — a colleague's client writing to a salesperson's own box is filed, not stuck."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from mail.models import MailReview
from tests.conftest import make_user
from tests.mail.servers import PETROVA, DovecotServer
from tests.mail.world import letter, make_world


def test_a_colleagues_client_in_a_personal_box_is_filed_under_its_owner(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)  # the clients are ivanov's, seen by Москва
    petrova = make_user(database, "petrova", team="Питер")  # sees none of them
    world.add_mailbox(PETROVA, owner="petrova")
    raw, _ = letter(sender="director@romashka.test", subject="Заказ через коллегу")
    dovecot.append(PETROVA, "INBOX", raw)
    report = world.run(PETROVA.address)
    assert report.error is None
    [filed] = world.letters()
    assert filed.counterparty_id == world.counterparties["romashka.test"]
    assert filed.responsible_id == world.ivanov.id != petrova.id
    with database.read() as session:
        assert session.execute(select(MailReview)).first() is None


def test_the_bridges_robot_is_made_unable_to_log_in_without_a_word_of_anyone_disabled(
    database, caplog
) -> None:
    """The first run makes the user the bridge files as: inactive from the start (it cannot log in),
    not made and then disabled — an administrator reading the log must not see "user … disabled"."""
    import logging

    from mail.filing import bridge_user

    with caplog.at_level(logging.INFO), database.write() as session:
        robot = bridge_user(session)
        assert bridge_user(session).id == robot.id  # made once
    assert not robot.is_active and robot.role == "admin"
    assert not [r for r in caplog.records if "disabled" in r.getMessage()]
