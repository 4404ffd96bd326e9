"""Read and write the FAQ and pairs interchange CSVs (DESIGN.md): every problem by line and column.

Structure and decoding are checked by `training.tabular.read_table`. A file is either valid as
a whole or rejected as a whole; callers write nothing before `read_*` returns.

Spreadsheets run a cell that starts with = + - @ (or a tab or carriage return) as a formula,
so the writer puts an apostrophe before such a cell (and before one that already starts with
apostrophes and then such a character); the readers take exactly one apostrophe off again,
so our own export imports back unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.input_rules import forbidden_character
from bot.input_rules import normalise
from training.tabular import CsvValidationError
from training.tabular import Problem
from training.tabular import clean_cell
from training.tabular import normalise_key
from training.tabular import read_table

if TYPE_CHECKING:  # pandas loads when a file is read or written, not in every web worker
    import pandas as pd

FAQ_COLUMNS = ("question", "answer", "category", "alternates")
PAIR_COLUMNS = ("paraphrase", "question")
ALTERNATE_SEPARATOR = " | "
MAX_QUESTION_CHARS = 500
MAX_MESSAGE_CHARS = 1000
FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


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


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + cell if FORMULA_START.match(cell) else cell


def restore(cell: str) -> str:
    """Undo `neutralise`: our own export reads back as it was written."""
    return cell[1:] if cell.startswith("'") and FORMULA_START.match(cell[1:]) else cell


def _rows(frame: pd.DataFrame, lines: list[int], problems: list[Problem]):  # noqa: ANN202
    """(line, cells) with export escapes undone; characters we refuse become problems."""
    for line, row in zip(lines, frame.to_dict("records"), strict=True):
        cells = {column: restore(str(value)) for column, value in row.items()}
        for column, value in cells.items():
            bad = forbidden_character(value)
            if bad is not None:
                problems.append(Problem(line, column, f"contains {bad}"))
        yield line, cells


def read_faq_csv(data: bytes | str | Path) -> list[FaqRecord]:
    """Parse and validate a FAQ CSV: `question,answer,category,alternates`."""
    frame, lines, source = read_table(data, ("question", "answer"), ("category", "alternates"))
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

    for line, row in _rows(frame, lines, problems):
        question = clean_cell(row["question"])
        answer = normalise(str(row["answer"]).strip())
        alternates = tuple(
            clean_cell(a) for a in str(row.get("alternates", "")).split("|") if clean_cell(a)
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
            FaqRecord(line, question, answer, clean_cell(row.get("category", "")), alternates)
        )
    if problems:
        raise CsvValidationError(source, problems)
    if not records:
        raise CsvValidationError(source, [Problem(2, None, "the file has no FAQ rows")])
    return records


def read_pairs_csv(data: bytes | str | Path) -> list[PairRecord]:
    """Parse a pairs CSV: `paraphrase,question`; an empty question means out of scope."""
    frame, lines, source = read_table(data, PAIR_COLUMNS)
    problems: list[Problem] = []
    records: list[PairRecord] = []
    for line, row in _rows(frame, lines, problems):
        paraphrase = clean_cell(row["paraphrase"])
        question = clean_cell(row["question"]) or None
        if not paraphrase:
            problems.append(Problem(line, "paraphrase", "must not be empty"))
        elif len(paraphrase) > MAX_MESSAGE_CHARS:
            problems.append(Problem(line, "paraphrase", f"longer than {MAX_MESSAGE_CHARS} chars"))
        records.append(PairRecord(line, paraphrase, question))
    if problems:
        raise CsvValidationError(source, problems)
    return records


def faq_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    """The FAQ export table, every cell safe to open in a spreadsheet."""
    import pandas as pd

    safe = [{column: neutralise(str(value)) for column, value in row.items()} for row in rows]
    return pd.DataFrame(safe, columns=list(FAQ_COLUMNS))


def write_faq_csv(rows: list[dict[str, str]], path: str | Path) -> None:
    faq_frame(rows).to_csv(path, index=False)


def write_pairs_csv(rows: list[dict[str, str]], path: str | Path) -> None:
    import pandas as pd

    pd.DataFrame(rows, columns=list(PAIR_COLUMNS)).to_csv(path, index=False)
