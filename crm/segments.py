"""Segments: saved filters over counterparties (issue 14).

A segment (``crm.models.Segment``) keeps its ``criteria`` by name — the fields of a card, its tags
and its classes — and every report, export and list that takes a segment keeps only the clients it
matches (``members``). Within one criterion any of its values matches; a client must match every
criterion given; an empty segment (or an empty criterion) matches every client. Text values compare
with spaces trimmed and collapsed and case folded ("москва" finds "Москва "); ``-`` stands for an
empty field (no region, no class yet, no tags; blank text is no value). Applied, a segment never
shows a client its user does not see: ``members`` reads through the same visibility rule as every
list, so an analysis over a segment (``crm.analytics``' ``only``) is over the visible members only —
and ranks, shares and quintiles are computed among them (ABC over a segment ranks within it).

The same code runs on the server and on a laptop's replica, so a segment gives a salesperson
offline the clients it gives them on the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlmodel import Session, col

from crm import access, search
from crm.errors import NotFound
from crm.models import Counterparty, Segment, User
from crm.models.enums import AbcClass, CounterpartyKind, Stage, Visibility

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
# Every segment goes to every laptop and every colleague's list: bounds on one and on one owner.
MAX_TOTAL_VALUES = 300  # values over all criteria of one segment
MAX_PER_OWNER = 100  # segments one user owns
# The criteria over a closed vocabulary: a value outside it would silently match nothing.
CHOICES: dict[str, tuple[str, ...]] = {
    "kinds": tuple(k.value for k in CounterpartyKind),
    "stage": tuple(s.value for s in Stage),
    "visibility": tuple(v.value for v in Visibility),
    "abc_class": tuple(c.value for c in AbcClass),
    "xyz_class": ("X", "Y", "Z"),
}
# The most segments a per-segment count reads (the segments screen).
MAX_COUNTED = 500


def _key(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value is not None else ""


def problems(criteria: Any) -> dict[str, str]:
    """What is wrong with each criterion of ``criteria``: its name → the problem (``criteria`` for
    one that is unknown, or for the whole when it is no object); empty when it may be saved."""
    if not isinstance(criteria, Mapping):
        return {"criteria": "must be an object of criteria, each a list of values"}
    found: dict[str, str] = {}
    for name, values in criteria.items():
        if name not in CRITERIA:
            known = ", ".join(CRITERIA)
            found.setdefault("criteria", f"unknown criterion {str(name)[:40]!r}; known: {known}")
        elif not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            found[name] = "must be a list of texts"
        elif len(values) > MAX_VALUES:
            found[name] = f"at most {MAX_VALUES} values"
        elif any(len(v) > MAX_VALUE_LENGTH or not v.strip() for v in values):
            found[name] = f"each value is 1 to {MAX_VALUE_LENGTH} characters"
        elif name in CHOICES:
            allowed = {_key(c) for c in CHOICES[name]} | {_key(NONE)}
            wrong = [v for v in values if _key(v) not in allowed]
            if wrong:
                found[name] = (
                    f"{wrong[0][:40]!r} is not one of {', '.join(CHOICES[name])} (or {NONE} for none)"
                )
    if not found and sum(len(v) for v in criteria.values()) > MAX_TOTAL_VALUES:
        found["criteria"] = f"at most {MAX_TOTAL_VALUES} values over all criteria"
    return found


def check_criteria(criteria: Any) -> dict[str, str]:
    """What is wrong with ``criteria`` (``{"criteria": every problem}``); empty when it may be
    saved. ``problems`` tells them per criterion."""
    found = problems(criteria)
    said = [v if k == "criteria" else f"{k}: {v}" for k, v in found.items()]
    return {"criteria": "; ".join(said)} if said else {}


def normalised(criteria: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``criteria`` with values trimmed, duplicates and empty criteria dropped (order kept); a
    value of a closed vocabulary (``CHOICES``) in its own spelling ("a" → "A")."""
    out: dict[str, list[str]] = {}
    for name, values in criteria.items():
        spelt = {_key(c): c for c in CHOICES.get(name, ())}
        seen: dict[str, str] = {}
        for value in values:
            shown = " ".join(value.split())
            seen.setdefault(shown.casefold(), spelt.get(shown.casefold(), shown))
        if seen:
            out[name] = list(seen.values())
    return out


