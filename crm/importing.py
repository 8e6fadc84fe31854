"""Importing counterparties and contact persons from CSV and XLSX files.

The files come from 1C and Excel on Russian Windows: CSV in windows-1251 or
UTF-8 (with or without BOM) separated by ``;``, ``,`` or tabs, or XLSX whose
numbers Excel stored as floats. Headers may be Russian or English in any case
and spacing. Every row goes through ``records.create``, so an import obeys the
same rules and access checks as the API. An import is all or nothing: either
every row is created or ``ImportFailed`` lists every problem of every row and
the session is left as it was.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl.utils import get_column_letter
from sqlalchemy import or_, select
from sqlmodel import Session, col

from crm import records, validation
from crm.errors import ImportFailed, SatchelError, ValidationFailed
from crm.models import ContactPerson, Counterparty, User
from crm.tabular import MAX_CELL_CHARS, read_table

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (rows done, rows in the file)
PROGRESS_EVERY = 100
# An HTTP answer or a terminal cannot show ten thousand lines usefully; the report keeps them all.
MAX_DETAILS = 500


@dataclass(frozen=True)
class RowError:
    """A problem with one row: ``row`` as Excel numbers it, ``column`` as its header says."""

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return (
            f"row {self.row}, {self.column}: {self.message}"
            if self.column
            else f"row {self.row}: {self.message}"
        )


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do). ``errors`` is empty unless dry_run."""

    total: int = 0  # rows that hold anything
    created: int = 0  # with dry_run: would be created
    skipped: int = 0  # duplicates of existing records, skipped because skip_existing was asked
    empty: int = 0
    errors: list[RowError] = field(default_factory=list)
    created_ids: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- headers


@dataclass(frozen=True)
class _Field:
    name: str
    aliases: tuple[str, ...]  # the first is the one shown to people
    multi: bool = False  # several columns may feed it (phones in two columns)


def _key(header: str) -> str:
    """Headers compare without case, ё, spaces and punctuation: «Эл. почта» = «эл почта»."""
    return "".join(ch for ch in validation.fold_text(header) if ch.isalnum())


_PHONES = _Field("phones", ("Телефон", "Телефоны", "Тел.", "Phone", "Phones"), multi=True)
_EMAILS = _Field(
    "emails", ("Email", "E-mail", "Эл. почта", "Электронная почта", "Почта", "Emails"), multi=True
)
_NOTES = _Field("notes", ("Примечание", "Комментарий", "Заметки", "Notes", "Comment"))

COUNTERPARTY_FIELDS = (
    _Field(
        "legal_name",
        (
            "Наименование",
            "Полное наименование",
            "Наименование полное",
            "Название",
            "Контрагент",
            "legal_name",
            "Name",
        ),
    ),
    _Field(
        "short_name",
        ("Краткое наименование", "Сокращённое наименование", "Наименование краткое", "short_name"),
    ),
    _Field("legal_form", ("ОПФ", "Организационно-правовая форма", "legal_form")),
    _Field("inn", ("ИНН", "inn")),
    _Field("kpp", ("КПП", "kpp")),
    _Field(
        "legal_address", ("Юридический адрес", "Юр. адрес", "Адрес юридический", "legal_address")
    ),
    _Field(
        "actual_address",
        ("Фактический адрес", "Факт. адрес", "Адрес фактический", "actual_address"),
    ),
    _PHONES,
    _EMAILS,
    _Field("website", ("Сайт", "Веб-сайт", "website", "Site")),
    _Field("industry", ("Отрасль", "industry")),
    _Field("region", ("Регион", "region")),
    _Field("segment", ("Сегмент", "segment")),
    _Field("tags", ("Теги", "Метки", "tags"), multi=True),
    _Field("source", ("Источник", "source")),
    _Field(
        "kinds",
        ("Вид", "Тип", "Вид контрагента", "Тип контрагента", "kinds", "kind", "type"),
        multi=True,
    ),
    _NOTES,
    _Field("owner", ("Ответственный", "Основной менеджер", "Менеджер", "owner", "owner_login")),
)

