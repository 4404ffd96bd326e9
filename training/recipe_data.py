"""The data files of the cosine and triplet recipes, and the split that holds some rows out.

- `sentence1,sentence2,score`: scored pairs, every score in [0, 1] (the cosine recipe);
- `anchor,positive,negative`: triplets, a negative never equal to its positive (the triplet
  recipe).

A bad file is rejected whole with every problem's line and column, as `training.tabular` does
for every CSV.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.tabular import CsvValidationError
from training.tabular import Problem
from training.tabular import clean_cell
from training.tabular import normalise_key
from training.tabular import read_table

SCORED_PAIR_COLUMNS = ("sentence1", "sentence2", "score")
TRIPLET_COLUMNS = ("anchor", "positive", "negative")
HELD_OUT_FRACTION = 0.2
MIN_HELD_OUT = 2  # Spearman and triplet accuracy need more than one row to mean anything
MIN_ROWS = 2 * MIN_HELD_OUT
SPLIT_SEED = 0  # fixed, not --seed: every run of a file is measured on the same rows


@dataclass(frozen=True)
class ScoredPair:
    line: int
    sentence1: str
    sentence2: str
    score: float


@dataclass(frozen=True)
class Triplet:
    line: int
    anchor: str
    positive: str
    negative: str


def _read_rows(
    path: str | Path,
    columns: tuple[str, ...],
    parse: Callable[[int, dict[str, str], list[Problem]], Any],
) -> tuple[Any, ...]:
    """Check the CSV's structure, parse each row, then reject the file whole on any problem."""
    frame, lines, source = read_table(path, columns)
    problems: list[Problem] = []
    rows = []
    for line, row in zip(lines, frame.to_dict("records"), strict=True):
        texts = {name: clean_cell(row[name]) for name in columns}
        for name in columns:
            if not texts[name]:
                problems.append(Problem(line, name, "must not be empty"))
        rows.append(parse(line, texts, problems))
    if not problems and len(rows) < MIN_ROWS:
        problems.append(
            Problem(
                max(lines, default=1),
                None,
                f"{len(rows)} row(s): at least {MIN_ROWS} are needed to train and hold "
                f"{MIN_HELD_OUT} out for evaluation",
            )
        )
    if problems:
        raise CsvValidationError(source, problems)
    return tuple(rows)


def _scored_pair(line: int, texts: dict[str, str], problems: list[Problem]) -> ScoredPair:
    try:
        score = float(texts["score"])
    except ValueError:
        score = math.nan
    if not 0.0 <= score <= 1.0:  # also false for NaN
        problems.append(
            Problem(line, "score", f"must be a number from 0 to 1, found {texts['score']!r}")
        )
    return ScoredPair(line, texts["sentence1"], texts["sentence2"], score)


def _triplet(line: int, texts: dict[str, str], problems: list[Problem]) -> Triplet:
    if texts["positive"] and normalise_key(texts["positive"]) == normalise_key(texts["negative"]):
        problems.append(Problem(line, "negative", "is the same text as the positive"))
    return Triplet(line, texts["anchor"], texts["positive"], texts["negative"])


def read_scored_pairs_csv(path: str | Path) -> tuple[ScoredPair, ...]:
    """Parse `sentence1,sentence2,score` with every score in [0, 1]."""
    return _read_rows(path, SCORED_PAIR_COLUMNS, _scored_pair)


def read_triplets_csv(path: str | Path) -> tuple[Triplet, ...]:
    """Parse `anchor,positive,negative`; a negative equal to its positive is a mistake."""
    return _read_rows(path, TRIPLET_COLUMNS, _triplet)


def split_held_out(rows: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(train, held out): a fixed-seed fifth, at least MIN_HELD_OUT rows, in file order."""
    n_held = max(MIN_HELD_OUT, round(len(rows) * HELD_OUT_FRACTION))
    held = set(np.random.default_rng(SPLIT_SEED).permutation(len(rows))[:n_held].tolist())
    train = [row for index, row in enumerate(rows) if index not in held]
    return train, [row for index, row in enumerate(rows) if index in held]