def _have(raw: Any, is_list: bool) -> set[str]:
    """A card's value(s) as compared: folded, blank ones dropped; ``{"-"}`` when there are none."""
    found = {_key(v) for v in raw or ()} if is_list else {_key(raw)}
    found.discard("")
    return found or {_key(NONE)}


def matches(card: Mapping[str, Any], criteria: Mapping[str, Iterable[str]]) -> bool:
    """Whether a counterparty (its columns by name) matches every criterion: any of a criterion's
    values, every criterion; an empty criterion asks nothing."""
    for name, values in criteria.items():
        column, is_list = CRITERIA[name]
        wanted = {_key(v) for v in values}
        if wanted and not wanted & _have(card.get(column), is_list):
            return False
    return True


def _columns(criteria: Iterable[str]) -> list[str]:
    return sorted({CRITERIA[name][0] for name in criteria})


def _cards(
    session: Session,
    actor: User,
    columns: Sequence[str],
    *,
    q: str | None = None,
    where: Sequence[ColumnElement[bool]] = (),
) -> Iterable[Any]:
    """Rows (id, *columns) of the counterparties ``actor`` sees (that ``q`` finds)."""
    cond = search.condition_for(Counterparty, q, actor) if q else None
    query: Any = select(col(Counterparty.id), *(getattr(Counterparty, c) for c in columns)).where(
        access.visible_counterparties(actor) if cond is None else cond, *where
    )
    return session.execute(query)


def members(session: Session, actor: User, criteria: Mapping[str, Iterable[str]]) -> set[str]:
    """The ids of the counterparties ``actor`` sees that match ``criteria``."""
    columns = _columns(criteria)
    out = set()
    for row in _cards(session, actor, columns):
        if matches(dict(zip(columns, row[1:], strict=True)), criteria):
            out.add(row[0])
    return out


def counts(session: Session, actor: User, found: Sequence[Segment]) -> dict[str, int]:
    """How many counterparties ``actor`` sees in each segment of ``found`` (one pass over them)."""
    chosen = list(found)[:MAX_COUNTED]
    if not chosen:
        return {}
    columns = _columns({name for s in chosen for name in s.criteria if name in CRITERIA})
    out = {s.id: 0 for s in chosen}
    for row in _cards(session, actor, columns):
        card = dict(zip(columns, row[1:], strict=True))
        for s in chosen:
            if matches(card, s.criteria):
                out[s.id] += 1
    return out


def listed(
    session: Session,
    actor: User,
    criteria: Mapping[str, Iterable[str]],
    *,
    q: str | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Counterparty], int]:
    """One page of the counterparties ``actor`` sees that match ``criteria`` (and ``q``, searched as
    every list searches, and the conditions ``where``), by name, and how many match in all.
    ``ValueError`` for a query over the search's bounds."""
    columns = _columns(criteria)
    found: list[tuple[str, str]] = []
    for row in _cards(session, actor, ["legal_name", *columns], q=q, where=where):
        if matches(dict(zip(columns, row[2:], strict=True)), criteria):
            found.append((row[1] or "", row[0]))
    found.sort()
    page = [cp for _, cp in found[offset : offset + limit]]
    loaded = (
        {
            c.id: c
            for c in session.execute(
                select(Counterparty).where(col(Counterparty.id).in_(page))
            ).scalars()
        }
        if page
        else {}
    )
    return [loaded[cp] for cp in page if cp in loaded], len(found)


def of(session: Session, actor: User, segment_id: str) -> Segment:
    """The segment ``segment_id``, as ``actor`` may use it (everyone sees every segment)."""
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment {segment_id[:40]!r}")
    return segment