CONTACT_PERSON_FIELDS = (
    _Field("counterparty_inn", ("ИНН контрагента", "Контрагент ИНН", "ИНН", "counterparty_inn")),
    _Field("counterparty_kpp", ("КПП контрагента", "Контрагент КПП", "КПП", "counterparty_kpp")),
    _Field(
        "counterparty",
        ("Контрагент", "Наименование контрагента", "Организация", "Компания", "counterparty"),
    ),
    _Field("full_name", ("ФИО", "Контактное лицо", "full_name", "Name")),
    _Field("position", ("Должность", "position")),
    _PHONES,
    _EMAILS,
    _Field("birthday", ("День рождения", "Дата рождения", "birthday")),
    _Field(
        "birthday_remind_days", ("Напоминать за (дней)", "Напоминать за", "birthday_remind_days")
    ),
    _NOTES,
)


def _map_headers(
    headers: list[str],
    rows: list[tuple[int, list[str]]],
    fields: tuple[_Field, ...],
    required: list[tuple[str, ...]],
) -> dict[str, list[int]]:
    """Field name → the columns that hold it; ``ImportFailed`` naming every header problem."""
    lookup = {_key(alias): f.name for f in fields for alias in f.aliases}
    mapped: dict[str, list[int]] = {}
    unknown: list[str] = []
    for i, header in enumerate(headers):
        letter = get_column_letter(i + 1)
        if not header:
            if any(cells[i] for _, cells in rows):
                unknown.append(f"column {letter} has values but no header")
        elif (name := lookup.get(_key(header))) is None:
            unknown.append(f"column {letter} «{header}» is not a known column")
        else:
            mapped.setdefault(name, []).append(i)
    # 1C exports «Наименование» (the short working name) next to «Полное наименование».
    names = mapped.get("legal_name", [])
    plain = [i for i in names if _key(headers[i]) == "наименование"]
    if len(names) == 2 and len(plain) == 1 and "short_name" not in mapped:
        mapped["short_name"], mapped["legal_name"] = plain, [i for i in names if i not in plain]
    problems = list(unknown)
    for f in fields:
        if len(mapped.get(f.name, [])) > 1 and not f.multi:
            shown = ", ".join(f"«{headers[i]}»" for i in mapped[f.name])
            problems.append(f"columns {shown} all mean {f.name}; keep one")
    # The headers of the file that no field needs (``trade.read_export`` passes them as the field
    # "ignored") are not columns it may have: the known ones are listed without them.
    listed = [f for f in fields if f.name != "ignored"]
    first = {f.name: f.aliases[0] for f in listed}
    for alternatives in required:
        if not any(name in mapped for name in alternatives):
            problems.append(
                "the file needs a column " + " or ".join(f"«{first[n]}»" for n in alternatives)
            )
    if problems:
        known = [f"{f.name}: " + " / ".join(f.aliases) for f in listed]
        message = "; ".join(problems[:5]) + ". Known columns: " + ", ".join(first.values())
        raise ImportFailed(
            message, details=problems + ["known columns (any case and spacing):", *known]
        )
    return mapped


# ----------------------------------------------------------------------------- rows


@dataclass
class _Row:
    """One row on its way to ``records.create``, with every problem found so far."""

    number: int
    values: dict[str, list[tuple[str, str]]]  # field → (header, text) of its non-empty cells
    data: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(
        default_factory=dict
    )  # record field → header, to name columns in errors
    problems: list[tuple[str | None, str]] = field(default_factory=list)

    def get(self, name: str) -> tuple[str, str] | None:
        found = self.values.get(name)
        return found[0] if found else None

    def put(self, name: str, value: Any, header: str) -> None:
        self.data[name] = value
        self.where[name] = header

    def contacts(self) -> None:
        items: list[dict[str, str]] = []
        for name, kind, separators in (
            ("phones", "phone", r"[,;]"),
            ("emails", "email", r"[,;\s]+"),
        ):
            for header, text in self.values.get(name, []):
                if _EXPONENT.fullmatch(text):
                    self.problems.append((header, _exponent_message(text)))
                    continue
                for value in filter(None, (v.strip() for v in re.split(separators, text))):
                    self.where[f"contacts[{len(items)}]"] = header
                    items.append({"kind": kind, "value": value})
        if items:
            self.data["contacts"] = items


