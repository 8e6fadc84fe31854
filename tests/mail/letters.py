"""A generator of Russian B2B letters as raw bytes, with what each one should decode to.

Deterministic for a seed. The letters mix what a Russian trading company's mailboxes
really hold: windows-1251, koi8-r and UTF-8; headers as RFC 2047 B or Q words or as
raw undeclared 8-bit bytes; bodies in base64, quoted-printable or 8bit; attachments
with Cyrillic names (RFC 2231 and the Outlook/1C habit of an encoded word inside the
quotes); replies with and without References (Outlook drops them); forwards inline
and as an attached letter; senders on free mail. The bytes are built by hand, not
with ``email.message``, so that the generator does not share the parser's mistakes.
"""

from __future__ import annotations

import base64
import quopri
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

COMPANY_DOMAIN = "torgdom.test"
CHARSETS = ("windows-1251", "koi8-r", "utf-8")
_CODEC = {"windows-1251": "cp1251", "koi8-r": "koi8_r", "utf-8": "utf-8"}

FIRST_NAMES = (
    "Иван",
    "Сергей",
    "Алексей",
    "Дмитрий",
    "Ольга",
    "Наталья",
    "Елена",
    "Юрий",
    "Татьяна",
    "Михаил",
    "Анна",
    "Пётр",
)
LAST_NAMES = (
    "Иванов",
    "Петров",
    "Смирнов",
    "Кузнецов",
    "Соколов",
    "Попов",
    "Лебедев",
    "Козлов",
    "Новиков",
    "Морозов",
    "Волков",
    "Фёдоров",
)
COMPANIES = (
    ("ООО Ромашка", "romashka.test"),
    ("АО Вектор-Снаб", "vektor-snab.test"),
    ("ЗАО Уралметалл", "uralmetall.test"),
    ("ООО ТД Север", "td-sever.test"),
    ("ИП Щукин", "shchukin.test"),
    ("ООО Эдельвейс", "edelweiss.test"),
)
FREE_MAIL = ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "rambler.ru")
SUBJECTS = (
    "Счёт на оплату № {n}",
    "Коммерческое предложение",
    "Заявка на поставку {n}",
    "Договор поставки № {n}-П",
    "Акт сверки за квартал",
    "Прайс-лист на {n} мая",
    "Отгрузка задерживается",
    "ЗАО ВЕКТОР: спецификация",
    "Вопрос по счёту",
    "Претензия по качеству партии {n}",
)
PHRASES = (
    "Добрый день!",
    "Направляем вам счёт на оплату.",
    "Просим подтвердить получение.",
    "Цены действительны до конца месяца.",
    "Отгрузка возможна со склада в Подольске.",
    "Прошу выставить счёт на 20 тонн арматуры.",
    "Когда ожидать поставку?",
    "Во вложении спецификация и проект договора.",
    "Ждём ваших предложений.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
)
SIGNATURE = "С уважением,\n{name}\n{company}\nтел. +7 (495) 123-45-67"
ATTACHMENT_NAMES = (
    "Счёт №{n}.pdf",
    "Договор поставки.docx",
    "Прайс-лист май.xlsx",
    "Акт сверки {n}.pdf",
    "Спецификация (итог).xls",
    "Фото партии.jpg",
)


@dataclass
class GeneratedLetter:
    """Raw bytes of a letter and the values it must decode to."""

    raw: bytes
    charset: str
    header_style: str  # "b", "q" or "8bit"
    transfer: str  # "base64", "quoted-printable" or "8bit"
    message_id: str
    subject: str
    from_name: str
    from_address: str
    to_address: str
    text: str
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    free_mail: bool = False
    forwarded: str = ""  # "", "inline" or "attached"


def encode_words(text: str, charset: str, style: str) -> bytes:
    """``text`` as RFC 2047 encoded words (or raw 8-bit bytes for style "8bit").

    Words are cut every few bytes, so in UTF-8 a cut often falls inside a character,
    as some mailers do (RFC 2047 §5 forbids it; decoders must cope anyway).
    """
    data = text.encode(_CODEC[charset])
    if style == "8bit":
        return data
    chunk = 30 if style == "b" else 20
    words = []
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        if style == "b":
            words.append(f"=?{charset}?B?{base64.b64encode(piece).decode()}?=")
        else:
            q = "".join(
                "_"
                if b == 0x20
                else chr(b)
                if 0x21 <= b < 0x7F and chr(b) not in '=?_"()<>,'
                else f"={b:02X}"
                for b in piece
            )
            words.append(f"=?{charset}?Q?{q}?=")
    return "\r\n ".join(words).encode("ascii")


def _header(name: str, value: bytes | str) -> bytes:
    return (
        name.encode()
        + b": "
        + (value.encode("ascii") if isinstance(value, str) else value)
        + b"\r\n"
    )


def _address(name: str, address: str, charset: str, style: str) -> bytes:
    return encode_words(name, charset, style) + f" <{address}>".encode()


def _body_part(text: str, charset: str, transfer: str, subtype: str = "plain") -> bytes:
    data = text.replace("\n", "\r\n").encode(_CODEC[charset])
    if transfer == "base64":
        payload = base64.encodebytes(data).replace(b"\n", b"\r\n")
    elif transfer == "quoted-printable":
        payload = quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    else:
        payload = data + b"\r\n"
    return (
        _header("Content-Type", f'text/{subtype}; charset="{charset}"')
        + _header("Content-Transfer-Encoding", transfer)
        + b"\r\n"
        + payload
    )


