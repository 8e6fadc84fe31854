"""One-click unsubscribe links of a mailing's letters (RFC 2369 ``List-Unsubscribe``, RFC 8058).

Every letter of a mailing carries ``List-Unsubscribe: <{public_url}/unsubscribe/{token}>``
(and, when that address is HTTPS, ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, so
that a mail client may unsubscribe with one POST). The token names the letter's
:class:`~crm.models.MailingRecipient` and is signed by the server::

    <the recipient's id, base64url>.<HMAC-SHA256 of it, first 16 bytes, base64url>

The HMAC key is derived with HKDF (purpose ``mailing-unsubscribe``) from the server's secret
(``secret_key``, else ``<data_dir>/secret.key``: :func:`mail.secrets.load_secret`), the same
secret the mailbox passwords' key is derived from, so it needs no setting or table of its
own and one key never serves two purposes. Nobody can make a token for another recipient
without that secret: an id alone (even a guessed one) or a changed signature is refused.
A token is at most :data:`MAX_TOKEN` characters; a longer one is refused unread.

Opting out sets ``ContactPerson.no_mailings`` of the recipient's person, as the bridge's own
user, so the change log carries it to the laptops; mailings leave that person out from then
on (``crm.mailings``). A recipient without a contact person (a counterparty's own address)
has its address entered among the failing ones (:class:`~crm.models.FailingAddress`, reason
"asked for no mailings"), which mailings leave out too. Doing it again changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import Session

from crm.models import ContactPerson, FailingAddress, MailingRecipient, utcnow
from mail.filing import bridge_user, set_as_bridge
from mail.secrets import load_secret

__all__ = ["MAX_TOKEN", "OPTED_OUT", "Signer", "Unsubscription", "look_up", "mask", "opt_out"]

MAX_TOKEN = 128
_MAC_BYTES = 16
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,100}\.[A-Za-z0-9_-]{22}")
OPTED_OUT = "asked for no mailings (List-Unsubscribe)"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Makes and checks the unsubscribe tokens under one server secret."""

    def __init__(self, secret: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"satchel", info=b"mailing-unsubscribe"
        ).derive(secret)

    @classmethod
    def for_settings(cls, settings: Any) -> Signer:
        """The signer of the server whose settings (``secret_key``, ``data_dir``) these are."""
        return cls(load_secret(settings.secret_key, settings.data_dir))

    def _mac(self, recipient_id: str) -> bytes:
        mac = hmac.new(self._key, b"unsubscribe\0" + recipient_id.encode(), hashlib.sha256)
        return mac.digest()[:_MAC_BYTES]

    def token(self, recipient_id: str) -> str:
        return f"{_b64(recipient_id.encode())}.{_b64(self._mac(recipient_id))}"

    def link(self, public_url: str, recipient_id: str) -> str:
        return f"{public_url.rstrip('/')}/unsubscribe/{self.token(recipient_id)}"

    def recipient_id(self, token: object) -> str | None:
        """The recipient a token names, or None when it is not one this server signed."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN or not _TOKEN.fullmatch(token):
            return None
        body, signature = token.split(".")
        try:
            recipient_id = _unb64(body).decode("ascii")
            mac = _unb64(signature)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if not recipient_id or not hmac.compare_digest(mac, self._mac(recipient_id)):
            return None
        # One spelling per token: base64's padding bits and '=' signs would let a changed token
        # pass as the same one.
        if token != self.token(recipient_id):
            return None
        return recipient_id


def mask(address: str) -> str:
    """An address as the unsubscribe page shows it: enough to know it, not to read it off."""
    local, _at, domain = address.rpartition("@")
    if not local:
        return "***"
    shown = local[:2] if len(local) > 3 else local[:1]
    return f"{shown}***@{domain}"


@dataclass(frozen=True)
class Unsubscription:
    """What the unsubscribe page shows: the masked address, and whether it is opted out already."""

    address: str
    done: bool


def _found(session: Session, signer: Signer, token: object) -> MailingRecipient | None:
    recipient_id = signer.recipient_id(token)
    return session.get(MailingRecipient, recipient_id) if recipient_id else None


def _opted_out(session: Session, recipient: MailingRecipient) -> bool:
    if recipient.contact_person_id:
        person = session.get(ContactPerson, recipient.contact_person_id)
        if person is not None:
            return bool(person.no_mailings)
    return session.get(FailingAddress, recipient.email) is not None


def look_up(session: Session, signer: Signer, token: object) -> Unsubscription | None:
    """The recipient a token names, as the page shows it; None for a token not ours."""
    recipient = _found(session, signer, token)
    if recipient is None:
        return None
    return Unsubscription(mask(recipient.email), _opted_out(session, recipient))


def opt_out(session: Session, signer: Signer, token: object) -> Unsubscription | None:
    """Opt the recipient a token names out of mailings (in the caller's write); None, and
    nothing changed, for a token not ours."""
    recipient = _found(session, signer, token)
    if recipient is None:
        return None
    person = (
        session.get(ContactPerson, recipient.contact_person_id)
        if recipient.contact_person_id
        else None
    )
    if person is not None:
        if not person.no_mailings:
            set_as_bridge(session, bridge_user(session), person, no_mailings=True)
    elif session.get(FailingAddress, recipient.email) is None:
        now = utcnow()
        session.add(
            FailingAddress(
                email=recipient.email,
                reason=OPTED_OUT,
                failures=0,
                first_failed_at=now,
                last_failed_at=now,
                mailing_id=recipient.mailing_id,
            )
        )
        session.flush()
    return Unsubscription(mask(recipient.email), True)
