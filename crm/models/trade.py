"""What the company sold and was paid: shipments, their monthly totals, payments; and the
ABC/XYZ classifications computed from them (issue 14).

**Sales** (``Sale``) are shipment documents as 1C exports them: one row per document and
product group. They stay on the server: an office laptop would otherwise carry half a
million rows. What the analyses need of them is kept in ``SalesSummary``: one row per
client holding its totals per month and product group (revenue, cost, documents, the last
shipment's date). One row per client rather than one per month keeps an office laptop's
first sync within its budget (the large demo: 11 thousand rows instead of 119 thousand),
and a new shipment re-sends one row. It is synced to every laptop that sees the client, so
ABC, XYZ and RFM give a salesperson offline the very answer the server gives
(``crm.analytics`` reads only the summaries). The server rewrites a client's summary
whenever their sales change (``crm.trade.refresh_summaries``); nobody writes it by hand.

**Payments** (``Payment``) come from bank statements (``crm.bank``): each keeps the
document's key so a statement imported twice adds nothing, and the counterparty it was
matched to by the payer's INN (and KPP among branches) — or none yet, kept for matching
later.

**Contracts** (``Contract``) are kept on the client's card and synced: number, dates, validity,
terms, payment deferment, status. **Invoices** (``Invoice``) come from 1C (spreadsheets or
CommerceML) and stay on the server like shipments; the payments of a client settle them (those
naming an invoice's number first, the rest oldest first: ``crm.invoices.settle``). What a laptop's
receivables report needs is one ``Receivable`` row per client with its open invoices, rewritten
whenever its invoices or payments change.

**Classifications** (``ClassRun``, ``ClassMark``): every ABC/XYZ computation is kept —
its period, basis and thresholds, and each client's class, amount and share — so a report
shows who moved between classes and when. The newest run's classes are also written onto
the counterparty (``abc_class``, ``xyz_class``), where the card shows them and every list
filters by them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from crm.models.base import Record, UTCDateTime, new_id, utcnow

MONEY = Numeric(18, 2)


class Sale(Record, table=True):
    """One shipment document (or its line for one product group): what 1C calls «Реализация»."""

    __tablename__ = "sale"
    __table_args__ = (
        # A repeated import adds nothing: the same document number, date and group is the same sale.
        UniqueConstraint(
            "number", "sold_on", "counterparty_id", "product_group", name="uq_sale_doc"
        ),
        Index("ix_sale_counterparty_date", "counterparty_id", "sold_on"),
    )

    number: str = Field(max_length=60)
    sold_on: date
    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36)
    salesperson_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    revenue: Decimal = Field(sa_type=MONEY)
    # What the goods cost us; gross profit is revenue − cost. Unknown when 1C did not export it.
    cost: Decimal | None = Field(default=None, sa_type=MONEY)
    product_group: str = Field(default="", max_length=200)


class SalesSummary(Record, table=True):
    """A counterparty's sales per month and product group: what laptops and analyses read.

    ``months`` is compact text, because an office laptop holds one per client and the
    analyses read every one of them: entries ``YYYY-MM,g,revenue,cost,documents,day`` joined
    by ``;`` in month order, where ``g`` indexes ``groups``, revenue and cost are whole kopecks
    (cost empty when 1C did not give it) and ``day`` is the last shipment's day of the month.
    ``"2025-01,0,120000000,84000000,3,28;2025-02,1,5000,,1,3"``: 1,200,000.00 ₽ of
    ``groups[0]`` in January 2025 over three documents, the last on the 28th; 50.00 ₽ of
    ``groups[1]`` in February, cost unknown. (``crm.trade.summary_of`` writes it,
    ``crm.sales.monthly`` reads it.) JSON would be three times larger and six times slower
    to read.
    """

    __tablename__ = "sales_summary"

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, unique=True)
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    months: str = Field(default="")


class Payment(SQLModel, table=True):
    """One payment from a bank statement, matched to a counterparty when its INN says whose it is."""

    __tablename__ = "payment"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    # crm.bank.BankDocument.key: the same document in two statements is one payment.
    key: str = Field(max_length=200, unique=True)
    number: str = Field(max_length=60)
    paid_on: date = Field(index=True)
    amount: Decimal = Field(sa_type=MONEY)
    # "in" (to us), "out" (from us), "unknown" (neither account is ours).
    direction: str = Field(max_length=10)
    payer_name: str = Field(default="", max_length=500)
    payer_inn: str | None = Field(default=None, max_length=12)
    payer_kpp: str | None = Field(default=None, max_length=9)
    payee_name: str = Field(default="", max_length=500)
    payee_inn: str | None = Field(default=None, max_length=12)
    payee_kpp: str | None = Field(default=None, max_length=9)
    purpose: str = Field(default="")
    counterparty_id: str | None = Field(
        default=None, foreign_key="counterparty.id", max_length=36, index=True
    )
    imported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    imported_by: str | None = Field(default=None, max_length=36)


class ClassRun(SQLModel, table=True):
    """One ABC/XYZ computation: when, by whom, over which period, on which basis and thresholds."""

    __tablename__ = "class_run"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    computed_by: str | None = Field(default=None, max_length=36)
    # The months counted: from the first day of ``starts`` to the last day of ``ends``' month.
    starts: date
    ends: date
    basis: str = Field(max_length=20)  # "revenue" or "profit"
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    clients: int = Field(default=0)
    total: Decimal = Field(default=Decimal(0), sa_type=MONEY)


class ClassMark(SQLModel, table=True):
    """One client's classes in one computation."""

    __tablename__ = "class_mark"

    run_id: str = Field(foreign_key="class_run.id", primary_key=True, max_length=36)
    counterparty_id: str = Field(primary_key=True, max_length=36, index=True)
    abc: str = Field(max_length=1)
    xyz: str | None = Field(default=None, max_length=1)
    amount: Decimal = Field(sa_type=MONEY)
    # Share of the total in percent, and the coefficient of variation of monthly revenue (percent).
    share: float
    variation: float | None = None


