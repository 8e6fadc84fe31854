"""The record types: the one place a kind of record is declared (issue 17).

A ``RecordType`` says everything the rest of Satchel needs to know about one
kind of record: its model, its wire name (the REST and sync name), what may be
written, filtered and sorted, who may see it (``sight``), and which fields
change who sees it (``scope``). Everything that lists record types reads this
registry instead of keeping a list of its own: the record service and the REST
API (``crm.records``), the OpenAPI document, the change log (``crm.changes``:
which models it logs, under which name, which changes are scope changes), the
sync protocol (``sync.protocol.TYPES``: the types a push may name, the bootstrap
order), the laptop's replica (its tables, what leaves with a counterparty).

Adding a kind of record is its model, its rules, a migration, and one
``register(RecordType(...))`` below. Types are registered in the order a laptop
bootstraps them: what a record points at is registered before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlmodel import SQLModel

from crm import rules
from crm.models import (
    Absence,
    Claim,
    Complaint,
    ContactPerson,
    ContactRule,
    Contract,
    Counterparty,
    Deal,
    EventCost,
    EventParticipant,
    Interaction,
    Invoice,
    LetterTemplate,
    Mailing,
    MarketingEvent,
    PriceItem,
    Receivable,
    Reminder,
    Sale,
    SalesSummary,
    Segment,
    Share,
    SupplierTerms,
    Team,
    User,
    enums,
)


class Sight(StrEnum):
    """Who may see the records of a type (docs/access.md); ``crm.records.visible`` makes it SQL."""

    # Everybody: users and teams (everyone sees their colleagues).
    EVERYONE = "everyone"
    # The counterparty's own rule: its owner, its visibility, its shares.
    COUNTERPARTY = "counterparty"
    # Whoever sees the counterparty it belongs to (its ``counterparty_id``), and the users
    # its ``people`` fields name.
    ITS_COUNTERPARTY = "its counterparty"


class Merged(StrEnum):
    """What merging two counterparties (``crm.merge``) does with a record of the absorbed one."""

    # It does not belong to a counterparty.
    NOT = "not"
    # Loaded and re-pointed one by one (its rules, its search keys follow it).
    EACH = "each"
    # Thousands of letters and calls: one UPDATE and its change log.
    BULK = "bulk"
    # A grant of access: moved last; one the survivor grants already is dropped, not doubled.
    GRANT = "grant"
    # Moved by the merge's own code (shipments keep their books; summaries are recomputed).
    OWN = "own"


def enum_of(values: Any) -> dict[str, Any]:
    """The JSON-schema constraint of a field that takes one of ``values`` (an enum)."""
    return {"enum": [str(v) for v in values]}


# The JSON-schema constraint of a name or text that must say something.
NAMED: Mapping[str, Any] = {"minLength": 1, "pattern": r"\S"}


@dataclass(frozen=True)
class RecordType:
    """How one kind of record is exposed: its wire name, writable fields, filters and sorts,
    who sees it and whether it syncs."""

    name: str
    singular: str
    model: type[SQLModel]
    check: rules.Check
    writable: tuple[str, ...]
    filters: tuple[str, ...] = ()
    sorts: tuple[str, ...] = ("created_at", "updated_at")
    default_sort: str = "-updated_at"
    # Fields that tie the record to people or a counterparty: changing one re-checks creation rights.
    relations: tuple[str, ...] = ()
    # Fields that default to the acting user on create (the owner, the assignee).
    actor_defaults: tuple[str, ...] = ()
    hidden: frozenset[str] = field(default_factory=lambda: frozenset({"search_name"}))
    searchable: bool = False
    # Fields whose change alters the record's search keys (``crm.search``), or the owner and
    # visibility copied onto them.
    keyed_by: frozenset[str] = frozenset()
    sight: Sight = Sight.EVERYONE
    # Fields naming users who see the record whatever its counterparty (a reminder's assignee, author).
    people: tuple[str, ...] = ()
    # Fields whose change may change who sees the record (or, for a user, what they see); by
    # default, for a record seen through its counterparty, that and its ``people``.
    scope: frozenset[str] | None = None
    # Whether laptops replicate it (the change log keeps it; pushes may name it).
    synced: bool = True
    # What crm/rules.py accepts beyond a field's type, as JSON-schema constraints on the write
    # schema of the OpenAPI document: a client (and a schema-driven test) can tell which values may
    # succeed. A nullable field's constraint applies to its non-null branch.
    constraints: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # What a counterparty's merge does with it; by default, a record seen through its counterparty
    # is re-pointed to the survivor one by one.
    merged: Merged | None = None
    # The sync schema (``sync.protocol.SCHEMA``) that brought it: a laptop of an older schema is
    # served without it (it cannot hold it) and gets it once updated (docs/sync-protocol.md).
    since_schema: int = 1
    # The columns a listing of it shows (field, bilingual header): the laptop's ``list`` commands.
    columns: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.scope is None:
            default = (
                {"counterparty_id", *self.people} if self.sight is Sight.ITS_COUNTERPARTY else set()
            )
            object.__setattr__(self, "scope", frozenset(default))
        if self.merged is None:
            belongs = self.sight is Sight.ITS_COUNTERPARTY
            object.__setattr__(self, "merged", Merged.EACH if belongs else Merged.NOT)
        unknown = {*self.constraints, *(name for name, _ in self.columns)} - {
            "id",
            *self.model.model_fields,
        }
        if unknown:
            raise ValueError(f"record type {self.name} names fields it lacks: {sorted(unknown)}")

    @property
    def read_only(self) -> bool:
        """Nothing of it is written through the API or a push (the server computes or imports it)."""
        return not self.writable

    def fields(self) -> list[str]:
        return [f for f in self.model.model_fields if f not in self.hidden]

    @property
    def scope_fields(self) -> frozenset[str]:
        return self.scope or frozenset()


# Every registered type by name, in registration (bootstrap) order; the views below follow it.
RECORD_TYPES: dict[str, RecordType] = {}
# Synced models and their names on the wire.
SYNCED: dict[type[SQLModel], str] = {}
# Per synced model, the fields whose change may change who sees it (``RecordType.scope``).
SCOPE_FIELDS: dict[type[SQLModel], frozenset[str]] = {}
_synced_names: list[tuple[str, ...]] = [()]


def register(rt: RecordType) -> RecordType:
    """Declare a record type: a REST resource (routes are made when the app is built), and if
    ``synced``, a sync type from now on (the change log, push, pull and bootstrap read it live)."""
    if rt.name in RECORD_TYPES or any(other.model is rt.model for other in RECORD_TYPES.values()):
        raise ValueError(f"record type {rt.name} ({rt.model.__name__}) is registered already")
    RECORD_TYPES[rt.name] = rt
    _rebuild()
    return rt


def unregister(name: str) -> None:
    """Forget a record type (a test's own type, once it is done)."""
    RECORD_TYPES.pop(name)
    _rebuild()


def _rebuild() -> None:
    synced = [rt for rt in RECORD_TYPES.values() if rt.synced]
    SYNCED.clear()
    SYNCED.update({rt.model: rt.name for rt in synced})
    SCOPE_FIELDS.clear()
    SCOPE_FIELDS.update({rt.model: rt.scope_fields for rt in synced if rt.scope_fields})
    _synced_names[0] = tuple(rt.name for rt in synced)


def synced_names() -> tuple[str, ...]:
    """The wire names of the synced types, in bootstrap order."""
    return _synced_names[0]


_AUDIT = ("created_at", "updated_at")

register(
    RecordType(
        "teams",
        "team",
        Team,
        rules.check_team,
        writable=("name",),
        sorts=("name", *_AUDIT),
        default_sort="name",
        constraints={"name": NAMED},
    )
)
register(
    RecordType(
        "users",
        "user",
        User,
        rules.check_user,
        writable=("login", "full_name", "email", "role", "team_id", "is_active", "locale"),
        filters=("role", "team_id", "is_active"),
        sorts=("login", "full_name", *_AUDIT),
        default_sort="login",
        hidden=frozenset({"password_hash"}),
        # Not is_active: who sees a record does not depend on whether its owner may still sign in.
        scope=frozenset({"team_id", "role"}),
        constraints={
            "login": NAMED,
            "full_name": NAMED,
            "role": enum_of(enums.Role),
            "locale": enum_of(("ru", "en")),
        },
    )
)
register(
    RecordType(
        "counterparties",
        "counterparty",
        Counterparty,
        rules.check_counterparty,
        writable=(
            "kinds",
            "legal_form",
            "legal_name",
            "short_name",
            "inn",
            "kpp",
            "legal_address",
            "actual_address",
            "contacts",
            "website",
            "industry",
            "region",
            "segment",
            "tags",
            "source",
            "owner_id",
            "stage",
            "visibility",
            "notes",
        ),
        filters=(
            "owner_id",
            "stage",
            "visibility",
            "region",
            "industry",
            "segment",
            "source",
            "inn",
            "abc_class",
            "xyz_class",
        ),
        sorts=("legal_name", "short_name", "inn", "region", "stage", *_AUDIT),
        default_sort="legal_name",
        relations=("owner_id",),
        searchable=True,
        actor_defaults=("owner_id",),
        keyed_by=frozenset(
            {"legal_name", "short_name", "inn", "website", "contacts", "owner_id", "visibility"}
        ),
        sight=Sight.COUNTERPARTY,
        scope=frozenset({"owner_id", "visibility"}),
        constraints={
            "legal_name": NAMED,
            "kinds": {"minItems": 1, "items": enum_of(enums.CounterpartyKind)},
            "stage": enum_of(enums.Stage),
            "visibility": enum_of(enums.Visibility),
        },
        columns=(
            ("legal_name", "Название / Name"),
            ("inn", "ИНН / INN"),
            ("region", "Регион / Region"),
            ("stage", "Стадия / Stage"),
        ),
    )
)
register(
    RecordType(
        "shares",
        "share",
        Share,
        rules.check_share,
        writable=("counterparty_id", "user_id", "team_id", "can_edit"),
        filters=("counterparty_id", "user_id", "team_id"),
        relations=("counterparty_id",),
        # A share is seen through its counterparty, and every field of it says who else sees that.
        sight=Sight.ITS_COUNTERPARTY,
        scope=frozenset({"counterparty_id", "user_id", "team_id", "can_edit"}),
        merged=Merged.GRANT,
    )
)
register(
    RecordType(
        "contact-persons",
        "contact_person",
        ContactPerson,
        rules.check_contact_person,
        writable=(
            "counterparty_id",
            "full_name",
            "position",
            "contacts",
            "birthday",
            "birthday_remind_days",
            "notes",
            "no_mailings",
        ),
        filters=("counterparty_id", "birthday", "no_mailings"),
        sorts=("full_name", "birthday", *_AUDIT),
        default_sort="full_name",
        relations=("counterparty_id",),
        searchable=True,
        keyed_by=frozenset({"full_name", "contacts", "counterparty_id"}),
        sight=Sight.ITS_COUNTERPARTY,
        constraints={
            "full_name": NAMED,
            "birthday_remind_days": {"minimum": 0, "maximum": 60},
        },
        columns=(
            ("full_name", "ФИО / Full name"),
            ("position", "Должность / Position"),
            ("counterparty_id", "Контрагент / Counterparty"),
            ("birthday", "День рождения / Birthday"),
        ),
    )
)
register(
    RecordType(
        "deals",
        "deal",
        Deal,
        rules.check_deal,
        writable=(
            "counterparty_id",
            "title",
            "stage",
            "amount",
            "currency",
            "expected_close",
            "probability",
            "source",
            "lost_reason",
            "closed_volume",
            "owner_id",
            "event_id",
        ),
        filters=(
            "counterparty_id",
            "stage",
            "owner_id",
            "source",
            "expected_close",
            "closed_on",
            "event_id",
        ),
        sorts=("title", "stage", "amount", "expected_close", "closed_on", *_AUDIT),
        default_sort="-updated_at",
        relations=("counterparty_id", "owner_id"),
        actor_defaults=("owner_id",),
        sight=Sight.ITS_COUNTERPARTY,
        constraints={
            "title": NAMED,
            "stage": enum_of(enums.DealStage),
            "currency": {"pattern": "^[A-Za-z]{3}$"},
            "probability": {"minimum": 0, "maximum": 100},
        },
        merged=Merged.BULK,
    )
)
register(
    RecordType(
        "interactions",
        "interaction",
        Interaction,
        rules.check_interaction,
        writable=(
            "counterparty_id",
            "contact_person_id",
            "responsible_id",
            "deal_id",
            "kind",
            "direction",
            "status",
            "subject",
            "notes",
            "starts_at",
            "duration_minutes",
            "importance",
            "remind_at",
            "result",
            "participants",
            "mail_status",
            "reply_to_id",
        ),
        filters=(
            "counterparty_id",
            "contact_person_id",
            "responsible_id",
            "deal_id",
            "kind",
            "direction",
            "status",
            "importance",
            "starts_at",
            "thread_id",
            "mail_status",
        ),
        sorts=("starts_at", "kind", "status", *_AUDIT),
        default_sort="-starts_at",
        relations=("counterparty_id", "responsible_id"),
        actor_defaults=("responsible_id",),
        sight=Sight.ITS_COUNTERPARTY,
        constraints={
            "kind": enum_of(enums.InteractionKind),
            "direction": enum_of(enums.Direction),
            "status": enum_of(enums.InteractionStatus),
            "importance": enum_of(enums.Importance),
            "mail_status": enum_of(enums.MailStatus),
            "duration_minutes": {"minimum": 0, "maximum": 7 * 24 * 60},
        },
        merged=Merged.BULK,
        columns=(
            ("starts_at", "Когда / When"),
            ("kind", "Вид / Kind"),
            ("status", "Статус / Status"),
            ("subject", "Тема / Subject"),
        ),
    )
)
register(
    RecordType(
        "reminders",
        "reminder",
        Reminder,
        rules.check_reminder,
        writable=(
            "title",
            "notes",
            "due_at",
            "remind_at",
            "assignee_id",
            "status",
            "subject_type",
            "subject_id",
        ),
        filters=(
            "assignee_id",
            "status",
            "subject_type",
            "subject_id",
            "counterparty_id",
            "due_at",
        ),
        sorts=("due_at", "remind_at", "status", *_AUDIT),
        default_sort="due_at",
        relations=("assignee_id", "subject_type", "subject_id"),
        actor_defaults=("assignee_id",),
        sight=Sight.ITS_COUNTERPARTY,
        people=("assignee_id", "created_by"),
        constraints={
            "status": enum_of(enums.ReminderStatus),
            "subject_type": enum_of(rules.REMINDER_SUBJECTS),
        },
        columns=(
            ("due_at", "Срок / Due"),
            ("status", "Статус / Status"),
            ("title", "Что сделать / Title"),
        ),
    )
)
# The complaints journal (issue 15): whoever sees a client sees its complaints and registers one;
# its responsible person (by default the client's owner) or whoever may change the client works it.
register(
    RecordType(
        "complaints",
        "complaint",
        Complaint,
        rules.check_complaint,
        writable=(
            "counterparty_id",
            "contact_person_id",
            "subject",
            "product",
            "description",
            "responsible_id",
            "deadline",
            "status",
            "resolution",
            "cause",
        ),
        filters=(
            "counterparty_id",
            "contact_person_id",
            "responsible_id",
            "status",
            "subject",
            "cause",
            "deadline",
            "registered_by",
            "resolved_at",
            "created_at",
        ),
        sorts=("deadline", "status", "resolved_at", *_AUDIT),
        default_sort="deadline",
        relations=("counterparty_id", "responsible_id"),
        sight=Sight.ITS_COUNTERPARTY,
        constraints={
            "description": NAMED,
            "subject": enum_of(enums.ComplaintSubject),
            "status": enum_of(enums.ComplaintStatus),
            "cause": enum_of(enums.ComplaintCause),
        },
        columns=(
            ("deadline", "Срок / Deadline"),
            ("status", "Статус / Status"),
            ("subject", "О чём / About"),
            ("product", "Товар / Product"),
            ("description", "Суть / Description"),
        ),
    )
)
# Claims (issue 15): a salesperson holds a client for a product group or direction for a while;
# colleagues planning a contact or a deal with it are warned (crm.claims). Brought by schema 6.
register(
    RecordType(
        "claims",
        "claim",
        Claim,
        rules.check_claim,
        writable=("counterparty_id", "product_group", "holder_id", "starts_on", "ends_on", "notes"),
        filters=("counterparty_id", "holder_id", "product_group", "starts_on", "ends_on"),
        sorts=("ends_on", "starts_on", "product_group", *_AUDIT),
        default_sort="ends_on",
        relations=("counterparty_id", "holder_id"),
        actor_defaults=("holder_id",),
        sight=Sight.ITS_COUNTERPARTY,
        constraints={"product_group": NAMED},
        since_schema=6,
        columns=(
            ("product_group", "Группа / Group"),
            ("holder_id", "Держит / Holder"),
            ("starts_on", "С / From"),
            ("ends_on", "По / Until"),
            ("counterparty_id", "Контрагент / Counterparty"),
        ),
    )
)
# Where everyone is (issue 15): business trips, vacations, sick leave and days off of the staff;
# everybody sees them (crm.whereabouts), the person, their manager or the office keeps them.
register(
    RecordType(
        "absences",
        "absence",
        Absence,
        rules.check_absence,
        writable=("user_id", "kind", "starts_on", "ends_on", "city", "notes", "substitute_id"),
        filters=("user_id", "kind", "starts_on", "ends_on", "city", "substitute_id"),
        sorts=("starts_on", "ends_on", "kind", *_AUDIT),
        default_sort="starts_on",
        relations=("user_id", "substitute_id"),
        actor_defaults=("user_id",),
        # A cover's people and days decide who sees the absent one's clients (crm.substitutes).
        scope=frozenset({"user_id", "substitute_id", "starts_on", "ends_on"}),
        constraints={"kind": enum_of(enums.AbsenceKind)},
        since_schema=6,
        columns=(
            ("user_id", "Сотрудник / Employee"),
            ("kind", "Что / Kind"),
            ("starts_on", "С / From"),
            ("ends_on", "По / Until"),
            ("city", "Город / City"),
        ),
    )
)
register(
    RecordType(
        "letter-templates",
        "letter_template",
        LetterTemplate,
        rules.check_letter_template,
        writable=("name", "subject", "body"),
        sorts=("name", *_AUDIT),
        default_sort="name",
    )
)
# What the company sold (issue 14; crm.trade, crm.analytics). Shipment documents stay on the
# server, read-only over the API (they come from 1C: ``satchel import sales``); laptops get the
# monthly totals per client and product group (one summary row per client), which is all their
# analyses read.
register(
    RecordType(
        "sales",
        "sale",
        Sale,
        rules.check_sale,
        writable=(),
        filters=("counterparty_id", "salesperson_id", "product_group", "sold_on", "number"),
        sorts=("sold_on", "number", "revenue", *_AUDIT),
        default_sort="-sold_on",
        relations=("counterparty_id",),
        sight=Sight.ITS_COUNTERPARTY,
        synced=False,
        merged=Merged.OWN,
    )
)
register(
    RecordType(
        "sales-summaries",
        "sales_summary",
        SalesSummary,
        rules.check_sales_summary,
        writable=(),
        filters=("counterparty_id",),
        sorts=_AUDIT,
        default_sort="-updated_at",
        relations=("counterparty_id",),
        sight=Sight.ITS_COUNTERPARTY,
        merged=Merged.OWN,
    )
)
# Contracts (issue 14): kept on the client's card by whoever may change the client. Schema 7.
register(
    RecordType(
        "contracts",
        "contract",
        Contract,
        rules.check_contract,
        writable=(
            "counterparty_id",
            "number",
            "signed_on",
            "starts_on",
            "ends_on",
            "status",
            "payment_days",
            "amount",
            "terms",
        ),
        filters=("counterparty_id", "number", "status", "starts_on", "ends_on"),
        sorts=("signed_on", "number", "starts_on", "ends_on", "status", *_AUDIT),
        default_sort="-signed_on",
        relations=("counterparty_id",),
        sight=Sight.ITS_COUNTERPARTY,
        constraints={
            "number": NAMED,
            "status": enum_of(enums.ContractStatus),
            "payment_days": {"minimum": 0, "maximum": 365},
            "amount": {"minimum": 0},
        },
        since_schema=7,
        columns=(
            ("number", "Номер / Number"),
            ("signed_on", "Подписан / Signed"),
            ("ends_on", "До / Until"),
            ("status", "Статус / Status"),
            ("counterparty_id", "Контрагент / Counterparty"),
        ),
    )
)
# Invoices (issue 14) come from 1C (``satchel import invoices``, ``satchel import commerceml``) and
# stay on the server, read-only over the API, like shipments; the client's payments settle them
# (crm.invoices). Laptops get each client's open invoices in one ``receivables`` row.
register(
    RecordType(
        "invoices",
        "invoice",
        Invoice,
        rules.check_invoice,
        writable=(),
        filters=("counterparty_id", "salesperson_id", "number", "issued_on", "due_on", "paid_on"),
        sorts=("issued_on", "due_on", "number", "amount", *_AUDIT),
        default_sort="-issued_on",
        relations=("counterparty_id",),
        sight=Sight.ITS_COUNTERPARTY,
        synced=False,
        merged=Merged.OWN,
    )
)
register(
    RecordType(
        "receivables",
        "receivable",
        Receivable,
        rules.check_receivable,
        writable=(),
        filters=("counterparty_id",),
        sorts=_AUDIT,
        default_sort="-updated_at",
        relations=("counterparty_id",),
        sight=Sight.ITS_COUNTERPARTY,
        merged=Merged.OWN,
        since_schema=7,
    )
)
# How often a client of each ABC class must be contacted (issue 14): managers and admins set them,
# everyone's agenda and the neglect report read them (crm.neglect.due_contacts).
register(
    RecordType(
        "contact-rules",
        "contact_rule",
        ContactRule,
        rules.check_contact_rule,
        writable=("abc_class", "days", "kinds"),
        filters=("abc_class",),
        sorts=("abc_class", "days", *_AUDIT),
        default_sort="abc_class",
        constraints={
            "abc_class": enum_of(enums.AbcClass),
            "days": {"minimum": 1, "maximum": rules.CONTACT_RULE_MAX_DAYS},
        },
        since_schema=7,
        columns=(("abc_class", "Класс / Class"), ("days", "Дней / Days"), ("kinds", "Что / Kinds")),
    )
)
# Segments (issue 14): saved filters over counterparties (crm.segments); everyone sees them, their
# owner (and the owner's manager, an admin) changes them.
register(
    RecordType(
        "segments",
        "segment",
        Segment,
        rules.check_segment,
        writable=("name", "criteria", "owner_id", "notes"),
        filters=("owner_id", "name"),
        sorts=("name", *_AUDIT),
        default_sort="name",
        relations=("owner_id",),
        actor_defaults=("owner_id",),
        constraints={"name": NAMED},
        since_schema=7,
        columns=(("name", "Название / Name"), ("owner_id", "Автор / Owner")),
    )
)
# Marketing events (issue 15): the company's exhibitions, seminars, promotions, advertising and
# mailings, their cost lines and participants (crm.marketing: what each earned). Schema 8.
register(
    RecordType(
        "events",
        "event",
        MarketingEvent,
        rules.check_marketing_event,
        writable=("name", "kind", "starts_on", "ends_on", "place", "budget", "owner_id", "notes"),
        filters=("kind", "owner_id", "starts_on", "ends_on", "name"),
        sorts=("starts_on", "ends_on", "name", "kind", *_AUDIT),
        default_sort="-starts_on",
        relations=("owner_id",),
        actor_defaults=("owner_id",),
        constraints={
            "name": NAMED,
            "kind": enum_of(enums.EventKind),
            "budget": {"minimum": 0},
        },
        since_schema=8,
        columns=(
            ("name", "Событие / Event"),
            ("kind", "Вид / Kind"),
            ("starts_on", "С / From"),
            ("ends_on", "По / Until"),
            ("budget", "Бюджет / Budget"),
        ),
    )
)
register(
    RecordType(
        "event-costs",
        "event_cost",
        EventCost,
        rules.check_event_cost,
        writable=("event_id", "item", "amount", "spent_on"),
        filters=("event_id", "spent_on"),
        sorts=("spent_on", "amount", *_AUDIT),
        default_sort="spent_on",
        relations=("event_id",),
        constraints={"item": NAMED, "amount": {"minimum": 0}},
        since_schema=8,
        columns=(
            ("item", "Статья / Item"),
            ("amount", "Сумма / Amount"),
            ("spent_on", "Дата / Day"),
        ),
    )
)
register(
    RecordType(
        "event-participants",
        "event_participant",
        EventParticipant,
        rules.check_event_participant,
        writable=("event_id", "counterparty_id", "contact_person_id", "status", "notes"),
        filters=("event_id", "counterparty_id", "contact_person_id", "status"),
        sorts=("status", *_AUDIT),
        default_sort="-created_at",
        relations=("event_id", "counterparty_id"),
        sight=Sight.ITS_COUNTERPARTY,
        constraints={"status": enum_of(enums.ParticipantStatus)},
        merged=Merged.OWN,
        since_schema=8,
        columns=(
            ("counterparty_id", "Контрагент / Counterparty"),
            ("status", "Статус / Status"),
            ("event_id", "Событие / Event"),
        ),
    )
)
# Mailings (issue 15): drafted anywhere, queued on the server (crm.mailings), counted there.
register(
    RecordType(
        "mailings",
        "mailing",
        Mailing,
        rules.check_mailing,
        writable=("name", "event_id", "segment_id", "statuses", "subject", "body", "owner_id"),
        filters=("event_id", "segment_id", "owner_id", "status", "name"),
        sorts=("name", "status", "queued_at", *_AUDIT),
        default_sort="-created_at",
        relations=("owner_id", "event_id", "segment_id"),
        actor_defaults=("owner_id",),
        constraints={"name": NAMED},
        since_schema=9,
        columns=(
            ("name", "Рассылка / Mailing"),
            ("status", "Статус / Status"),
            ("recipients", "Адресатов / Recipients"),
            ("sent", "Отправлено / Sent"),
            ("bounced", "Возвраты / Bounced"),
        ),
    )
)
# Suppliers (issue 15): a supplier's terms (synced, kept by who may change its card) and its price
# list (server only, imported: ``satchel import prices``; crm.suppliers compares suppliers).
register(
    RecordType(
        "supplier-terms",
        "supplier_terms",
        SupplierTerms,
        rules.check_supplier_terms,
        writable=(
            "counterparty_id",
            "delivery_terms",
            "payment_terms",
            "lead_time_days",
            "rating",
            "notes",
        ),
        filters=("counterparty_id", "rating", "lead_time_days"),
        sorts=("rating", "lead_time_days", *_AUDIT),
        default_sort="-updated_at",
        relations=("counterparty_id",),
        sight=Sight.ITS_COUNTERPARTY,
        constraints={
            "lead_time_days": {"minimum": 0, "maximum": 365},
            "rating": {"minimum": 1, "maximum": 5},
        },
        merged=Merged.OWN,
        since_schema=8,
        columns=(
            ("counterparty_id", "Поставщик / Supplier"),
            ("lead_time_days", "Срок, дней / Lead time"),
            ("rating", "Надёжность / Rating"),
            ("payment_terms", "Оплата / Payment"),
        ),
    )
)
register(
    RecordType(
        "price-items",
        "price_item",
        PriceItem,
        rules.check_price_item,
        writable=(),
        filters=("counterparty_id", "product_key", "article", "valid_from", "currency"),
        sorts=("product", "price", "valid_from", *_AUDIT),
        default_sort="product",
        relations=("counterparty_id",),
        sight=Sight.ITS_COUNTERPARTY,
        synced=False,
        merged=Merged.OWN,
        hidden=frozenset({"search_name"}),
    )
)
