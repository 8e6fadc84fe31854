"""Reading bank statements in 1C's ``1CClientBankExchange`` text format.

Every Russian bank's client-bank and 1C:Enterprise exchange statements as this
format: a windows-1251 (``Кодировка=Windows``) or cp866 (``Кодировка=DOS``)
text of ``Key=Value`` lines, a header, an optional ``СекцияРасчСчет`` with the
balances, and one ``СекцияДокумент=…`` … ``КонецДокумента`` section per payment.
Satchel reads it to see who paid whom: an incoming payment is a purchase of the
counterparty that paid, and belongs in its history.

A statement is untrusted input and often imperfect: typed by hand in a bank's
web form, cut short by a mailer, edited in Notepad. One bad payment must not
lose the other hundred, so ``parse_statement`` keeps every good document and
reports each bad one as a ``BankLineError`` naming its line and everything that
is wrong with it. Only a file that is not a statement at all (another kind of
file, larger than ``MAX_FILE_BYTES``, undecodable) is refused with
``ImportFailed``.

Statements overlap: a salesperson imports October, then 15 October to
15 November. ``BankDocument.key`` identifies a payment by what the bank keeps
the same in every export (number, date, amount, payer INN and account, payee
account), so the importer can skip what it already has.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from crm.errors import ImportFailed

# Far above any real statement: a busy account's year is a few MB.
MAX_FILE_BYTES = 32 * 1024 * 1024
SIGNATURE = "1CClientBankExchange"
# The header ends where the first section starts; the encoding is declared within it.
_HEADER_LINES = 200
_ENCODINGS = {"windows": "cp1251", "dos": "cp866", "utf-8": "utf-8", "utf8": "utf-8"}
_ENCODING_KEYS = tuple("Кодировка=".encode(name) for name in ("cp1251", "cp866"))

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BYTE_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
# Digits, an optional comma or dot and at most two decimals; spaces are removed first.
_AMOUNT = re.compile(r"\d{1,15}(?:[.,]\d{1,2})?")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_INN = re.compile(r"\d{10}|\d{12}")
# Four digits (the tax office), two digits or Latin capitals (the reason), three digits.
_KPP = re.compile(r"\d{4}[\dA-Z]{2}\d{3}")
# Banks prefix the name with the INN (and sometimes the KPP): "ИНН 7701234567 ООО ...".
_NAME_PREFIX = re.compile(r"^\s*ИНН\s*(\d+)\s*(?:КПП\s*\d+\s*)?")

DIRECTIONS = ("in", "out", "unknown")


@dataclass(frozen=True)
class BankDocument:
    """One payment of a statement; text fields are stripped, absent ones are ""."""

    line: int  # the line of its СекцияДокумент
    kind: str  # "Платежное поручение", "Банковский ордер", ...
    number: str
    date: dt.date  # the class's own ``date`` field hides the type below it
    amount: Decimal  # two places, more than zero
    payer_name: str
    payer_inn: str
    payer_kpp: str
    payer_account: str
    payee_name: str
    payee_inn: str
    payee_kpp: str
    payee_account: str
    purpose: str
    received: dt.date | None  # ДатаПоступило
    written_off: dt.date | None  # ДатаСписано

    @property
    def key(self) -> str:
        """The same payment in any statement that contains it has the same key.

        Built from the number (leading zeros dropped: banks and 1C disagree on
        them), the date, the amount, the payer's INN and account and the payee's
        account: what the bank carries unchanged from export to export. Not the
        line, the kind or the names, which differ between exports. A SHA-256 in
        hex, 64 characters, to fit a unique column.
        """
        parts = [
            self.number.lstrip("0") or "0",
            self.date.isoformat(),
            f"{self.amount:.2f}",
            self.payer_inn,
            self.payer_account,
            self.payee_account,
        ]
        return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


@dataclass
class BankLineError:
    """What is wrong at a line: a whole document (its СекцияДокумент line) or one header line."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Statement:
    """The account and period a statement covers, its good documents and its problems."""

    account: str
    starts: date | None
    ends: date | None
    documents: list[BankDocument] = field(default_factory=list)
    errors: list[BankLineError] = field(default_factory=list)


