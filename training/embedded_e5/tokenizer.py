"""Rebuild e5.c's tokenizer with ``tokenizers``: SentencePiece normaliser and Unigram model."""

from __future__ import annotations

import struct
from collections import deque
from typing import TYPE_CHECKING

from training.embedded_e5.e5_file import E5Vocab
from training.errors import EmbeddedE5Error

if TYPE_CHECKING:
    from tokenizers import Regex
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

METASPACE = "\u2581"


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
