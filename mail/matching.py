"""Finding whose history a business letter belongs to, and saying which rule decided.

The rules, in order; the first that gives an answer wins:

1. ``own_reference`` — the thread headers (In-Reply-To, References) name a letter
   Satchel sent: its Message-ID is ``<interaction id>@domain``, so the answer is that
   letter's counterparty, whatever addresses the reply comes from;
2. ``thread`` — they name a letter the bridge filed before (any Message-ID known):
   the newest one named decides (In-Reply-To first), so a reply whose client dropped
   References (Outlook) still threads by In-Reply-To;
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
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session

from crm.models import ContactKey, Interaction
from crm.validation import FREE_MAIL_DOMAINS
from mail.decode import Letter
from mail.models import MailMessage

__all__ = ["Match", "Matcher", "is_company_address"]

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

    @property
    def filed(self) -> bool:
        return self.counterparty_id is not None


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


def is_company_address(address: str, company_domains: Collection[str]) -> bool:
    domain = _domain(address)
    return any(domain == d or domain.endswith("." + d) for d in company_domains)


class Matcher:
    """Matches letters against the database in ``session``; one per import batch is fine."""

    def __init__(self, session: Session, company_domains: Iterable[str]) -> None:
        self.session = session
        self.company_domains = frozenset(d.lower() for d in company_domains)
        # Letters filed by this matcher but maybe not flushed yet: a reply in the same batch finds them.
        self._filed: dict[str, tuple[str, str | None]] = {}

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
                select(Interaction.counterparty_id, Interaction.thread_id, Interaction.contact_person_id,
                       Interaction.message_id)
                .where(Interaction.id == found.group(1))).first()
            if row is not None and row.message_id == mid:
                return Match("own_reference", row.counterparty_id, None, row.thread_id or mid,
                             detail=f"answers our letter <{mid}>")
        return None

    def _thread(self, ids: list[str]) -> Match | None:
        if not ids:
            return None
        rows = self.session.execute(
            select(MailMessage.key, MailMessage.counterparty_id, MailMessage.thread_id)
            .where(MailMessage.key.in_(ids), MailMessage.counterparty_id.is_not(None))).all()
        known = {row.key: (row.counterparty_id, row.thread_id) for row in rows}
        known.update((mid, self._filed[mid]) for mid in ids if mid in self._filed)
        for mid in reversed(ids):  # In-Reply-To is last in Letter.thread_ids, then the newest reference
            if mid in known:
                counterparty_id, thread_id = known[mid]
                return Match("thread", counterparty_id, None, thread_id or mid, detail=f"in the thread of {mid}")
        return None

    def _by_addresses(self, addresses: list[str]) -> dict[str, list[tuple[str, str, str]]]:
        """address → [(counterparty_id, record_type, record_id)] for every known address."""
        if not addresses:
            return {}
        rows = self.session.execute(
            select(ContactKey.key, ContactKey.counterparty_id, ContactKey.record_type, ContactKey.record_id)
            .where(ContactKey.kind == "email", ContactKey.key.in_(addresses))).all()
        out: dict[str, list[tuple[str, str, str]]] = {}
        for row in rows:
            out.setdefault(row.key, []).append((row.counterparty_id, row.record_type, row.record_id))
        return out

    def _by_domains(self, domains: list[str]) -> dict[str, set[str]]:
        if not domains:
            return {}
        rows = self.session.execute(
            select(ContactKey.key, ContactKey.counterparty_id)
            .where(ContactKey.kind == "email_domain", ContactKey.key.in_(domains))).all()
        out: dict[str, set[str]] = {}
        for row in rows:
            out.setdefault(row.key, set()).add(row.counterparty_id)
        return out

    def external(self, letter: Letter, mailbox_address: str | None) -> tuple[list[str], list[str]]:
        """(correspondents, others): the letter's addresses outside the company, once each."""
        own = (mailbox_address or "").lower()

        def keep(addresses: Iterable[str]) -> list[str]:
            return [a for a in addresses if a and a != own and not is_company_address(a, self.company_domains)]

        outgoing = self.is_outgoing(letter, mailbox_address)
        first = keep(a.address for a in (letter.to if outgoing else letter.from_ or letter.sender))
        rest = [a for a in keep(a.address for a in letter.participants) if a not in first]
        return list(dict.fromkeys(first)), list(dict.fromkeys(rest))

    def is_outgoing(self, letter: Letter, mailbox_address: str | None) -> bool:
        senders = [a.address for a in letter.from_]
        own = (mailbox_address or "").lower()
        return bool(senders) and all(a == own or is_company_address(a, self.company_domains) for a in senders)

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
            return Match(found.rule, found.counterparty_id, self._person(known, everyone, found.counterparty_id),
                         found.thread_id, detail=found.detail, unknown=unknown)

        for group in (first, rest):
            counterparties = {cp for a in group for cp, _t, _r in known.get(a, ())}
            if len(counterparties) == 1:
                cp = counterparties.pop()
                address = next(a for a in group if a in known)
                return Match("contact_address", cp, self._person(known, group, cp), own_thread,
                             detail=f"{address} is a known address", unknown=unknown)
            if len(counterparties) > 1:
                return Match("review", review_reason="ambiguous", candidates=tuple(sorted(counterparties)),
                             thread_id=own_thread, unknown=unknown,
                             detail="addresses of more than one counterparty: " + ", ".join(
                                 a for a in group if a in known))

        for group in (first, rest):
            domains = [d for d in dict.fromkeys(_domain(a) for a in group) if d not in FREE_MAIL_DOMAINS]
            by_domain = self._by_domains(domains)
            counterparties = set().union(*by_domain.values()) if by_domain else set()
            if len(counterparties) == 1:
                cp = counterparties.pop()
                domain = next(iter(by_domain))
                return Match("domain", cp, None, own_thread, detail=f"{domain} is the counterparty's domain",
                             unknown=unknown)
            if len(counterparties) > 1:
                return Match("review", review_reason="ambiguous", candidates=tuple(sorted(counterparties)),
                             thread_id=own_thread, unknown=unknown,
                             detail="domain shared by more than one counterparty: " + ", ".join(by_domain))
        detail = ("no address outside the company" if not everyone
                  else "no contact person, counterparty or corporate domain has " + ", ".join(everyone[:5]))
        return Match("review", review_reason="no_match", thread_id=own_thread, unknown=unknown, detail=detail)

    @staticmethod
    def _person(known: dict[str, list[tuple[str, str, str]]], addresses: list[str], counterparty_id: str | None) -> str | None:
        """The contact person of ``counterparty_id`` behind the first of ``addresses`` that has one."""
        for address in addresses:
            for cp, record_type, record_id in known.get(address, ()):
                if cp == counterparty_id and record_type == "contact_person":
                    return record_id
        return None
