"""Reading 1C's CommerceML 2 documents (``КоммерческаяИнформация``): shipments and invoices.

1C:УТ, КА and ERP (and the web shops that talk to them) exchange documents in CommerceML
2.03–2.10: one ``Документ`` element per document, directly under the root or in a
``Контейнер``, each with its ``Ид``, ``Номер``, ``Дата``, ``ХозОперация`` (what it is),
``Валюта``, ``Курс``, ``Сумма``, its ``Контрагенты`` (each with a ``Роль``), its ``Товары``
and its ``ЗначенияРеквизитов`` (name/value pairs: «Проведен», «ПометкаУдаления», «Договор»,
«Срок оплаты», «Ответственный»…). The file may carry a ``Классификатор`` naming the product
groups its ``Товар`` lines point at.

What is read (``parse``, ``read``):

- ``ХозОперация`` «Отпуск товара» is a shipment (``SHIPMENT``: sales), «Счет на оплату» an
  invoice (``INVOICE``). Every other operation (orders, returns, payments…) is not imported:
  it is listed in ``Package.skipped`` with its number. A return is not stored as negative
  sales: which sale it returns, and at what price, the document does not say for sure.
- A document marked for deletion («ПометкаУдаления» true), not posted («Проведен» false), or
  written by the buyer's side (the document's ``Роль`` «Покупатель»: our purchase, not a sale)
  is skipped and listed likewise; so is a second copy of a document (the same ``Ид``).
- The client is the ``Контрагент`` whose ``Роль`` is «Покупатель» (for an invoice
  «Плательщик» first), else the only one: its ``ИНН``, ``КПП`` and names.
- Amounts: the ``Сумма`` of each ``Товар`` line, summed per product group (the line's
  ``Группы/Ид`` named by the file's ``Классификатор``, else its «НоменклатурнаяГруппа» or
  «ВидНоменклатуры» requisite, else ""); a document without lines is one amount of group "".
  ``1234.50``, ``1 234,50`` (spaces, non-breaking too) are read; more than two decimals, signs
  of exponent and anything else are errors. A document in another currency is converted to
  roubles at its ``Курс``.

A file is untrusted input. A DTD or an entity declaration (``<!DOCTYPE``, ``<!ENTITY``: the
way to billion-laughs and external-entity attacks) is refused before anything is parsed; the
file is read in chunks and each document is dropped once read, so its size is bounded by
``MAX_FILE_BYTES`` and not by memory. The encoding is the XML declaration's (windows-1251 or
UTF-8, a byte-order mark first); the namespace ``urn:1C.ru:commerceml_2`` is optional.

One bad document must not hide the others: every problem is a ``DocumentError`` naming the
document's number and the line of the file, and the importer (``crm.commerceml_import``)
refuses the whole file listing them all. A file that is not CommerceML at all (not XML,
another root, a DTD, undecodable, too large) raises ``CommerceMLError``. Nothing here touches
a database.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

from crm.errors import ImportFailed

# A year of a busy company's shipments with their lines is tens of MB; read in chunks.
MAX_FILE_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_NUMBER = 60  # characters of a document number (``Sale.number``, ``Invoice.number``)
MAX_GROUP = 200  # characters of a product group (``Sale.product_group``)
MAX_AMOUNT = Decimal("1e13")  # the bound of a sale's amount (``crm.trade.MAX_AMOUNT``)
ROOT = "КоммерческаяИнформация"

SHIPMENT = "shipment"
INVOICE = "invoice"
# ХозОперация (folded: lower case, ё as е, no spaces) → what Satchel imports it as.
KINDS = {"отпусктовара": SHIPMENT, "счетнаоплату": INVOICE}
# Who the client is, by the Контрагент's Роль (folded), in order of preference.
BUYER_ROLES = {
    SHIPMENT: ("покупатель", "плательщик", "получатель"),
    INVOICE: ("плательщик", "покупатель", "получатель"),
}
# Why a document read is not imported (``Skipped.reason``).
NOT_IMPORTED = "not imported: only shipments and invoices for payment are"
DELETED = "marked for deletion"
NOT_POSTED = "not posted"
PURCHASE = "written by the buyer's side (its Роль is Покупатель): a purchase, not a sale"
COPY = "a copy of a document read before"
ROUBLES = {"", "руб", "руб.", "rub", "rur", "643", "₽", "рубль", "российскийрубль"}
# Encodings a CommerceML file is written in, as Python names them (``codecs.lookup(...).name``).
ENCODINGS = {"utf-8", "cp1251", "koi8-r", "cp866", "ascii", "utf-16", "utf-16-le", "utf-16-be"}

_NAMES = {"utf-8-sig": "UTF-8", "cp1251": "windows-1251", "utf-16": "UTF-16"}  # for messages
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_AMOUNT = re.compile(r"[-+]?\d+(?:\.\d+)?")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_RU_DAY = re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_CONTRACT_NUMBER = re.compile(r"№\s*([^\s,;]+)")
_Fail = Callable[[int, str], None]  # fail(line, message): a problem of the document being read
_TRUE = {"true", "да", "истина", "1", "yes"}
_FALSE = {"false", "нет", "ложь", "0", "no"}


class CommerceMLError(ImportFailed):
    """The file is not a CommerceML document Satchel reads (``line``: where, when known)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class Party:
    """The client of a document, as the file names it; absent fields are ""."""

    inn: str
    kpp: str
    name: str  # Наименование
    full_name: str  # ПолноеНаименование or ОфициальноеНаименование
    role: str

    @property
    def names(self) -> list[str]:
        """Its names, the short one first, each once."""
        return list(dict.fromkeys(n for n in (self.name, self.full_name) if n))


