"""Encoders turn texts into unit-length float32 vectors for the matcher."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceEncoder:
    """A sentence-transformers model (torch), loaded offline through training.base_model."""

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
