"""The identity of a letter: normalised Message-IDs and the fallback fingerprint.

One letter is one record however many folders and mailboxes hold it; these are the
keys that make it so, and that thread replies to what they answer (RFC 5322 §3.6.4).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

__all__ = ["fingerprint", "normalize_message_id", "parse_message_ids"]

_MAX_IDS = 200  # References kept; the newest are at the end and matter most

_ANGLE_ID = re.compile(r"<([^<>]*)>")


def normalize_message_id(value: str | None) -> str | None:
    """``" <ABC@Host.RU> "`` → ``"<abc@host.ru>"``; None for an empty value.

    The first ``<…>`` token wins; a bare id without brackets gets them. Whitespace
    inside (from header folding) is removed.
    """
    ids = parse_message_ids(value, limit=1)
    return ids[0] if ids else None


def parse_message_ids(value: str | None, *, limit: int = _MAX_IDS) -> list[str]:
    """All Message-IDs in a References/In-Reply-To value, normalised, in order, once each.

    Keeps the last ``limit`` ones (the nearest ancestors) when there are more.
    """
    if not value:
        return []
    found = _ANGLE_ID.findall(value)
    if not found:
        # No brackets: some mailers write bare ids; take what looks like one.
        tokens = value.split()
        found = [t for t in tokens if "@" in t] or (tokens if len(tokens) == 1 else [])
    ids: list[str] = []
    for item in found:
        cleaned = "".join(item.split()).strip("<>").lower()
        if cleaned and len(cleaned) <= 500:
            candidate = f"<{cleaned}>"
            if candidate not in ids:
                ids.append(candidate)
    return ids[:limit] if limit == 1 else ids[-limit:]


def fingerprint(sender: str, date: datetime | None, subject: str, text: str) -> str:
    """Identity of a letter without Message-ID: sender, date, subject, start of text."""
    when = date.astimezone(UTC).isoformat() if date else ""
    body = _start(text, 500)
    key = "\n".join((sender, when, " ".join(subject.casefold().split()), body))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _start(text: str, length: int) -> str:
    """``" ".join(text.split())[:length]``, from as little of ``text`` as that takes.

    The words of a prefix of ``text``, joined, are a prefix of all its words joined (the last
    one maybe cut short), so once that is ``length`` long the rest of the text changes nothing.
    """
    size = 4 * length
    while size < len(text):
        joined = " ".join(text[:size].split())
        if len(joined) >= length:
            return joined[:length]
        size *= 4
    return " ".join(text.split())[:length]
