"""Finding whose history a business letter belongs to, and saying which rule decided.

The rules, in order; the first that gives an answer wins:

1. ``own_reference`` — the thread headers (In-Reply-To, References) name a letter
   Satchel sent: its Message-ID is ``<interaction id>@domain``, so the answer is that
   letter's counterparty, whatever addresses the reply comes from;
2. ``thread`` — they name a letter the bridge filed before (any Message-ID known):
   the newest one named decides (In-Reply-To first), so a reply whose client dropped
   References (Outlook) still threads by In-Reply-To. The thread id a match carries is
   only a start: :mod:`mail.threads` decides the thread, whatever the reading order;
3. ``contact_address`` — an address on the letter is an address of a contact person
   (any of their addresses, not only the first) or of a counterparty;
4. ``domain`` — an address is on a counterparty's corporate domain (a domain of an
   email address the counterparty or its people have); never a free-mail domain;
5. otherwise the letter goes to review (``no_match``).

Addresses are looked at in two rounds: the correspondent first (the sender of an
incoming letter, the To of an outgoing one), then everyone else. When a round finds
more than one counterparty the letter goes to review as ``ambiguous`` with the
candidates — never onto every record that shares an address.

The company's own addresses (``company_domains`` and the mailbox's address) never
match anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from crm.models import ContactKey, Interaction
from crm.validation import FREE_MAIL_DOMAINS
from mail.classify import on_domains
from mail.decode import Letter
from mail.models import MailMessage
from mail.threads import Threads

__all__ = ["Match", "Matcher"]

_OWN_ID = re.compile(r"^<([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@")


@dataclass(frozen=True)
class Match:
    """The outcome: a counterparty (and contact person, thread) or a reason to review."""

    rule: str  # own_reference, thread, contact_address, domain — or review
    counterparty_id: str | None = None
    contact_person_id: str | None = None
    thread_id: str | None = None
    review_reason: str | None = None  # no_match, ambiguous
    candidates: tuple[str, ...] = ()
    detail: str = ""
    # External addresses on the letter that no contact person or counterparty has.
    unknown: tuple[str, ...] = field(default=())


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


# Built once: composing a statement costs more than SQLite answering it.
_THREADS = select(
    col(MailMessage.key), col(MailMessage.counterparty_id), col(MailMessage.thread_id)
).where(
    col(MailMessage.key).in_(bindparam("keys", expanding=True)),
    col(MailMessage.counterparty_id).is_not(None),
)
_KEYS = select(
    col(ContactKey.key),
    col(ContactKey.counterparty_id),
    col(ContactKey.record_type),
    col(ContactKey.record_id),
).where(
    col(ContactKey.kind) == bindparam("kind"),
    col(ContactKey.key).in_(bindparam("keys", expanding=True)),
)


class Matcher:
    """Matches letters against the database in ``session``; one per import batch is fine."""

    def __init__(self, session: Session, company_domains: Iterable[str]) -> None:
        self.session = session
        self.company_domains = frozenset(d.lower() for d in company_domains)
        # Letters filed by this matcher but maybe not flushed yet: a reply in the same batch finds them.
        self._filed: dict[str, tuple[str, str | None]] = {}
        # Records the filing of this batch looked at, kept referenced (see mail.filing._responsible).
        self.cache: dict[Any, Any] = {}
        self._threads: dict[str, tuple[str, str | None] | None] = {}
        self._addresses: dict[str, list[tuple[str, str, str]]] = {}
        self._domains: dict[str, set[str]] = {}
        # The batch's threads: which conversation each filed letter joins (the thread id a match
        # proposes is only the start; see mail.threads).
        self.threads = Threads(session)

    def known(self, letter: Letter, counterparty_id: str, thread_id: str | None) -> None:
        """Tell the matcher a letter was just filed (its thread then matches later letters of the batch)."""
        self._filed[letter.dedup_key[:500]] = (counterparty_id, thread_id)

    # -- the rules

    def _own_reference(self, ids: list[str]) -> Match | None:
        for mid in reversed(ids):
            found = _OWN_ID.match(mid)
            if not found:
                continue
            row = self.session.execute(
                select(
                    col(Interaction.counterparty_id),
                    col(Interaction.thread_id),
                    col(Interaction.contact_person_id),
                    col(Interaction.message_id),
                ).where(col(Interaction.id) == found.group(1))
            ).first()
            if row is not None and row.message_id == mid:
                return Match(
                    "own_reference",
                    row.counterparty_id,
                    None,
                    row.thread_id or mid,
                    detail=f"answers our letter <{mid}>",
                )
        return None

    def _thread(self, ids: list[str]) -> Match | None:
        if not ids:
            return None
        self._load_threads(ids)
        known = {mid: thread for mid in ids if (thread := self._threads.get(mid))}
        known.update((mid, self._filed[mid]) for mid in ids if mid in self._filed)
        for mid in reversed(
            ids
        ):  # In-Reply-To is last in Letter.thread_ids, then the newest reference
            if mid in known:
                counterparty_id, thread_id = known[mid]
                return Match(
                    "thread",
                    counterparty_id,
                    None,
                    thread_id or mid,
                    detail=f"in the thread of {mid}",
                )
        return None

    # Lookups remember what they found (and what they did not), so that ``prefetch`` can ask
    # for a whole batch in one query and each letter then reads from memory.

    def _load_threads(self, ids: Iterable[str]) -> None:
        missing = [mid for mid in dict.fromkeys(ids) if mid not in self._threads]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            self._threads.update(dict.fromkeys(chunk))
            rows = self.session.execute(_THREADS, {"keys": chunk}).all()
            self._threads.update({row.key: (row.counterparty_id, row.thread_id) for row in rows})

    def _by_addresses(self, addresses: list[str]) -> dict[str, list[tuple[str, str, str]]]:
        """address → [(counterparty_id, record_type, record_id)] for every known address."""
        missing = [a for a in dict.fromkeys(addresses) if a not in self._addresses]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            found: dict[str, list[tuple[str, str, str]]] = {a: [] for a in chunk}
            for row in self.session.execute(_KEYS, {"kind": "email", "keys": chunk}).all():
                found[row.key].append((row.counterparty_id, row.record_type, row.record_id))
            self._addresses.update(found)
        return {a: self._addresses[a] for a in addresses if self._addresses.get(a)}

    def _by_domains(self, domains: list[str]) -> dict[str, set[str]]:
        missing = [d for d in dict.fromkeys(domains) if d not in self._domains]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            found: dict[str, set[str]] = {d: set() for d in chunk}
            for row in self.session.execute(_KEYS, {"kind": "email_domain", "keys": chunk}).all():
                found[row.key].add(row.counterparty_id)
            self._domains.update(found)
        return {d: self._domains[d] for d in domains if self._domains.get(d)}

    def prefetch(self, letters: Iterable[Letter], mailbox_address: str | None) -> None:
        """Look up everything a batch of letters will ask about, in a few queries."""
        addresses: list[str] = []
        ids: list[str] = []
        for letter in letters:
            first, rest = self.external(letter, mailbox_address)
            addresses += first + rest
            ids += letter.thread_ids
        self._by_addresses(addresses)
        self._by_domains(
            [d for d in dict.fromkeys(_domain(a) for a in addresses) if d not in FREE_MAIL_DOMAINS]
        )
        self._load_threads(ids)

    def candidates(self) -> set[str]:
        """Every counterparty the lookups so far found: those a batch's letters may be filed under."""
        found = {cp for rows in self._addresses.values() for cp, _type, _id in rows}
        found.update(cp for cps in self._domains.values() for cp in cps)
        found.update(hit[0] for hit in self._threads.values() if hit and hit[0])
        return found

    def external(self, letter: Letter, mailbox_address: str | None) -> tuple[list[str], list[str]]:
        """(correspondents, others): the letter's addresses outside the company, once each."""
        own = (mailbox_address or "").lower()

        def keep(addresses: Iterable[str]) -> list[str]:
            return [
                a for a in addresses if a and a != own and not on_domains(a, self.company_domains)
            ]

        outgoing = self.is_outgoing(letter, mailbox_address)
        first = keep(a.address for a in (letter.to if outgoing else letter.from_ or letter.sender))
        rest = [a for a in keep(a.address for a in letter.participants) if a not in first]
        return list(dict.fromkeys(first)), list(dict.fromkeys(rest))

    def is_outgoing(self, letter: Letter, mailbox_address: str | None) -> bool:
        senders = [a.address for a in letter.from_]
        own = (mailbox_address or "").lower()
        return bool(senders) and all(
            a == own or on_domains(a, self.company_domains) for a in senders
        )

    # -- the whole decision

    def match(self, letter: Letter, mailbox_address: str | None = None) -> Match:
        first, rest = self.external(letter, mailbox_address)
        everyone = first + rest
        known = self._by_addresses(everyone)
        unknown = tuple(a for a in everyone if a not in known)
        thread_ids = letter.thread_ids
        own_thread = letter.message_id or letter.dedup_key

        found = self._own_reference(thread_ids) or self._thread(thread_ids)
        if found is not None:
            return Match(
                found.rule,
                found.counterparty_id,
                self._person(known, everyone, found.counterparty_id),
                found.thread_id,
                detail=found.detail,
                unknown=unknown,
            )

        for group in (first, rest):
            counterparties = {cp for a in group for cp, _t, _r in known.get(a, ())}
            if len(counterparties) == 1:
                cp = counterparties.pop()
                address = next(a for a in group if a in known)
                return Match(
                    "contact_address",
                    cp,
                    self._person(known, group, cp),
                    own_thread,
                    detail=f"{address} is a known address",
                    unknown=unknown,
                )
            if len(counterparties) > 1:
                return Match(
                    "review",
                    review_reason="ambiguous",
                    candidates=tuple(sorted(counterparties)),
                    thread_id=own_thread,
                    unknown=unknown,
                    detail="addresses of more than one counterparty: "
                    + ", ".join(a for a in group if a in known),
                )

        for group in (first, rest):
            domains = [
                d for d in dict.fromkeys(_domain(a) for a in group) if d not in FREE_MAIL_DOMAINS
            ]
            by_domain = self._by_domains(domains)
            counterparties = set().union(*by_domain.values()) if by_domain else set()
            if len(counterparties) == 1:
                cp = counterparties.pop()
                domain = next(iter(by_domain))
                return Match(
                    "domain",
                    cp,
                    None,
                    own_thread,
                    detail=f"{domain} is the counterparty's domain",
                    unknown=unknown,
                )
            if len(counterparties) > 1:
                return Match(
                    "review",
                    review_reason="ambiguous",
                    candidates=tuple(sorted(counterparties)),
                    thread_id=own_thread,
                    unknown=unknown,
                    detail="domain shared by more than one counterparty: " + ", ".join(by_domain),
                )
        detail = (
            "no address outside the company"
            if not everyone
            else "no contact person, counterparty or corporate domain has "
            + ", ".join(everyone[:5])
        )
        return Match(
            "review", review_reason="no_match", thread_id=own_thread, unknown=unknown, detail=detail
        )

    @staticmethod
    def _person(
        known: dict[str, list[tuple[str, str, str]]],
        addresses: list[str],
        counterparty_id: str | None,
    ) -> str | None:
        """The contact person of ``counterparty_id`` behind the first of ``addresses`` that has one."""
        for address in addresses:
            for cp, record_type, record_id in known.get(address, ()):
                if cp == counterparty_id and record_type == "contact_person":
                    return record_id
        return None
