"""The laptop's Sync screen: how sync stands, "sync now", and the quarantine with retry and drop.

Only a home with a ``SyncPanel`` (``Home.sync``, the laptop) has it; elsewhere
these addresses answer 404. "Sync now" only wakes the home's background sync
and comes straight back: the page shows the progress and, when it is done,
the result (it reloads itself every few seconds while a sync runs, with no
script). Retry and drop run in the replica's own transaction, after the
usual origin, CSRF and session checks (``visit.acting``).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm.errors import NotFound
from web.home import Home, SyncPanel
from web.i18n import N_
from web.routes.conflicts import shown
from web.visit import Visit, acting, read_form, signed_in

# Seconds between reloads of the page while a sync runs.
REFRESH_SECONDS = 2
# What a running sync is doing (``SyncStatus.phase``), as the page says it.
PHASES = {
    "push": N_("sending your changes"),
    "bootstrap": N_("loading your clients"),
    "pull": N_("receiving changes"),
    "search": N_("preparing search; your clients can be opened meanwhile"),
}


def _panel(home: Home) -> SyncPanel:
    if home.sync is None:
        raise NotFound("no sync here")
    return home.sync


def _item_id(request: Request) -> int:
    raw = request.path_params["item_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound(f"nothing in quarantine with id {raw}")
    return int(raw)


def _described(item: dict[str, Any]) -> dict[str, Any]:
    """A quarantined mutation as the screen lists it: what it did, to what, with which values."""
    m = item["mutation"]
    fields = m.get("fields") or {}
    values = [(name, shown(value)) for name, value in fields.items() if name != "id"]
    if m.get("op") == "resolve":
        values = [("choice", str(m.get("choice")))] + (
            [("value", shown(m.get("value")))] if "value" in m else []
        )
    return {
        "id": item["id"],
        "op": m.get("op"),
        "type": m.get("type") or "conflicts",
        "record_id": m.get("id") or m.get("conflict_id"),
        "values": values,
        "reason": item["reason"],
        "at": item["at"],
    }


async def show(request: Request, home: Home) -> Response:
    panel = _panel(home)

    def work(db: Session, visit: Visit) -> Response:
        status = panel.status()
        phase = visit.gettext(PHASES[status.phase]) if status.phase in PHASES else None
        return visit.page(
            db,
            "sync.html",
            status=status,
            items=[_described(i) for i in panel.quarantine()],
            refresh=REFRESH_SECONDS if status.running else None,
            phase=phase,
        )

    return await signed_in(request, home, work)


async def now(request: Request, home: Home) -> Response:
    panel = _panel(home)
    form = await read_form(request)

    def act(visit: Visit) -> Response:
        panel.sync_now()
        return visit.redirect("/sync")

    return await acting(request, home, form, act)


async def retry(request: Request, home: Home) -> Response:
    panel, item_id = _panel(home), _item_id(request)
    form = await read_form(request)

    def act(visit: Visit) -> Response:
        panel.retry(item_id)
        return visit.redirect("/sync#quarantine")

    return await acting(request, home, form, act)


async def drop(request: Request, home: Home) -> Response:
    panel, item_id = _panel(home), _item_id(request)
    form = await read_form(request)

    def act(visit: Visit) -> Response:
        panel.drop(item_id)
        return visit.redirect("/sync#quarantine")

    return await acting(request, home, form, act)