def parse_statement(raw: bytes) -> Statement:
    """The statement in ``raw``, the bytes of a ``1CClientBankExchange`` file.

    A bad document (missing or invalid Номер, Дата or Сумма, an invalid INN,
    KPP or date, a line without ``=``, no ``КонецДокумента``) is left out and
    reported in ``errors`` with every problem it has; the others are kept.
    Raises ``ImportFailed`` only when the file is not a statement, is larger
    than ``MAX_FILE_BYTES`` or cannot be decoded.
    """
    text = _decode(raw)
    lines = _LINE_BREAK.split(text)
    statement = Statement(account="", starts=None, ends=None)
    header: dict[str, tuple[str, int]] = {}
    section_account: dict[str, tuple[str, int]] = {}
    # What is being read: "header", "account" (СекцияРасчСчет), "document", "between", "end".
    state = "header"
    document: _OpenDocument | None = None
    ended = False
    seen_signature = False
    last_line = 1

    for number, original in enumerate(lines, 1):
        line = original.strip()
        if not line:
            continue
        last_line = number
        if not seen_signature:  # _decode made sure the first non-empty line is the signature
            seen_signature = True
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()

        if state == "document" and document is not None:
            if line == "КонецДокумента":
                _finish(statement, document)
                document, state = None, "between"
                continue
            if key in ("СекцияДокумент", "СекцияРасчСчет") or line == "КонецФайла":
                document.problems.append(
                    f"the document is not closed by КонецДокумента before line {number}"
                )
                _finish(statement, document)
                document, state = None, "between"
                # fall through: the line starts what comes next
            else:
                if not sep:
                    document.problems.append(f"line {number} {_quote(line)} is not Key=Value")
                elif not key:
                    document.problems.append(f"line {number} {_quote(line)} has no key")
                else:
                    document.add(key, value, number)
                continue

        if state == "end":
            break
        if line == "КонецФайла":
            ended = True
            state = "end"
        elif key == "СекцияДокумент":
            document = _OpenDocument(line=number, kind=value)
            state = "document"
        elif line == "СекцияРасчСчет":
            state = "account"
        elif line == "КонецРасчСчет":
            state = "between"
        elif line == "КонецДокумента":
            statement.errors.append(
                BankLineError(number, "КонецДокумента without a СекцияДокумент before it")
            )
        elif not sep or not key:
            statement.errors.append(BankLineError(number, f"{_quote(line)} is not Key=Value"))
        elif state == "header":
            header.setdefault(key, (value, number))
        elif state == "account":
            section_account.setdefault(key, (value, number))
        # Key=Value between sections: nothing Satchel needs.

    if document is not None:
        document.problems.append("the file ends before the document's КонецДокумента")
        _finish(statement, document)
    elif not ended:
        statement.errors.append(
            BankLineError(last_line, "the file ends without КонецФайла; it may be cut short")
        )

    for source in (header, section_account):
        account, _ = source.get("РасчСчет", ("", 0))
        if not statement.account:
            statement.account = _SPACES.sub("", account)
    for name in ("ДатаНачала", "ДатаКонца"):
        value, number = header.get(name) or section_account.get(name) or ("", 0)
        problems: list[str] = []
        day = _date(problems, name, value)
        if problems:
            statement.errors.append(BankLineError(number, problems[0]))
        if name == "ДатаНачала":
            statement.starts = day
        else:
            statement.ends = day
    statement.errors.sort(key=lambda error: error.line)
    return statement


def direction(doc: BankDocument, own_accounts: set[str], own_inns: set[str]) -> str:
    """Which way ``doc`` went: "in" when the payee is us, "out" when the payer is, else "unknown".

    "Us" is any of our accounts or INNs; empty values never match. A transfer
    between two of our own accounts counts as "in".
    """

    def ours(account: str, inn: str) -> bool:
        return bool(account and account in own_accounts) or bool(inn and inn in own_inns)

    if ours(doc.payee_account, doc.payee_inn):
        return "in"
    if ours(doc.payer_account, doc.payer_inn):
        return "out"
    return "unknown"


