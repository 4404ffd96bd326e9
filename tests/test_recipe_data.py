"""The cosine and triplet recipes' data files and their held-out split, without training."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.recipe_data import MIN_HELD_OUT
from training.recipe_data import ScoredPair
from training.recipe_data import Triplet
from training.recipe_data import read_scored_pairs_csv
from training.recipe_data import read_triplets_csv
from training.recipe_data import split_held_out
from training.tabular import CsvValidationError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_scored_pairs_are_read_with_their_lines_and_cleaned_text(tmp_path):
    path = write(
        tmp_path,
        'sentence1,sentence2,score\n"  lupa\n pin ",Reset PIN,1\na,b,0\n\nc,d,0.25\ne,f,0.5\n',
    )
    rows = read_scored_pairs_csv(path)
    assert rows[0] == ScoredPair(2, "lupa pin", "Reset PIN", 1.0)
    assert [row.line for row in rows] == [2, 4, 6, 7]  # a quoted newline and a blank line
    assert [row.score for row in rows] == [1.0, 0.0, 0.25, 0.5]


def test_every_problem_of_a_triplet_file_is_reported_at_once(tmp_path):
    path = write(tmp_path, "anchor,positive,negative\na,b,c\nd,e,\nf,g,G \nh,i,j\n")
    with pytest.raises(CsvValidationError) as caught:
        read_triplets_csv(path)
    assert [str(problem) for problem in caught.value.problems] == [
        "line 3, column 'negative': must not be empty",
        "line 4, column 'negative': is the same text as the positive",
    ]


def test_a_valid_triplet_file_keeps_file_order(tmp_path):
    path = write(tmp_path, "anchor,positive,negative\na,b,c\nd,e,f\ng,h,i\nj,k,l\n")
    assert read_triplets_csv(path)[-1] == Triplet(5, "j", "k", "l")


@pytest.mark.parametrize(("n", "n_held"), [(4, MIN_HELD_OUT), (10, 2), (23, 5), (100, 20)])
def test_the_held_out_split_is_a_fixed_fifth_in_file_order(n, n_held):
    rows = list(range(n))
    train, held = split_held_out(rows)
    assert len(held) == n_held
    assert sorted(train + held) == rows
    assert train == sorted(train) and held == sorted(held)
    assert split_held_out(rows) == (train, held)
