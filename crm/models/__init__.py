"""The tables of the CRM domain. Importing this package registers them all on one metadata."""

from sqlmodel import SQLModel

from crm.models.accounts import Absence, CoverSweep, Device, LoginFailure, Team, User
from crm.models.activity import Complaint, ContactRule, Deal, Interaction, Reminder, Segment
from crm.models.base import Record, new_id, utcnow
from crm.models.counterparty import (
    Claim,
    ContactKey,
    ContactPerson,
    Counterparty,
    CounterpartyMerge,
    Share,
)
from crm.models.marketing import (
    EventCost,
    EventParticipant,
    FailingAddress,
    Mailing,
    MailingRecipient,
    MarketingEvent,
)
from crm.models.suppliers import PriceItem, SupplierTerms
from crm.models.templates import LetterTemplate
from crm.models.trade import (
    ClassMark,
    ClassRun,
    Contract,
    Invoice,
    Payment,
    Receivable,
    Sale,
    SalesSummary,
)

metadata = SQLModel.metadata

__all__ = [
    "Absence",
    "Claim",
    "ClassMark",
    "ClassRun",
    "Complaint",
    "ContactRule",
    "CoverSweep",
    "EventCost",
    "EventParticipant",
    "FailingAddress",
    "Mailing",
    "MailingRecipient",
    "MarketingEvent",
    "PriceItem",
    "SupplierTerms",
    "Contract",
    "Invoice",
    "Receivable",
    "Segment",
    "Payment",
    "Sale",
    "SalesSummary",
    "ContactKey",
    "ContactPerson",
    "Counterparty",
    "CounterpartyMerge",
    "Deal",
    "Device",
    "Interaction",
    "LetterTemplate",
    "LoginFailure",
    "Record",
    "Reminder",
    "Share",
    "Team",
    "User",
    "metadata",
    "new_id",
    "utcnow",
]
