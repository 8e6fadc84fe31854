"""The analyses over REST (``crm.analytics``, ``crm.reports``), over the clients the caller sees.

``GET /api/v1/reports/{abc|matrix|rfm|neglected|due|moves|funnel|lost|sources|activity|completeness|completeness-owners|receivables|receivables-owners}`` answers the report as JSON —
its columns (titled in Russian and English, typed), rows and what it was asked — or, with
``format=xlsx`` or ``format=csv``, as a file to open in Excel (``crm.exports``: typed cells,
formulas neutralised). Periods are whole months: ``from`` and ``to`` (YYYY-MM-DD; default the
last twelve full months); the deal and activity reports take ``owner`` (a login or id: that
salesperson's deals or contacts only; an unknown one is a 400); ``completeness`` (per card) and
``completeness-owners`` (per salesperson) take ``owner``, ``rules`` (``inn,phone:30,…``:
``crm.completeness.choose``) and ``sort`` (``score``: worst first, ``-score``, ``name``);
``receivables`` (per client) and ``receivables-owners`` (per salesperson) take ``owner``. ``POST /api/v1/reports/abc/keep`` keeps a computation over the whole
company and puts its classes on the cards (office and administrators), so that ``moves`` can
show who changed class since a day. Every report takes ``segment`` (a saved segment's id or name,
``crm.segments``): the report over its members the caller sees (ABC ranks within them), named for
it (title, ``about.segment``, the file's name); an unknown one is a 404.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import analytics, exports, neglect, reports, segments, trade
from crm.errors import MalformedInput, ValidationFailed
from crm.models import User
from crm.models.enums import CounterpartyKind
from server.http import as_user, json_response, only_params, read_json

PERIOD = ("from", "to")
THRESHOLDS = ("a", "b", "x", "y", "min_months")
_NUMBER = re.compile(r"\d{1,3}(\.\d{1,4})?")
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def _period(params: Any) -> tuple[date, date]:
    for name in ("from", "to"):
        if hasattr(params, "getlist") and len(params.getlist(name)) > 1:
            raise MalformedInput(f"query parameter {name} is given twice")
    try:
        return reports.period(params.get("from"), params.get("to"), date.today())
    except ValueError as exc:
        raise MalformedInput(str(exc)) from None


def _number(params: Any, name: str, default: float) -> float:
    raw = params.get(name)
    if raw is None:
        return default
    if not _NUMBER.fullmatch(str(raw)):
        raise MalformedInput(f"{name} must be a number from 0 to 999, got {str(raw)[:40]!r}")
    return float(raw)


def _thresholds(params: Any) -> analytics.Thresholds:
    t = analytics.Thresholds(
        a=_number(params, "a", 70),
        b=_number(params, "b", 20),
        x=_number(params, "x", 10),
        y=_number(params, "y", 25),
        min_months=int(_number(params, "min_months", 6)),
    )
    if problems := t.problems():
        raise ValidationFailed("the thresholds do not add up", details=problems)
    return t


def _basis(params: Any) -> str:
    basis = params.get("basis", "revenue")
    if basis not in analytics.BASES:
        raise MalformedInput(f"basis must be one of {', '.join(analytics.BASES)}")
    return str(basis)


def _group(params: Any) -> str | None:
    group = params.get("group")
    if group is not None and (len(group) > 200 or "\x00" in group):
        raise MalformedInput("group is a product group's name, up to 200 characters")
    return group


def _segment(session: Any, user: User, params: Any) -> tuple[Any, set[str] | None]:
    """``segment`` (a segment's id, or its name): the segment and its members ``user`` sees, for
    an analysis' ``only`` (``crm.segments``); an unknown one is a 404 that says so."""
    if hasattr(params, "getlist") and len(params.getlist("segment")) > 1:
        raise MalformedInput("query parameter segment is given twice")
    return segments.chosen(session, user, params.get("segment"))


def _answer(request: Request, report: reports.Report) -> Response:
    wanted = request.query_params.get("format", "json")
    if wanted == "json":
        return json_response(report.as_json())
    data = (
        exports.to_xlsx(report.title, report.columns, report.rows, charts=report.charts)
        if wanted == "xlsx"
        else exports.to_csv(report.columns, report.rows)
    )
    name = f"{report.name}-{date.today():%Y-%m-%d}.{wanted}"
    return Response(
        data,
        media_type=FORMATS[wanted],
        headers={"Content-Disposition": exports.attachment(name, report.about.get("segment"))},
    )


def _format(request: Request) -> None:
    wanted = request.query_params.get("format", "json")
    if wanted not in ("json", *FORMATS):
        raise MalformedInput("format is json, xlsx or csv")


async def abc(request: Request) -> Response:
    return await _classification(request, matrix=False)


async def matrix(request: Request) -> Response:
    return await _classification(request, matrix=True)


async def _classification(request: Request, *, matrix: bool) -> Response:
    def work(session: Any, user: User) -> reports.Report:
        only_params(request, *PERIOD, *THRESHOLDS, "basis", "group", "segment", "format")
        _format(request)
        params = request.query_params
        starts, ends = _period(params)
        segment, only = _segment(session, user, params)
        result = analytics.classify(
            session,
            user,
            starts,
            ends,
            basis=_basis(params),
            thresholds=_thresholds(params),
            product_group=_group(params),
            only=only,
        )
        report = reports.matrix(result) if matrix else reports.abc(session, user, result)
        return reports.in_segment(report, segment)

    return _answer(request, await as_user(request, work, write=False))


async def rfm(request: Request) -> Response:
    def work(session: Any, user: User) -> reports.Report:
        only_params(request, *PERIOD, "group", "segment", "format")
        _format(request)
        starts, ends = _period(request.query_params)
        segment, only = _segment(session, user, request.query_params)
        clients = analytics.rfm(
            session, user, starts, ends, product_group=_group(request.query_params), only=only
        )
        return reports.in_segment(reports.rfm(session, user, clients, starts, ends), segment)

    return _answer(request, await as_user(request, work, write=False))


async def neglected(request: Request) -> Response:
    def work(session: Any, user: User) -> reports.Report:
        only_params(request, "days", "kind", "owner_id", "segment", "format")
        _format(request)
        params = request.query_params
        raw = params.get("days", "60")
        if not raw.isdigit() or not 1 <= int(raw) <= 3650:
            raise MalformedInput("days must be a whole number from 1 to 3650")
        kinds = params.getlist("kind") or ["client"]
        known = {k.value for k in CounterpartyKind}
        if any(k not in known for k in kinds):
            raise MalformedInput(f"kind is one of {', '.join(sorted(known))}")
        owner = params.get("owner_id")
        if owner is not None and len(owner) > 36:
            raise MalformedInput("owner_id is a user's id")
        segment, only = _segment(session, user, params)
        items = neglect.neglected(
            session, user, int(raw), today=date.today(), kinds=kinds, owner_id=owner, only=only
        )
        return reports.in_segment(reports.neglected(session, items, int(raw)), segment)

    return _answer(request, await as_user(request, work, write=False))


async def due(request: Request) -> Response:
    """Clients due for contact by their class's rule (``contact-rules``), most overdue first."""

    def work(session: Any, user: User) -> reports.Report:
        only_params(request, "owner", "segment", "format")
        _format(request)
        owner = _owner(session, request.query_params)
        segment, only = _segment(session, user, request.query_params)
        items = neglect.due_contacts(session, user, today=date.today(), owner_id=owner, only=only)
        return reports.in_segment(reports.due(session, items), segment)

    return _answer(request, await as_user(request, work, write=False))


async def moves(request: Request) -> Response:
    def work(session: Any, user: User) -> reports.Report:
        only_params(request, "since", "what", "segment", "format")
        _format(request)
        raw = request.query_params.get("since")
        if raw is None:
            raise MalformedInput("query parameter since (YYYY-MM-DD) is required")
        try:
            since, _ = reports.period(raw, raw, date.today())
        except ValueError as exc:
            raise MalformedInput(str(exc).replace("from", "since")) from None
        what = request.query_params.get("what", "abc")
        if what not in ("abc", "xyz"):
            raise MalformedInput("what is abc or xyz")
        segment, only = _segment(session, user, request.query_params)
        older, newest, moved = trade.moves(session, user, since=since, what=what)
        return reports.in_segment(reports.moves(older, newest, moved, only=only), segment)

    return _answer(request, await as_user(request, work, write=False))


def _owner(session: Any, params: Any) -> str | None:
    if hasattr(params, "getlist") and len(params.getlist("owner")) > 1:
        raise MalformedInput("query parameter owner is given twice")
    try:
        return reports.owner(session, params.get("owner"))
    except ValueError as exc:
        raise MalformedInput(str(exc)) from None


def _pipeline(name: str) -> Any:
    """``GET /api/v1/reports/{funnel|lost|sources|activity}?from=&to=&owner=&format=``."""

    async def endpoint(request: Request) -> Response:
        def work(session: Any, user: User) -> reports.Report:
            only_params(request, *PERIOD, "owner", "segment", "format")
            _format(request)
            starts, ends = _period(request.query_params)
            owner_id = _owner(session, request.query_params)
            segment, only = _segment(session, user, request.query_params)
            report = reports.pipeline(
                session, user, name, starts, ends, owner_id=owner_id, only=only
            )
            return reports.in_segment(report, segment)

        return _answer(request, await as_user(request, work, write=False))

    endpoint.__name__ = name
    return endpoint


def _completeness(name: str) -> Any:
    """``GET /api/v1/reports/{completeness|completeness-owners}?owner=&rules=&sort=&format=``."""

    async def endpoint(request: Request) -> Response:
        def work(session: Any, user: User) -> reports.Report:
            only_params(request, "owner", "rules", "sort", "segment", "format")
            _format(request)
            params = request.query_params
            for key in ("rules", "sort"):
                if len(params.getlist(key)) > 1:
                    raise MalformedInput(f"query parameter {key} is given twice")
            owner_id = _owner(session, params)
            segment, only = _segment(session, user, params)
            try:
                report = reports.completeness(
                    session,
                    user,
                    date.today(),
                    name=name,
                    rules=params.get("rules"),
                    owner_id=owner_id,
                    sort=params.get("sort", "score"),
                    only=only,
                )
            except ValueError as exc:
                raise MalformedInput(str(exc)) from None
            return reports.in_segment(report, segment)

        return _answer(request, await as_user(request, work, write=False))

    endpoint.__name__ = name.replace("-", "_")
    return endpoint


def _receivables(name: str) -> Any:
    """``GET /api/v1/reports/{receivables|receivables-owners}?owner=&format=``: what the clients
    the caller sees owe today, per client or per salesperson (``crm.receivables``)."""

    async def endpoint(request: Request) -> Response:
        def work(session: Any, user: User) -> reports.Report:
            only_params(request, "owner", "segment", "format")
            _format(request)
            owner_id = _owner(session, request.query_params)
            segment, only = _segment(session, user, request.query_params)
            report = reports.receivables(
                session, user, date.today(), name=name, owner_id=owner_id, only=only
            )
            return reports.in_segment(report, segment)

        return _answer(request, await as_user(request, work, write=False))

    endpoint.__name__ = name.replace("-", "_")
    return endpoint


async def keep(request: Request) -> Response:
    body = await read_json(request)  # authenticates first
    if not isinstance(body, dict):
        raise MalformedInput('send {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD", "basis": ...} or {}')
    unknown = set(body) - {*PERIOD, *THRESHOLDS, "basis"}
    if unknown:
        raise MalformedInput(f"unknown keys: {', '.join(sorted(map(str, unknown)))[:200]}")
    if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in body.values()):
        raise MalformedInput("every value is a string or a number")
    params = {k: str(v) for k, v in body.items()}

    def work(session: Any, user: User) -> dict[str, Any]:
        only_params(request)
        trade.may_keep(user)  # before anything is computed: a refusal costs nothing
        starts, ends = _period(params)
        result = analytics.classify(
            session, user, starts, ends, basis=_basis(params), thresholds=_thresholds(params)
        )
        run = trade.store_classification(session, user, result)
        return {
            "id": run.id,
            "computed_at": run.computed_at.isoformat(),
            "starts": run.starts.isoformat(),
            "ends": run.ends.isoformat(),
            "basis": run.basis,
            "clients": run.clients,
            "total": str(run.total),
        }

    return json_response(await as_user(request, work, write=True), status_code=201)


routes = [
    Route("/api/v1/reports/abc", abc, methods=["GET"]),
    Route("/api/v1/reports/abc/keep", keep, methods=["POST"]),
    Route("/api/v1/reports/matrix", matrix, methods=["GET"]),
    Route("/api/v1/reports/rfm", rfm, methods=["GET"]),
    Route("/api/v1/reports/neglected", neglected, methods=["GET"]),
    Route("/api/v1/reports/due", due, methods=["GET"]),
    Route("/api/v1/reports/moves", moves, methods=["GET"]),
    *(
        Route(f"/api/v1/reports/{name}", _pipeline(name), methods=["GET"])
        for name in reports.PIPELINE
    ),
    *(
        Route(f"/api/v1/reports/{name}", _completeness(name), methods=["GET"])
        for name in reports.COMPLETENESS
    ),
    *(
        Route(f"/api/v1/reports/{name}", _receivables(name), methods=["GET"])
        for name in reports.RECEIVABLES
    ),
]
