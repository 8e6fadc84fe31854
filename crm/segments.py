"""Segments: saved filters over counterparties (issue 14).

A segment (``crm.models.Segment``) keeps its ``criteria`` by name — the fields of a card, its tags
and its classes — and every report, export and list that takes a segment keeps only the clients it
matches (``members``). Within one criterion any of its values matches; a client must match every
criterion given; an empty segment matches every client. Text values compare with spaces trimmed
and case folded ("москва" finds "Москва "). Applied, a segment never shows a client its user does
not see: ``members`` reads through the same visibility rule as every list.

The same code runs on the server and on a laptop's replica, so a segment gives a salesperson
offline the clients it gives them on the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm import access
from crm.models import Counterparty, Segment, User

# Each criterion: the counterparty column it reads, and whether that column holds a list.
CRITERIA: dict[str, tuple[str, bool]] = {
    "kinds": ("kinds", True),
    "tags": ("tags", True),
    "stage": ("stage", False),
    "owner_id": ("owner_id", False),
    "visibility": ("visibility", False),
    "region": ("region", False),
    "industry": ("industry", False),
    "segment": ("segment", False),
    "source": ("source", False),
    "abc_class": ("abc_class", False),
    "xyz_class": ("xyz_class", False),
}
# "No class yet" and "no region" are worth asking for: this value stands for an empty field.
NONE = "-"
MAX_VALUES = 200
MAX_VALUE_LENGTH = 200


def _key(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value is not None else ""


def check_criteria(criteria: Any) -> dict[str, str]:
    """What is wrong with ``criteria`` (field → problem); empty when it may be saved."""
    if not isinstance(criteria, Mapping):
        return {"criteria": "must be an object of criteria, each a list of values"}
    problems: dict[str, str] = {}
    for name, values in criteria.items():
        if name not in CRITERIA:
            known = ", ".join(CRITERIA)
            problems["criteria"] = f"unknown criterion {name!r}; known: {known}"
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            problems["criteria"] = f"{name}: must be a list of texts"
        elif len(values) > MAX_VALUES:
            problems["criteria"] = f"{name}: at most {MAX_VALUES} values"
        elif any(len(v) > MAX_VALUE_LENGTH or not v.strip() for v in values):
            problems["criteria"] = f"{name}: each value is 1 to {MAX_VALUE_LENGTH} characters"
    return problems


def normalised(criteria: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``criteria`` with values trimmed, duplicates and empty criteria dropped (order kept)."""
    out: dict[str, list[str]] = {}
    for name, values in criteria.items():
        seen: dict[str, str] = {}
        for value in values:
            shown = " ".join(value.split())
            seen.setdefault(shown.casefold(), shown)
        if seen:
            out[name] = list(seen.values())
    return out


def matches(card: Mapping[str, Any], criteria: Mapping[str, Iterable[str]]) -> bool:
    """Whether a counterparty (its columns by name) matches every criterion."""
    for name, values in criteria.items():
        column, is_list = CRITERIA[name]
        wanted = {_key(v) for v in values}
        raw = card.get(column)
        if is_list:
            have = {_key(v) for v in raw or ()} or {_key(NONE)}
        else:
            have = {_key(raw) if raw not in (None, "") else _key(NONE)}
        if not wanted & have:
            return False
    return True


def members(session: Session, actor: User, criteria: Mapping[str, Iterable[str]]) -> set[str]:
    """The ids of the counterparties ``actor`` sees that match ``criteria``."""
    columns = sorted({CRITERIA[name][0] for name in criteria})
    query: Any = select(col(Counterparty.id), *(getattr(Counterparty, c) for c in columns)).where(
        access.visible_counterparties(actor)
    )
    out = set()
    for row in session.execute(query):
        card = dict(zip(columns, row[1:], strict=True))
        if matches(card, criteria):
            out.add(row[0])
    return out


def of(session: Session, actor: User, segment_id: str) -> Segment:
    """The segment ``segment_id``, as ``actor`` may use it (everyone sees every segment)."""
    from crm.errors import NotFound

    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id}")
    return segment


def members_of(session: Session, actor: User, segment_id: str | None) -> set[str] | None:
    """The clients of segment ``segment_id`` that ``actor`` sees; None when no segment is asked."""
    if not segment_id:
        return None
    return members(session, actor, of(session, actor, segment_id).criteria)
