"""The lean Unigram tokenizer gives exactly the ids `tokenizers` gives, in far less memory."""

from __future__ import annotations

import json
import random

import pytest
from tokenizers import Tokenizer
from tokenizers import models
from tokenizers import normalizers
from tokenizers import pre_tokenizers
from tokenizers import processors

from bot.exporting import shipped_texts
from training.embedded_e5.cache import embedded_e5_path
from training.onnx_export.tokenizers_lean import LeanUnigram
from training.onnx_export.tokenizers_lean import LibraryTokenizer
from training.onnx_export.tokenizers_lean import load_token_ids

SPECIAL = ["<s>", "</s>", "<mask>", "<unk>", "<pad>"]
# Latin with accents, Greek, Cyrillic, Arabic, Devanagari, kana, CJK, Hangul, emoji, and the
# odd ones: zero-width space, BOM, a combining accent, a ligature, a circled digit.
ALPHABET = [
    chr(code)
    for first, last in [
        (0x20, 0x250),
        (0x370, 0x3FF),
        (0x400, 0x4FF),
        (0x600, 0x6FF),
        (0x900, 0x97F),
        (0x3040, 0x30FF),
        (0x4E00, 0x4F00),
        (0xAC00, 0xAD00),
        (0x1F600, 0x1F650),
    ]
    for code in range(first, last)
] + [" ", "  ", "\t", "\n", "\u200b", "\ufeff", "\u0301", "ﬁ", "①", *SPECIAL]


def random_texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randint(0, 60))) for _ in range(count)]


def library_ids(tokenizer_json: str, texts: list[str], max_length: int) -> list[list[int]]:
    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return [encoding.ids for encoding in tokenizer.encode_batch(texts)]


def test_e5_ids_equal_the_library_s_on_every_script_and_edge_case(model_cache):
    path = embedded_e5_path() / "tokenizer.json"
    lean = load_token_ids(path, 512)
    assert isinstance(lean, LeanUnigram) and lean.split_words
    texts = shipped_texts() + random_texts(2000)
    texts += ["", " ", "<s>", "a<mask>b", " <mask> x", "<unk><unk>", "harian " * 400]
    texts += ["query: " + text for text in texts]
    assert lean(texts) == library_ids(path.read_text(encoding="utf-8"), texts, 512)


def toy_unigram(pieces: list[tuple[str, float]]) -> str:
    """A small Unigram tokenizer with e5's surroundings (normaliser, Metaspace, template)."""
    vocab = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0), *pieces]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    tokenizer.add_special_tokens(["<s>", "</s>", "<unk>"])
    return tokenizer.to_str()


@pytest.mark.parametrize("max_length", [6, 64])
def test_pieces_across_word_starts_and_unknown_runs_match_the_library(max_length):
    # "a▁b" crosses a word start, so words cannot be searched alone here; "q" and "z" are in
    # no piece, "x" and "y" only in "xy": all four are unknown alone, and runs of unknown
    # characters fuse; ties ("ab" vs "a"+"b") go to the first found.
    pieces = [("▁", -2.0), ("a", -1.0), ("b", -1.0), ("ab", -2.0), ("a▁b", -1.5), ("▁ab", -2.5)]
    pieces += [("c", -3.0), ("abc", -4.0), ("é", -1.0), ("xy", -1.0)]
    tokenizer_json = toy_unigram(pieces)
    lean = LeanUnigram(json.loads(tokenizer_json), max_length)
    assert not lean.split_words
    texts = ["a b", "ab ab", "abc qqz ab", "zz a b c", "É ab", "<s>a b</s>", "", "ab " * 30]
    texts += ["xq", "qx", "xxqy", "xy", "yx q", "axqb"]
    texts += ["".join(random.Random(seed).choices("ab cqzxyé", k=20)) for seed in range(300)]
    assert lean(texts) == library_ids(tokenizer_json, texts, max_length)


def test_other_models_stay_with_the_library(tiny_bert):
    assert isinstance(load_token_ids(tiny_bert / "tokenizer.json", 128), LibraryTokenizer)


def test_versions_with_one_tokenizer_file_share_one_tokenizer(tmp_path):
    tokenizer_json = toy_unigram([("▁", -2.0), ("a", -1.0), ("b", -1.0), ("ab", -2.0)])
    for version in ("v1", "v2"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    first = load_token_ids(tmp_path / "v1" / "tokenizer.json", 64)
    assert load_token_ids(tmp_path / "v2" / "tokenizer.json", 64) is first
    assert load_token_ids(tmp_path / "v2" / "tokenizer.json", 8) is not first  # truncates apart
    (tmp_path / "v2" / "tokenizer.json").write_text(
        toy_unigram([("▁", -2.0), ("a", -1.0), ("b", -1.0)]), encoding="utf-8"
    )
    other = load_token_ids(tmp_path / "v2" / "tokenizer.json", 64)
    assert other is not first and other(["ab"]) != first(["ab"])


def test_a_piece_holding_the_separator_keeps_its_own_string():
    pieces = [("▁", -2.0), ("a", -1.0), ("a\0b", -1.0), ("b", -1.0)]
    lean = LeanUnigram(json.loads(toy_unigram(pieces)), 64)
    assert lean.ids["a\0b"] == 5 and lean.ids["b"] == 6
    assert lean(["ab ba"]) == library_ids(toy_unigram(pieces), ["ab ba"], 64)