@dataclass
class Document:
    """A shipment or an invoice to import; amounts in roubles, two places."""

    line: int  # of its ``Документ`` element
    id: str  # Ид
    kind: str  # SHIPMENT or INVOICE
    operation: str  # ХозОперация as written
    number: str
    date: dt.date  # the field hides the type below it
    buyer: Party
    groups: dict[str, Decimal]  # product group ("" when none) → amount
    total: Decimal  # the document's Сумма (the lines' sum when it has none)
    due_on: dt.date | None = None  # СрокПлатежа, Срок or «Срок оплаты» (invoices)
    contract: str | None = None  # «Договор» (invoices): its number when it says «№ …»
    salesperson: str | None = None  # «Ответственный», «Менеджер», «Основной менеджер»


@dataclass(frozen=True)
class Skipped:
    """A document read and not imported, and why."""

    line: int
    operation: str  # ХозОперация as written ("" when none)
    number: str
    day: str  # its Дата as written
    reason: str  # one of REASONS
    detail: str = ""

    def __str__(self) -> str:
        return (
            f"line {self.line}: {self.operation or '?'} № {self.number or '?'} "
            f"от {self.day or '?'}: {self.reason}" + (f" ({self.detail})" if self.detail else "")
        )


@dataclass(frozen=True)
class DocumentError:
    """What is wrong with a document: its number (as written) and the line of the problem."""

    line: int
    number: str
    message: str
    document: int = 0  # the line of its Документ element

    def __str__(self) -> str:
        which = f"document № {self.number}" if self.number else "a document without a number"
        return f"line {self.line}, {which}: {self.message}"


@dataclass
class Package:
    """What a file holds: its documents to import, those skipped and the problems."""

    version: str = ""  # ВерсияСхемы
    read: int = 0  # Документ elements read
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[DocumentError] = field(default_factory=list)


# ----------------------------------------------------------------------------- the tree


class _Node:
    """An element of a document or the classifier: its local name, line, children, text."""

    __slots__ = ("children", "line", "parts", "tag")

    def __init__(self, tag: str, line: int) -> None:
        self.tag = tag
        self.line = line
        self.children: list[_Node] = []
        self.parts: list[str] = []

    def child(self, name: str) -> _Node | None:
        return next((c for c in self.children if c.tag == name), None)

    def all(self, name: str) -> list[_Node]:
        return [c for c in self.children if c.tag == name]

    def under(self, outer: str, inner: str) -> list[_Node]:
        """``inner`` children of every ``outer`` child: ``doc.under("Товары", "Товар")``."""
        return [n for o in self.all(outer) for n in o.all(inner)]

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def value(self, name: str) -> str:
        found = self.child(name)
        return found.text if found is not None else ""


def _fold(text: str) -> str:
    return _SPACES.sub("", text).lower().replace("ё", "е")


