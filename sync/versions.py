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


def check_versions(protocol_header: str | None, schema_header: str | None) -> None:
    def number(raw: str | None) -> int:
        return int(raw) if raw is not None and raw.strip().isdigit() else 0

    if number(protocol_header) < protocol.MIN_PROTOCOL or number(schema_header) < protocol.MIN_SCHEMA:
        raise UpgradeRequired(
            "this version of Satchel is too old for the server; update it — your unsent changes are kept",
            details={"protocol": protocol.PROTOCOL, "schema": protocol.SCHEMA})

