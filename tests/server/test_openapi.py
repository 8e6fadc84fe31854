"""The OpenAPI document lists exactly the routes the app serves."""

from __future__ import annotations

import re

from starlette.routing import Route

from server import openapi
from server.app import create_app
from server.config import Config


def _served() -> set[tuple[str, str]]:
    app = create_app(Config.load(environ={"SATCHEL_DATABASE_URL": "sqlite://"}))
    pairs = set()
    for route in app.routes:
        assert isinstance(route, Route)
        if not route.include_in_schema:
            continue  # a read-only type's writes: a 405 that says why, not an operation
        for method in route.methods or ():
            if method != "HEAD":  # HEAD goes with GET
                pairs.add((route.path, method.lower()))
    return pairs


def test_document_and_routes_are_in_step() -> None:
    doc = openapi.document()
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == _served()


def test_every_operation_has_an_id_responses_and_resolvable_refs() -> None:
    doc = openapi.document()
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    text = str(doc)
    for ref in re.findall(r"#/components/schemas/([\w-]+)", text):
        assert ref in doc["components"]["schemas"], ref
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["responses"]


def test_served_over_http(api) -> None:  # type: ignore[no-untyped-def]
    r = api.client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.json()["openapi"].startswith("3.")
    assert "/api/v1/counterparties/{id}" in r.json()["paths"]
