"""Read and write the interchange CSVs (DESIGN.md): every problem reported by line and column.

A file is either valid as a whole or rejected as a whole; callers write nothing before
`read_*` returns.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pandas as pd

FAQ_COLUMNS = ("question", "answer", "category", "alternates")
PAIR_COLUMNS = ("paraphrase", "question")
ALTERNATE_SEPARATOR = " | "
MAX_QUESTION_CHARS = 500
MAX_MESSAGE_CHARS = 1000


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


@dataclass(frozen=True)
class FaqRecord:
    line: int
    question: str
    answer: str
    category: str
    alternates: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class PairRecord:
    line: int
    paraphrase: str
    question: str | None  # None: out of scope


def normalise_key(text: str) -> str:
    """How two phrasings are compared for identity: case and spacing do not count."""
    return " ".join(text.split()).casefold()


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvValidationError(source, [Problem(line, None, "not UTF-8 text")]) from exc


def _read_table(
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

    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, row_lines, source


def _clean(value: object) -> str:
    return " ".join(str(value).split())


def read_faq_csv(data: bytes | str | Path) -> list[FaqRecord]:
    """Parse and validate a FAQ CSV: `question,answer,category,alternates`."""
    frame, lines, source = _read_table(data, ("question", "answer"), ("category", "alternates"))
    problems: list[Problem] = []
    records: list[FaqRecord] = []
    owner_line: dict[str, tuple[int, str]] = {}

    def claim(text: str, line: int, column: str) -> None:
        key = normalise_key(text)
        if key in owner_line:
            first_line, first_column = owner_line[key]
            problems.append(
                Problem(
                    line, column, f"{text!r} already appears on line {first_line} ({first_column})"
                )
            )
        else:
            owner_line[key] = (line, column)

    for line, row in zip(lines, frame.to_dict("records"), strict=True):
        question = _clean(row["question"])
        answer = str(row["answer"]).strip()
        alternates = tuple(
            _clean(a) for a in str(row.get("alternates", "")).split("|") if _clean(a)
        )
        if not question:
            problems.append(Problem(line, "question", "must not be empty"))
        elif len(question) > MAX_QUESTION_CHARS:
            problems.append(Problem(line, "question", f"longer than {MAX_QUESTION_CHARS} chars"))
        else:
            claim(question, line, "question")
        if not answer:
            problems.append(Problem(line, "answer", "must not be empty"))
        for alternate in alternates:
            if len(alternate) > MAX_QUESTION_CHARS:
                problems.append(
                    Problem(line, "alternates", f"an alternate is over {MAX_QUESTION_CHARS} chars")
                )
            else:
                claim(alternate, line, "alternates")
        records.append(
            FaqRecord(line, question, answer, _clean(row.get("category", "")), alternates)
        )
    if problems:
        raise CsvValidationError(source, problems)
    if not records:
        raise CsvValidationError(source, [Problem(2, None, "the file has no FAQ rows")])
    return records


def read_pairs_csv(data: bytes | str | Path) -> list[PairRecord]:
    """Parse a pairs CSV: `paraphrase,question`; an empty question means out of scope."""
    frame, lines, source = _read_table(data, PAIR_COLUMNS)
    problems: list[Problem] = []
    records: list[PairRecord] = []
    for line, row in zip(lines, frame.to_dict("records"), strict=True):
        paraphrase = _clean(row["paraphrase"])
        question = _clean(row["question"]) or None
        if not paraphrase:
            problems.append(Problem(line, "paraphrase", "must not be empty"))
        elif len(paraphrase) > MAX_MESSAGE_CHARS:
            problems.append(Problem(line, "paraphrase", f"longer than {MAX_MESSAGE_CHARS} chars"))
        records.append(PairRecord(line, paraphrase, question))
    if problems:
        raise CsvValidationError(source, problems)
    return records


def faq_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FAQ_COLUMNS))


def write_faq_csv(rows: list[dict[str, str]], path: str | Path) -> None:
    faq_frame(rows).to_csv(path, index=False)
