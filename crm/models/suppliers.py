"""What a supplier offers (issue 15): its terms, and its price list.

``SupplierTerms`` (one per supplier, synced): delivery and payment terms, lead time, a reliability
rating — kept by whoever may change the supplier's card. ``PriceItem`` (server only, read-only over
the API, like shipments): a supplier's price for a product from a day on, imported from the XLSX a
supplier sends (``satchel import prices``); a price list of ten thousand lines would weigh on every
laptop, and comparing suppliers (``crm.suppliers.compare``) is the office's work.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Index, Numeric, UniqueConstraint
from sqlmodel import Field

from crm.models.base import Record


class SupplierTerms(Record, table=True):
    __tablename__ = "supplier_terms"

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, unique=True)
    # How goods come (EXW, DAP Москва, own transport…) and how they are paid (prepayment, 30 days…).
    delivery_terms: str | None = Field(default=None, max_length=1000)
    payment_terms: str | None = Field(default=None, max_length=1000)
    # Days from an order to the goods in our warehouse.
    lead_time_days: int | None = None
    # 1 (unreliable) to 5 (never late, never short).
    rating: int | None = None
    notes: str | None = None


class PriceItem(Record, table=True):
    """A supplier's price for a product from ``valid_from`` on (until a later line of the same
    product replaces it)."""

    __tablename__ = "price_item"
    __table_args__ = (
        # A repeated import adds nothing: the same supplier, product (folded) and day is one line.
        UniqueConstraint("counterparty_id", "product_key", "valid_from", name="uq_price_item"),
        Index("ix_price_item_product", "product_key", "valid_from"),
    )

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36)
    product: str = Field(max_length=500)
    # The product's name folded (case, ё, spaces: crm.validation.fold_text): what compare matches.
    product_key: str = Field(max_length=500)
    # The supplier's own article (code), when its list gives one.
    article: str | None = Field(default=None, max_length=100)
    unit: str | None = Field(default=None, max_length=20)
    price: Decimal = Field(sa_type=Numeric(18, 4))
    currency: str = Field(default="RUB", max_length=3)
    valid_from: date