_EXPONENT = re.compile(r"\d+(?:[.,]\d+)?[eE][+]?\d+")


def _exponent_message(text: str) -> str:
    return (
        f"Excel saved {text!r} in exponent form and lost digits; "
        "format the column as Text, type the numbers again and save"
    )


def _tax_number(text: str, *, inn: bool) -> str:
    """An INN (else a KPP) as typed, repaired for what Excel does to long numbers."""
    if _EXPONENT.fullmatch(text):
        raise ValueError(_exponent_message(text))
    digits = "".join(re.sub(r"[.,]0+$", "", text).split())
    # A number column drops leading zeros (INNs and KPPs of regions 01-09 start with 0).
    if not (
        digits.isascii() and digits.isdigit() and len(digits) + 1 in ((10, 12) if inn else (9,))
    ):
        return digits
    if inn:
        try:  # only when that makes a valid INN; otherwise show the value as it was typed
            return validation.validate_inn("0" + digits)
        except ValueError:
            return digits
    return "0" + digits


def _date(text: str) -> date:
    text = text.split()[0]  # "17.05.1980 0:00:00" is how Excel writes a date cell to CSV
    for fmt in ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date; write dd.mm.yyyy, e.g. 17.05.1980")


def _check_lengths(rt: records.RecordType, row: _Row) -> None:
    # The rules do not check column lengths; PostgreSQL would refuse the whole import mid-way.
    table: Any = rt.model.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    for name, value in list(row.data.items()):
        limit = getattr(table.c[name].type, "length", None) if name in table.c else None
        if isinstance(value, str) and limit and len(value) > limit:
            row.problems.append((row.where.get(name), f"longer than {limit} characters"))
            row.data.pop(name)


def _drop_overlong(row: _Row) -> None:
    """Cells longer than Excel allows are a problem of their row (no field holds that much)."""
    for name, found in row.values.items():
        for header, text in found:
            if len(text) > MAX_CELL_CHARS:
                row.problems.append(
                    (header, f"{len(text)} characters; a cell holds at most {MAX_CELL_CHARS}")
                )
        row.values[name] = [(header, text) for header, text in found if len(text) <= MAX_CELL_CHARS]


class _Duplicates:
    """Rows whose key an earlier row or a stored record has: an error, or skipped when asked."""

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.seen: dict[tuple[str, str], int] = {}

    def skip_row(
        self,
        row: _Row,
        key: tuple[str, str],
        column: str | None,
        stored: Callable[[], str | None],
        what: str,
    ) -> bool:
        """True when ``row`` is to be skipped; a duplicate not to skip becomes a problem of the row."""
        first = self.seen.setdefault(key, row.number)
        duplicate_of = f"row {first}" if first != row.number else stored()
        if duplicate_of is None or self.skip:
            return duplicate_of is not None
        row.problems.append((column, f"duplicate of {duplicate_of}{what}"))
        return False


