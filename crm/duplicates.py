"""Likely duplicate counterparties, each pair with why and how sure; branches apart.

A trading company's base fills up with the same client entered twice: by two
salespeople, from an exhibition list, from a letter. The scan compares what
identifies a company, as Russian records are written:

* the same INN and KPP (or one of them without a KPP) is the same legal entity:
  score 100. The same INN with another KPP is a **branch** (обособленное
  подразделение): grouped with its head office, never offered for merging;
* two different INNs are two legal entities whatever else they share: never a pair;
* the same name once the legal form (ООО, АО, ПАО, ИП, … and their long forms),
  quotes, case, ё/е and punctuation are taken away: 95 (85 in two different regions);
  a name that differs by a typo or word order — ``rapidfuzz``'s token sort ratio ≥
  ``FUZZY_CUTOFF`` for the whole name and for its distinctive words (without «торговый
  дом», «ювелирный», …), with the same numbers in it, compared only within blocks of
  names sharing the beginning of a distinctive word, so a base of 50,000 is scanned in
  seconds: that ratio, at most 94;
* a shared phone (normalised, of the counterparty or its people): 85; a shared
  e-mail address: 85; a shared corporate mail domain (never a free-mail one): 70.
  A phone, address or domain shared by more than ``CROWD`` counterparties is a
  switchboard, an agency or a hosting company, not a sign of one company.

A pair's score is its strongest reason's, plus 3 for each further reason (at most
100). The scan reads the derived search index (``crm.search``: phones, e-mails,
domains and INNs are already normalised there) and a few columns of the
counterparties the actor may see — never another salesperson's private client.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process
from sqlalchemy import and_, distinct, func, or_, select

from crm import validation

if TYPE_CHECKING:
    from sqlmodel import Session

    from crm.models import User

# SQLModel, the models and the access rules are imported by the functions that read the database:
# ``satchel duplicates`` judges rows it read through Core (server.commands.listings) without them.

FUZZY_CUTOFF = 90
# A key shared by more counterparties than this says nothing about any two of them.
CROWD = 8
# A block of names larger than this is a common word, not a distinctive one: skipped.
MAX_BLOCK = 400

_LEGAL_FORMS = (
    "общество с ограниченной ответственностью",
    "закрытое акционерное общество",
    "открытое акционерное общество",
    "публичное акционерное общество",
    "непубличное акционерное общество",
    "акционерное общество",
    "индивидуальный предприниматель",
    "крестьянское фермерское хозяйство",
    "производственный кооператив",
    "ооо",
    "зао",
    "оао",
    "пао",
    "нао",
    "ао",
    "ип",
    "кфх",
    "пк",
    "llc",
    "ltd",
    "gmbh",
)
_FORMS = re.compile(r"\b(?:" + "|".join(re.escape(f) for f in _LEGAL_FORMS) + r")\b")
_ABBREVIATIONS = {"тд": "торговый дом", "юд": "ювелирный дом", "пкф": "", "нпо": "", "нпп": ""}
_ABBREVIATED = frozenset(_ABBREVIATIONS)
_NOT_WORD = re.compile(r"[^\w]+")
_NUMBER = re.compile(r"\d+")
_NOT_DIGIT = re.compile(r"\D")
# Words too common in company names to say two names are alike.
_GENERIC = frozenset(
    "торговый дом компания группа ювелирный ювелирная завод фабрика холдинг трейд групп сервис "
    "плюс опт оптовая торговая центр россия русь сибирь урал москва регион ком"
    " производственная производство".split()
)


def core_name(name: str) -> str:
    """A company's name without its legal form, quotes, case, ё or punctuation:
    «ООО "Ромашка-Плюс"» and "общество с ограниченной ответственностью РОМАШКА ПЛЮС" give
    the same."""
    words = _NOT_WORD.sub(" ", _FORMS.sub(" ", validation.fold_text(name))).split()
    if not _ABBREVIATED.isdisjoint(words):
        words = " ".join(_ABBREVIATIONS.get(w, w) for w in words).split()
    return " ".join(words)


@dataclass
class Candidate:
    """Two counterparties that are likely one, why, and how sure (0–100)."""

    first: str
    second: str
    score: int
    reasons: list[str] = field(default_factory=list)
    name: str = ""  # ``similar``: the legal name of ``second``, the one already there


@dataclass
class Scan:
    candidates: list[Candidate]
    # Groups of counterparties with one INN and different KPPs: a company and its branches.
    branches: list[list[str]]
    names: dict[str, str]  # id → legal name, of every counterparty in a candidate or branch


_REASON_SCORES = {"inn": 100, "name": 95, "phone": 85, "email": 85, "domain": 70}
_KEY_REASONS = {"phone": "phone", "email": "email", "email_domain": "domain", "inn": "inn"}


def _score(reasons: dict[str, int]) -> int:
    best = max(reasons.values())
    return min(100, best + 3 * (len(reasons) - 1))


def rows_query(counterparty: Any) -> Any:
    """(id, legal name, short name, INN, KPP, region) of ``counterparty`` (the model's table, or a
    Core clause of its columns: ``satchel duplicates`` reads without the models)."""
    c = counterparty.c
    return select(c.id, c.legal_name, c.short_name, c.inn, c.kpp, c.region)


def shared_keys_query(contact_key: Any) -> Any:
    """(kind, key, counterparty id) of the search index's INNs, phones, e-mails and domains that
    more than one counterparty holds: the database groups the rest away. ``contact_key``: the
    table, or a Core clause of its columns."""
    c = contact_key.c
    shared = (
        select(c.kind.label("kind"), c.key.label("key"))
        .where(c.kind.in_(list(_KEY_REASONS)))
        .group_by(c.kind, c.key)
        .having(func.count(distinct(c.counterparty_id)) > 1)
        .subquery()
    )
    return select(c.kind, c.key, c.counterparty_id).join(
        shared, and_(c.kind == shared.c.kind, c.key == shared.c.key)
    )


def counterparty_rows(session: Session, actor: User) -> list[Any]:
    """``rows_query``'s rows of the counterparties ``actor`` may see."""
    from crm import access
    from crm.models import Counterparty

    table: Any = Counterparty.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    return list(session.execute(rows_query(table).where(access.visible_counterparties(actor))))


