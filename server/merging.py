"""A merge of two counterparties as the server runs it: the domain's (``crm.merge``) and the mail
bridge's rows in one transaction; shared by the REST API and ``satchel merge``."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from crm import merge as domain
from crm.models import CounterpartyMerge, User
from crm.models.base import to_jsonable
from mail import filing


def merge(
    session: Session, actor: User, survivor_id: str, absorbed_id: str, take: set[str]
) -> CounterpartyMerge:
    row = domain.merge(session, actor, survivor_id, absorbed_id, take=take)
    filing.repoint_counterparty(session, absorbed_id, survivor_id)
    return row


def as_dict(row: CounterpartyMerge) -> dict[str, Any]:
    return {
        "id": row.id,
        "survivor_id": row.survivor_id,
        "absorbed_id": row.absorbed_id,
        "absorbed": row.absorbed,
        "taken": row.taken,
        "moved": row.moved,
        "merged_by": row.merged_by,
        "merged_at": to_jsonable(row.merged_at),
    }
