"""Find the FAQ nearest to a message: every known phrasing, semantic and lexical scores fused.

Knows nothing of Flask, SQL or Telegram: it is given phrasings and an encoder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from bot.encoders import Encoder
from bot.lexical import LexicalIndex
from training.evaluation import ScoreMatrix

logger = logging.getLogger(__name__)

SEMANTIC_CANDIDATES = 1024  # phrasings scored exactly per query; the rest get an upper bound
INDEX_FORMAT = 1


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


def fingerprint(phrasings: list[Phrasing]) -> str:
    """Identity of a phrasing set: an index built for another set is stale."""
    digest = hashlib.sha256()
    for phrasing in sorted(phrasings, key=lambda p: (p.faq_id, p.text)):
        digest.update(f"{phrasing.faq_id}\t{phrasing.text}\n".encode())
    return digest.hexdigest()


class Matcher:
    """Ranks FAQs for a message by w x semantic + (1 - w) x lexical, best phrasing per FAQ."""

    def __init__(
        self,
        encoder: Encoder,
        phrasings: list[Phrasing],
        semantic_index: faiss.Index,
        lexical_index: LexicalIndex,
        semantic_weight: float = 1.0,
    ) -> None:
        self.encoder = encoder
        self.phrasings = phrasings
        self.semantic_index = semantic_index
        self.lexical_index = lexical_index
        self.semantic_weight = semantic_weight
        self.faq_ids = np.array(sorted({p.faq_id for p in phrasings}), dtype=np.int64)
        column_of = {int(faq_id): col for col, faq_id in enumerate(self.faq_ids)}
        self._column = np.array([column_of[p.faq_id] for p in phrasings], dtype=np.int64)
        self.fingerprint = fingerprint(phrasings)

    @classmethod
    def build(
        cls, encoder: Encoder, phrasings: list[Phrasing], semantic_weight: float = 1.0
    ) -> Matcher:
        if not phrasings:
            raise ValueError("nothing to index: there are no active FAQs")
        vectors = encoder.encode([p.text for p in phrasings])
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        lexical = LexicalIndex.build([p.text for p in phrasings])
        return cls(encoder, phrasings, index, lexical, semantic_weight)

    def score_matrix(self, texts: list[str], lexical: bool = True) -> ScoreMatrix:
        """Best semantic and lexical score of every FAQ for each text (lexical 0 if skipped)."""
        n_rows, n_faqs = len(texts), len(self.faq_ids)
        rows = np.arange(n_rows)[:, None]
        k = min(self.semantic_index.ntotal, SEMANTIC_CANDIDATES)
        similarities, ids = self.semantic_index.search(self.encoder.encode(texts), k)
        floor = similarities[:, -1:] if k < self.semantic_index.ntotal else -1.0
        semantic = np.broadcast_to(np.asarray(floor, dtype=np.float32), (n_rows, n_faqs)).copy()
        np.maximum.at(semantic, (rows, self._column[ids]), similarities)

        lexical_scores = np.zeros((n_rows, n_faqs), dtype=np.float32)
        if lexical:
            per_phrasing = self.lexical_index.scores(texts)
            np.maximum.at(lexical_scores, (rows, self._column[None, :]), per_phrasing)
        return ScoreMatrix(self.faq_ids, semantic, lexical_scores)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors of `texts` from the served encoder (cosine = dot product)."""
        return self.encoder.encode(texts)

    def rank_many(self, texts: list[str], k: int = 3) -> list[list[Candidate]]:
        """The k best FAQs for each message, best first, in one encoding pass."""
        if not texts:
            return []
        scores = self.score_matrix(texts, lexical=self.semantic_weight < 1.0)
        fused = scores.fused(self.semantic_weight)
        ranked = []
        for row in range(len(texts)):
            top = np.argsort(-fused[row], kind="stable")[:k]
            ranked.append(
                [
                    Candidate(
                        faq_id=int(self.faq_ids[col]),
                        score=float(fused[row, col]),
                        semantic=float(scores.semantic[row, col]),
                        lexical=float(scores.lexical[row, col]),
                    )
                    for col in top
                ]
            )
        return ranked

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
        self.lexical_index.save(staging / "lexical.pkl")
        manifest = {
            "format": INDEX_FORMAT,
            "fingerprint": self.fingerprint,
            "phrasings": [[p.faq_id, p.text] for p in self.phrasings],
        }
        (staging / "phrasings.json").write_text(json.dumps(manifest, ensure_ascii=False))
        retired = None
        if directory.exists():
            retired = directory.with_name(f".retired-{directory.name}-{os.getpid()}")
            os.replace(directory, retired)
        os.replace(staging, directory)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)

    @classmethod
    def load(
        cls, directory: Path, encoder: Encoder, expected: list[Phrasing], semantic_weight: float
    ) -> Matcher | None:
        """The saved index if it was built for exactly these phrasings, else None."""
        manifest_path = Path(directory) / "phrasings.json"
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("format") != INDEX_FORMAT:
                return None
            if manifest["fingerprint"] != fingerprint(expected):
                return None
            phrasings = [Phrasing(int(faq_id), text) for faq_id, text in manifest["phrasings"]]
            semantic = faiss.read_index(str(Path(directory) / "semantic.faiss"))
            lexical = LexicalIndex.load(Path(directory) / "lexical.pkl")
        except Exception:  # a damaged index is rebuilt, never served
            logger.warning("index in %s is unreadable; rebuilding", directory, exc_info=True)
            return None
        return cls(encoder, phrasings, semantic, lexical, semantic_weight)