def _requisites(node: _Node) -> dict[str, tuple[str, int]]:
    """``ЗначенияРеквизитов``: folded name → (value, line); the first of a name counts."""
    found: dict[str, tuple[str, int]] = {}
    for pair in node.under("ЗначенияРеквизитов", "ЗначениеРеквизита"):
        name = _fold(pair.value("Наименование"))
        value = pair.child("Значение")
        if name and name not in found:
            found[name] = (value.text if value is not None else "", pair.line)
    return found


# ----------------------------------------------------------------------------- values


def parse_amount(text: str) -> Decimal:
    """An amount as 1C and people write it: ``1234.50``, ``1 234,50``; at most two decimals."""
    cleaned = _SPACES.sub("", text).replace(",", ".")
    if not _AMOUNT.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not an amount")
    value = Decimal(cleaned)
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(f"{text!r} is more than an amount can be (under 10 000 000 000 000)")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{text!r} has more than two decimals (kopecks)")
    return value.quantize(Decimal("0.01"))


def parse_rate(text: str) -> Decimal:
    """A Курс: a number above zero, as many decimals as the bank gave."""
    cleaned = _SPACES.sub("", text).replace(",", ".")
    if not _AMOUNT.fullmatch(cleaned) or len(cleaned) > 30 or Decimal(cleaned) <= 0:
        raise ValueError(f"Курс {text!r} is not an exchange rate")
    return Decimal(cleaned)


def parse_day(text: str) -> date:
    """``2026-03-10`` (as CommerceML writes dates, a time after it allowed) or ``10.03.2026``."""
    words = text.split()
    first = words[0].split("T")[0] if words else ""
    try:
        if _ISO_DAY.fullmatch(first):
            return date.fromisoformat(first)
        if _RU_DAY.fullmatch(first):
            return datetime.strptime(first, "%d.%m.%Y").date()
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or dd.mm.yyyy)")


def _flag(value: str, name: str) -> bool:
    folded = _fold(value)
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(f"«{name}» is {value!r}, neither true nor false")


def _contract(text: str) -> str:
    """A contract as 1C presents it («Договор поставки № 15/2025 от 01.02.2025»): its number."""
    found = _CONTRACT_NUMBER.search(text)
    return (found.group(1) if found else text)[:MAX_NUMBER]


# ----------------------------------------------------------------------------- reading


def read(path: Path) -> Package:
    """The documents of a CommerceML file (see the module); ``CommerceMLError`` if it is none."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CommerceMLError(
            f"the file has {size} bytes; at most {MAX_FILE_BYTES} are read: export a shorter period"
        )
    with path.open("rb") as stream:
        return parse_stream(stream)


def parse(raw: bytes) -> Package:
    """The documents of a CommerceML file's bytes (see ``read``)."""
    if len(raw) > MAX_FILE_BYTES:
        raise CommerceMLError(f"the file has {len(raw)} bytes; at most {MAX_FILE_BYTES} are read")
    return parse_stream(io.BytesIO(raw))


def _encoding(head: bytes) -> str:
    """The codec of a file from its first bytes: a byte-order mark, else the XML declaration."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    declared = _DECLARED.match(head)
    if declared is None:
        return "utf-8"  # XML's default
    name = declared.group(1).decode("ascii")
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        codec = ""
    if codec not in ENCODINGS:
        raise CommerceMLError(f"the encoding {name!r} is not one 1C writes (windows-1251, UTF-8)")
    return "utf-8-sig" if codec == "utf-8" else codec


def _chunks(stream: BinaryIO) -> Iterator[str]:
    """The file's text in chunks; refuses what does not decode and any DTD before it is parsed."""
    head = stream.read(CHUNK)
    encoding = _encoding(head)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines, tail, raw = 1, "", head
    while True:
        final = len(raw) == 0
        try:
            text = decoder.decode(raw, final=final)
        except UnicodeDecodeError:
            raise CommerceMLError(
                f"the text is not {_NAMES.get(encoding, encoding)} (after line {lines})"
            ) from None
        window = tail + text
        if (found := _FORBIDDEN.search(window)) is not None:
            raise CommerceMLError(
                "the file declares a DTD or entities (<!DOCTYPE …>, <!ENTITY …>): refused, a "
                "CommerceML file has none",
                line=lines - tail.count("\n") + window.count("\n", 0, found.start()),
            )
        lines += text.count("\n")
        tail = window[-16:]
        if text or final:
            yield text
        if final:
            return
        raw = stream.read(CHUNK)


