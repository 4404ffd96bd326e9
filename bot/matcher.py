"""Find the FAQ nearest to a message: every known phrasing, semantic and lexical scores fused.

Out-of-scope examples are indexed beside the FAQ phrasings as a class of their own (the reject
class), so every ranking also says how close the message is to something we must not answer.

Knows nothing of Flask, SQL or Telegram: it is given phrasings, examples and an encoder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from bot.coarse_scores import COARSE_MIN_ENTRIES
from bot.coarse_scores import CoarseScorer
from bot.encoders import Encoder
from bot.lexical import LexicalIndex
from training.evaluation import ScoreMatrix
from training.tabular import normalise_key

logger = logging.getLogger(__name__)

INDEX_FORMAT = 3  # 3: the lexical index is numpy arrays (lexical.npz), not a pickle
_SWAP = threading.Lock()  # one index swap at a time in this process (serving and re-indexing)


@dataclass(frozen=True)
class Phrasing:
    faq_id: int
    text: str


@dataclass(frozen=True)
class Candidate:
    faq_id: int
    score: float
    semantic: float
    lexical: float


@dataclass(frozen=True)
class OutOfScopeMatch:
    """The reject class's score for a message (same fusion as an FAQ's) and its nearest example."""

    score: float
    semantic: float
    lexical: float
    example: str
    exact: bool = False  # the message is an example itself (case and spacing aside)


@dataclass(frozen=True)
class Assessment:
    """The best FAQs for a message, and how close it is to the out-of-scope examples."""

    candidates: list[Candidate]
    out_of_scope: OutOfScopeMatch | None  # None: no out-of-scope example is indexed


def top_columns(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, best first, ties in index order: what a stable full
    sort gives, in linear time (a 10k-FAQ catalog is sorted for three candidates otherwise)."""
    if len(values) <= k:
        return np.argsort(-values, kind="stable")
    kth = np.partition(values, len(values) - k)[len(values) - k]
    chosen = np.flatnonzero(values >= kth)
    return chosen[np.argsort(-values[chosen], kind="stable")][:k]


def span_positions(first: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """first[0], ..., first[0] + lengths[0] - 1, first[1], ...: the positions of several
    spans in one array, without a slice per span."""
    ends = np.cumsum(lengths)
    return np.repeat(first - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)


def fingerprint(phrasings: list[Phrasing], out_of_scope: list[str]) -> str:
    """Identity of what is indexed: an index built for anything else is stale."""
    digest = hashlib.sha256()
    for phrasing in sorted(phrasings, key=lambda p: (p.faq_id, p.text)):
        digest.update(f"{phrasing.faq_id}\t{phrasing.text}\n".encode())
    for text in sorted(out_of_scope):
        digest.update(f"-\t{text}\n".encode())
    return digest.hexdigest()


def stored_vectors(index: faiss.IndexFlat) -> np.ndarray:
    """The flat index's vectors as a numpy view of its own memory (no copy; the index is
    never added to once built, so the view stays valid while the matcher holds the index).

    Every entry's similarity to a message is then one matrix-vector product, exact for every
    entry and faster than FAISS's top-1024 search with its heap (30k entries: 4 ms, not 5).
    """
    flat = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d)
    return flat.reshape(index.ntotal, index.d)


