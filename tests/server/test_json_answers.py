"""The server's JSON answers (``server.http.Json``, the sync pages) are written by orjson: the same
JSON as Starlette's own ``JSONResponse`` wrote, for whatever a handler returns."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from server.http import Json, dumps

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.text() | st.integers(min_value=-1000, max_value=1000), inner, max_size=5
        )
    ),
    max_leaves=30,
)


@given(_VALUES)
def test_an_answer_is_the_json_starlette_wrote(value: Any) -> None:
    ours = Json(value).body
    assert json.loads(ours) == json.loads(JSONResponse(value).body)
    assert ours == dumps(value)
    assert not ours.startswith(b" ")


def test_cyrillic_is_written_as_utf8_and_keys_that_are_numbers_as_strings() -> None:
    assert (
        dumps({"имя": "Ёлка", 7: [1.5, None, True]})
        == '{"имя":"Ёлка","7":[1.5,null,true]}'.encode()
    )