class _Reader:
    """Expat's events into documents: a document's elements are kept until its end tag only."""

    def __init__(self) -> None:
        self.parser = expat.ParserCreate(namespace_separator="}")
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.buffer_text = True  # a text in one event, not one per chunk or entity
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.characters
        for handler in (
            "StartDoctypeDeclHandler",
            "EntityDeclHandler",
            "UnparsedEntityDeclHandler",
            "NotationDeclHandler",
            "ElementDeclHandler",
            "AttlistDeclHandler",
            "ExternalEntityRefHandler",
        ):
            setattr(self.parser, handler, self.refuse)
        self.path: list[str] = []  # the local names from the root down
        self.open: list[_Node] = []  # the kept elements being read, outermost first
        self.package = Package()
        self.raw: list[_Raw] = []
        self.groups: dict[str, str] = {}  # classifier: group Ид → name
        self.seen: dict[str, tuple[int, tuple[object, ...]]] = {}  # Ид → line, content

    def refuse(self, *_: object) -> None:
        raise CommerceMLError(
            "the file declares a DTD or entities (<!DOCTYPE …>, <!ENTITY …>): refused, a "
            "CommerceML file has none",
            line=self.parser.CurrentLineNumber,
        )

    def start(self, name: str, attributes: dict[str, str]) -> None:
        tag = name.rpartition("}")[2]
        line = self.parser.CurrentLineNumber
        if not self.path:
            if tag != ROOT:
                raise CommerceMLError(
                    f"not a CommerceML document: its root is <{tag}>, not <{ROOT}>", line=line
                )
            version = next(
                (v for k, v in attributes.items() if k.rpartition("}")[2] == "ВерсияСхемы"), ""
            ).strip()
            if version and not version.startswith("2."):
                raise CommerceMLError(
                    f"CommerceML {version} is not read: 1C's exchange files of versions 2.x are",
                    line=line,
                )
            self.package.version = version
        self.path.append(tag)
        if self.open:
            node = _Node(tag, line)
            self.open[-1].children.append(node)
            self.open.append(node)
        elif self._kept(tag):
            self.open.append(_Node(tag, line))

    def _kept(self, tag: str) -> bool:
        depth = len(self.path)
        if tag == "Документ":
            return depth == 2 or (depth == 3 and self.path[1] == "Контейнер")
        return tag == "Классификатор" and depth == 2

    def end(self, _name: str) -> None:
        self.path.pop()
        if not self.open:
            return
        node = self.open.pop()
        if self.open:
            return
        if node.tag == "Классификатор":
            self._classifier(node)
        else:
            self.package.read += 1
            self._document(node)

    def characters(self, data: str) -> None:
        if self.open:
            self.open[-1].parts.append(data)

    def _classifier(self, node: _Node) -> None:
        pending = node.under("Группы", "Группа")
        while pending:
            group = pending.pop()
            ident, name = group.value("Ид"), group.value("Наименование")
            if ident and name:
                self.groups.setdefault(ident, name[:MAX_GROUP])
            pending.extend(group.under("Группы", "Группа"))

    def _document(self, node: _Node) -> None:
        number = node.value("Номер")
        day = node.value("Дата")
        operation = " ".join(node.value("ХозОперация").split())
        requisites = _requisites(node)
        errors: list[DocumentError] = []

        def fail(at: int, message: str) -> None:
            errors.append(DocumentError(at, number, message, node.line))

        def skip(reason: str, detail: str = "") -> None:
            self.package.skipped.append(Skipped(node.line, operation, number, day, reason, detail))

        kind = KINDS.get(_fold(operation))
        if not operation:
            fail(node.line, "it says no ХозОперация (what the document is)")
        elif kind is None:
            skip(NOT_IMPORTED)
        elif (reason := self._skipped(node, requisites, fail)) is not None:
            skip(reason)
        elif (raw := self._read(node, kind, operation, number, requisites, fail)) is not None:
            if not raw.id:
                self.raw.append(raw)
            elif raw.id not in self.seen:
                self.seen[raw.id] = (node.line, raw.content())
                self.raw.append(raw)
            elif self.seen[raw.id][1] == raw.content():
                skip(COPY, f"the same Ид as the document at line {self.seen[raw.id][0]}")
            else:
                fail(node.line, f"its Ид is the document's at line {self.seen[raw.id][0]}")
        self.package.errors += errors

    @staticmethod
    def _skipped(node: _Node, requisites: dict[str, tuple[str, int]], fail: _Fail) -> str | None:
        """Why a shipment or invoice is not imported: deleted, not posted, our purchase."""
        for names, skipping, reason in (
            (("пометкаудаления",), True, DELETED),
            (("проведен",), False, NOT_POSTED),
        ):
            found = next((requisites[n] for n in names if n in requisites), None)
            if found is None:
                continue
            try:
                if _flag(found[0], names[0]) is skipping:
                    return reason
            except ValueError as exc:
                fail(found[1], str(exc))
        if _fold(node.value("Роль")) in ("покупатель", "плательщик"):
            return PURCHASE
        return None

    def _read(
        self,
        node: _Node,
        kind: str,
        operation: str,
        number: str,
        requisites: dict[str, tuple[str, int]],
        fail: _Fail,
    ) -> _Raw | None:
        if not number:
            fail(node.line, "it has no Номер")
        elif len(number) > MAX_NUMBER:
            fail(_line(node, "Номер"), f"its Номер is longer than {MAX_NUMBER} characters")
        day: date | None = None
        try:
            day = parse_day(node.value("Дата"))
        except ValueError as exc:
            fail(_line(node, "Дата"), f"Дата: {exc}")
        rate = Decimal(1)
        currency = node.value("Валюта")
        if _fold(currency) not in ROUBLES:
            try:
                if not node.value("Курс"):
                    raise ValueError(f"it is in {currency} and gives no Курс to roubles")
                rate = parse_rate(node.value("Курс"))
            except ValueError as exc:
                fail(_line(node, "Курс"), str(exc))
        total: Decimal | None = None
        if node.value("Сумма"):
            try:
                total = parse_amount(node.value("Сумма"))
            except ValueError as exc:
                fail(_line(node, "Сумма"), f"Сумма: {exc}")
        lines: dict[tuple[tuple[str, ...], str], Decimal] = {}
        items = node.under("Товары", "Товар")
        if not node.value("Сумма") and not items:
            fail(node.line, "it has neither a Сумма nor lines (Товары) with theirs")
        for item in items:
            if not item.value("Сумма"):
                fail(item.line, f"the line {item.value('Наименование')!r} has no Сумма")
                continue
            try:
                amount = parse_amount(item.value("Сумма"))
            except ValueError as exc:
                fail(_line(item, "Сумма"), f"the line {item.value('Наименование')!r}: {exc}")
                continue
            ids = tuple(g.text for g in item.under("Группы", "Ид") if g.text)
            own = _requisites(item)
            fallback = next(
                (own[n][0] for n in ("номенклатурнаягруппа", "видноменклатуры") if own.get(n)),
                "",
            )
            key = (ids, fallback[:MAX_GROUP])
            lines[key] = lines.get(key, Decimal(0)) + amount
        buyer = self._buyer(node, kind, fail)
        due: date | None = None
        contract = salesperson = None
        if kind == INVOICE:
            for text, at in (
                (node.value("СрокПлатежа"), _line(node, "СрокПлатежа")),
                (node.value("Срок"), _line(node, "Срок")),
                *(requisites[n] for n in ("срокоплаты", "срокплатежа") if n in requisites),
            ):
                if text:
                    try:
                        due = parse_day(text)
                    except ValueError as exc:
                        fail(at, f"the payment's term: {exc}")
                    break
            written = requisites.get("договор", ("", 0))[0]
            contract = _contract(written) if written.strip() else None
        salesperson = next(
            (
                requisites[n][0].strip()
                for n in ("ответственный", "менеджер", "основнойменеджер")
                if requisites.get(n, ("", 0))[0].strip()
            ),
            None,
        )
        if day is None or buyer is None or (total is None and not lines):
            return None
        return _Raw(
            node.line,
            node.value("Ид"),
            kind,
            operation,
            number,
            day,
            buyer,
            lines,
            total,
            rate,
            due,
            contract,
            salesperson,
        )

    def _buyer(self, node: _Node, kind: str, fail: _Fail) -> Party | None:
        parties = node.under("Контрагенты", "Контрагент")
        chosen: _Node | None = None
        for role in BUYER_ROLES[kind]:
            having = [p for p in parties if _fold(p.value("Роль")) == role]
            if len(having) > 1:
                fail(having[1].line, f"it has {len(having)} Контрагенты with Роль {role}")
                return None
            if having:
                chosen = having[0]
                break
        if chosen is None and len(parties) == 1:
            chosen = parties[0]
        if chosen is None:
            fail(
                _line(node, "Контрагенты"),
                f"it has {len(parties)} Контрагенты and none is the buyer (Роль Покупатель)"
                if parties
                else "it names no Контрагент (the client)",
            )
            return None
        return Party(
            inn=_SPACES.sub("", chosen.value("ИНН")),
            kpp=_SPACES.sub("", chosen.value("КПП")),
            name=" ".join(chosen.value("Наименование").split()),
            full_name=" ".join(
                (
                    chosen.value("ПолноеНаименование") or chosen.value("ОфициальноеНаименование")
                ).split()
            ),
            role=chosen.value("Роль"),
        )

    def finish(self) -> Package:
        for raw in self.raw:
            try:
                self.package.documents.append(raw.document(self.groups))
            except ValueError as exc:
                self.package.errors.append(DocumentError(raw.line, raw.number, str(exc), raw.line))
        self.package.errors.sort(key=lambda e: e.line)
        return self.package