def _import(
    session: Session,
    actor: User,
    rt: records.RecordType,
    path: Path,
    fields: tuple[_Field, ...],
    required: list[tuple[str, ...]],
    prepare: Callable[[_Row], bool],
    *,
    progress: Progress | None,
    dry_run: bool,
) -> ImportReport:
    """Read ``path``, ``prepare`` each row (False: skip it) and create it; all or nothing."""
    headers, rows = read_table(path)
    columns = _map_headers(headers, rows, fields, required)
    filled = [(n, cells) for n, cells in rows if any(cells)]
    report = ImportReport(total=len(filled), empty=len(rows) - len(filled))
    outer = session.begin_nested()
    try:
        for done, (number, cells) in enumerate(filled, 1):
            values = {
                name: [(headers[i], cells[i]) for i in idx if cells[i]]
                for name, idx in columns.items()
            }
            row = _Row(number, values)
            _drop_overlong(row)
            for name, idx in columns.items():  # empty cells still name their column in errors
                row.where.setdefault(name, headers[idx[0]])
            if prepare(row):
                _check_lengths(rt, row)
                _create(session, actor, rt, row, report)
            else:  # a skipped duplicate: whatever else is wrong with it does not matter
                report.skipped += 1
                row.problems.clear()
            report.errors += [RowError(number, column, message) for column, message in row.problems]
            if progress and (done % PROGRESS_EVERY == 0 or done == len(filled)):
                progress(done, len(filled))
    except BaseException:
        outer.rollback()
        raise
    if report.errors or dry_run:
        outer.rollback()
    else:
        outer.commit()
    log.info(
        "import of %s: %d rows, %d created, %d skipped, %d errors%s",
        rt.name,
        report.total,
        report.created,
        report.skipped,
        len(report.errors),
        " (dry run)" if dry_run else "",
    )
    if report.errors and not dry_run:
        bad = len({e.row for e in report.errors})
        details = [str(e) for e in report.errors[:MAX_DETAILS]]
        if len(report.errors) > MAX_DETAILS:
            details.append(f"… and {len(report.errors) - MAX_DETAILS} more")
        raise ImportFailed(
            f"{bad} of {report.total} rows have errors; nothing was imported", details=details
        )
    return report


def _create(
    session: Session, actor: User, rt: records.RecordType, row: _Row, report: ImportReport
) -> None:
    # A savepoint per row: a refused row leaves nothing behind for the rows after it.
    savepoint = session.begin_nested()
    try:
        record = records.create(session, actor, rt, row.data)
    except ValidationFailed as exc:
        savepoint.rollback()
        problems = exc.details if isinstance(exc.details, dict) else {None: exc.message}
        # What the importer already faulted (e.g. no counterparty found, so none is given)
        # needs no second message.
        known = {column for column, _ in row.problems if column is not None}
        for name, msg in problems.items():
            column = row.where.get(str(name))
            if (column is None or column not in known) and not (
                row.problems and msg == "is required"
            ):
                row.problems.append((column, str(msg)))
        return
    except (
        SatchelError
    ) as exc:  # refused by the access rules: name the column that ties it to people
        savepoint.rollback()
        if not row.problems:  # otherwise it is mostly their consequence (no counterparty found)
            row.problems.append(
                (row.where.get(rt.relations[0]) if rt.relations else None, exc.message)
            )
        return
    if row.problems:
        savepoint.rollback()
        return
    savepoint.commit()
    report.created += 1
    report.created_ids.append(record.id)


# ----------------------------------------------------------------------------- counterparties

_KINDS = {
    "клиент": "client",
    "покупатель": "client",
    "поставщик": "supplier",
    "партнер": "partner",
    "конкурент": "competitor",
    "потенциальный": "prospect",
    "потенциальный клиент": "prospect",
    **{k: k for k in ("client", "supplier", "partner", "competitor", "prospect")},
}
_PLAIN = (
    "legal_name",
    "short_name",
    "legal_form",
    "legal_address",
    "actual_address",
    "website",
    "industry",
    "region",
    "segment",
    "source",
    "notes",
)


def _find_user(users: list[User], text: str) -> User:
    """A user by login or, as 1C writes «Основной менеджер», by exact full name."""
    login, name = text.strip().lower(), validation.fold_text(text)
    found = [u for u in users if u.login == login] or [
        u for u in users if validation.fold_text(u.full_name) == name
    ]
    if len(found) == 1:
        return found[0]
    raise ValueError(
        f"{len(found)} users are named {text!r}; give the login"
        if found
        else f"no user with login {text!r}"
    )


