"""Protocol and schema versions on every sync request (DESIGN sync invariant 9), and the errors
the sync verbs share."""

from __future__ import annotations

from crm.errors import SatchelError
from sync import protocol


class UpgradeRequired(SatchelError):
    """The client speaks an older protocol or schema than the server serves."""

    code = "upgrade_required"


class SequenceGap(SatchelError):
    """A push skipped some of the device's mutations; ``details.expected`` says where to resend from."""

    code = "sequence_gap"


class SequenceReused(SatchelError):
    """A push reuses seqs the server already applied for other mutations (a laptop restored from a
    backup, or a replica copied to a second laptop). ``details.expected`` is where to renumber the
    outbox from; ``details.results`` are the stored results of the pushed seqs that really were
    these very mutations (applied before), for the client to store as usual."""

    code = "sequence_reused"


class ServerTooOld(SatchelError):
    """The client speaks a newer protocol or schema than this server; the server must be updated."""

    code = "server_too_old"


def check_versions(protocol_header: str | None, schema_header: str | None) -> int:
    """Accept a client whose protocol and schema this server serves; its schema number.

    Older than the minimum → ``UpgradeRequired`` (a missing or unreadable header
    counts as oldest); newer than the server's → ``ServerTooOld``: its changes may
    carry fields this server would drop, so none is taken.
    """

    def number(raw: str | None) -> int:
        text = (raw or "").strip()
        # ASCII digits only, and few of them: int() takes other scripts' digits and chokes on thousands.
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else 0

    client_protocol, client_schema = number(protocol_header), number(schema_header)
    details = {"protocol": protocol.PROTOCOL, "schema": protocol.SCHEMA}
    if client_protocol < protocol.MIN_PROTOCOL or client_schema < protocol.MIN_SCHEMA:
        raise UpgradeRequired(
            "this version of Satchel is too old for the server; update it — your unsent changes are kept",
            details=details,
        )
    if client_protocol > protocol.PROTOCOL or client_schema > protocol.SCHEMA:
        raise ServerTooOld(
            f"this server is older than your Satchel (it speaks protocol {protocol.PROTOCOL}, schema "
            f"{protocol.SCHEMA}); ask your administrator to update it — your unsent changes are kept",
            details=details,
        )
    return client_schema
