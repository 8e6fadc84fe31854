"""The bounds ``crm`` holds every value to before a database sees it: money, currencies, years, searches."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm import search, validation


@pytest.mark.parametrize(
    ("value", "exact"),
    [
        ("1250000.50", "1250000.50"),
        (1250000.5, "1250000.50"),
        (Decimal("1E+2"), "100.00"),
        (-3, "-3.00"),
        ("9999999999999.99", "9999999999999.99"),
        (0.1, "0.10"),
    ],
)
def test_exact_money_keeps_what_was_sent(value: object, exact: str) -> None:
    amount = Decimal(value) if isinstance(value, str) else value
    assert str(validation.exact_money(amount, 2)) == exact  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0.001"),
        0.001,
        float("inf"),
        Decimal("NaN"),
        10**13,
        Decimal("1234567890123456.78"),
        1234567890123456.78,
        Decimal("1E+400"),
    ],
)
def test_exact_money_refuses_what_it_cannot_keep(value: object) -> None:
    with pytest.raises(ValueError):
        validation.exact_money(value, 2)  # type: ignore[arg-type]


def test_currency_codes_are_iso_4217() -> None:
    assert validation.currency_code(" usd ") == "USD"
    for bad in ("XYZ", "RUR", "US", "рубль", ""):
        with pytest.raises(ValueError, match="ISO 4217"):
            validation.currency_code(bad)


def test_years_are_bounded() -> None:
    validation.check_year(date(1900, 1, 1))
    validation.check_year(datetime(2200, 12, 31, 23, tzinfo=UTC))
    for bad in (date(1, 1, 1), date(1899, 12, 31), date(2201, 1, 1), date(9999, 12, 31)):
        with pytest.raises(ValueError, match="between the years"):
            validation.check_year(bad)


def test_searches_are_bounded() -> None:
    search.check_query(" ".join(["слово"] * 20))
    for bad in (" ".join(["слово"] * 21), "ж" * 201, "ромашка\x00"):
        with pytest.raises(ValueError, match="a search"):
            search.check_query(bad)
