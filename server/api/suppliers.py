"""Suppliers compared over REST (``crm.suppliers``).

``GET /api/v1/suppliers/compare?product=&on=`` answers, for the products whose name holds every
word of ``product`` (or whose article is it), each supplier's price in force on ``on``
(YYYY-MM-DD; default today) with its currency, valid-from day, the supplier's lead time and rating
(``supplier-terms``): only suppliers the caller sees, sorted by currency, then price (not
converted). It is a report like ``/api/v1/reports/…``: JSON, or a file with ``format=xlsx|csv``;
``segment`` keeps a saved segment's suppliers. The terms are a record type
(``/api/v1/supplier-terms``) and the price lines read-only ones (``/api/v1/price-items``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import reports, suppliers
from crm.errors import MalformedInput
from crm.models import User
from server.api.reports import _answer, _format, _segment
from server.http import as_user, only_params

MAX_QUERY = suppliers.MAX_QUERY


async def compare(request: Request) -> Response:
    def work(session: Any, user: User) -> reports.Report:
        only_params(request, "product", "on", "segment", "format")
        _format(request)
        params = request.query_params
        for name in ("product", "on"):
            if len(params.getlist(name)) > 1:
                raise MalformedInput(f"query parameter {name} is given twice")
        product = params.get("product") or ""
        if not product.strip():
            raise MalformedInput("query parameter product (words of a product's name) is required")
        if len(product) > MAX_QUERY:
            raise MalformedInput(f"product is at most {MAX_QUERY} characters")
        day = None
        if params.get("on"):
            try:
                day = date.fromisoformat(params["on"])
            except ValueError:
                raise MalformedInput("on must be a day, YYYY-MM-DD") from None
            try:
                suppliers.check_day(day)
            except ValueError as exc:
                raise MalformedInput(f"on {exc}") from None
        segment, only = _segment(session, user, params)
        report = suppliers.compare(session, user, product, on=day, only=only)
        return reports.in_segment(report, segment)

    return _answer(request, await as_user(request, work, write=False))


routes = [Route("/api/v1/suppliers/compare", compare, methods=["GET"])]
