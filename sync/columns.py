"""Wire values as the field client's SQLite columns store them, for bulk writes without the ORM.

A bootstrap page brings tens of thousands of rows; building an ORM object per
row costs more than the whole insert. ``Layout`` turns a wire record (or a
column-wise bootstrap page) straight into tuples for ``executemany``, writing
exactly what SQLAlchemy would have written for the same value, so rows read
back through the ORM identically:

* ``UTCDateTime``: ``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC (SQLAlchemy's
  SQLite ``DATETIME`` storage format, always with microseconds);
* ``Date``: ``YYYY-MM-DD`` (the wire form already);
* ``Numeric``: a float (SQLite has no decimal; the ORM reads it back with its scale);
* ``JSON``: ``json.dumps`` text; ``Boolean``: 0 or 1.

Derived columns that never travel (``search_name``) are computed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Numeric, Table

from crm import records, validation
from crm.models.base import UTCDateTime

Convert = Callable[[Any], Any]


def sqlite_datetime(value: str | None) -> str | None:
    """An ISO 8601 wire time (``…Z`` or with an offset) as SQLAlchemy stores it on SQLite."""
    if value is None:
        return None
    if len(value) >= 20 and value[10] == "T" and value[-1] == "Z" and value[19] in ".Z":
        fraction = value[19:-1]
        return f"{value[:10]} {value[11:19]}{(fraction + '.000000')[:7] if fraction else '.000000'}"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


_encode = json.JSONEncoder().encode  # what json.dumps(value) does, without its argument checks


def _json(value: Any) -> Any:
    if value is None:
        return None
    if value == []:  # most tag lists
        return "[]"
    return _encode(value)


def _float(value: Any) -> Any:
    return None if value is None else float(value)


def _bool(value: Any) -> Any:
    return None if value is None else int(bool(value))


def _converter(column: Any) -> Convert | None:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return sqlite_datetime
    if isinstance(kind, JSON):
        return _json
    if isinstance(kind, Numeric):
        return _float
    if isinstance(kind, Boolean):
        return _bool
    if isinstance(kind, Date):
        return None  # the wire's YYYY-MM-DD is the stored form
    return None


Column = Callable[[str], Sequence[Any]]


def _counterparty_search(column: Column) -> list[str]:
    return [
        validation.fold_text(f"{legal} {short or ''}")
        for legal, short in zip(column("legal_name"), column("short_name"), strict=True)
    ]


def _person_search(column: Column) -> list[str]:
    return [validation.fold_text(name or "") for name in column("full_name")]


_DERIVED: dict[str, dict[str, Callable[[Column], list[Any]]]] = {
    "counterparties": {"search_name": _counterparty_search},
    "contact-persons": {"search_name": _person_search},
}


class Layout:
    """How the records of one wire type become rows of their table."""

    def __init__(self, type_name: str) -> None:
        self.rt = records.record_type(type_name)
        self.type = type_name
        self.table: Table = self.rt.model.__table__  # type: ignore[attr-defined]  # not in SQLModel
        self.columns = [c.name for c in self.table.columns]
        self.converters = {c.name: _converter(c) for c in self.table.columns}
        self.derived = _DERIVED.get(type_name, {})
        if self.rt.searchable and not self.derived:
            # A searchable type's search keys are its own (crm.search): say how its rows get them.
            raise ValueError(f"{type_name} is searchable: _DERIVED must say how to fold its names")
        names = ", ".join(f'"{c}"' for c in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in self.columns if c != "id")
        # Never INSERT OR REPLACE: that deletes the row (new rowid, delete triggers) first.
        self.upsert_sql = (
            f'INSERT INTO "{self.table.name}" ({names}) VALUES ({marks}) '
            f"ON CONFLICT(id) DO UPDATE SET {updates}"
        )
        self.id_at = self.columns.index("id")
        # The stored rows of some ids (``json_each`` of a JSON list), each led by its id.
        self.select_sql = (
            f'SELECT "id", {names} FROM "{self.table.name}" '
            "WHERE id IN (SELECT value FROM json_each(?))"
        )

    def update_sql(self, changed: tuple[int, ...]) -> str:
        """UPDATE of the columns at ``changed`` (their values, then the id, as parameters)."""
        sets = ", ".join(f'"{self.columns[i]}" = ?' for i in changed)
        return f'UPDATE "{self.table.name}" SET {sets} WHERE id = ?'

    def row(self, record: dict[str, Any]) -> tuple[Any, ...]:
        """The stored row of one wire record."""
        return self.rows(list(record), [list(record.values())])[0]

    def rows(self, fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Stored rows of a column-wise page (``fields`` once, then lists of values)."""
        return self.table_rows(self.stored_columns(fields, rows))

    def table_rows(self, stored: dict[str, Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The rows of ``stored_columns``, in the table's column order."""
        return list(zip(*(stored[name] for name in self.columns), strict=True))

    def stored_columns(
        self,
        fields: Sequence[str],
        rows: Sequence[Sequence[Any]],
        wire: dict[str, Sequence[Any]] | None = None,
    ) -> dict[str, Sequence[Any]]:
        """The stored values of a column-wise page, a list per table column.

        Converted a column at a time: one loop per column instead of one per value.
        ``wire``, when given, receives the page's own values a list per field.
        """
        index = {name: i for i, name in enumerate(fields)}
        by_column = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
        if wire is not None:
            wire.update((name, by_column[i]) for name, i in index.items())

        def column(name: str) -> Sequence[Any]:
            return by_column[index[name]] if name in index else [None] * len(rows)

        out: dict[str, Sequence[Any]] = {}
        for name in self.columns:
            if name in self.derived:
                out[name] = self.derived[name](column)
                continue
            values = column(name)
            convert = self.converters[name]
            out[name] = (
                values if convert is None else [None if v is None else convert(v) for v in values]
            )
        return out


@cache
def layout(type_name: str) -> Layout:
    return Layout(type_name)
