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
from typing import Protocol

import faiss
import numpy as np

from bot.lexical import LexicalIndex
from training.evaluation import ScoreMatrix

logger = logging.getLogger(__name__)

SEMANTIC_CANDIDATES = 1024  # phrasings scored exactly per query; the rest get an upper bound
INDEX_FORMAT = 1


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceEncoder:
    """A sentence-transformers model returning unit-length float32 vectors."""

    def __init__(self, model_path: str, device: str | None = None) -> None:
        from training.base_model import load_sentence_transformer

        self.model_path = model_path
        self.model = load_sentence_transformer(model_path, device=device)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


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

    def rank(self, text: str, k: int = 3) -> list[Candidate]:
        """The k best FAQs for one message, best first."""
        scores = self.score_matrix([text], lexical=self.semantic_weight < 1.0)
        fused = scores.fused(self.semantic_weight)[0]
        top = np.argsort(-fused, kind="stable")[:k]
        return [
            Candidate(
                faq_id=int(self.faq_ids[col]),
                score=float(fused[col]),
                semantic=float(scores.semantic[0, col]),
                lexical=float(scores.lexical[0, col]),
            )
            for col in top
        ]

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
