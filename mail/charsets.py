"""Turning the bytes of a letter into text, repairing what Russian mailers get wrong.

Three kinds of damage are common in Russian correspondence and repaired here:

* headers with raw 8-bit bytes and no declared charset (1C, old Outlook Express,
  The Bat!, scanners that e-mail PDFs): tried as UTF-8, then as windows-1251 or
  koi8-r, whichever reads as Russian;
* bodies whose declared charset is wrong (declared koi8-r, written in windows-1251;
  declared us-ascii or iso-8859-1 with Cyrillic inside): the declared charset is
  kept only if it reads at least as well as the Cyrillic alternatives;
* RFC 2047 encoded words (RFC 2047 §2) with unknown charset names, broken base64
  padding, or a multi-byte character split across two adjacent words.

Detection among candidates is done by ``charset-normalizer`` restricted to the few
charsets that occur in practice; ties (short, all-capital strings such as
"ЗАО ВЕКТОР", which read as Russian in both Cyrillic codepages) are broken by
Russian letter frequencies. Nothing here raises on any input.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
from collections.abc import Iterable

from charset_normalizer import from_bytes

__all__ = [
    "decode_bytes",
    "decode_header_value",
    "decode_raw_header",
    "decode_words",
    "resolve_charset",
]

# Single-byte codepages that Russian letters arrive in, plus the Western ones that
# Cyrillic text is most often mislabelled as.
_CYRILLIC_CODECS = ("cp1251", "koi8_r", "koi8_u", "iso8859_5", "cp866", "mac_cyrillic")
_MISLABEL_CODECS = ("ascii", "iso8859_1", "iso8859_15", "cp1252")
# What an unlabelled or mislabelled text is tried as, in order of prevalence.
_GUESS_CODECS = ("cp1251", "koi8_r")

# Names seen in the field that Python's codec registry does not know.
_ALIASES = {
    "win1251": "cp1251",
    "windows1251": "cp1251",
    "xcp1251": "cp1251",
    "cp1251": "cp1251",
    "win": "cp1251",
    "koi8": "koi8_r",
    "koi8r": "koi8_r",
    "xkoi8r": "koi8_r",
    "koi8u": "koi8_u",
    "xmaccyrillic": "mac_cyrillic",
    "unicode11utf7": "utf_7",
    "utf8": "utf_8",
    "xunknown": "",
    "unknown8bit": "",
    "unknown": "",
    "default": "",
    "xuserdefined": "",
}

# Relative frequency (per mille) of lower-case Russian letters in ordinary prose.
_FREQ = dict(
    zip(
        "оеаинтсрвлкмдпуяызьгбчйхжшюцщэфъё",
        (
            110,
            85,
            80,
            74,
            67,
            63,
            55,
            47,
            45,
            44,
            35,
            32,
            30,
            28,
            26,
            20,
            19,
            17,
            17,
            17,
            16,
            15,
            12,
            10,
            9,
            7,
            6,
            5,
            4,
            3,
            3,
            1,
            1,
        ),
        strict=True,
    )
)
_WORD = re.compile(r"[А-Яа-яЁё]+")


def resolve_charset(name: str | None) -> str | None:
    """Return the Python codec name for a MIME charset name, or None if unknown.

    Accepts the misspellings mailers actually send ("win-1251", "x-cp1251",
    "koi8r", quoted or with RFC 2231 language suffix "koi8-r*ru").
    """
    if not name:
        return None
    cleaned = name.strip().strip("\"'").split("*", 1)[0].strip().lower()
    if not cleaned or len(cleaned) > 40:
        return None
    key = re.sub(r"[^a-z0-9]", "", cleaned)
    if key in _ALIASES:
        return _ALIASES[key] or None
    try:
        info = codecs.lookup(cleaned)
    except (LookupError, ValueError):
        return None
    # Codecs that are not text encodings (rot13, base64_codec, zlib…) must never
    # be applied to a letter: a charset name is attacker-controlled.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name.replace("-", "_")


_SAMPLE_BYTES = 4096
# A text at least this long whose best reading scores this much above the next is decided without
# the detector (Russian text read in the right codepage scores ~45, in the wrong one ~30).
_CLEAR_FROM = 400
_CLEAR_MARGIN = 8.0


# A Cyrillic word starting with a letter no Russian word starts with.
_BAD_START = re.compile(r"(?<![А-Яа-яЁё])[ъьыЪЬЫ]")
# A Cyrillic word with a capital after its first letter that is not all capitals ("пРИВЕТ", "ПРивет"):
# the case bit of the other codepage. Counted once per word.
_MIXED_CASE = re.compile(r"(?<![А-Яа-яЁё])(?=[А-Яа-яЁё]*[а-яё])[А-Яа-яЁё][а-яё]*[А-ЯЁ]")


# The score is counted on the text encoded in windows-1251 (one byte a character; every Russian
# letter has its own byte there, and no other character lower-cases to one): byte counts and
# byte translations instead of a Counter and regular expressions over the text, same figures.
_ONE_BYTE = "cp1251"
_LOWER = "".join(_FREQ)
# Each byte's weight: the frequency of the letter it is, whatever its case (all below 256).
_WEIGHTS = bytearray(256)
for _c, _weight in _FREQ.items():
    _WEIGHTS[_c.encode(_ONE_BYTE)[0]] = _WEIGHTS[_c.upper().encode(_ONE_BYTE)[0]] = _weight
# Each byte's class: "l" a lower-case Russian letter, "U" an upper-case one ("b"/"B" for ъ, ь, ы
# that no word starts with), " " anything else.
_CLASSES = bytearray(b" " * 256)
for _c in _LOWER:
    _CLASSES[_c.encode(_ONE_BYTE)[0]] = ord("b" if _c in "ъьы" else "l")
    _CLASSES[_c.upper().encode(_ONE_BYTE)[0]] = ord("B" if _c in "ъьы" else "U")
_CASES = bytes.maketrans(b"bB", b"lU")


def _russian_score(text: str) -> float:
    """How much ``text`` looks like Russian: letter frequencies, case and word shape."""
    data = text.encode(_ONE_BYTE, "replace")
    letters = sum(data.translate(_WEIGHTS))
    classes = b" " + data.translate(_CLASSES)
    bad = classes.count(b" b") + classes.count(b" B")  # as _BAD_START finds them
    cases = classes.translate(_CASES)
    # A word of mixed case has a lower-case letter followed by a capital, or a capital after its
    # first letter followed by a lower-case one; only then is _MIXED_CASE worth running.
    mixed = len(_MIXED_CASE.findall(text)) if b"lU" in cases or b"UUl" in cases else 0
    score = float(letters)
    score -= 30 * bad
    score -= 20 * mixed
    return score / max(len(text), 1)


def _candidates(declared: str | None) -> list[str]:
    codecs_ = list(_GUESS_CODECS)
    if declared and declared not in codecs_:
        codecs_.insert(0, declared)
    return codecs_


def _best_guess(data: bytes, candidates: Iterable[str]) -> str | None:
    """The candidate codec under which ``data`` reads best, or None if none reads."""
    names = tuple(candidates)
    if len(data) < _SHORT:
        # Short strings (names, subjects, file names) come back letter after letter: the answer,
        # a function of the bytes and the candidates only, is kept.
        return _short_guess(data, names)
    return _guess(data, names)


# Strings shorter than this are guessed once per run of the process (see _short_guess).
_SHORT = 256


@functools.lru_cache(maxsize=4096)
def _short_guess(data: bytes, names: tuple[str, ...]) -> str | None:
    return _guess(data, names)


def _guess(data: bytes, names: tuple[str, ...]) -> str | None:
    if len(data) >= _CLEAR_FROM:
        # On a long text the letter frequencies alone are decisive when one reading is clearly
        # ahead; the detector (most of the cost of reading a letter) is asked only when it is close.
        quick = []
        for name in names:
            try:
                quick.append((_russian_score(data.decode(name)), name))
            except (UnicodeDecodeError, LookupError):
                continue
        quick.sort(reverse=True)
        if len(quick) == 1 or (len(quick) > 1 and quick[0][0] - quick[1][0] >= _CLEAR_MARGIN):
            return quick[0][1]
    try:
        results = list(from_bytes(data, cp_isolation=list(names), explain=False))
    except Exception:  # noqa: BLE001 - a detector failure only means "no opinion"
        results = []
    readable = [r.encoding for r in results]
    if not readable:
        # The detector gave up (too messy); fall back on the frequency score alone.
        readable = list(names)
    scored = []
    for name in readable:
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        scored.append((_russian_score(text), -names.index(name) if name in names else -99, name))
    if not scored:
        return None
    return max(scored)[2]


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Decode ``data`` labelled ``declared``; return the text and a note if it was repaired.

    The note is None when the declared charset was used as is. Never raises: as a
    last resort undecodable bytes become U+FFFD.
    """
    codec = resolve_charset(declared)
    if data.isascii():
        # 7-bit data: ASCII, unless a 7-bit charset (iso-2022-jp, utf-7) is declared.
        if codec is not None:
            try:
                return data.decode(codec), None
            except (UnicodeDecodeError, LookupError, ValueError):
                pass
        return data.decode("ascii"), None
    if codec is not None and codec not in _CYRILLIC_CODECS + _MISLABEL_CODECS:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    # Valid UTF-8 with non-ASCII bytes is practically never anything else.
    try:
        text = data.decode("utf_8")
    except UnicodeDecodeError:
        pass
    else:
        note = None if codec == "utf_8" else f"charset {declared or 'undeclared'} read as utf-8"
        return text, note
    cyrillic_declared = codec if codec in _CYRILLIC_CODECS else None
    # The charset is decided on the start of the text: a few KB tell windows-1251 from koi8-r as
    # surely as a megabyte does, and weighing every candidate over a whole long letter is what
    # made reading cost milliseconds.
    sample = data[:_SAMPLE_BYTES]
    guess = _best_guess(sample, _candidates(cyrillic_declared))
    if guess is None:
        fallback = codec or "cp1251"
        return data.decode(fallback, errors="replace"), (
            f"charset {declared or 'undeclared'} unreadable, decoded with replacements"
        )
    guessed_text = data.decode(guess, errors="replace")
    if codec is not None and guess != codec:
        # Keep the declared charset unless the guess reads clearly better: a Western
        # letter in latin-1 ("Grüße", "café") must not turn into Cyrillic.
        declared_text = data.decode(codec, errors="replace")
        guessed_sample, declared_sample = (
            sample.decode(guess, errors="replace"),
            sample.decode(codec, errors="replace"),
        )
        clearly_russian = _cyrillic_share(guessed_sample) >= 0.5
        if (codec in _CYRILLIC_CODECS or clearly_russian) and (
            _russian_score(guessed_sample) > _russian_score(declared_sample) + 1
        ):
            return guessed_text, f"charset {declared} looked wrong, read as {guess}"
        if "\ufffd" not in declared_text:
            return declared_text, None
        if not clearly_russian:
            return declared_text, f"charset {declared} has undecodable bytes, replaced"
    if codec is not None and guess == codec:
        return guessed_text, None
    return guessed_text, f"charset {declared or 'undeclared'} read as {guess}"


