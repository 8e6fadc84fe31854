"""Closed vocabularies. Stored as plain strings so a new value is a code change, not a DB type change."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SALESPERSON = "salesperson"
    MANAGER = "manager"
    OFFICE = "office"
    ADMIN = "admin"


class CounterpartyKind(StrEnum):
    CLIENT = "client"
    PROSPECT = "prospect"
    SUPPLIER = "supplier"
    PARTNER = "partner"
    COMPETITOR = "competitor"


class Stage(StrEnum):
    """Where the relationship with a counterparty stands."""

    LEAD = "lead"
    NEGOTIATION = "negotiation"
    ACTIVE = "active"
    DORMANT = "dormant"
    LOST = "lost"


class Visibility(StrEnum):
    """Who besides the owner (and the owner's manager) sees a counterparty."""

    PRIVATE = "private"
    TEAM = "team"
    COMPANY = "company"


class ContactKind(StrEnum):
    ADDRESS = "address"
    PHONE = "phone"
    EMAIL = "email"
    EXTENSION = "extension"
    # The counterparty's own mail domain: a letter from any address there is its (docs/mail.md).
    DOMAIN = "domain"
    OTHER = "other"


class InteractionKind(StrEnum):
    CALL = "call"
    MEETING = "meeting"
    LETTER = "letter"
    PURCHASE = "purchase"
    COMPLAINT = "complaint"
    OTHER = "other"


class AbsenceKind(StrEnum):
    """Why an employee is away from work (the whereabouts board)."""

    TRIP = "trip"
    VACATION = "vacation"
    SICK_LEAVE = "sick_leave"
    DAY_OFF = "day_off"


class Direction(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


class InteractionStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


# The user the mail bridge files letters and reports sending as; it cannot log in.
MAIL_BRIDGE_LOGIN = "mail-bridge"


class MailStatus(StrEnum):
    """Where an outgoing letter is on its way out (see mail.outbox)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class Importance(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class ReminderStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    SNOOZED = "snoozed"


class DealStage(StrEnum):
    NEW = "new"
    QUALIFICATION = "qualification"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"


class ComplaintSubject(StrEnum):
    """What a complaint is about."""

    PRODUCT = "product"
    DELIVERY = "delivery"
    SERVICE = "service"
    OTHER = "other"


class ComplaintStatus(StrEnum):
    """Where a complaint stands: new → in_work → resolved | rejected (or closed at once)."""

    NEW = "new"
    IN_WORK = "in_work"
    RESOLVED = "resolved"
    REJECTED = "rejected"


class ComplaintCause(StrEnum):
    """Why a closed complaint arose, for the reports by cause."""

    PRODUCT_QUALITY = "product_quality"
    DELIVERY_DELAY = "delivery_delay"
    WRONG_GOODS = "wrong_goods"
    DOCUMENTS = "documents"
    SERVICE = "service"
    PRICE = "price"
    OTHER = "other"


class ContractStatus(StrEnum):
    """Where a contract stands: drafted, in force, run out, or ended early."""

    DRAFT = "draft"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class AbcClass(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class EventKind(StrEnum):
    """What a marketing event is."""

    EXHIBITION = "exhibition"
    SEMINAR = "seminar"
    PROMOTION = "promotion"
    ADVERTISING = "advertising"
    MAILING = "mailing"


class MailingStatus(StrEnum):
    """Where a mailing is: written, or its letters queued in the outbox."""

    DRAFT = "draft"
    QUEUED = "queued"


class ParticipantStatus(StrEnum):
    """Where a participant of an event stands."""

    INVITED = "invited"
    REGISTERED = "registered"
    ATTENDED = "attended"
    DECLINED = "declined"
