"""A quick fuzz of the list, create, update and batch routes: whatever is sent, the answer is never a 500.

Values are drawn from the kinds that broke the server before (empty and "null"
filters, years 1 and 9999, huge numbers, NUL, exponent forms); ``tests/server/
test_hostile_input.py`` holds the cases found, each with its exact answer.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.records import RECORD_TYPES
from tests.inprocess import InProcessClient
from tests.server.conftest import Api

_AWKWARD = [
    "",
    "null",
    "0001-01-01",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+03:00",
    "1e400",
    "-1",
    "NaN",
    "Infinity",
    "\x00",
    "true",
    "[]",
    "9" * 30,
    "2026-12-01T10:00:00+03:00",
    "00000000-0000-0000-0000-000000000000",
]
_TEXT = st.text(max_size=30) | st.sampled_from(_AWKWARD)
_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def test_no_request_to_the_record_routes_gets_a_500(api: Api) -> None:
    admin = api.user("boss", role="admin")
    client = InProcessClient(
        api.client.app, raise_server_exceptions=False
    )  # a 500 as a real server answers it
    cp = api.create(admin, "counterparties", legal_name="ООО Ромашка")["id"]
    failures: list[Any] = []

    @settings(
        max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(
        name=st.sampled_from(sorted(n for n, rt in RECORD_TYPES.items() if not rt.read_only)),
        data=st.data(),
    )
    def send(name: str, data: st.DataObject) -> None:
        rt = RECORD_TYPES[name]
        body = data.draw(st.dictionaries(st.sampled_from(rt.writable), _VALUE, max_size=4))
        if "counterparty_id" in rt.writable and data.draw(st.booleans()):
            body["counterparty_id"] = cp
        raw = json.dumps(body).encode()
        answers = [
            client.post(f"/api/v1/{name}", content=raw, headers=admin),
            client.patch(f"/api/v1/{name}/{cp}", content=raw, headers=admin),
            client.post(f"/api/v1/{name}/batch", content=b'{"items": [%s]}' % raw, headers=admin),
        ]
        if rt.filters:
            key = data.draw(st.sampled_from(rt.filters)) + data.draw(
                st.sampled_from(["", "__gte", "__lt"])
            )
            params = {
                key: data.draw(_TEXT),
                "sort": data.draw(st.sampled_from([*rt.sorts, "-x", ""])),
                data.draw(st.sampled_from(["limit", "offset", "q"])): data.draw(_TEXT),
            }
            answers.append(client.get(f"/api/v1/{name}", params=params, headers=admin))
        failures.extend(
            (r.request.method, str(r.request.url), raw[:200], r.text[:100])
            for r in answers
            if r.status_code >= 500
        )

    send()
    assert not failures