class Contract(Record, table=True):
    """A contract with a counterparty: its number and date, validity, terms and status."""

    __tablename__ = "contract"

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, index=True)
    number: str = Field(max_length=60)
    signed_on: date | None = None
    # In force from ``starts_on`` to ``ends_on`` (open-ended when not given).
    starts_on: date | None = None
    ends_on: date | None = None
    # draft → active → expired | terminated (crm.models.enums.ContractStatus).
    status: str = Field(default="active", max_length=20)
    # Payment deferment in days: an invoice under it falls due that many days after it is issued.
    payment_days: int | None = None
    # The contract's ceiling amount, roubles (a framework contract has none).
    amount: Decimal | None = Field(default=None, sa_type=MONEY)
    terms: str | None = None


class Invoice(Record, table=True):
    """An invoice for payment (1C's «Счёт на оплату»), settled by the client's payments."""

    __tablename__ = "invoice"
    __table_args__ = (
        # A repeated import adds nothing: the same number, day and client is the same invoice.
        UniqueConstraint("number", "issued_on", "counterparty_id", name="uq_invoice_doc"),
        Index("ix_invoice_counterparty_date", "counterparty_id", "issued_on"),
    )

    number: str = Field(max_length=60)
    issued_on: date
    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36)
    salesperson_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    amount: Decimal = Field(sa_type=MONEY)
    due_on: date
    contract_number: str | None = Field(default=None, max_length=60)
    # What the client's payments settled of it (crm.invoices.settle), and the day it was paid in full.
    paid_amount: Decimal = Field(default=Decimal(0), sa_type=MONEY)
    paid_on: date | None = None


class Receivable(Record, table=True):
    """A client's open invoices, as a laptop's receivables report reads them (one row per client).

    ``invoices``: ``[{"id", "number", "issued_on", "due_on", "amount", "paid"}]`` of every invoice not
    paid in full, oldest first (money as decimal strings). Rewritten by the server whenever the
    client's invoices or payments change; a client that owes nothing has none.
    """

    __tablename__ = "receivable"

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, unique=True)
    invoices: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # What is still owed on them, roubles.
    owed: Decimal = Field(default=Decimal(0), sa_type=MONEY)
