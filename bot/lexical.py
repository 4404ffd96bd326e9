"""Character n-gram TF-IDF over the indexed phrasings: catches slang, typos and abbreviations."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer


class LexicalIndex:
    """Cosine similarity of char 2-4-gram TF-IDF vectors (rows are L2-normalised)."""

    def __init__(self, vectorizer: TfidfVectorizer, matrix: sparse.spmatrix) -> None:
        self.vectorizer = vectorizer
        self.matrix = matrix
        self._columns = sparse.csr_matrix(matrix.T)  # transposed once, not per message

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), lowercase=True, sublinear_tf=True
        )
        return cls(vectorizer, vectorizer.fit_transform(texts))

    def scores(self, texts: list[str]) -> np.ndarray:
        """Similarity of each text to each phrasing, shape (len(texts), n_phrasings)."""
        return (self.vectorizer.transform(texts) @ self._columns).toarray().astype(np.float32)

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            pickle.dump({"vectorizer": self.vectorizer, "matrix": self.matrix}, handle)

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        with open(path, "rb") as handle:
            state = pickle.load(handle)  # our own file, written by save() beside the model
        return cls(state["vectorizer"], state["matrix"])