def import_counterparties(
    session: Session,
    actor: User,
    path: Path,
    *,
    owner: User | None = None,
    skip_existing: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Create a counterparty per row of ``path``, as ``actor``, all or nothing.

    The owner is the row's «Ответственный» (login or full name), else ``owner``,
    else ``actor``. A row whose INN and KPP match a counterparty ``actor`` can see,
    or an earlier row, is an error; with ``skip_existing`` it is counted in
    ``skipped``. Raises ``ImportFailed`` with one detail line per problem and
    leaves ``session`` as it was; ``dry_run`` instead returns the report with its
    errors and rolls everything back.
    """
    rt = records.record_type("counterparties")
    visible = records.visible(rt, actor)
    users: list[User] = []  # loaded at the first «Ответственный»: most files have none
    duplicates = _Duplicates(skip_existing)

    def prepare(row: _Row) -> bool:
        nonlocal users
        for name in _PLAIN:
            if (cell := row.get(name)) is not None:
                row.put(name, cell[1], cell[0])
        for name in ("inn", "kpp"):
            if (cell := row.get(name)) is not None:
                try:
                    row.put(name, _tax_number(cell[1], inn=name == "inn"), cell[0])
                except ValueError as exc:
                    row.problems.append((cell[0], str(exc)))
        for name in ("tags", "kinds"):
            parts = [
                p.strip() for _, text in row.values.get(name, []) for p in re.split(r"[,;]", text)
            ]
            if any(parts):
                row.data[name] = list(dict.fromkeys(p for p in parts if p))
        kinds = [_KINDS.get(validation.fold_text(k)) for k in row.data.get("kinds", [])]
        if None in kinds:
            allowed = "клиент, поставщик, партнёр, конкурент, потенциальный"
            row.problems.append((row.where["kinds"], f"must be one of {allowed}"))
            row.data.pop("kinds")
        elif kinds:
            row.data["kinds"] = kinds
        row.contacts()
        if (cell := row.get("owner")) is not None:
            users = users or list(session.execute(select(User)).scalars())
            try:
                row.put("owner_id", _find_user(users, cell[1]).id, cell[0])
            except ValueError as exc:
                row.problems.append((cell[0], str(exc)))
        elif owner is not None:
            row.data["owner_id"] = owner.id
        try:
            inn = validation.validate_inn(row.data.get("inn") or "")
            kpp = validation.validate_kpp(row.data["kpp"]) if row.data.get("kpp") else ""
        except ValueError:
            return True  # no INN to compare, or a bad one the rules will report

        def stored() -> str | None:
            # Only among what the actor sees: saying more would reveal other people's clients.
            same_kpp = (
                col(Counterparty.kpp) == kpp
                if kpp
                else or_(col(Counterparty.kpp).is_(None), col(Counterparty.kpp) == "")
            )
            stmt = select(col(Counterparty.legal_name)).where(
                visible, col(Counterparty.inn) == inn, same_kpp
            )
            name = session.execute(stmt.limit(1)).scalar()
            return f"«{name}» already in Satchel" if name is not None else None

        what = f" (ИНН {inn}" + (f", КПП {kpp})" if kpp else ")")
        return not duplicates.skip_row(row, (inn, kpp), row.where.get("inn"), stored, what)

    return _import(
        session,
        actor,
        rt,
        path,
        COUNTERPARTY_FIELDS,
        [("legal_name",)],
        prepare,
        progress=progress,
        dry_run=dry_run,
    )


# ----------------------------------------------------------------------------- contact persons


def import_contact_persons(
    session: Session,
    actor: User,
    path: Path,
    *,
    skip_existing: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Create a contact person per row of ``path``, as ``actor``, all or nothing.

    The counterparty is found among those ``actor`` can see by «ИНН контрагента»
    (with «КПП контрагента» to tell branches apart), else by «Контрагент», its
    exact legal or short name; none or several is a row error. A person whose
    full name already exists at that counterparty, or in an earlier row, is an
    error, or skipped with ``skip_existing``. Errors as ``import_counterparties``.
    """
    rt = records.record_type("contact-persons")
    visible = records.visible(records.record_type("counterparties"), actor)
    companies: dict[
        tuple[str, str], str | ValueError
    ] = {}  # lookups repeat: many people per company
    duplicates = _Duplicates(skip_existing)

    def counterparty(row: _Row) -> str:
        """The id of the row's counterparty; ``ValueError`` says why not, ``where`` names the column."""
        if (cell := row.get("counterparty_inn")) is not None:
            row.where["counterparty_id"] = cell[0]
            inn, kpp = validation.validate_inn(_tax_number(cell[1], inn=True)), ""
            if (kpp_cell := row.get("counterparty_kpp")) is not None:
                row.where["counterparty_id"] = kpp_cell[0]  # a bad KPP names its own column
                kpp = validation.validate_kpp(_tax_number(kpp_cell[1], inn=False))
                row.where["counterparty_id"] = cell[0]
            conds = [col(Counterparty.inn) == inn, *([col(Counterparty.kpp) == kpp] if kpp else [])]
            key, what = ("inn", f"{inn} {kpp}"), f"ИНН {inn}" + (f" and КПП {kpp}" if kpp else "")
        elif (cell := row.get("counterparty")) is not None:
            row.where["counterparty_id"] = cell[0]
            name = validation.fold_text(cell[1])
            key, what = ("name", name), f"the name {cell[1]!r}"
            conds = [col(Counterparty.search_name).contains(name, autoescape=True)]
        else:
            raise ValueError("say which counterparty: fill «ИНН контрагента» or «Контрагент»")
        if key not in companies:
            found = session.execute(select(Counterparty).where(visible, *conds)).scalars().all()
            if (
                key[0] == "name"
            ):  # search_name holds legal and short name together: compare each whole
                found = [
                    c
                    for c in found
                    if key[1]
                    in (
                        validation.fold_text(c.legal_name),
                        validation.fold_text(c.short_name or ""),
                    )
                ]
            companies[key] = (
                found[0].id
                if len(found) == 1
                else ValueError(
                    f"no counterparty you can see has {what}"
                    if not found
                    else f"{len(found)} counterparties have {what}: "
                    + "; ".join(f"«{c.legal_name}» КПП {c.kpp or '—'}" for c in found[:5])
                    + (
                        " — add a «КПП контрагента» column"
                        if key[0] == "inn"
                        else " — give the ИНН instead"
                    )
                )
            )
        result = companies[key]
        if isinstance(result, ValueError):
            raise result
        return result

    def prepare(row: _Row) -> bool:
        for name in ("full_name", "position", "notes"):
            if (cell := row.get(name)) is not None:
                row.put(name, cell[1], cell[0])
        row.contacts()
        if (cell := row.get("birthday")) is not None:
            try:
                born = _date(cell[1])
                if born > date.today():
                    raise ValueError(f"{cell[1]!r} is in the future")
                row.put("birthday", born, cell[0])
            except ValueError as exc:
                row.problems.append((cell[0], str(exc)))
        if (cell := row.get("birthday_remind_days")) is not None:
            if re.fullmatch(r"\d+", cell[1]):
                row.put("birthday_remind_days", int(cell[1]), cell[0])
            else:
                row.problems.append((cell[0], f"{cell[1]!r} is not a whole number of days"))
        try:
            row.data["counterparty_id"] = counterparty(row)
        except ValueError as exc:
            row.problems.append((row.where.get("counterparty_id"), str(exc)))
            return True  # still let the rules look at the rest of the row
        key = (row.data["counterparty_id"], validation.fold_text(row.data.get("full_name") or ""))

        def stored() -> str | None:
            stmt = select(col(ContactPerson.id)).where(
                col(ContactPerson.counterparty_id) == key[0],
                col(ContactPerson.search_name) == key[1],
            )
            return (
                "a contact person already in Satchel"
                if session.execute(stmt.limit(1)).first()
                else None
            )

        return not key[1] or not duplicates.skip_row(
            row, key, row.where.get("full_name"), stored, " at this counterparty"
        )

    return _import(
        session,
        actor,
        rt,
        path,
        CONTACT_PERSON_FIELDS,
        [("full_name",), ("counterparty_inn", "counterparty")],
        prepare,
        progress=progress,
        dry_run=dry_run,
    )
