"""Hostile spreadsheets and CSV files, built in memory (nothing hostile is checked in)."""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook

HEADER = ["question", "answer", "category", "alternates"]


def workbook(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def replaced(raw: bytes, parts: dict[str, bytes], extra: int = 0) -> bytes:
    """The workbook with some parts rewritten (and `extra` filler parts added)."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, parts.get(info.filename, source.read(info.filename)))
        for number in range(extra):
            target.writestr(f"xl/filler/{number}.xml", b"<x/>")
    return buffer.getvalue()


SHEET = "xl/worksheets/sheet1.xml"
VALID = workbook([HEADER, ["Apa itu anggaran?", "Rencana pengeluaran.", "dasar", None]])


def sheet_xml(dimension: str | None, body: str = "", doctype: str = "") -> bytes:
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{declared}<sheetData>{body}</sheetData></worksheet>"
    ).encode()


def inline_row(number: int, cells: dict[str, str]) -> str:
    values = "".join(
        f'<c r="{column}{number}" t="inlineStr"><is><t>{text}</t></is></c>'
        for column, text in cells.items()
    )
    return f'<row r="{number}">{values}</row>'


HEADER_ROW = inline_row(1, dict(zip("ABCD", HEADER, strict=True)))
LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)

XLSX_CASES = {
    # 1.5 KB that declares 17 billion cells: openpyxl would pad every row to XFD
    "dimension-bomb": replaced(VALID, {SHEET: sheet_xml("A1:XFD1048576", HEADER_ROW)}),
    "too-many-rows-declared": replaced(VALID, {SHEET: sheet_xml("A1:D50000", HEADER_ROW)}),
    "too-many-columns-declared": replaced(VALID, {SHEET: sheet_xml("A1:ZZ2", HEADER_ROW)}),
    # a sheet that inflates to 40 MB from a few dozen KB
    "zip-bomb": replaced(
        VALID, {SHEET: sheet_xml(None, HEADER_ROW) + b"<!--" + b" " * 40_000_000 + b"-->"}
    ),
    "too-many-parts": replaced(VALID, {}, extra=600),
    "billion-laughs": replaced(
        VALID,
        {SHEET: sheet_xml(None, inline_row(1, {"A": "&lol3;"}), LAUGHS)},
    ),
    "undeclared-rows-past-the-cap": replaced(
        VALID,
        {
            SHEET: sheet_xml(
                None,
                HEADER_ROW
                + "".join(inline_row(n, {"A": f"Q{n}?", "B": "A."}) for n in range(2, 20_010)),
            )
        },
    ),
    "not-a-zip": b"PK\x03\x04 this is not really a zip file",
    "broken-xml": replaced(VALID, {SHEET: sheet_xml(None, HEADER_ROW)[:-30]}),
    "no-header-row": replaced(VALID, {SHEET: sheet_xml("A1:A1")}),
}


def _zip_without_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    return buffer.getvalue()


XLSX_CASES["zip-without-workbook"] = _zip_without_workbook()

CSV_CASES = {
    "nul-byte": b"question,answer\nApa\x00itu?,Jawab.\n",
    "escape-sequence": b"question,answer\nApa itu?,\x1b[31mmerah\n",
    "bell-in-category": b"question,answer,category\nApa itu?,Jawab.,\x07\n",
    "invalid-utf8": b"question,answer\nApa itu \xff?,Jawab.\n",
    "encoded-lone-surrogate": b"question,answer\nApa \xed\xa0\x80?,Jawab.\n",
    "unbalanced-quote": b'question,answer\n"Apa itu?,Jawab.\n',
    "ten-thousand-columns": b",".join(
        [b"question", b"answer"] + [b"x%d" % n for n in range(10_000)]
    ),
    "decomposed-duplicate": (
        "question,answer\nApa itu café?,Satu.\nApa itu cafe\u0301?,Dua.\n".encode()
    ),
    "header-only": b"question,answer,category,alternates\n",
    "wrong-row-width": b"question,answer\nApa?,Jawab.,extra,more\n",
}