def shared_keys(session: Session) -> list[Any]:
    """``shared_keys_query``'s rows."""
    from crm.models import ContactKey

    table: Any = ContactKey.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    return list(session.execute(shared_keys_query(table)))


def scan(session: Session, actor: User, *, min_score: int = 70) -> Scan:
    """Every likely pair among the counterparties ``actor`` may see, the surest first."""
    rows = counterparty_rows(session, actor)
    return judge(rows, shared_keys(session), min_score)


def judge(rows: list[Any], keys: Iterable[Any], min_score: int) -> Scan:
    """The pairs among ``rows`` (id, legal name, short name, INN, KPP, region), given the search
    keys (kind, key, counterparty id) that more than one of them may hold."""
    region = {r[0]: validation.fold_text(r[5]) for r in rows if r[5]}
    legal = {r[0]: r[1] for r in rows}
    inn = {r[0]: r[3] for r in rows if r[3]}
    kpp = {r[0]: r[4] for r in rows if r[4]}
    found: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    branches: list[list[str]] = []

    def note(a: str, b: str, reason: str, score: int) -> None:
        pair = (a, b) if a < b else (b, a)
        if score > found[pair].get(reason, 0):
            found[pair][reason] = score

    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for kind, key, counterparty_id in keys:
        if counterparty_id in legal:
            groups[(kind, key)].add(counterparty_id)
    for (kind, key), members in groups.items():
        if len(members) < 2:
            continue
        if kind == "inn":
            by_kpp: dict[str | None, list[str]] = defaultdict(list)
            for member in sorted(members):
                by_kpp[kpp.get(member)].append(member)
            heads = by_kpp.pop(None, [])
            for same in by_kpp.values():
                for a, b in combinations(same, 2):
                    note(a, b, "inn", 100)
            if len(by_kpp) > 1:
                branches.append(sorted(members))
                continue
            # Without a KPP on one side: the same entity as each of the others.
            for a in heads:
                for b in sorted(members):
                    if a != b:
                        note(a, b, "inn", 100)
            continue
        if len(members) > CROWD:
            continue
        if kind == "email_domain" and key in validation.FREE_MAIL_DOMAINS:
            continue
        reason = _KEY_REASONS[kind]
        for a, b in combinations(sorted(members), 2):
            note(a, b, reason, _REASON_SCORES[reason])

    for a, b, score in _alike_names(
        {r[0]: core_name(r[1]) for r in rows}, {r[0]: r[2] for r in rows if r[2]}
    ):
        note(a, b, "name", score)

    candidates = []
    for (a, b), reasons in found.items():
        if a in inn and b in inn and inn[a] != inn[b]:
            continue  # two legal entities
        if a in inn and b in inn and a in kpp and b in kpp and kpp[a] != kpp[b]:
            continue  # a branch: grouped, not merged
        score = _score(reasons)
        if set(reasons) == {"name"} and a in region and b in region and region[a] != region[b]:
            score -= 10  # one name in two regions: as often two firms as one
        if score >= min_score:
            ordered = sorted(reasons, key=lambda r: (-reasons[r], r))
            candidates.append(Candidate(a, b, score, ordered))
    candidates.sort(key=lambda c: (-c.score, legal[c.first], c.first, c.second))
    named = {c.first for c in candidates} | {c.second for c in candidates}
    named |= {m for group in branches for m in group}
    return Scan(candidates, sorted(branches), {i: legal[i] for i in sorted(named)})


