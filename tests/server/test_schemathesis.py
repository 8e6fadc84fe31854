"""schemathesis against the OpenAPI document (issue 10, part 2), on both databases, in the normal run.

Every operation of ``/api/v1/openapi.json`` is called in-process with values
generated from its schema, as a logged-in salesperson of a small company: no
answer is a 5xx, and every answer is one the document describes (status code,
content type, headers, body schema); a request without the token must be
refused. The run is bounded and derandomized, so it is the same run every time.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from crm import accounts
from crm.models import User
from tests.server.conftest import Api

MAX_EXAMPLES = 25
CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance, st_checks.content_type_conformance,
          st_checks.response_headers_conformance, st_checks.response_schema_conformance, st_checks.ignored_auth]


def _company(api: Api) -> tuple[dict[str, str], str]:
    """A salesperson with a few records of their own, a colleague's private one, and the salesperson's token."""
    colleague = api.user("petrova", team="Питер")
    api.create(colleague, "counterparties", legal_name="ООО Чужая", visibility="private")
    headers = api.user("ivanov")
    cp = api.create(headers, "counterparties", legal_name="ООО Ромашка", inn="7707083893")
    api.create(headers, "contact-persons", counterparty_id=cp["id"], full_name="Пётр Петров")
    api.create(headers, "interactions", counterparty_id=cp["id"], starts_at="2026-12-01T10:00:00+03:00")
    user_id = api.client.get("/api/v1/me", headers=headers).json()["user"]["id"]
    return headers, user_id


def _fresh_token(api: Api, user_id: str) -> dict[str, str]:
    """Another device of the salesperson (no Argon2 round), for logging out without ending the run's token."""
    with api.database.write() as session:
        _device, token = accounts.register_device(session, session.get_one(User, user_id), "Выход")
    return {"Authorization": f"Bearer {token}"}


def _check(operation: Any, auth: Any, mode: GenerationMode) -> None:
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(mode))
    def check(case: Any) -> None:
        case.call_and_validate(headers=auth(), checks=CHECKS)

    check()


def _run(api: Api) -> list[str]:
    headers, user_id = _company(api)
    app = api.client.app
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        name = operation.definition.raw.get("operationId", operation.label)

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _check(operation, lambda n=name: _fresh_token(api, user_id) if n == "logout" else headers, mode)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, f"{name}: no valid request can be generated"
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation's failures together
                failures.append(f"{name} ({mode.value}): {exc}"[:3000])
    return failures


def test_every_operation_answers_inside_its_schema_and_never_5xx(api: Api) -> None:
    failures = _run(api)
    assert not failures, f"{len(failures)} operations disagree with /api/v1/openapi.json:\n\n" + "\n\n".join(failures)


def test_batch_is_not_taken_for_an_id(api: Api) -> None:
    """``/x/batch`` is only POSTed to; other methods there answer like an unknown id or method, never a 5xx."""
    headers, _user_id = _company(api)
    for record_type in ("counterparties", "contact-persons", "interactions", "reminders", "deals", "shares",
                        "users", "teams"):
        for method in ("GET", "PATCH", "DELETE"):
            r = api.client.request(method, f"/api/v1/{record_type}/batch", headers=headers,
                                   json={} if method == "PATCH" else None)
            assert r.status_code in (404, 405), (method, record_type, r.status_code, r.text)
