"""The fast constructor builds what the public one builds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm.models import ContactPerson, Counterparty, Deal, Interaction, Reminder
from crm.models.base import construct

CASES = [
    (
        Counterparty,
        {
            "legal_name": "ООО «Ромашка»",
            "inn": "7707083893",
            "contacts": [{"kind": "phone", "value": "+79161234567"}],
        },
    ),
    (
        ContactPerson,
        {"counterparty_id": "c1", "full_name": "Петров Пётр", "birthday": date(1988, 2, 29)},
    ),
    (
        Interaction,
        {
            "counterparty_id": "c1",
            "starts_at": datetime(2026, 11, 1, 7, tzinfo=UTC),
            "subject": "Звонок",
        },
    ),
    (
        Reminder,
        {"title": "Позвонить", "due_at": datetime(2026, 11, 2, 7, tzinfo=UTC), "assignee_id": "u1"},
    ),
    (Deal, {"counterparty_id": "c1", "title": "Поставка", "amount": Decimal("10.50")}),
]


@pytest.mark.parametrize(("model", "values"), CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_construct_equals_constructor(model, values) -> None:  # type: ignore[no-untyped-def]
    fixed = {
        "id": "r1",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert construct(model, **values, **fixed).model_dump() == model(**values, **fixed).model_dump()


def test_construct_fills_factories_afresh() -> None:
    a = construct(Counterparty, legal_name="А")
    b = construct(Counterparty, legal_name="Б")
    assert a.id != b.id
    assert a.tags == [] and a.tags is not b.tags
    with pytest.raises(TypeError, match="legal_name"):
        construct(Counterparty)
