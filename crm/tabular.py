"""Reading the tables people export from 1C and Excel: CSV and XLSX.

CSV comes in windows-1251 or UTF-8 (with or without BOM, or UTF-16 from
Excel's "Unicode text"), separated by ``;``, ``,`` or tabs; XLSX keeps numbers
as floats and dates as datetimes. Both come out as rows of stripped strings,
numbered as Excel numbers them.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from crm.errors import ImportFailed


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows after it of a CSV (.csv/.txt/.tsv) or XLSX file.

    Every value is a stripped string: integral numbers as digits (``7707083893.0``
    → ``"7707083893"``), dates as ISO ``YYYY-MM-DD``. The header is the first
    non-empty row; empty rows are kept, so ``rows[i]`` is Excel row ``i + 2``
    when the header is row 1. Cells under columns of the same name are joined
    with ", ". Raises ``ImportFailed`` for a file that cannot be read.
    """
    headers, numbered = read_table(path)
    rows = []
    for _, cells in numbered:
        row: dict[str, str] = {}
        for header, value in zip(headers, cells, strict=True):
            if header:
                row[header] = ", ".join(v for v in (row.get(header), value) if v)
        rows.append(row)
    return [h for h in headers if h], rows


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (row number, cells) pairs, all padded to one width."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = _xlsx_table(path)
    elif suffix in (".csv", ".txt", ".tsv"):
        table = _csv_table(path)
    elif suffix == ".xls":
        raise ImportFailed(f"{path.name} is in the old Excel 97-2003 format; save it as .xlsx or CSV")
    else:
        raise ImportFailed(f"{path.name}: cannot import {suffix or 'a file without extension'}; use .csv or .xlsx")
    start = next((i for i, (_, cells) in enumerate(table) if any(cells)), None)
    if start is None:
        raise ImportFailed(f"{path.name} is empty")
    width = max(len(cells) for _, cells in table)
    padded = [(n, cells + [""] * (width - len(cells))) for n, cells in table[start:]]
    return padded[0][1], padded[1:]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _xlsx_table(path: Path) -> list[tuple[int, list[str]]]:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors alike on a damaged file
        raise ImportFailed(f"{path.name} is not a readable XLSX file: {exc}") from None
    try:
        sheet = book.worksheets[0]
        return [(n, [_cell_text(v) for v in values])
                for n, values in enumerate(sheet.iter_rows(values_only=True), 1)]
    finally:
        book.close()


def _decode(raw: bytes, name: str) -> str:
    try:
        if raw.startswith(codecs.BOM_UTF8):
            return raw[len(codecs.BOM_UTF8):].decode("utf-8")
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return raw.decode("utf-16")  # Excel's "Unicode text (*.txt)"
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            # Valid UTF-8 Cyrillic is almost never valid cp1251 text and vice versa,
            # so what is not UTF-8 is what Excel on Russian Windows writes.
            return raw.decode("cp1251")
    except UnicodeDecodeError:
        raise ImportFailed(f"{name}: the text is neither UTF-8 nor windows-1251") from None


def _csv_table(path: Path) -> list[tuple[int, list[str]]]:
    text = _decode(path.read_bytes(), path.name)
    lines = text.splitlines()
    hint = re.fullmatch(r'"?sep=(.)"?', lines[0].strip()) if lines else None
    skip = 1 if hint else 0  # Excel hides its own "sep=;" line: the header is still row 1
    if hint:
        delimiter = hint.group(1)
    else:
        # Count the header's fields under each candidate; a tie goes to ";", Russian Excel's choice.
        first = next((line for line in lines if line.strip()), "")
        counts = {d: len(next(csv.reader([first], delimiter=d), [])) for d in (";", "\t", ",")}
        delimiter = max(counts, key=lambda d: counts[d])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [[cell.strip() for cell in cells] for cells in reader][skip:]
    # Row numbers count records, not lines: a quoted value with a line break is one Excel row.
    return list(enumerate(rows, 1))