NEW = ""  # the id a counterparty about to be created goes by in ``similar``


def similar(
    session: Session, actor: User, values: dict[str, Any], *, min_score: int = 85
) -> list[Candidate]:
    """The counterparties ``actor`` may see that a new one with ``values`` (the fields a create
    would send) would likely duplicate, by the scan's own rules, the surest first; each
    ``Candidate`` has the existing one as ``second`` (``first`` is ``NEW``).

    Only what could pair with it is read: the holders of its INN, phones, e-mails and corporate
    domains, and the counterparties with a name word beginning like one of its distinctive words
    (the scan's blocks) — a create is warned in milliseconds in a base of 50,000."""
    from sqlmodel import col

    from crm import access, rules, search  # the rules normalise the contacts as a create would
    from crm.models import ContactKey, Counterparty

    def text(name: str) -> str | None:
        value = values.get(name)
        return value if isinstance(value, str) and value.strip() else None

    name = (text("legal_name") or "")[:500]  # what a counterparty may hold; a guard on the work
    short = (text("short_name") or "")[:200] or None
    inn = _NOT_DIGIT.sub("", text("inn") or "")[:12] or None
    kpp = _NOT_DIGIT.sub("", text("kpp") or "")[:9] or None
    problems: dict[str, Any] = {}
    given = values.get("contacts")
    contacts = rules.clean_contacts(
        problems, "contacts", given[:50] if isinstance(given, list) else []
    )
    own = [
        (kind, key)
        for kind, key in search.keys_from(contacts, "", inn, text("website"))
        if kind in _KEY_REASONS
    ]
    holders: set[str] = set()
    keys: list[tuple[str, str, str]] = [(kind, key, NEW) for kind, key in own]
    if own:
        for kind, key, counterparty_id in session.execute(
            select(
                col(ContactKey.kind), col(ContactKey.key), col(ContactKey.counterparty_id)
            ).where(
                or_(*(and_(col(ContactKey.kind) == k, col(ContactKey.key) == v) for k, v in own))
            )
        ).all():
            keys.append((kind, key, counterparty_id))
            holders.add(counterparty_id)
    core = core_name(name)
    prefixes = sorted(
        {w[:4] for w in core.split() if len(w) >= 3 and w not in _GENERIC} or set(core.split()[:1])
    )[:10]
    for prefix in prefixes:
        holders.update(
            session.execute(
                select(col(ContactKey.counterparty_id))
                .where(
                    col(ContactKey.kind) == "word",
                    col(ContactKey.key) >= prefix,
                    col(ContactKey.key) < prefix + "\U0010ffff",
                    col(ContactKey.record_type) == "counterparty",
                )
                .limit(MAX_BLOCK)
            ).scalars()
        )
    if not holders:
        return []
    ids = sorted(holders)
    rows: list[Any] = []
    for start in range(0, len(ids), 500):
        rows += session.execute(
            select(
                col(Counterparty.id),
                col(Counterparty.legal_name),
                col(Counterparty.short_name),
                col(Counterparty.inn),
                col(Counterparty.kpp),
                col(Counterparty.region),
            ).where(
                col(Counterparty.id).in_(ids[start : start + 500]),
                access.visible_counterparties(actor),
            )
        ).all()
    rows.append((NEW, name, short, inn, kpp, text("region")))
    found = judge(rows, keys, min_score)
    return [
        Candidate(NEW, other, c.score, c.reasons, found.names[other])
        for c in found.candidates
        if NEW in (c.first, c.second)
        for other in [c.second if c.first == NEW else c.first]
    ]


