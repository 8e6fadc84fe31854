"""Talking IMAP: connecting with timeouts, logging in, finding the folders worth reading.

Every socket has a timeout (a hung server must not hang the bridge); passwords
come decrypted from :class:`mail.secrets.SecretBox` only for the login and are
never part of an error message. Folder names are handed back decoded: imapclient
undoes modified UTF-7 ("&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-" is "Отправленные").
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

if TYPE_CHECKING:  # a parse worker imports this module (see Account): not the database's models
    from mail.models import Mailbox
    from mail.secrets import SecretBox

__all__ = [
    "Account",
    "FolderInfo",
    "NETWORK_ERRORS",
    "ImapError",
    "close_quietly",
    "connect",
    "find_folders",
    "folder_role",
    "log_in",
    "network_error",
]

DEFAULT_TIMEOUT = 30.0
# What a lost, refused, slow or garbled connection raises (imaplib's abort is an IMAPClientError).
_NETWORK_ERRORS = (
    ConnectionError,
    TimeoutError,
    ssl.SSLError,
    socket.gaierror,
    socket.herror,
    EOFError,
)
NETWORK_ERRORS = (*_NETWORK_ERRORS, IMAPClientError)  # and the protocol's own


class ImapError(RuntimeError):
    """The mailbox could not be reached or refused us; the message says which and why."""


@dataclass(frozen=True)
class FolderInfo:
    name: str
    role: str  # inbox, sent, all, archive, junk, trash, drafts, other
    flags: tuple[str, ...]

    @property
    def readable(self) -> bool:
        """Folders the bridge reads: not junk, trash or drafts, and selectable."""
        return self.role not in ("junk", "trash", "drafts") and "\\noselect" not in self.flags


_SPECIAL_USE = {
    "\\sent": "sent",
    "\\all": "all",
    "\\archive": "archive",
    "\\junk": "junk",
    "\\trash": "trash",
    "\\drafts": "drafts",
}
# Where a server offers no SPECIAL-USE: the names clients give these folders (compared case-folded,
# also as the last part of a hierarchical name such as "INBOX.Sent").
_NAMES = {
    "sent": {
        "sent",
        "sent items",
        "sent messages",
        "sent mail",
        "отправленные",
        "исходящие",
        "отправленные элементы",
    },
    "junk": {
        "junk",
        "spam",
        "junk e-mail",
        "junk email",
        "bulk mail",
        "спам",
        "нежелательная почта",
    },
    "trash": {
        "trash",
        "deleted",
        "deleted items",
        "deleted messages",
        "bin",
        "корзина",
        "удаленные",
        "удалённые",
        "удаленные элементы",
    },
    "drafts": {"drafts", "draft", "черновики"},
    "all": {"all mail", "вся почта"},
    "archive": {"archive", "архив"},
}


def folder_role(name: str, flags: tuple[str, ...], delimiter: str | None = None) -> str:
    """The role of a folder: by SPECIAL-USE flag, else by its (last) name."""
    lowered = tuple(f.lower() for f in flags)
    for flag in lowered:
        if flag in _SPECIAL_USE:
            return _SPECIAL_USE[flag]
    if name.upper() == "INBOX":
        return "inbox"
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    folded = leaf.strip().casefold()
    for role, names in _NAMES.items():
        if folded in names:
            return role
    return "other"


def _flag(value: bytes | str) -> str:
    return (value.decode("ascii", "replace") if isinstance(value, bytes) else value).lower()


def find_folders(client: IMAPClient) -> list[FolderInfo]:
    """Every folder of the account with its role, SPECIAL-USE first, names as the fallback."""
    out = []
    for flags, delimiter, name in client.list_folders():
        text_flags = tuple(_flag(f) for f in flags)
        delim = delimiter.decode() if isinstance(delimiter, bytes) else delimiter
        out.append(FolderInfo(str(name), folder_role(str(name), text_flags, delim), text_flags))
    return out


@dataclass(frozen=True)
class Account:
    """Where a mailbox is and how to log in, the secret decrypted: what a parse worker needs to
    fetch on its own connection (``mail.fetching``), without the database or the secret box."""

    host: str
    port: int
    security: str  # "ssl", "starttls" or "plain"
    login: str
    secret: str = field(repr=False)
    auth: str = "password"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def of(
        cls, mailbox: Mailbox, secrets: SecretBox, *, timeout: float = DEFAULT_TIMEOUT
    ) -> Account:
        return cls(
            mailbox.imap_host,
            mailbox.imap_port,
            mailbox.imap_security,
            mailbox.login,
            secrets.decrypt(mailbox.secret) if mailbox.secret else "",
            mailbox.auth,
            timeout,
        )


def log_in(account: Account) -> IMAPClient:
    """A logged-in client for ``account``; ``ImapError`` says why not (never with the secret)."""
    try:
        context = ssl.create_default_context() if account.security in ("ssl", "starttls") else None
        client = IMAPClient(
            account.host,
            port=account.port,
            use_uid=True,
            ssl=account.security == "ssl",
            ssl_context=context,
            timeout=account.timeout,
        )
    except (OSError, IMAPClientError) as exc:
        raise ImapError(f"cannot reach {account.host}:{account.port}: {exc}") from None
    try:
        if account.security == "starttls":
            client.starttls(context)
        try:
            if account.auth == "xoauth2":
                client.oauth2_login(account.login, account.secret)
            else:
                client.login(account.login, account.secret)
        except LoginError:
            raise ImapError(
                f"{account.host} refused the login of {account.login}: wrong password or token"
            ) from None
    except BaseException as exc:
        close_quietly(client)
        if isinstance(exc, NETWORK_ERRORS):
            raise network_error(account.host, exc) from None
        raise
    return client


def close_quietly(client: IMAPClient) -> None:
    """Log out, or drop the connection if that fails: it may be gone already; nothing to save."""
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - the connection may already be gone; nothing to save
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass


def network_error(host: str, exc: BaseException) -> ImapError:
    return ImapError(f"{host}: {type(exc).__name__}: {exc}")


@contextmanager
def connect(
    mailbox: Mailbox, secrets: SecretBox, *, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[IMAPClient]:
    """A logged-in client for ``mailbox``; logged out (or dropped) when the block ends."""
    client = log_in(Account.of(mailbox, secrets, timeout=timeout))
    try:
        yield client
    except NETWORK_ERRORS as exc:
        # Only the connection's own failures: a full disk in the caller's block stays what it is.
        raise network_error(mailbox.imap_host, exc) from None
    finally:
        close_quietly(client)
