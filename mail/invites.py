"""Meeting invitations as the mail bridge sees them: a codec it is handed, not a module it imports.

Building iTIP objects is the calendar bridge's business (``calendar_bridge.invitations``);
the mail bridge only carries them out (``METHOD:REQUEST``/``CANCEL`` through the outbox)
and in (``METHOD:REPLY`` through the ingest). The server hands the calendar bridge in with
its settings (``mail.bridge.BridgeSettings.invitations``), which keeps ``mail`` depending on
``crm`` only. Without a codec, a queued meeting fails with a clear message and replies are
filed as letters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

__all__ = ["InvitationCodec"]


class InvitationCodec(Protocol):
    def invitation(
        self,
        *,
        uid: str,
        sequence: int,
        method: str,
        summary: str,
        start: datetime,
        end: datetime,
        organizer: tuple[str, str],
        attendees: list[tuple[str, str, str]],
        location: str | None,
        description: str | None,
        stamp: datetime,
        status: str | None = None,
    ) -> bytes: ...

    def parse_reply(self, data: bytes, method_hint: str | None = None) -> list[Any]: ...

    def interaction_id_from_uid(self, uid: str) -> str | None: ...
