"""Bootstrap: a consistent snapshot of a laptop's scope, in pages, up to a watermark."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlmodel import Session

from crm import changes, records, registry
from crm.errors import MalformedInput
from crm.models import User
from sync import held, protocol, wire
from sync.pull import _LOG


def bootstrap(
    session: Session, user: User, body: Any, *, schema: int = protocol.SCHEMA
) -> dict[str, Any]:
    """One page of the snapshot of ``user``'s scope, of the types a client of ``schema`` knows."""
    request = wire.parse(
        wire.BootstrapRequest,
        body,
        'send {"watermark": null, "type": null, "after": null}',
        context={"current": lambda: changes.current(session)[0]},
    )
    watermark = request.watermark
    first = watermark is None
    if first:
        watermark = changes.current(session)[0]
    known = protocol.types_for(schema)
    name = request.type or known[0]
    if name not in known:
        raise MalformedInput(
            f"type {name} came with sync schema {registry.RECORD_TYPES[name].since_schema}; "
            f"this client speaks schema {schema}"
        )
    after = request.after
    limit = protocol.DEFAULT_PAGE if request.limit is None else request.limit
    rt = records.record_type(name)
    model: Any = rt.model
    fields = rt.fields()
    table = model.__table__
    stmt = (
        select(*[table.c[f] for f in fields], _LOG.c.version)
        .outerjoin(_LOG, and_(_LOG.c.record_type == name, _LOG.c.record_id == table.c.id))
        .where(records.visible(rt, user))
        .order_by(table.c.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    rows = session.execute(stmt).all()
    width = len(fields)
    convert = records.converters(name)
    if any(convert):
        out_rows = [
            [
                c(v) if c is not None and v is not None else v
                for c, v in zip(convert, row[:width], strict=True)
            ]
            for row in rows
        ]
    else:
        out_rows = [list(row[:width]) for row in rows]
    versions = [row[width] if row[width] is not None else watermark for row in rows]
    if len(rows) == limit:
        nxt: dict[str, Any] | None = {"type": name, "after": rows[-1][fields.index("id")]}
    else:
        index = known.index(name)
        nxt = {"type": known[index + 1], "after": None} if index + 1 < len(known) else None
    answer: dict[str, Any] = {
        "watermark": watermark,
        "type": name,
        "fields": fields,
        "rows": out_rows,
        "versions": versions,
        "next": nxt,
    }
    if first:
        answer["total"] = _totals(session, user, known)
    return answer


def remember_bootstrap(
    session: Session, device_id: str, request: Any, answer: dict[str, Any]
) -> None:
    """Note what a bootstrap page tells the device, before it is sent; the first page (the laptop
    emptied its replica before asking) starts the keeping of what it is told."""
    if isinstance(request, dict) and request.get("watermark") is None:
        held.start_telling(session, device_id, answer["watermark"])
    at = answer["fields"].index("id")
    held.remember(session, device_id, ((answer["type"], row[at]) for row in answer["rows"]))


def _totals(session: Session, user: User, types: tuple[str, ...]) -> dict[str, int]:
    totals = {}
    for name in types:
        rt = records.record_type(name)
        model: Any = rt.model
        totals[name] = session.execute(
            select(func.count()).select_from(model).where(records.visible(rt, user))
        ).scalar_one()
    return totals
