"""Claims on the card (issue 15): claimed from the card, refused beside the form when a colleague
holds the group, said at the top of the card and on the new-deal form to colleagues, ended today by
the holder; a stranger can neither see nor claim."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm.models import Claim, Counterparty
from tests.web.conftest import Web, create, home_today, user


@pytest.fixture
def client(web: Web) -> Counterparty:
    ivanov = user(web.database, "ivanov")
    user(web.database, "petrov")
    user(web.database, "sidorova", team="Питер")
    return create(  # type: ignore[no-any-return]
        web.database,
        ivanov,
        "counterparties",
        legal_name="ООО «Ювелир»",
        visibility="team",
    )


def _claims(web: Web) -> list[Claim]:
    with web.database.read() as db:
        return list(db.execute(select(Claim).order_by(Claim.created_at)).scalars())


def test_claim_from_the_card_and_a_colleague_is_warned_and_refused(
    web: Web, client: Counterparty
) -> None:
    web.sign_in("ivanov")
    card = web.get(f"/counterparties/{client.id}").text
    assert "Действующих закреплений нет." in card and 'id="claimed-notice"' not in card
    until = (home_today() + timedelta(days=30)).isoformat()
    r = web.post(
        f"/counterparties/{client.id}/claims", {"product_group": "Золото 585", "ends_on": until}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("#claims")
    (claim,) = _claims(web)
    assert claim.product_group == "Золото 585" and claim.ends_on.isoformat() == until
    # The holder sees it in the section, without a warning about themselves.
    card = web.get(f"/counterparties/{client.id}").text
    assert f'id="claim-{claim.id}"' in card and 'id="claimed-notice"' not in card

    web.sign_in("petrov")
    card = web.get(f"/counterparties/{client.id}").text
    assert 'id="claimed-notice"' in card and "Золото 585" in card
    assert f'id="end-claim-{claim.id}"' not in card  # not theirs to end
    assert 'id="claimed-notice"' in web.get(f"/counterparties/{client.id}/deals/new").text
    r = web.post(f"/counterparties/{client.id}/claims", {"product_group": "золото  585"})
    assert r.status_code == 422
    assert "закреплено за: Пользователь ivanov" in r.text and 'aria-invalid="true"' in r.text
    assert len(_claims(web)) == 1
    # Ending someone else's claim is refused and changes nothing.
    r = web.post(f"/claims/{claim.id}/end", {})
    assert r.status_code == 403
    assert _claims(web)[0].ends_on.isoformat() == until


def test_the_holder_ends_a_claim_today_and_it_stays_in_force_through_today(
    web: Web, client: Counterparty
) -> None:
    web.sign_in("ivanov")
    web.post(f"/counterparties/{client.id}/claims", {"product_group": "Серебро"})
    (claim,) = _claims(web)
    r = web.post(f"/claims/{claim.id}/end", {})
    assert r.status_code == 303, r.text
    assert _claims(web)[0].ends_on == home_today()  # the day's date now, not at import
    # In force through today; from tomorrow nobody is warned (crm.claims with another day).
    web.sign_in("petrov")
    assert 'id="claimed-notice"' in web.get(f"/counterparties/{client.id}").text


def test_a_stranger_can_neither_see_nor_claim(web: Web, client: Counterparty) -> None:
    web.sign_in("ivanov")
    web.post(f"/counterparties/{client.id}/claims", {"product_group": "Серебро"})
    (claim,) = _claims(web)
    web.sign_in("sidorova")
    assert web.get(f"/counterparties/{client.id}").status_code == 404
    assert (
        web.post(f"/counterparties/{client.id}/claims", {"product_group": "Золото"}).status_code
        == 404
    )
    assert web.post(f"/claims/{claim.id}/end", {}).status_code == 404
    assert [c.ends_on for c in _claims(web)] == [claim.ends_on]


def test_a_manager_hands_a_claim_over_from_the_card(web: Web, client: Counterparty) -> None:
    boss = user(web.database, "boss", role="manager")
    web.sign_in("ivanov")
    web.post(f"/counterparties/{client.id}/claims", {"product_group": "Золото"})
    (claim,) = _claims(web)
    assert f'id="hand-claim-{claim.id}"' not in web.get(f"/counterparties/{client.id}").text
    # The holder cannot hand it over through a hand-made form either.
    assert web.post(f"/claims/{claim.id}/hand", {"holder_id": boss.id}).status_code == 403

    web.sign_in("boss")
    card = web.get(f"/counterparties/{client.id}").text
    assert f'id="hand-claim-{claim.id}"' in card and "Пользователь petrov" in card
    sidorova = user(web.database, "sidorova2", team="Питер")  # not the manager's: refused
    r = web.post(f"/claims/{claim.id}/hand", {"holder_id": sidorova.id})
    assert r.status_code in (403, 422)
    r = web.post(f"/claims/{claim.id}/hand", {"holder_id": "нет-такого"})
    assert r.status_code == 422 and "Такого пользователя нет" in r.text
    petrov_id = next(u for u in _users(web) if u.login == "petrov").id
    r = web.post(f"/claims/{claim.id}/hand", {"holder_id": petrov_id})
    assert r.status_code == 303, r.text
    assert _claims(web)[0].holder_id == petrov_id


def _users(web: Web) -> list[Any]:
    from crm.models import User

    with web.database.read() as db:
        return list(db.execute(select(User)).scalars())
