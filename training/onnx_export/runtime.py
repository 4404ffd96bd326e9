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
from training.onnx_export.config import PER_RUN_SCALE_KINDS
from training.onnx_export.config import TOKENIZER_FILE
from training.onnx_export.config import ServingConfig
from training.onnx_export.tokenizers_lean import load_token_ids

BATCH_TOKENS = 8192  # padded tokens per run: big enough to use the cores, small in memory
MAX_BATCH = 128
SHRINK_AFTER_TOKENS = 512  # padded tokens of a batch beyond which the arena is shrunk after


class OnnxEncoder:
    """An exported model's `encode`: prompt, tokenizer, ONNX transformer, pooling, unit length."""

    def __init__(self, directory: Path, kind: str = "onnx", threads: int = 1) -> None:
        import onnxruntime

        directory = Path(directory)
        self.config = config = read_serving_config(directory)
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
        self._shrink = onnxruntime.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.tokenize = load_token_ids(directory / TOKENIZER_FILE, config.max_seq_length)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The ids the model sees for each text, prompt included (the export checks them)."""
        return prompted(self.config, self.tokenize, texts)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.empty((len(texts), self.config.dimension), dtype=np.float32)
        tokens = self.token_ids(texts)
        lengths = np.array([len(ids) for ids in tokens], dtype=np.int64)
        batches = length_batches(lengths)
        # Batches grow ONNX Runtime's memory arena to their size for good: the last run of a
        # big encode (an index build) gives it back, so a worker's memory returns to what one
        # message needs (shrinking after every batch costs 9% of a build).
        padded = max(len(rows) * int(lengths[rows[-1]]) for rows in batches) if batches else 0
        for number, rows in enumerate(batches, start=1):
            shrink = number == len(batches) and padded > SHRINK_AFTER_TOKENS
            vectors[rows] = self._embed([tokens[row] for row in rows], shrink)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def encode_messages(self, texts: list[str]) -> np.ndarray:
        """Users' messages as serving encodes them: one a run where batching would change
        them (PER_RUN_SCALE_KINDS), so an evaluation measures what users get."""
        if self.kind not in PER_RUN_SCALE_KINDS or len(texts) <= 1:
            return self.encode(texts)
        vectors = np.empty((len(texts), self.config.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row] = self.encode([text])[0]
        return vectors

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "threads": self.threads, "file": str(self.path)}

    def _embed(self, rows: list[list[int]], shrink: bool = False) -> np.ndarray:
        feed = model_inputs(self.config, rows)
        tokens = self.session.run(None, feed, self._shrink if shrink else None)[0]
        return pool(tokens, feed["attention_mask"], self.config.pooling)


def length_batches(lengths: np.ndarray) -> list[np.ndarray]:
    """Row numbers in batches of similar length, shortest first: each at most MAX_BATCH rows
    and BATCH_TOKENS padded tokens, its longest text at most twice its shortest. A text far
    longer than the rest runs alone instead of padding a batch to its length (one 512-token
    text made 16 rows of 512)."""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        size, widest = 1, 2 * lengths[order[start]]
        while (
            size < MAX_BATCH
            and start + size < len(order)
            and lengths[order[start + size]] <= widest
            and (size + 1) * lengths[order[start + size]] <= BATCH_TOKENS
        ):
            size += 1
        batches.append(order[start : start + size])
        start += size
    return batches


def read_serving_config(directory: Path) -> ServingConfig:
    """The export's config; a directory without one (or of an older format) is an error."""
    config = ServingConfig.read(directory)
    if config is None:
        raise FileNotFoundError(f"no serving export in {directory}")
    return config


def prompted(config: ServingConfig, tokenize, texts: list[str]) -> list[list[int]]:  # noqa: ANN001
    """The ids the model sees: the prompt (e.g. e5's "query: ") goes before every text."""
    return tokenize([config.prompt + text for text in texts])


def model_inputs(config: ServingConfig, rows: list[list[int]]) -> dict[str, np.ndarray]:
    """The transformer's inputs for token id rows, padded to the longest."""
    width = max(len(row) for row in rows)
    ids = np.full((len(rows), width), config.pad_token_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = row
        mask[index, : len(row)] = 1
    inputs = {"input_ids": ids, "attention_mask": mask}
    return {name: inputs[name] for name in config.input_names}


def single_text_inputs(directory: Path, texts: list[str]) -> list[dict[str, np.ndarray]]:
    """Each text's transformer inputs on its own (no padding), without loading the model:
    what calibration runs."""
    config = read_serving_config(directory)
    tokenize = load_token_ids(Path(directory) / TOKENIZER_FILE, config.max_seq_length)
    return [model_inputs(config, [ids]) for ids in prompted(config, tokenize, texts)]


def pool(tokens: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """sentence-transformers' Pooling, in numpy: over the real tokens of each row."""
    if mode == "cls":
        return tokens[:, 0]
    weights = mask[:, :, None].astype(tokens.dtype)
    if mode == "max":
        return np.where(weights > 0, tokens, -1e9).max(axis=1)
    return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