def _cyrillic_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if "\u0400" <= c <= "\u04ff") / len(letters)


# ---------------------------------------------------------------- RFC 2047 words

# An encoded word (RFC 2047 §2): =?charset?encoding?text?= ; the charset may carry
# an RFC 2231 language suffix ("=?koi8-r*ru?B?...?="). Bounded to keep it linear.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?\s]*)\?=")
_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def _word_bytes(encoding: str, payload: str) -> bytes:
    raw = payload.encode("ascii", "surrogateescape")
    if encoding in "bB":
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4] if len(cleaned) % 4 == 1 else cleaned
        try:
            return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
        except binascii.Error:
            return b""
    raw = raw.replace(b"_", b" ")
    return _QP_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def decode_words(text: str) -> tuple[str, list[str]]:
    """Decode the RFC 2047 encoded words in ``text``; return it and notes on repairs.

    Adjacent words separated only by whitespace are joined (RFC 2047 §6.2), and
    their bytes are concatenated before decoding when they share a charset, so a
    UTF-8 character split across two words (a common mailer bug) survives.
    """
    notes: list[str] = []
    if "=?" not in text:
        return text, notes
    pieces: list[tuple[str | None, bytes | str]] = []  # (charset, bytes) or (None, text)
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if between and not (between.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, between))
        charset = match.group(1)
        data = _word_bytes(match.group(2), match.group(3))
        if pieces and pieces[-1][0] is not None and pieces[-1][0].lower() == charset.lower():
            previous = pieces[-1][1]
            assert isinstance(previous, bytes)
            pieces[-1] = (pieces[-1][0], previous + data)
        else:
            pieces.append((charset, data))
        pos = match.end()
    if pos < len(text):
        pieces.append((None, text[pos:]))
    out = []
    for charset, value in pieces:
        if charset is None:
            assert isinstance(value, str)
            out.append(value)
            continue
        assert isinstance(value, bytes)
        decoded, note = decode_bytes(value, charset)
        if note:
            notes.append(f"encoded word: {note}")
        out.append(decoded)
    return "".join(out), notes


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def decode_raw_header(raw: str) -> tuple[str, str | None]:
    """A raw header value with its undeclared 8-bit bytes decoded and its folding undone;
    encoded words are left as they are. The note says how the 8-bit bytes were read, if any were."""
    note = None
    try:
        data = raw.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = raw.encode("utf-8", "replace")
    text = raw
    if not data.isascii():
        text, how = decode_bytes(data)
        note = f"8-bit header: {how}" if how else None
    return re.sub(r"\r?\n[ \t]*", " ", text), note


def decode_header_value(raw: str) -> tuple[str, list[str]]:
    """Turn one raw header value into clean single-line text; return it and notes.

    ``raw`` is a value as the stdlib parser keeps it: undeclared 8-bit bytes are
    lone surrogates (surrogateescape). Those bytes are decoded first (UTF-8, else
    the Cyrillic codepage that reads best), then encoded words, then the value is
    unfolded and stripped of control characters.
    """
    notes: list[str] = []
    text, note = decode_raw_header(raw)
    if note:
        notes.append(note)
    text, word_notes = decode_words(text)
    notes.extend(word_notes)
    text = _CONTROL.sub(" ", text).replace("\r", " ").replace("\n", " ")
    return text.strip(), notes
