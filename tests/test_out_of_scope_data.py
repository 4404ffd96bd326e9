"""The shipped out-of-scope corpus: big enough, and disjoint from what it must not copy.

The corpus, the evaluation file and the FAQ phrasings/training pairs share no sentence (case
and spacing ignored) and no near copy: character 3-gram cosine similarity of at most
NEAR_COPY (0.7). Different sentences on one topic stay below it (the closest shipped pair is
about 0.64); a changed word or spelling ("dmn" for "dimana") lands above it.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from itertools import combinations

import pytest

from bot.config import SHIPPED_DATA
from bot.out_of_scope import read_out_of_scope_csv
from training.tabular import normalise_key

NEAR_COPY = 0.7


def trigrams(text: str) -> Counter[str]:
    padded = f" {normalise_key(text)} "
    return Counter(padded[i : i + 3] for i in range(len(padded) - 2))


def similarity(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(count * b[gram] for gram, count in a.items())
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def overlaps(left: list[str], right: list[str], bound: float = NEAR_COPY) -> list[tuple]:
    """Pairs (left, right, similarity) that are the same sentence or a near copy."""
    grams = {text: trigrams(text) for text in {*left, *right}}
    found = []
    for a in left:
        for b in right:
            score = similarity(grams[a], grams[b])
            if normalise_key(a) == normalise_key(b) or score > bound:
                found.append((a, b, round(score, 3)))
    return found


def rows(name: str) -> list[dict[str, str]]:
    with open(SHIPPED_DATA / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def corpus() -> list[str]:
    return [
        record.paraphrase for record in read_out_of_scope_csv(SHIPPED_DATA / "finbuddy_oos.csv")
    ]


def evaluation() -> list[str]:
    return [row["paraphrase"] for row in rows("finbuddy_eval.csv")]


def faq_phrasings_and_pairs() -> list[str]:
    texts = [row["paraphrase"] for row in rows("finbuddy_pairs.csv")]
    for faq in rows("finbuddy_faq.csv"):
        texts.append(faq["question"])
        texts += [a.strip() for a in faq["alternates"].split("|") if a.strip()]
    return texts


def test_the_corpus_is_big_and_the_evaluation_file_has_enough_out_of_scope_rows():
    assert len(corpus()) >= 300  # read_out_of_scope_csv also refused duplicates and questions
    assert sum(1 for row in rows("finbuddy_eval.csv") if not row["question"]) >= 60


def test_the_check_finds_a_copy_and_a_near_copy_but_not_a_sentence_on_the_same_topic():
    shipped = ["cek saldo rekening bank mandiri dmn", "kurs dollar hari ini berapa"]
    assert [
        found[:2] for found in overlaps(["Cek saldo  rekening bank mandiri DMN"], shipped)
    ] == [("Cek saldo  rekening bank mandiri DMN", shipped[0])]
    assert [
        found[:2] for found in overlaps(["cek saldo rekening bank mandiri dimana"], shipped)
    ] == [("cek saldo rekening bank mandiri dimana", shipped[0])]
    assert overlaps(["kurs dolar hari ini brp"], shipped)  # two words respelled: still a copy
    assert overlaps(["mutasi rekening bri bisa dicetak dimana"], shipped) == []


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (corpus, evaluation),
        (corpus, faq_phrasings_and_pairs),
        (evaluation, faq_phrasings_and_pairs),
    ],
    ids=["corpus-vs-evaluation", "corpus-vs-faq", "evaluation-vs-faq"],
)
def test_shipped_files_share_no_sentence_and_no_near_copy(left, right):
    assert overlaps(left(), right()) == []


def test_the_corpus_has_no_near_copy_of_itself():
    texts = corpus()
    grams = {text: trigrams(text) for text in texts}
    close = [
        (a, b) for a, b in combinations(texts, 2) if similarity(grams[a], grams[b]) > NEAR_COPY
    ]
    assert close == []
