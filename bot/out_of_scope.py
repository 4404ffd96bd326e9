"""Out-of-scope examples in the database: messages the bot must not answer.

Approved examples form the matcher's reject class; unapproved ones (a Telegram user's "none of
these") wait for an admin, so users cannot teach the bot to refuse. Files use the pairs CSV
format with an empty `question`, which already means "out of scope".
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.csv_io import MAX_MESSAGE_CHARS
from bot.csv_io import PairRecord
from bot.csv_io import read_pairs_csv
from bot.models import OutOfScopeExample
from training.tabular import CsvValidationError
from training.tabular import Problem
from training.tabular import clean_cell
from training.tabular import normalise_key

SOURCES = ("seed", "admin", "inbox", "telegram", "import")


class ExampleError(ValueError):
    """The example cannot be saved as asked; nothing was written."""


def approved_texts(session: Session) -> list[str]:
    """The reject class: approved examples, oldest first, each wording once."""
    texts: list[str] = []
    seen: set[str] = set()
    statement = (
        select(OutOfScopeExample.text)
        .where(OutOfScopeExample.approved.is_(True))
        .order_by(OutOfScopeExample.id)
    )
    for text in session.scalars(statement):
        if normalise_key(text) not in seen:
            seen.add(normalise_key(text))
            texts.append(text)
    return texts


def read_out_of_scope_csv(data: bytes | str | Path) -> list[PairRecord]:
    """A pairs CSV of out-of-scope messages: every question empty, no message twice."""
    records = read_pairs_csv(data)
    source = str(data) if isinstance(data, (str, Path)) else "uploaded file"
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for record in records:
        if record.question is not None:
            problems.append(
                Problem(
                    record.line,
                    "question",
                    "must be empty: every row of an out-of-scope file is out of scope",
                )
            )
        key = normalise_key(record.paraphrase)
        if key in first_line:
            problems.append(
                Problem(
                    record.line,
                    "paraphrase",
                    f"{record.paraphrase!r} already appears on line {first_line[key]}",
                )
            )
        first_line.setdefault(key, record.line)
    if problems:
        raise CsvValidationError(source, problems)
    return records


def phrasing_conflicts(
    records: Iterable[PairRecord], phrasing_keys: Mapping[str, int]
) -> list[Problem]:
    """Out-of-scope rows that are an FAQ's indexed phrasing: a message cannot be both."""
    return [
        Problem(
            record.line,
            "paraphrase",
            f"{record.paraphrase!r} is a phrasing of FAQ #{phrasing_keys[key]}, so it "
            "cannot also be out of scope",
        )
        for record in records
        if record.question is None and (key := normalise_key(record.paraphrase)) in phrasing_keys
    ]


def check_text(
    session: Session,
    text: str,
    phrasing_keys: Mapping[str, int],
    example_id: int | None = None,
) -> str:
    """The cleaned text, or ExampleError saying why it cannot be an out-of-scope example."""
    text = clean_cell(text)
    if not text:
        raise ExampleError("the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ExampleError(f"messages are at most {MAX_MESSAGE_CHARS} characters")
    key = normalise_key(text)
    if key in phrasing_keys:
        raise ExampleError(
            f"{text!r} is a phrasing of FAQ #{phrasing_keys[key]}, so it cannot also be "
            "out of scope"
        )
    for other_id, other in session.execute(select(OutOfScopeExample.id, OutOfScopeExample.text)):
        if other_id != example_id and normalise_key(other) == key:
            raise ExampleError(f"{text!r} is already out-of-scope example #{other_id}")
    return text


def add_examples(session: Session, texts: Iterable[str], source: str, approved: bool) -> int:
    """Store the texts not stored yet (approving pending copies when `approved`); the caller
    commits and has checked them against the FAQ phrasings. Returns how many changed.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    known = {normalise_key(e.text): e for e in session.scalars(select(OutOfScopeExample))}
    changed = 0
    for text in texts:
        key = normalise_key(text)
        existing = known.get(key)
        if existing is None:
            known[key] = OutOfScopeExample(text=text, source=source, approved=approved)
            session.add(known[key])
            changed += 1
        elif approved and not existing.approved:
            existing.approved = True
            changed += 1
    session.flush()
    return changed


def export_rows(session: Session) -> list[dict[str, str]]:
    """Approved examples as pairs CSV rows with an empty question."""
    return [{"paraphrase": text, "question": ""} for text in approved_texts(session)]
