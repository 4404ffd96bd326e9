"""Excel (.xlsx) uploads become the FAQ CSV, so one validator checks both formats.

The CSV's line numbers are mapped back to Excel row numbers for the error list.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from datetime import datetime
from typing import Any

from training.tabular import CsvValidationError
from training.tabular import Problem


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

    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise CsvValidationError(
            "uploaded workbook", [Problem(1, None, f"not a readable .xlsx workbook ({exc})")]
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        chunks: list[str] = []
        lines: dict[int, int] = {}
        line = 1
        width = 0
        for row_number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            filled = max((i + 1 for i, c in enumerate(cells) if c.strip()), default=0)
            if row_number == 1:
                width = filled
            elif filled == 0:
                continue  # an empty row: the CSV reader would skip it too
            cells = cells[: max(width, filled)]
            cells += [""] * (width - len(cells))
            text = _csv_line(cells)
            chunks.append(text)
            lines[line] = row_number
            line += text.count("\n")  # a cell with line breaks spans several CSV lines
    finally:
        workbook.close()
    return "".join(chunks).encode("utf-8"), lines