def _attachment_part(name: str, data: bytes, charset: str, style: int) -> bytes:
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    if style == 0:  # RFC 2231, as Thunderbird and Gmail send it
        from urllib.parse import quote

        param = f"filename*={charset}''{quote(name.encode(_CODEC[charset]))}".encode()
        ctype_name = param.replace(b"filename*", b"name*")
    elif style == 1:  # an encoded word inside the quotes, as Outlook and 1C send it
        word = encode_words(name, charset, "b").replace(b"\r\n ", b"")
        param = b'filename="' + word + b'"'
        ctype_name = b'name="' + word + b'"'
    else:  # raw 8-bit bytes in the quotes, undeclared (old mailers, scanners)
        param = b'filename="' + name.encode(_CODEC[charset]) + b'"'
        ctype_name = b'name="' + name.encode(_CODEC[charset]) + b'"'
    return (
        b"Content-Type: application/octet-stream; "
        + ctype_name
        + b"\r\n"
        + b"Content-Disposition: attachment; "
        + param
        + b"\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + encoded
    )


def _multipart(parts: list[bytes], boundary: str, subtype: str = "mixed") -> tuple[bytes, bytes]:
    head = _header("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')
    body = b"This is a multi-part message in MIME format.\r\n"
    for part in parts:
        body += f"--{boundary}\r\n".encode() + part + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return head, body


def generate(count: int = 300, seed: int = 1251) -> list[GeneratedLetter]:
    """``count`` letters, the same ones for the same seed."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    letters: list[GeneratedLetter] = []
    for n in range(count):
        charset = CHARSETS[n % 3]
        style = ("b", "q", "8bit")[(n // 3) % 3]
        transfer = ("base64", "quoted-printable", "8bit")[(n // 9) % 3]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company, domain = rng.choice(COMPANIES)
        free = n % 7 == 3
        local = f"{last.lower()}-{n}" if not free else f"client{n}"
        from_address = f"{_translit(local)}@{rng.choice(FREE_MAIL) if free else domain}"
        from_name = f"{last} {first}"
        to_address = f"sales@{COMPANY_DOMAIN}"
        subject = rng.choice(SUBJECTS).format(n=100 + n)
        message_id = f"<{n}.{rng.randrange(10**9)}@{domain}>"
        text = (
            "\n".join(rng.sample(PHRASES, 3))
            + "\n\n"
            + SIGNATURE.format(name=from_name, company=company)
        )
        in_reply_to = None
        references: list[str] = []
        if letters and n % 4 == 1:  # a reply; every other one dropped References (Outlook)
            parent = letters[rng.randrange(len(letters))]
            subject = f"Re: {parent.subject}"
            in_reply_to = parent.message_id
            references = [*parent.references, parent.message_id] if n % 8 == 1 else []
            text += "\n\n> " + parent.text.splitlines()[0]
        forwarded = ""
        if letters and n % 10 == 5:
            forwarded = "attached" if n % 20 == 5 else "inline"
            subject = f"Fwd: {subject}"
            if forwarded == "inline":
                text += "\n\n-------- Пересылаемое сообщение --------\nТема: Счёт\nПрошу оплатить."
        if charset == "koi8-r":  # koi8-r has no "№"
            subject = subject.replace("№", "N")
            text = text.replace("№", "N")
        date = start + timedelta(minutes=37 * n)
        headers = (
            _header("From", _address(from_name, from_address, charset, style))
            + _header("To", f"<{to_address}>")
            + _header("Subject", encode_words(subject, charset, style))
            + _header("Date", format_datetime(date))
            + _header("Message-ID", message_id if n % 11 else message_id.upper())
            + _header("MIME-Version", "1.0")
        )
        if in_reply_to:
            headers += _header("In-Reply-To", in_reply_to)
        if references:
            headers += _header("References", "\r\n ".join(references))
        attachments: list[tuple[str, bytes]] = []
        if n % 3 == 2:
            name = rng.choice(ATTACHMENT_NAMES).format(n=n)
            if charset == "koi8-r":
                name = name.replace("№", "N")
            attachments.append((name, rng.randbytes(rng.randrange(200, 3000))))
        parts = [_body_part(text, charset, transfer)]
        if n % 6 == 4:  # an HTML alternative too
            html = "<html><body><p>" + text.replace("\n", "<br>") + "</p></body></html>"
            alt_head, alt_body = _multipart(
                [parts[0], _body_part(html, charset, transfer, "html")], f"alt-{n}", "alternative"
            )
            parts = [alt_head + b"\r\n" + alt_body]
        for i, (name, data) in enumerate(attachments):
            parts.append(_attachment_part(name, data, charset, (n + i) % 3))
        if forwarded == "attached" and letters:
            inner = letters[rng.randrange(len(letters))].raw
            parts.append(
                _header("Content-Type", "message/rfc822")
                + _header("Content-Disposition", "attachment")
                + b"\r\n"
                + inner
            )
        if len(parts) == 1:
            raw = headers + parts[0]
        else:
            head, body = _multipart(parts, f"=_mixed-{n}")
            raw = headers + head + b"\r\n" + body
        letters.append(
            GeneratedLetter(
                raw=raw,
                charset=charset,
                header_style=style,
                transfer=transfer,
                message_id=message_id.lower(),
                subject=subject,
                from_name=from_name,
                from_address=from_address,
                to_address=to_address,
                text=text,
                attachments=attachments,
                in_reply_to=in_reply_to,
                references=references,
                free_mail=free,
                forwarded=forwarded,
            )
        )
    return letters


_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)


def _translit(text: str) -> str:
    return "".join(_TRANSLIT.get(c, c) for c in text.lower())
