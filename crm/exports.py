"""Reports out to Excel and CSV (issue 14).

XLSX cells keep their types — numbers as numbers with a number format (money with two
places and thousands grouped, percents with one place), dates as dates — columns are as
wide as their content, the header row stays in view, and a chart can be added (``Chart``:
a native Excel bar or line chart over the report's own cells).

CSV goes out as UTF-8 with a BOM (Excel on Russian Windows then reads Cyrillic right) and
``;`` between cells (what Excel expects where the decimal separator is a comma). A text cell
that begins with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is a formula to a
spreadsheet — a client named ``=HYPERLINK(…)`` would run on the manager's machine — so it is
neutralised with a leading apostrophe; numbers keep their sign. XLSX cells are typed, so a
text cell is never read as a formula there (openpyxl is told the type explicitly).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.utils import get_column_letter

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    key: str
    title: str  # "Выручка / Revenue"
    kind: str = "text"  # text, int, money, percent (a number 0–100), date


@dataclass(frozen=True)
class Chart:
    """A native chart over the report's cells: ``values`` columns against the ``category`` column."""

    title: str
    category: str
    values: tuple[str, ...]
    kind: str = "bar"  # bar or line


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if isinstance(value, Decimal | int | float):
        return str(value).replace(".", ",")
    if isinstance(value, datetime | date):
        return value.strftime("%d.%m.%Y")
    return neutralise(str(value))


def to_csv(columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(c.title) for c in columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(c.key)) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


_FORMATS = {
    "money": "#,##0.00",
    "price": "#,##0.00##",  # a price to four decimals, two at least
    "percent": "0.00",
    "int": "0",
    "date": "DD.MM.YYYY",
}


def to_xlsx(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    *,
    charts: Sequence[Chart] = (),
) -> bytes:
    book = Workbook()
    sheet: Any = book.active
    # Excel refuses these in a sheet's name, and more than 31 characters.
    sheet.title = "".join("-" if c in "\\/?*[]:" else c for c in title)[:31] or "Report"
    # The whole title (a sheet's name is cut at 31 characters): the file's and the printed heading.
    book.properties.title = title[:255]
    sheet.oddHeader.center.text = title[:200].replace("&", "&&")
    sheet.append([c.title for c in columns])
    widths = [len(c.title) for c in columns]
    for r, row in enumerate(rows, start=2):
        for i, c in enumerate(columns, start=1):
            value = row.get(c.key)
            cell = sheet.cell(row=r, column=i)
            if value is None:
                continue
            if c.kind in ("money", "price", "percent", "int") and isinstance(
                value, Decimal | int | float
            ):
                cell.value = float(value) if isinstance(value, Decimal) else value
                cell.number_format = _FORMATS[c.kind]
                shown = f"{value:,.2f}" if c.kind == "money" else str(value)
            elif c.kind == "date" and isinstance(value, date):
                cell.value = value
                cell.number_format = _FORMATS["date"]
                shown = "00.00.0000"
            else:
                text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
                # Typed as text: never a formula, whatever it starts with.
                cell.value = text
                cell.data_type = TYPE_STRING
                shown = text
            widths[i - 1] = max(widths[i - 1], min(len(shown), 60))
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width + 2
    sheet.freeze_panes = "A2"
    keys = [c.key for c in columns]
    for n, spec in enumerate(charts):
        if not rows:
            break
        chart: Any = BarChart() if spec.kind == "bar" else LineChart()
        chart.title = spec.title
        for key in spec.values:
            col_index = keys.index(key) + 1
            chart.add_data(
                Reference(sheet, min_col=col_index, min_row=1, max_row=len(rows) + 1),
                titles_from_data=True,
            )
        cat = keys.index(spec.category) + 1
        chart.set_categories(Reference(sheet, min_col=cat, min_row=2, max_row=len(rows) + 1))
        chart.width, chart.height = 18, 9
        sheet.add_chart(chart, f"{get_column_letter(len(columns) + 2)}{2 + n * 20}")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def attachment(filename: str, segment: str | None = None) -> str:
    """A ``Content-Disposition`` for a report's file ``filename`` (ASCII: ``abc-2026-05-01.xlsx``);
    with ``segment``, the segment's name goes into the name a browser saves it under
    (``abc-Крупные Москва-2026-05-01.xlsx``, RFC 6266's ``filename*``)."""
    if not segment:
        return f'attachment; filename="{filename}"'
    stem, dash, rest = filename.partition("-")
    named = "".join(c if c.isprintable() and c not in '\\/:*?"<>|' else "_" for c in segment)
    return (
        f'attachment; filename="{filename}"; '
        f"filename*=UTF-8''{quote(f'{stem}-{named[:60]}{dash}{rest}', safe='')}"
    )


def write(
    path: Path,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    *,
    charts: Sequence[Chart] = (),
) -> None:
    """Write ``path`` as XLSX or CSV, by its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        data = to_xlsx(title, columns, rows, charts=charts)
    elif suffix == ".csv":
        data = to_csv(columns, rows)
    else:
        raise ValueError(f"{path.name}: export to .xlsx or .csv")
    path.write_bytes(data)