def distinctive(core: str) -> str:
    """The words of a core name that tell one company from another (not «торговый дом»)."""
    return " ".join(w for w in core.split() if w not in _GENERIC) or core


def _blocks(names: dict[str, str]) -> Iterable[list[str]]:
    """Ids of names sharing the first four letters of a distinctive word (or the whole short name)."""
    blocks: dict[str, set[str]] = defaultdict(set)
    for record_id, name in names.items():
        words = [w for w in name.split() if len(w) >= 3 and w not in _GENERIC] or name.split()
        for word in words:
            blocks[word[:4]].add(record_id)
    for members in blocks.values():
        if 2 <= len(members) <= MAX_BLOCK:
            yield sorted(members)


def _alike_names(legal: dict[str, str], short: dict[str, str]) -> Iterable[tuple[str, str, int]]:
    """Pairs whose core names (``legal``) are equal, or whose short names (raw in ``short``,
    made core only for a pair found) are (95), or alike (their ratio, at most 94)."""
    seen: set[tuple[str, str]] = set()
    for members in _blocks(legal):
        texts = [legal[m] for m in members]
        for i in range(len(members) - 1):
            if not texts[i]:
                continue
            for _, ratio, k in process.extract(
                texts[i],
                texts[i + 1 :],
                scorer=fuzz.token_sort_ratio,
                score_cutoff=FUZZY_CUTOFF,
                limit=None,
            ):
                j = i + 1 + k
                a, b = members[i], members[j]
                if (
                    not texts[j]
                    or (a, b) in seen
                    or _NUMBER.findall(texts[i]) != _NUMBER.findall(texts[j])
                ):
                    continue  # «Магазин № 5» and «Магазин № 6» are two shops
                if (
                    texts[i] != texts[j]
                    and fuzz.token_sort_ratio(distinctive(texts[i]), distinctive(texts[j]))
                    < FUZZY_CUTOFF
                ):
                    continue  # alike only in their common words: «Серебряный терем», «Северный терем»
                seen.add((a, b))  # members are sorted: a < b
                same = legal[a] == legal[b] or (
                    a in short and b in short and core_name(short[a]) == core_name(short[b])
                )
                yield a, b, 95 if same else min(94, int(ratio))
