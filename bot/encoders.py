"""Encoders turn texts into unit-length float32 vectors for the matcher.

Web workers serve with `training.onnx_export.runtime.OnnxEncoder` (ONNX Runtime, no torch);
`SentenceEncoder` is torch, the reference, for BOT_ENCODER=torch and models that cannot be
exported. Either sits behind a `CachedEncoder`, so a message asked before costs nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_messages(self, texts: list[str]) -> np.ndarray:
        """Users' messages as answer() encodes them, alone (phrasings are batched by encode)."""
        ...

    def describe(self) -> dict[str, Any]: ...


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

    def encode_messages(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)  # float32: a batch changes nothing

    def describe(self) -> dict[str, Any]:
        import torch

        return {"kind": "torch", "threads": torch.get_num_threads(), "file": self.model_path}


class CachedEncoder:
    """An LRU of message -> vector in front of an encoder, for single messages only.

    A user's message arrives alone (answer(), the admin's test panel); batches are index
    builds, evaluations and the review inbox, which would only push users' messages out, so
    they go straight through and are not counted. Keys are the text exactly as the matcher
    receives it (answer() has already collapsed its whitespace).
    """

    def __init__(self, encoder: Encoder, capacity: int, reason: str = "") -> None:
        self.encoder = encoder
        self.capacity = capacity
        self.reason = reason  # why this encoder serves, for /healthz
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def encode_messages(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            return self.encode(texts)
        return self.encoder.encode_messages(texts)

    def encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) != 1 or self.capacity <= 0:
            return self.encoder.encode(texts)
        text = texts[0]
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
                self.hits += 1
                return vector[None, :].copy()
        vector = self.encoder.encode(texts)[0]
        with self._lock:
            self.misses += 1
            self._vectors[text] = vector
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)
        return vector[None, :].copy()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            lookups = self.hits + self.misses
            cache = {
                "capacity": self.capacity,
                "size": len(self._vectors),
                "hits": self.hits,
                "misses": self.misses,
                "hit_rate": round(self.hits / lookups, 4) if lookups else None,
            }
        return {**self.encoder.describe(), "reason": self.reason, "cache": cache}
