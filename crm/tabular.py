"""Reading the tables people export from 1C and Excel: CSV and XLSX.

CSV comes in windows-1251 or UTF-8 (with or without BOM), UTF-16 from Excel's
"Unicode text" (with or without BOM), or KOI8-R and cp866 from older software,
separated by ``;``, ``,`` or tabs; XLSX keeps numbers as floats and dates as
datetimes. Both come out as rows of stripped strings, numbered as Excel
numbers them.

A file is untrusted input: before and while reading it is held to bounds on
bytes (packed and unpacked), rows, columns, cells and time, and refused with
``ImportFailed`` naming the bound rather than read until memory runs out.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time as clock
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import charset_normalizer
from openpyxl import load_workbook

from crm.errors import ImportFailed

# Bounds far above any real export of a company's clients (1C writes a few thousand rows).
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # all members of an XLSX together: zip bombs stop here
MAX_ROWS = 100_000
MAX_COLUMNS = 200
MAX_CELLS = 2_000_000
MAX_SECONDS = 120.0
# Excel's own limit for a cell; longer values are a problem of their row (``crm.importing``).
MAX_CELL_CHARS = 32_767
# The csv module refuses a field over 128 KiB with an error that names no row; a whole
# file's worth is allowed instead (the file is bounded), and the importer judges lengths.
csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
# Single-byte Cyrillic encodings Russian software writes: Windows, KOI8-R (old Unix mail, some
# 1C set-ups), DOS (cp866: old 1C and bank exports). Told apart by charset-normalizer.
_CYRILLIC_8BIT = ["cp1251", "koi8_r", "cp866"]


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
        raise ImportFailed(
            f"{path.name} is in the old Excel 97-2003 format; save it as .xlsx or CSV"
        )
    else:
        raise ImportFailed(
            f"{path.name}: cannot import {suffix or 'a file without extension'}; use .csv or .xlsx"
        )
    if len(table) > MAX_ROWS + 1:
        raise ImportFailed(
            f"{path.name} has more than {MAX_ROWS} rows; split it into several files"
        )
    start = next((i for i, (_, cells) in enumerate(table) if any(cells)), None)
    if start is None:
        raise ImportFailed(f"{path.name} is empty")
    width = max(len(cells) for _, cells in table)
    if width > MAX_COLUMNS:
        raise ImportFailed(
            f"{path.name} has {width} columns; at most {MAX_COLUMNS} can be imported"
        )
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


def _check_xlsx_size(path: Path) -> None:
    """Refuse an XLSX whose members unpack to more than MAX_UNPACKED_BYTES, before anything unpacks them."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImportFailed(f"{path.name} is larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFailed(f"{path.name} is not a readable XLSX file: {exc}") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFailed(
            f"{path.name} unpacks to {unpacked // 2**20} MB, more than the "
            f"{MAX_UNPACKED_BYTES // 2**20} MB a table of clients can need; it is refused"
        )


def _xlsx_table(path: Path) -> list[tuple[int, list[str]]]:
    _check_xlsx_size(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (
        Exception
    ) as exc:  # openpyxl raises zipfile, KeyError and XML errors alike on a damaged file
        raise ImportFailed(f"{path.name} is not a readable XLSX file: {exc}") from None
    try:
        sheet: Any = book.worksheets[0]
        # The sheet's declared dimension is the file's say-so: "A1:XFD1048576" in a tiny file
        # would have every row padded to 16,384 cells, a million times. Count what is there.
        sheet.reset_dimensions()
        rows: list[tuple[int, list[str]]] = []
        cells = 0
        deadline = clock.monotonic() + MAX_SECONDS
        for n, values in enumerate(sheet.iter_rows(values_only=True), 1):
            cells += len(values)
            if n > MAX_ROWS + 1:
                raise ImportFailed(
                    f"{path.name} has more than {MAX_ROWS} rows; split it into several files"
                )
            if cells > MAX_CELLS:
                raise ImportFailed(
                    f"{path.name} has more than {MAX_CELLS} cells; split it into several files"
                )
            if n % 1000 == 0 and clock.monotonic() > deadline:
                raise ImportFailed(
                    f"{path.name} took more than {MAX_SECONDS:.0f} s to read; split it into "
                    "several files"
                )
            rows.append((n, [_cell_text(v) for v in values]))
        return rows
    except ImportFailed:
        raise
    except Exception as exc:  # a damaged sheet surfaces only while it is read
        raise ImportFailed(f"{path.name} is not a readable XLSX file: {exc}") from None
    finally:
        book.close()


def formula_cells(path: Path) -> set[tuple[int, int]]:
    """(row number, column index) of every formula cell of an XLSX's first sheet (none for a CSV).
    Read only to explain an empty cell: a formula the file keeps no computed value of reads as
    empty (a file written by a program, never opened and saved in Excel)."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return set()
    try:
        book = load_workbook(path, read_only=True, data_only=False)
    except Exception:  # read once already: a damaged file has been refused by now
        return set()
    try:
        sheet: Any = book.worksheets[0]
        sheet.reset_dimensions()
        return {
            (n, i)
            for n, values in enumerate(sheet.iter_rows(values_only=True), 1)
            for i, value in enumerate(values)
            if isinstance(value, str) and value.startswith("=")
        }
    finally:
        book.close()


def _decode(raw: bytes, name: str) -> str:
    """The text of a CSV in whichever encoding Russian software wrote it, or ``ImportFailed``.

    BOMs decide first. UTF-16 without a BOM is told by its NUL bytes (which no
    text in an 8-bit encoding has, and which UTF-8 would otherwise accept), on the
    high byte of each pair. Then UTF-8, which 8-bit Cyrillic text almost never is
    by accident; then the likeliest of windows-1251, KOI8-R and cp866. Decoding
    KOI8-R or cp866 as windows-1251 never fails, it garbles: hence the detection.
    """
    if raw.startswith(codecs.BOM_UTF8):
        return _strict(raw[len(codecs.BOM_UTF8) :], "utf-8", name)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(raw, "utf-16", name)  # Excel's "Unicode text (*.txt)"
    if b"\x00" in raw:
        high_odd, high_even = raw[1::2].count(0), raw[0::2].count(0)
        # ASCII (digits, separators, line ends: over a tenth of any table) has a NUL high byte,
        # Cyrillic 0x04; the low bytes are almost never NUL.
        most, least = max(high_odd, high_even), min(high_odd, high_even)
        if len(raw) % 2 == 0 and most * 20 > len(raw) and least * 10 < most:
            return _strict(raw, "utf-16-le" if high_odd > high_even else "utf-16-be", name)
        raise ImportFailed(
            f"{name} contains NUL bytes: it is not a text table; save it as CSV in UTF-8"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(raw, cp_isolation=_CYRILLIC_8BIT).best()
    if best is None:
        raise ImportFailed(
            f"{name}: cannot tell the text's encoding (not UTF-8, windows-1251, KOI8-R or "
            "cp866); save it as CSV in UTF-8"
        )
    return _strict(raw, best.encoding, name)


def _strict(raw: bytes, encoding: str, name: str) -> str:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        raise ImportFailed(
            f"{name}: the text is not valid {encoding}; save it as CSV in UTF-8"
        ) from None
    if "\x00" in text:
        raise ImportFailed(
            f"{name} contains NUL characters: it is not a text table; save it as CSV in UTF-8"
        )
    return text


def _csv_table(path: Path) -> list[tuple[int, list[str]]]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImportFailed(
            f"{path.name} is larger than {MAX_FILE_BYTES // 2**20} MB; split it into several files"
        )
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