def _index(vectors: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class Matcher:
    """Ranks FAQs for a message by w x semantic + (1 - w) x lexical, best phrasing per FAQ.

    The out-of-scope examples form one more column, scored the same way; it is never ranked
    among the FAQs but reported beside them. Their TF-IDF is fitted apart from the phrasings',
    so adding or removing an example never changes an FAQ's score.
    """

    def __init__(
        self,
        encoder: Encoder,
        phrasings: list[Phrasing],
        semantic_index: faiss.Index,
        lexical_index: LexicalIndex,
        semantic_weight: float = 1.0,
        out_of_scope: list[str] | None = None,
        reject_lexical_index: LexicalIndex | None = None,
    ) -> None:
        self.encoder = encoder
        self.phrasings = phrasings
        self.out_of_scope = list(out_of_scope or [])
        self.semantic_index = semantic_index
        self._stored = stored_vectors(semantic_index)
        self.lexical_index = lexical_index
        self.reject_lexical_index = reject_lexical_index
        if self.out_of_scope and reject_lexical_index is None:
            raise ValueError("out-of-scope examples need their own lexical index")
        self.semantic_weight = semantic_weight
        self.faq_ids = np.array(sorted({p.faq_id for p in phrasings}), dtype=np.int64)
        column_of = {int(faq_id): col for col, faq_id in enumerate(self.faq_ids)}
        reject_column = len(self.faq_ids)  # one past the FAQs
        self._column = np.array(
            [column_of[p.faq_id] for p in phrasings] + [reject_column] * len(self.out_of_scope),
            dtype=np.int64,
        )
        # Entries grouped by column, so a column's best score is one reduceat, not a ufunc.at
        # (which costs ~50 ns an entry: milliseconds a message on a 10k-FAQ catalog).
        self._order = np.argsort(self._column, kind="stable")
        self._present, self._starts = np.unique(self._column[self._order], return_index=True)
        self._lengths = np.diff(np.append(self._starts, len(self._column)))
        self.fingerprint = fingerprint(phrasings, self.out_of_scope)
        self._example_keys = {normalise_key(text) for text in self.out_of_scope}
        self._coarse: CoarseScorer | None = None

    def prepare_serving(self, min_entries: int = COARSE_MIN_ENTRIES) -> None:
        """A large catalog's messages are scored in int8 first, then exactly where it matters
        (bot/coarse_scores.py). Only serving does it: evaluation always takes the exact path."""
        if self._coarse is None and len(self.phrasings) >= min_entries:
            self._coarse = CoarseScorer(self._stored[: len(self.phrasings)])

    @property
    def texts(self) -> list[str]:
        """Every indexed text, in index order: the FAQ phrasings, then the examples."""
        return [p.text for p in self.phrasings] + self.out_of_scope

    @classmethod
    def build(
        cls,
        encoder: Encoder,
        phrasings: list[Phrasing],
        semantic_weight: float = 1.0,
        out_of_scope: list[str] | None = None,
        reuse: dict[str, np.ndarray] | None = None,
    ) -> Matcher:
        """Embed and index everything; texts found in `reuse` keep their vectors (no encoding)."""
        if not phrasings:
            raise ValueError("nothing to index: there are no active FAQs")
        texts = [p.text for p in phrasings] + list(out_of_scope or [])
        reuse = reuse or {}
        missing = sorted({t for t in texts if t not in reuse})
        fresh = dict(zip(missing, encoder.encode(missing), strict=True)) if missing else {}
        vectors = np.stack([reuse[t] if t in reuse else fresh[t] for t in texts])
        return cls(
            encoder,
            phrasings,
            _index(vectors),
            LexicalIndex.build([p.text for p in phrasings]),
            semantic_weight,
            out_of_scope,
            LexicalIndex.build(list(out_of_scope)) if out_of_scope else None,
        )

    def vectors(self) -> dict[str, np.ndarray]:
        """Indexed text -> its stored vector, for a rebuild that should not re-encode them."""
        stored = self.semantic_index.reconstruct_n(0, self.semantic_index.ntotal)
        return dict(zip(self.texts, stored, strict=True))

    def _semantic(self, vectors: np.ndarray, coarse: bool) -> tuple[np.ndarray, np.ndarray]:
        """Every message's similarity to every entry, and how far a message's FAQ entries may
        be off (0: exact; more when the int8 scorer gave them, the out-of-scope ones are
        always exact)."""
        per_entry = np.empty((len(vectors), self.semantic_index.ntotal), dtype=np.float32)
        errors = np.zeros(len(vectors))
        first = len(self.phrasings)
        for row, vector in enumerate(vectors):
            # one product per message, so a message scores the same alone or in a batch
            if coarse and self._coarse is not None:
                errors[row] = self._coarse.scores(vector, out=per_entry[row, :first])
                np.dot(self._stored[first:], vector, out=per_entry[row, first:])
            else:
                np.dot(self._stored, vector, out=per_entry[row])
        return per_entry, errors

    def _columns(
        self, per_entry: np.ndarray, lexical: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best semantic and lexical score per column (FAQs + reject)."""
        n_columns = len(self.faq_ids) + 1
        semantic = self._column_max(per_entry, n_columns, -1.0)
        lexical_columns = (
            self._column_max(lexical, n_columns, 0.0)
            if lexical is not None
            else np.zeros((len(per_entry), n_columns), dtype=np.float32)
        )
        return semantic, lexical_columns

    def _column_max(self, per_entry: np.ndarray, n_columns: int, floor: float) -> np.ndarray:
        """Each column's best entry (at least `floor`; a column without entries gets it)."""
        best = np.full((per_entry.shape[0], n_columns), floor, dtype=np.float32)
        grouped = np.maximum.reduceat(per_entry[:, self._order], self._starts, axis=1)
        best[:, self._present] = np.maximum(grouped, floor)
        return best

    def _lexical(self, texts: list[str]) -> np.ndarray:
        """Lexical similarity of each text to every indexed entry, in index order."""
        scores = self.lexical_index.scores(texts)
        if self.reject_lexical_index is None:
            return scores
        return np.concatenate([scores, self.reject_lexical_index.scores(texts)], axis=1)

    def _score(
        self, vectors: np.ndarray, texts: list[str], lexical: bool, coarse: bool = False
    ) -> tuple[ScoreMatrix, np.ndarray, np.ndarray | None, np.ndarray]:
        per_lexical = self._lexical(texts) if lexical else None
        vectors = np.asarray(vectors, dtype=np.float32)
        per_semantic, errors = self._semantic(vectors, coarse)
        semantic, lexical_columns = self._columns(per_semantic, per_lexical)
        n = len(self.faq_ids)
        has_reject = bool(self.out_of_scope)
        scores = ScoreMatrix(
            self.faq_ids,
            semantic[:, :n],
            lexical_columns[:, :n],
            semantic[:, n] if has_reject else None,
            lexical_columns[:, n] if has_reject else None,
        )
        return scores, per_semantic, per_lexical, errors

    def score_matrix(self, texts: list[str], lexical: bool = True) -> ScoreMatrix:
        """Best semantic and lexical score of every FAQ, and of the out-of-scope examples.

        Lexical scores are 0 when skipped; semantic ones are exact for every entry.
        """
        return self._score(self.encoder.encode_messages(texts), texts, lexical)[0]

    def held_out_scores(self, folds: np.ndarray) -> ScoreMatrix:
        """Scores of the out-of-scope examples themselves, each against an index without its fold.

        An indexed example would find itself (score 1) and say nothing about a new message;
        each fold is scored against the other folds' examples and every FAQ phrasing instead,
        with its stored vector and the examples' TF-IDF refitted without it.
        """
        stored = self.semantic_index.reconstruct_n(0, self.semantic_index.ntotal)
        first = len(self.phrasings)
        folds = np.asarray(folds)
        parts: list[ScoreMatrix] = []
        order: list[np.ndarray] = []
        for fold in np.unique(folds):
            held = np.flatnonzero(folds == fold)
            kept = [t for i, t in enumerate(self.out_of_scope) if folds[i] != fold]
            rest = Matcher(
                self.encoder,
                self.phrasings,
                _index(np.delete(stored, first + held, axis=0)),
                self.lexical_index,
                self.semantic_weight,
                kept,
                LexicalIndex.build(kept) if kept else None,
            )
            texts = [self.out_of_scope[i] for i in held]
            parts.append(rest._score(stored[first + held], texts, lexical=True)[0])
            order.append(held)
        stacked = ScoreMatrix.stack(parts)
        inverse = np.argsort(np.concatenate(order))
        return stacked.subset(inverse)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors of messages from the served encoder (cosine = dot product)."""
        return self.encoder.encode_messages(texts)

    def assess_many(self, texts: list[str], k: int = 3) -> list[Assessment]:
        """The k best FAQs and the reject class's score for each message, one encoding pass."""
        if not texts:
            return []
        weight = self.semantic_weight
        vectors = self.encoder.encode_messages(texts)
        scores, per_semantic, per_lexical, errors = self._score(
            vectors, texts, lexical=weight < 1.0, coarse=True
        )
        fused = scores.fused(weight)
        reject = scores.reject_fused(weight)
        first = len(self.phrasings)
        assessed = []
        for row in range(len(texts)):
            if errors[row] > 0:
                kept = self._rescore(vectors[row], scores, fused, row, k, weight * errors[row])
                top = kept[top_columns(fused[row, kept], k)]
            else:
                top = top_columns(fused[row], k)
            candidates = [
                Candidate(
                    faq_id=int(self.faq_ids[col]),
                    score=float(fused[row, col]),
                    semantic=float(scores.semantic[row, col]),
                    lexical=float(scores.lexical[row, col]),
                )
                for col in top
            ]
            match = None
            if self.out_of_scope and scores.reject_semantic is not None:
                example_lexical = (
                    per_lexical[row, first:] if per_lexical is not None else np.zeros(1)
                )
                nearest = int(
                    np.argmax(weight * per_semantic[row, first:] + (1 - weight) * example_lexical)
                )
                match = OutOfScopeMatch(
                    score=float(reject[row]),
                    semantic=float(scores.reject_semantic[row]),
                    lexical=float(scores.reject_lexical[row]),
                    example=self.out_of_scope[nearest],
                    exact=normalise_key(texts[row]) in self._example_keys,
                )
            assessed.append(Assessment(candidates, match))
        return assessed

    def _rescore(
        self,
        vector: np.ndarray,
        scores: ScoreMatrix,
        fused: np.ndarray,
        row: int,
        k: int,
        fused_error: float,
    ) -> np.ndarray:
        """The FAQ columns that can be among `row`'s k best, their scores made exact.

        The k best approximate scores are each at least their value - `fused_error` exactly,
        so a FAQ scoring below the k-th best - 2 x `fused_error` cannot be among the k best.
        Every FAQ kept gets its exact semantic score (its entries in float32) and fused score;
        the others keep their approximate ones and must not be ranked.
        """
        approximate = fused[row]
        n_faqs = len(approximate)
        kept = np.arange(n_faqs)
        if 0 < k < n_faqs:
            kth = np.partition(approximate, n_faqs - k)[n_faqs - k]
            kept = np.flatnonzero(approximate >= kth - 2 * fused_error)
        lengths = self._lengths[kept]
        entries = self._order[span_positions(self._starts[kept], lengths)]
        products = self._stored[entries] @ np.asarray(vector, dtype=np.float32)
        semantic = scores.semantic[row]
        semantic[kept] = np.maximum(
            np.maximum.reduceat(products, np.cumsum(lengths) - lengths), -1.0
        )
        weight = self.semantic_weight
        approximate[kept] = weight * semantic[kept] + (1.0 - weight) * scores.lexical[row, kept]
        return kept

    def assess(self, text: str, k: int = 3) -> Assessment:
        return self.assess_many([text], k)[0]

    def rank_many(self, texts: list[str], k: int = 3) -> list[list[Candidate]]:
        """The k best FAQs for each message, best first, in one encoding pass."""
        return [assessment.candidates for assessment in self.assess_many(texts, k)]

    def rank(self, text: str, k: int = 3) -> list[Candidate]:
        """The k best FAQs for one message, best first."""
        return self.rank_many([text], k)[0]

    def similar_faqs(self, text: str, min_similarity: float) -> list[tuple[int, float]]:
        """FAQs with a phrasing whose embedding is at least `min_similarity` to `text`.

        (faq id, cosine), most similar first: what a near-duplicate warning needs.
        """
        scores = self.score_matrix([text], lexical=False)
        found = [
            (int(faq_id), float(similarity))
            for faq_id, similarity in zip(scores.faq_ids, scores.semantic[0], strict=True)
            if similarity >= min_similarity
        ]
        return sorted(found, key=lambda pair: -pair[1])

    def save(self, directory: Path) -> None:
        """Write the index atomically: readers see the old files or the new ones, never a mix."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".index-", dir=directory.parent))
        faiss.write_index(self.semantic_index, str(staging / "semantic.faiss"))
        self.lexical_index.save(staging / "lexical.npz")
        if self.reject_lexical_index is not None:
            self.reject_lexical_index.save(staging / "reject_lexical.npz")
        manifest = {
            "format": INDEX_FORMAT,
            "fingerprint": self.fingerprint,
            "phrasings": [[p.faq_id, p.text] for p in self.phrasings],
            "out_of_scope": self.out_of_scope,
        }
        (staging / "phrasings.json").write_text(json.dumps(manifest, ensure_ascii=False))
        with _SWAP:
            retired = None
            if directory.exists():
                retired = directory.with_name(f".retired-{directory.name}-{os.getpid()}")
                os.replace(directory, retired)
            os.replace(staging, directory)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)

    @classmethod
    def load(
        cls,
        directory: Path,
        encoder: Encoder,
        expected: list[Phrasing] | None,
        semantic_weight: float,
        out_of_scope: list[str] | None = None,
    ) -> Matcher | None:
        """The saved index if it was built for exactly these phrasings and examples, else None.

        `expected` None accepts whatever was saved (a rebuild reusing its vectors).
        """
        manifest_path = Path(directory) / "phrasings.json"
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("format") != INDEX_FORMAT:
                return None
            wanted = None if expected is None else fingerprint(expected, out_of_scope or [])
            if wanted is not None and manifest["fingerprint"] != wanted:
                return None
            phrasings = [Phrasing(int(faq_id), text) for faq_id, text in manifest["phrasings"]]
            semantic = faiss.read_index(str(Path(directory) / "semantic.faiss"))
            lexical = LexicalIndex.load(Path(directory) / "lexical.npz")
            examples = manifest["out_of_scope"]
            reject_lexical = (
                LexicalIndex.load(Path(directory) / "reject_lexical.npz") if examples else None
            )
            return cls(
                encoder, phrasings, semantic, lexical, semantic_weight, examples, reject_lexical
            )
        except Exception:  # a damaged index is rebuilt, never served
            logger.warning("index in %s is unreadable; rebuilding", directory, exc_info=True)
            return None