def match_counterparty(
    doc: BankDocument,
    direction: str,
    by_inn: Mapping[str, list[tuple[str, str | None]]],
) -> str | None:
    """The id of the counterparty on the other side of ``doc``, or None when it is not certain.

    ``by_inn`` maps an INN to its counterparties as (id, KPP or None). The other
    side is the payer of an incoming payment and the payee of an outgoing one.
    One counterparty with that INN is it; several (a company's branches share
    its INN and differ by KPP) are told apart by the document's KPP, and when
    that does not single one out the payment is left for a person to match.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    if direction == "in":
        inn, kpp = doc.payer_inn, doc.payer_kpp
    elif direction == "out":
        inn, kpp = doc.payee_inn, doc.payee_kpp
    else:
        return None
    if not inn:
        return None
    candidates = by_inn.get(inn) or []
    ids = {counterparty for counterparty, _ in candidates}
    if len(ids) == 1:
        return next(iter(ids))
    if not kpp:
        return None
    same_kpp = {counterparty for counterparty, theirs in candidates if theirs == kpp}
    return next(iter(same_kpp)) if len(same_kpp) == 1 else None


# --- reading -----------------------------------------------------------------------------


def _decode(raw: bytes) -> str:
    """The text of a statement: checks its size and signature, decodes by its Кодировка."""
    if len(raw) > MAX_FILE_BYTES:
        raise ImportFailed(
            f"the statement is larger than {MAX_FILE_BYTES // 2**20} MB; "
            "export a shorter period from the bank"
        )
    bom = raw.startswith(codecs.BOM_UTF8)
    body = raw[len(codecs.BOM_UTF8) :] if bom else raw
    head = _BYTE_LINE_BREAK.split(body, maxsplit=_HEADER_LINES)
    first = next((line.strip() for line in head if line.strip()), b"")
    if first != SIGNATURE.encode():
        shown = first[:40].decode("cp1251", errors="replace")
        raise ImportFailed(
            f"the file is not a 1C bank statement: its first line should be {SIGNATURE}, "
            f"it is {shown!r}" + ("" if first else " (the file is empty)")
        )
    encoding = "utf-8" if bom else _declared_encoding(body)
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise ImportFailed(
            f"line {line} of the statement cannot be read as {encoding}: "
            f"byte 0x{body[exc.start]:02X} is not a character of it"
        ) from None


def _declared_encoding(body: bytes) -> str:
    """The encoding the header's Кодировка names (in cp1251 or cp866 bytes); Windows when absent."""
    for line in _BYTE_LINE_BREAK.split(body, maxsplit=_HEADER_LINES)[:_HEADER_LINES]:
        line = line.strip()
        for prefix in _ENCODING_KEYS:
            if line.startswith(prefix):
                value = line[len(prefix) :].decode("ascii", errors="replace").strip()
                encoding = _ENCODINGS.get(value.lower())
                if encoding is None:
                    raise ImportFailed(
                        f"the statement's Кодировка is {value!r}; it can only be Windows or DOS"
                    )
                return encoding
    return "cp1251"


