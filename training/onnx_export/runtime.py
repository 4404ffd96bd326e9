"""Sentence embeddings from a serving directory: ``tokenizers``, ONNX Runtime and numpy only.

What web workers serve with, and what the export measures against torch, so the parity check
runs the very code that serves. Texts are grouped by token length before batching, so a batch
carries little padding (index builds encode thousands of phrasings of every length).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.onnx_export.config import MODEL_FILES
from training.onnx_export.config import TOKENIZER_FILE
from training.onnx_export.config import ServingConfig

BATCH_TOKENS = 8192  # padded tokens per run: big enough to use the cores, small in memory
MAX_BATCH = 128


class OnnxEncoder:
    """An exported model's `encode`: prompt, tokenizer, ONNX transformer, pooling, unit length."""

    def __init__(self, directory: Path, kind: str = "onnx", threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        directory = Path(directory)
        config = ServingConfig.read(directory)
        if config is None:
            raise FileNotFoundError(f"no serving export in {directory}")
        self.config = config
        self.kind = kind
        self.threads = threads
        self.path = directory / MODEL_FILES[kind]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads would spin on cores that other workers need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(config.max_seq_length)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The ids the model sees for each text, prompt included (the export checks them)."""
        return [encoding.ids for encoding in self._tokenize(texts)]

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.empty((len(texts), self.config.dimension), dtype=np.float32)
        encodings = self._tokenize(texts)
        lengths = np.array([len(encoding.ids) for encoding in encodings])
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            longest = lengths[order[min(start + MAX_BATCH, len(order)) - 1]]
            size = int(min(MAX_BATCH, max(1, BATCH_TOKENS // max(longest, 1))))
            rows = order[start : start + size]
            vectors[rows] = self._embed([encodings[row] for row in rows])
            start += size
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "threads": self.threads, "file": str(self.path)}

    def _tokenize(self, texts: list[str]) -> list[Any]:
        prompt = self.config.prompt
        return self.tokenizer.encode_batch([prompt + text for text in texts])

    def _embed(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), self.config.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        inputs = {"input_ids": ids, "attention_mask": mask}
        feed = {name: inputs[name] for name in self.config.input_names}
        tokens = self.session.run(None, feed)[0]
        return pool(tokens, mask, self.config.pooling)


def pool(tokens: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """sentence-transformers' Pooling, in numpy: over the real tokens of each row."""
    if mode == "cls":
        return tokens[:, 0]
    weights = mask[:, :, None].astype(tokens.dtype)
    if mode == "max":
        return np.where(weights > 0, tokens, -1e9).max(axis=1)
    return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
