"""Character n-gram TF-IDF over the indexed phrasings: catches slang, typos and abbreviations.

Written with numpy alone, with scikit-learn's semantics (`TfidfVectorizer(analyzer="char_wb",
ngram_range=(2, 4), lowercase=True, sublinear_tf=True)`, smooth idf, L2 rows): importing
scikit-learn pulls scipy and pandas into every web worker, about 165 MB of it for this one job.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

NGRAM_SIZES = (2, 3, 4)


def char_ngrams(text: str) -> list[str]:
    """Lowercased character 2-4-grams inside space-padded words (scikit-learn's `char_wb`)."""
    grams: list[str] = []
    for word in text.lower().split():
        padded = f" {word} "
        length = len(padded)
        for size in NGRAM_SIZES:
            offset = 0
            grams.append(padded[:size])
            while offset + size < length:
                offset += 1
                grams.append(padded[offset : offset + size])
            if offset == 0:  # a word shorter than `size` counts once, for the smallest size
                break
    return grams


class LexicalIndex:
    """Cosine similarity of sublinear TF-IDF vectors, stored column-wise (n-gram -> phrasings).

    Scoring a message touches only the phrasings that share one of its n-grams.
    """

    def __init__(
        self,
        vocabulary: list[str],
        idf: np.ndarray,
        starts: np.ndarray,
        rows: np.ndarray,
        weights: np.ndarray,
        n_rows: int,
    ) -> None:
        self.vocabulary = vocabulary
        self.ids = {gram: position for position, gram in enumerate(vocabulary)}
        self.idf = idf
        self.starts = starts  # n-gram i's entries are rows/weights[starts[i]:starts[i + 1]]
        self.rows = rows
        self.weights = weights
        self.n_rows = n_rows

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        counts = [Counter(char_ngrams(text)) for text in texts]
        vocabulary = sorted(set().union(*counts))
        ids = {gram: position for position, gram in enumerate(vocabulary)}
        row_of_entry = np.repeat(np.arange(len(texts)), [len(c) for c in counts])
        gram_of_entry = np.fromiter(
            (ids[gram] for c in counts for gram in c), dtype=np.int64, count=len(row_of_entry)
        )
        frequency = np.fromiter(
            (n for c in counts for n in c.values()), dtype=np.float64, count=len(row_of_entry)
        )
        document_frequency = np.bincount(gram_of_entry, minlength=len(vocabulary))
        idf = np.log((1 + len(texts)) / (1 + document_frequency)) + 1
        weights = (1 + np.log(frequency)) * idf[gram_of_entry]
        norms = np.sqrt(np.bincount(row_of_entry, weights=weights**2, minlength=len(texts)))
        weights /= np.where(norms > 0, norms, 1)[row_of_entry]
        order = np.argsort(gram_of_entry, kind="stable")
        starts = np.concatenate([[0], np.cumsum(document_frequency)])
        return cls(
            vocabulary,
            idf,
            starts.astype(np.int64),
            row_of_entry[order].astype(np.int32),
            weights[order].astype(np.float32),
            len(texts),
        )

    def _query(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The message's known n-grams (sorted ids) and their L2-normalised TF-IDF weights."""
        ids = self.ids
        known = [ids[gram] for gram in char_ngrams(text) if gram in ids]
        grams, frequency = np.unique(np.array(known, dtype=np.int64), return_counts=True)
        weights = (1 + np.log(frequency)) * self.idf[grams]
        return grams, weights / (np.linalg.norm(weights) or 1.0)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Similarity of each text to each phrasing, shape (len(texts), n_phrasings)."""
        result = np.zeros((len(texts), self.n_rows), dtype=np.float32)
        for position, text in enumerate(texts):
            grams, query_weights = self._query(text)
            if not len(grams):
                continue
            first, end = self.starts[grams], self.starts[grams + 1]
            spans = list(zip(first.tolist(), end.tolist(), strict=True))
            rows = np.concatenate([self.rows[start:stop] for start, stop in spans])
            weights = np.concatenate([self.weights[start:stop] for start, stop in spans])
            weights = weights * np.repeat(query_weights, end - first)
            result[position] = np.bincount(rows, weights=weights, minlength=self.n_rows)
        return result

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:  # a handle, so numpy does not append ".npz"
            np.savez(
                handle,
                vocabulary=np.array(self.vocabulary, dtype=str),
                idf=self.idf,
                starts=self.starts,
                rows=self.rows,
                weights=self.weights,
                n_rows=np.array(self.n_rows),
            )

    @classmethod
    def load(cls, path: Path) -> LexicalIndex:
        with np.load(path, allow_pickle=False) as state:
            return cls(
                state["vocabulary"].tolist(),
                state["idf"],
                state["starts"],
                state["rows"],
                state["weights"],
                int(state["n_rows"]),
            )
