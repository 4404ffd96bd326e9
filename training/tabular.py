"""CSV primitives shared by every interchange and training file: every problem by line and column.

A file is either valid as a whole or rejected as a whole; `read_table` checks its structure
before pandas parses it, and each format's reader adds its own per-row checks on top.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Problem:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.message}"


class CsvValidationError(ValueError):
    """The file was rejected whole; `problems` lists every reason."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s), nothing was imported:\n{listing}")


def normalise_key(text: str) -> str:
    """How two phrasings are compared for identity: case, spacing and Unicode form do not count.

    (NFC on both sides of casefold: a decomposed "é" and a composed one are one letter.)
    """
    return unicodedata.normalize(
        "NFC", unicodedata.normalize("NFC", " ".join(text.split())).casefold()
    )


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvValidationError(source, [Problem(line, None, "not UTF-8 text")]) from exc


def read_table(
    data: bytes | str | Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, list[int], str]:
    """Parse with pandas after checking structure; returns the frame and each row's line."""
    source = str(data) if isinstance(data, (str, Path)) else "uploaded file"
    raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
    text = _decode(raw, source)
    if not text.strip():
        raise CsvValidationError(source, [Problem(1, None, "the file is empty")])

    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
        missing = [name for name in required if name not in header]
        for name in missing:
            problems.append(Problem(1, name, "required column is missing"))
        unknown = [n for n in header if n not in required + optional]
        for name in unknown:
            problems.append(Problem(1, name, "unknown column"))
        row_lines: list[int] = []
        start = reader.line_num + 1
        for fields in reader:
            if fields and len(fields) != len(header):
                problems.append(
                    Problem(start, None, f"expected {len(header)} fields, found {len(fields)}")
                )
            if fields:
                row_lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(Problem(reader.line_num, None, f"malformed CSV: {exc}"))
    if problems:
        raise CsvValidationError(source, problems)

    import pandas as pd  # here, not at the top: web workers that never import a file skip it

    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, row_lines, source


def clean_cell(value: object) -> str:
    """A cell's text, NFC, with runs of whitespace (newlines included) collapsed to one space."""
    return unicodedata.normalize("NFC", " ".join(str(value).split()))