@dataclass
class _Raw:
    """A document read, its lines' groups not yet named (the classifier may come after it)."""

    line: int
    id: str
    kind: str
    operation: str
    number: str
    day: date
    buyer: Party
    lines: dict[tuple[tuple[str, ...], str], Decimal]
    total: Decimal | None
    rate: Decimal
    due: date | None
    contract: str | None
    salesperson: str | None

    def content(self) -> tuple[object, ...]:
        return (
            self.kind,
            self.number,
            self.day,
            self.buyer,
            sorted(self.lines.items()),
            self.total,
            self.rate,
            self.due,
            self.contract,
            self.salesperson,
        )

    def document(self, names: dict[str, str]) -> Document:
        groups: dict[str, Decimal] = {}
        for (ids, fallback), amount in self.lines.items():
            group = next((names[i] for i in ids if i in names), fallback).strip()
            groups[group] = groups.get(group, Decimal(0)) + amount
        if not groups and self.total is not None:
            groups[""] = self.total
        total = self.total if self.total is not None else sum(groups.values(), Decimal(0))
        if self.rate != 1:
            groups = {g: _roubles(a, self.rate) for g, a in groups.items()}
            total = _roubles(total, self.rate)
        for amount in (*groups.values(), total):
            if abs(amount) >= MAX_AMOUNT:
                raise ValueError(f"{amount} is more than an amount can be")
        return Document(
            line=self.line,
            id=self.id,
            kind=self.kind,
            operation=self.operation,
            number=self.number,
            date=self.day,
            buyer=self.buyer,
            groups=groups,
            total=total,
            due_on=self.due,
            contract=self.contract,
            salesperson=self.salesperson,
        )


def _roubles(amount: Decimal, rate: Decimal) -> Decimal:
    try:
        value = amount * rate
        if abs(value) >= MAX_AMOUNT:
            raise ValueError(f"{amount} at the rate {rate} is more than an amount can be")
        return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"{amount} at the rate {rate} is not an amount") from None


def _line(node: _Node, name: str) -> int:
    found = node.child(name)
    return found.line if found is not None else node.line


def parse_stream(stream: BinaryIO) -> Package:
    """The documents of a CommerceML file read from ``stream`` (see ``read``)."""
    reader = _Reader()
    try:
        chunks = _chunks(stream)
        for text in chunks:
            reader.parser.Parse(text, False)
        reader.parser.Parse("", True)
    except expat.ExpatError as exc:
        raise CommerceMLError(
            f"not well-formed XML: {expat.ErrorString(exc.code)}", line=exc.lineno
        ) from None
    return reader.finish()


__all__ = [
    "INVOICE",
    "SHIPMENT",
    "CommerceMLError",
    "Document",
    "DocumentError",
    "Package",
    "Party",
    "Skipped",
    "parse",
    "parse_amount",
    "parse_day",
    "read",
]