def find(session: Session, actor: User | None, name_or_id: str) -> Segment:
    """The segment with this id, or else with this name (spaces and case folded); ``NotFound``
    when there is none, or when several share the name (then its id tells them apart)."""
    if not name_or_id or len(name_or_id) > 200 or "\x00" in name_or_id:
        raise NotFound("a segment is named by its id or its name")
    segment = session.get(Segment, name_or_id)
    if segment is not None:
        return segment
    key = _key(name_or_id)
    named = [
        s
        for s in session.execute(select(Segment).order_by(col(Segment.id))).scalars()
        if _key(s.name) == key
    ]
    if len(named) == 1:
        return named[0]
    if named:
        ids = ", ".join(s.id for s in named[:5])
        raise NotFound(
            f"several segments are called {name_or_id[:40]!r}: name one by its id ({ids})"
        )
    raise NotFound(f"no segment {name_or_id[:40]!r} (a segment's id or name)")


def members_of(session: Session, actor: User, segment_id: str | None) -> set[str] | None:
    """The clients of segment ``segment_id`` that ``actor`` sees; None when no segment is asked."""
    if not segment_id:
        return None
    return members(session, actor, of(session, actor, segment_id).criteria)


def chosen(
    session: Session, actor: User, name_or_id: str | None
) -> tuple[Segment | None, set[str] | None]:
    """The segment a door was asked for (``find``: its id or name) and its members ``actor`` sees,
    to pass as an analysis' ``only``; ``(None, None)`` when no segment is asked."""
    if name_or_id is None:
        return None, None
    segment = find(session, actor, name_or_id)
    return segment, members(session, actor, segment.criteria)


def parse(pairs: Iterable[str]) -> dict[str, list[str]]:
    """Criteria as the commands take them, ``name=value,value`` each (``abc_class=A,B``,
    ``region=Москва``; a name given twice adds its values); ``ValueError`` says what is wrong,
    ``check_criteria`` the rest."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"a criterion is name=value[,value…], got {pair[:60]!r}")
        if name not in CRITERIA:
            raise ValueError(f"unknown criterion {name[:40]!r}; known: {', '.join(CRITERIA)}")
        out.setdefault(name, []).extend(v.strip() for v in raw.split(",") if v.strip())
    return out


def with_owner_ids(session: Session, criteria: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """``criteria`` with the ``owner_id`` values the commands take as logins made ids (an id and
    ``-`` stay); ``ValueError`` names a user nobody is."""
    out = dict(criteria)
    if "owner_id" in out:
        ids = []
        for value in out["owner_id"]:
            found = None
            if value.strip() != NONE:
                found = session.execute(
                    select(col(User.id)).where((col(User.login) == value) | (col(User.id) == value))
                ).first()
                if found is None:
                    raise ValueError(f"owner_id: no user {value[:40]!r} (a login or a user's id)")
            ids.append(NONE if found is None else str(found[0]))
        out["owner_id"] = ids
    return out


def choices(session: Session) -> list[tuple[str, str]]:
    """Every segment's id and name, by name (a picker's options)."""
    query = select(col(Segment.id), col(Segment.name)).order_by(col(Segment.name), col(Segment.id))
    return [(str(i), str(n)) for i, n in session.execute(query)]


def overview(session: Session, actor: User) -> list[dict[str, Any]]:
    """Every segment, by name: its id, name, owner (login), criteria (``describe``), notes and how
    many counterparties ``actor`` sees in it."""
    found = list(
        session.execute(select(Segment).order_by(col(Segment.name), col(Segment.id))).scalars()
    )
    logins = dict(session.execute(select(col(User.id), col(User.login))).all())
    sizes = counts(session, actor, found)
    return [
        {
            "id": s.id,
            "name": s.name,
            "owner": logins.get(s.owner_id or "", ""),
            "criteria": describe(s.criteria, logins),
            "members": sizes.get(s.id),
            "notes": s.notes or "",
        }
        for s in found
    ]


def describe(criteria: Mapping[str, Iterable[str]], logins: Mapping[str, str] | None = None) -> str:
    """The criteria in one line: ``abc_class=A,B; region=Москва`` (``*`` for every client); with
    ``logins``, owners by login rather than id."""

    def shown(name: str, value: str) -> str:
        return (logins or {}).get(value, value) if name == "owner_id" else value

    return (
        "; ".join(
            f"{name}={','.join(shown(name, v) for v in values)}"
            for name, values in criteria.items()
        )
        or "*"
    )
