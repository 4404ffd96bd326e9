"""Excel (.xlsx) uploads become the FAQ CSV, so one validator checks both formats.

The CSV's line numbers are mapped back to Excel row numbers for the error list. Before
openpyxl sees a workbook, its zip directory and its first sheet's declared dimension are
read (cheaply) and refused past fixed caps: a tiny file can declare a billion cells, or a
part that inflates a thousandfold, and openpyxl would try to build them.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from datetime import datetime
from typing import Any

from defusedxml import ElementTree

from training.tabular import CsvValidationError
from training.tabular import Problem

MAX_PARTS = 500
MAX_UNCOMPRESSED_BYTES = 20 * 1024 * 1024
MAX_ROWS = 20_000
MAX_COLUMNS = 50
DIMENSION_PEEK_BYTES = 64 * 1024  # <dimension> comes right after the sheet's opening tags
DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})(\d+)(?::([A-Z]{1,3})(\d+))?"')
MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATION_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PACKAGE_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _refuse(message: str) -> CsvValidationError:
    return CsvValidationError("uploaded workbook", [Problem(1, None, message)])


def _unreadable(exc: Exception) -> CsvValidationError:
    return _refuse(f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})")


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number


def _first_sheet(archive: zipfile.ZipFile) -> str:
    """The zip path of the first worksheet, as workbook.xml and its relationships name it."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    sheet = workbook.find(f"{MAIN_NS}sheets/{MAIN_NS}sheet")
    if sheet is None:
        raise _refuse("the workbook has no worksheet")
    relation_id = sheet.get(f"{RELATION_NS}id")
    relations = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for relation in relations.iter(f"{PACKAGE_NS}Relationship"):
        if relation.get("Id") == relation_id:
            target = relation.get("Target", "").lstrip("/")
            return target if target.startswith("xl/") else f"xl/{target}"
    raise _refuse("the workbook's first sheet cannot be found")


def check_workbook(raw: bytes) -> None:
    """Refuse a workbook whose parts or declared size are past the caps, before parsing it.

    Reads only the zip directory, two small XML parts and the start of the first sheet; zip
    members cannot inflate past their declared size (Python stops reading there).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        parts = archive.infolist()
        if len(parts) > MAX_PARTS:
            raise _refuse(f"the workbook has {len(parts)} parts (at most {MAX_PARTS})")
        inflated = sum(part.file_size for part in parts)
        if inflated > MAX_UNCOMPRESSED_BYTES:
            raise _refuse(
                f"the workbook unpacks to {inflated:,} bytes "
                f"(at most {MAX_UNCOMPRESSED_BYTES:,}); save it as CSV or split it"
            )
        with archive.open(_first_sheet(archive)) as sheet:
            head = sheet.read(DIMENSION_PEEK_BYTES)
    except CsvValidationError:
        raise
    except Exception as exc:  # a hostile zip or XML can fail in many ways; all mean "unreadable"
        raise _unreadable(exc) from exc
    found = DIMENSION.search(head)
    if found is None:
        return  # no declared size: the row and column caps still bound the reading
    last_column, last_row = found.group(3) or found.group(1), found.group(4) or found.group(2)
    rows, columns = int(last_row), _column_number(last_column)
    if rows > MAX_ROWS + 1 or columns > MAX_COLUMNS:
        raise _refuse(
            f"the first sheet declares {rows:,} rows × {columns:,} columns "
            f"(at most {MAX_ROWS:,} rows and {MAX_COLUMNS} columns)"
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def xlsx_to_csv(raw: bytes) -> tuple[bytes, dict[int, int]]:
    """First worksheet as CSV bytes, and {CSV line where a record starts: Excel row}."""
    from openpyxl import load_workbook

    check_workbook(raw)
    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl on a hostile file: refuse, never crash
        raise _unreadable(exc) from exc
    try:
        sheet = workbook.worksheets[0]
        chunks: list[str] = []
        lines: dict[int, int] = {}
        line = 1
        width = 0
        rows = sheet.iter_rows(max_row=MAX_ROWS + 2, max_col=MAX_COLUMNS, values_only=True)
        for row_number, values in enumerate(rows, start=1):
            cells = [_cell(v) for v in values]
            filled = max((i + 1 for i, c in enumerate(cells) if c.strip()), default=0)
            if row_number == 1:
                width = filled
            elif filled == 0:
                continue  # an empty row: the CSV reader would skip it too
            if row_number > MAX_ROWS + 1:
                raise _refuse(f"the first sheet has more than {MAX_ROWS:,} rows")
            cells = cells[: max(width, filled)]
            cells += [""] * (width - len(cells))
            text = _csv_line(cells)
            chunks.append(text)
            lines[line] = row_number
            line += text.count("\n")  # a cell with line breaks spans several CSV lines
    except CsvValidationError:
        raise
    except Exception as exc:
        raise _unreadable(exc) from exc
    finally:
        workbook.close()
    return "".join(chunks).encode("utf-8"), lines