@dataclass
class _OpenDocument:
    """A document being read: its fields with their lines, and what is wrong so far."""

    line: int
    kind: str
    fields: dict[str, tuple[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, key: str, value: str, line: int) -> None:
        earlier = self.fields.get(key)
        if earlier is None:
            self.fields[key] = (value, line)
        elif earlier[0] != value and _is_read(key):  # a bank's own extra keys are not judged
            self.problems.append(
                f"{key} is given twice, {_quote(earlier[0])} at line {earlier[1]} "
                f"and {_quote(value)} at line {line}"
            )

    def get(self, key: str) -> str:
        return self.fields.get(key, ("", 0))[0]


def _is_read(key: str) -> bool:
    """Whether Satchel reads this key of a document (and so must know which value holds)."""
    return key in ("Номер", "Дата", "Сумма", "ДатаПоступило", "ДатаСписано") or key.startswith(
        ("Плательщик", "Получатель", "НазначениеПлатежа")
    )


def _finish(statement: Statement, document: _OpenDocument) -> None:
    """Adds the document to the statement, or its problems to the errors."""
    problems = document.problems
    get = document.get
    number = get("Номер")
    if not number:
        problems.append("Номер is missing")
    day = _date(problems, "Дата", get("Дата"), required=True)
    amount = _amount(problems, get("Сумма"))
    received = _date(problems, "ДатаПоступило", get("ДатаПоступило"))
    written_off = _date(problems, "ДатаСписано", get("ДатаСписано"))

    sides: dict[str, tuple[str, str, str, str]] = {}
    for side in ("Плательщик", "Получатель"):
        bare_name = get(side)
        prefix = _NAME_PREFIX.match(bare_name)
        named_inn = prefix.group(1) if prefix else ""
        name = get(f"{side}1") or (bare_name[prefix.end() :] if prefix else bare_name).strip()
        inn = _SPACES.sub("", get(f"{side}ИНН"))
        source = f"{side}ИНН"
        if inn in ("", "0") and named_inn:
            inn, source = named_inn, f"{side} ({_quote(bare_name)})"
        inn = _inn(problems, source, inn)
        kpp = _kpp(problems, f"{side}КПП", _SPACES.sub("", get(f"{side}КПП")))
        account = _SPACES.sub("", get(f"{side}Счет") or get(f"{side}РасчСчет"))
        sides[side] = (name, inn, kpp, account)

    purpose = get("НазначениеПлатежа") or " ".join(
        part for part in (get(f"НазначениеПлатежа{n}") for n in range(1, 7)) if part
    )
    if problems or day is None or amount is None:
        statement.errors.append(
            BankLineError(document.line, f"{_title(document)}: {'; '.join(problems)}")
        )
        return
    payer, payee = sides["Плательщик"], sides["Получатель"]
    statement.documents.append(
        BankDocument(
            line=document.line,
            kind=document.kind,
            number=number,
            date=day,
            amount=amount,
            payer_name=payer[0],
            payer_inn=payer[1],
            payer_kpp=payer[2],
            payer_account=payer[3],
            payee_name=payee[0],
            payee_inn=payee[1],
            payee_kpp=payee[2],
            payee_account=payee[3],
            purpose=purpose,
            received=received,
            written_off=written_off,
        )
    )


def _title(document: _OpenDocument) -> str:
    kind = document.kind or "document"
    number = document.get("Номер")
    return f"{kind} №{number}" if number else kind


def _quote(value: str) -> str:
    """A value as an error shows it: in quotes, cut to a readable length."""
    return f"'{value[:60]}…'" if len(value) > 60 else f"'{value}'"


def _date(problems: list[str], key: str, value: str, *, required: bool = False) -> date | None:
    if not value:
        if required:
            problems.append(f"{key} is missing")
        return None
    match = _DATE.fullmatch(value)
    if match:
        day, month, year = (int(part) for part in match.groups())
        try:
            return date(year, month, day)
        except ValueError:
            pass
    problems.append(f"{key} {_quote(value)} is not a date DD.MM.YYYY")
    return None


def _amount(problems: list[str], value: str) -> Decimal | None:
    if not value:
        problems.append("Сумма is missing")
        return None
    digits = _SPACES.sub("", value)
    if not _AMOUNT.fullmatch(digits):
        problems.append(f"Сумма {_quote(value)} is not an amount")
        return None
    amount = Decimal(digits.replace(",", ".")).quantize(Decimal("0.01"))
    if amount <= 0:
        problems.append(f"Сумма {_quote(value)} is not more than zero")
        return None
    return amount


def _inn(problems: list[str], source: str, value: str) -> str:
    """The INN, "" when absent ("0" is how banks write an unknown one)."""
    if value in ("", "0"):
        return ""
    if not _INN.fullmatch(value):
        problems.append(f"{source}: ИНН {_quote(value)} is not 10 or 12 digits")
        return ""
    return value


def _kpp(problems: list[str], key: str, value: str) -> str:
    """The KPP, "" when absent ("0" is what sole traders write in payments)."""
    if value in ("", "0"):
        return ""
    if not _KPP.fullmatch(value):
        problems.append(f"{key} {_quote(value)} is not a КПП of 9 characters")
        return ""
    return value
