"""Fetching and parsing a batch of letters in a parse worker, on the worker's own IMAP connection.

Once the parse workers run (``mail.ingest._Parser``), a batch's letters are not fetched by the
ingest's process and sent to a worker to be parsed: each worker fetches its share of the batch
itself and sends back the letters parsed, with their raw bytes. The ingest's process is left to
file them: with the fetch in it, its thread reading IMAP responses held the interpreter ~1.7 s of
a company's 1,570 letters, time the filing thread waited for (bench/RESULTS.md, "Mail"). Fetching
from a server over a network, the workers' connections also wait for it side by side.

A worker keeps one connection, logged in to the last account it fetched from with the last folder
examined (read-only), and checks the folder's UIDVALIDITY against the one the ingest read: should it
have changed in between, the batch fails (``ImapError``) rather than fetch other letters under the
same numbers. The connection is logged out when the worker stops. This module imports what parsing
and IMAP need, not the CRM or the database: a worker starts in ~0.2 s.
"""

from __future__ import annotations

import multiprocessing.util

from imapclient import IMAPClient

from mail.decode import Letter, parse_letter
from mail.imap import NETWORK_ERRORS, Account, ImapError, close_quietly, log_in, network_error

__all__ = ["close", "fetch_and_parse", "fetch_here"]

# The connection of this process: (account, client, the folder examined or None).
_open: list[tuple[Account, IMAPClient, str | None]] = []
_finalizer_set = False


def fetch_and_parse(
    account: Account, folder: str, uidvalidity: int, uids: list[int], max_attachment_bytes: int
) -> list[tuple[int, bytes, Letter]]:
    """In a worker: the letters ``uids`` of ``folder``, parsed: ``(uid, raw, letter)``, in the order of
    ``uids``; a letter expunged meanwhile is left out. The worker's connection stays open for the next."""
    client = _client(account, folder, uidvalidity)
    try:
        return _fetch(client, account, uids, max_attachment_bytes)
    except ImapError:
        close()  # the connection is in an unknown state: the next batch logs in again
        raise


def fetch_here(
    account: Account, folder: str, uidvalidity: int, uids: list[int], max_attachment_bytes: int
) -> list[tuple[int, bytes, Letter]]:
    """As :func:`fetch_and_parse`, on a connection of its own for this call (a worker stopped: the
    ingest's process fetches its part; several ingests may share the process, one per thread)."""
    client = log_in(account)
    try:
        _examine(client, account, folder, uidvalidity)
        return _fetch(client, account, uids, max_attachment_bytes)
    finally:
        close_quietly(client)


def _fetch(
    client: IMAPClient, account: Account, uids: list[int], max_attachment_bytes: int
) -> list[tuple[int, bytes, Letter]]:
    try:
        data = client.fetch(uids, ["BODY.PEEK[]"])
    except NETWORK_ERRORS as exc:
        raise network_error(account.host, exc) from None
    out = []
    for uid in uids:
        body = data.get(uid, {}).get(b"BODY[]")
        if body is not None:
            raw = bytes(body)
            out.append((uid, raw, parse_letter(raw, max_attachment_bytes=max_attachment_bytes)))
    return out


def _examine(client: IMAPClient, account: Account, folder: str, uidvalidity: int) -> None:
    try:
        selected = client.select_folder(folder, readonly=True)
    except NETWORK_ERRORS as exc:
        raise network_error(account.host, exc) from None
    if int(selected[b"UIDVALIDITY"]) != uidvalidity:
        raise ImapError(
            f"{account.host}: {folder} was renumbered (UIDVALIDITY changed) during the run"
        )


def _client(account: Account, folder: str, uidvalidity: int) -> IMAPClient:
    global _finalizer_set
    if _open and _open[0][0] != account:
        close()
    if not _open:
        _open.append((account, log_in(account), None))
        if not _finalizer_set:  # a worker process ends without atexit; multiprocessing's hooks run
            multiprocessing.util.Finalize(None, close, exitpriority=10)
            _finalizer_set = True
    known, client, examined = _open[0]
    if examined != folder:
        try:
            _examine(client, account, folder, uidvalidity)
        except ImapError:
            close()
            raise
        _open[0] = (known, client, folder)
    return client


def close() -> None:
    """Log out of the connection this process holds, if any."""
    while _open:
        close_quietly(_open.pop()[1])
