"""The numpy TF-IDF gives scikit-learn's scores, so dropping scikit-learn changed no figure."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bot.lexical import LexicalIndex
from bot.lexical import char_ngrams

DATA = Path(__file__).resolve().parent.parent / "faq_data"


def column(name: str, field: str) -> list[str]:
    with open(DATA / name, encoding="utf-8") as handle:
        return [row[field] for row in csv.DictReader(handle) if row[field]]


def reference(texts: list[str], queries: list[str]) -> np.ndarray:
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    vectorizer = sklearn_text.TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), lowercase=True, sublinear_tf=True
    )
    matrix = vectorizer.fit_transform(texts)
    return (vectorizer.transform(queries) @ matrix.T).toarray()


ODD_TEXTS = ["a", "Ab  cd\tEF", "x y", "ÉCLAIR éclair", "gmn   caranya\nlogin??", "🙂 ok 🙂", ""]


def test_ngrams_are_scikit_learns_char_wb():
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    analyzer = sklearn_text.TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), lowercase=True
    ).build_analyzer()
    for text in ODD_TEXTS + column("finbuddy_faq.csv", "question")[:20]:
        assert char_ngrams(text) == analyzer(text), text


def test_scores_match_scikit_learn_on_the_shipped_data():
    texts = column("finbuddy_faq.csv", "question") + column("finbuddy_pairs.csv", "paraphrase")
    queries = column("finbuddy_eval.csv", "paraphrase") + ODD_TEXTS + [texts[5], "zzzz qqqq"]
    ours = LexicalIndex.build(texts).scores(queries)
    assert ours.shape == (len(queries), len(texts)) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference(texts, queries), atol=2e-6)
    assert ours[-1].max() == 0.0  # nothing in common: zero, not NaN
    assert ours[-2, 5] == pytest.approx(1.0)  # a query equal to a phrasing scores 1


def test_saved_index_scores_as_built(tmp_path):
    texts = ["cara login di hp baru", "lupa kata sandi", "ganti email akun"]
    built = LexicalIndex.build(texts)
    built.save(tmp_path / "lexical.npz")
    loaded = LexicalIndex.load(tmp_path / "lexical.npz")
    queries = ["login hp baru gmn", "sandi lupa"]
    np.testing.assert_array_equal(loaded.scores(queries), built.scores(queries))
    assert list(loaded.scores(["login"])[0].argsort()[::-1][:1]) == [0]


def test_an_index_of_nothing_scores_nothing():
    index = LexicalIndex.build([])
    assert index.scores(["apa saja"]).shape == (1, 0)
