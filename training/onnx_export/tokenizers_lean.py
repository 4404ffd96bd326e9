"""Token ids for serving, from ``tokenizer.json``, in little memory.

`tokenizers` keeps a Unigram (SentencePiece) vocabulary in a byte trie of hash maps: 250 MB
per process for e5's 250,000 pieces, more than its int8 model. For a Unigram model the search
is done here instead, in Python over a dict (about 30 MB), and `tokenizers` does everything
around it (added tokens, normalisation, pre-tokenisation, the special tokens) through a shell
tokenizer whose vocabulary holds single characters only, so the text the search gets is
exactly the text `tokenizers` would have searched. Other models (WordPiece, BPE) are small and
stay with `tokenizers`. The export checks the ids against the model's own tokenizer.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
from array import array
from functools import lru_cache
from pathlib import Path
from typing import Any

UNKNOWN_PENALTY = 10.0  # tokenizers' K_UNK_PENALTY: an unknown character scores below any piece
WORD_START = "\u2581"  # SentencePiece's "▁"
SEARCH_CACHE = 65536  # words; FAQ phrasings and messages repeat their words
UNKNOWN = "\U0010fffd\U0010fffd"  # the shell's unknown token: no text is split into it
KEEP_TOKENIZERS = 2  # the version served and the one replacing it
_LOADED: dict[tuple[str, int], Any] = {}  # oldest first
_LOADED_LOCK = threading.Lock()


def load_token_ids(path: Path, max_length: int):  # noqa: ANN201
    """A callable from a list of texts to their ids, truncated to `max_length`.

    Versions retrained from one base share its tokenizer file: a process swapping between
    them keeps one tokenizer instead of building a new one each time.
    """
    raw = Path(path).read_bytes()
    key = (hashlib.sha256(raw).hexdigest(), max_length)
    with _LOADED_LOCK:
        tokenizer = _LOADED.pop(key, None) or _build(raw, max_length)
        _LOADED[key] = tokenizer  # now the newest
        while len(_LOADED) > KEEP_TOKENIZERS:
            _LOADED.pop(next(iter(_LOADED)))
        return tokenizer


def _build(raw: bytes, max_length: int):  # noqa: ANN202
    config = json.loads(raw)
    model = config["model"]
    if model["type"] == "Unigram" and not model.get("byte_fallback"):
        return LeanUnigram(config, max_length)
    return LibraryTokenizer(config, max_length)


def _fresh_copies(vocab: list[list[Any]]) -> list[str]:
    """The pieces as new strings, allocated together after the parse.

    The parsed JSON interleaves each piece with its list and score; keeping those strings
    pins most of the parse's memory pages once the rest is freed (about 35 MB for e5).
    """
    separator = "\0"
    pieces = "".join(piece + separator for piece, _ in vocab).split(separator)[:-1]
    if len(pieces) != len(vocab):  # a piece holds the separator: keep the parsed strings
        return [piece for piece, _ in vocab]
    return pieces


class LibraryTokenizer:
    """`tokenizers` as it is."""

    def __init__(self, config: dict[str, Any], max_length: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(json.dumps(config))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)

    def __call__(self, texts: list[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]


class LeanUnigram:
    """A Unigram tokenizer that searches the vocabulary itself, as `tokenizers` does."""

    def __init__(self, config: dict[str, Any], max_length: int) -> None:
        from tokenizers import Tokenizer

        vocab = config["model"]["vocab"]
        self.ids = {piece: index for index, piece in enumerate(_fresh_copies(vocab))}
        self.scores = array("d", (score for _, score in vocab))
        self.unk_id = config["model"]["unk_id"]
        self.unk_score = min(self.scores) - UNKNOWN_PENALTY
        self.longest = max(len(piece) for piece, _ in vocab)
        # A best path never crosses a "▁" when no piece has one after its first character.
        self.split_words = not any(WORD_START in piece[1:] for piece, _ in vocab)
        self.added = {token["content"]: token["id"] for token in config["added_tokens"]}
        self.max_length = max_length
        characters = sorted({character for piece, _ in vocab for character in piece})
        shell = {**config, "model": {**config["model"], "unk_id": 0, "vocab": []}}
        shell["model"]["vocab"] = [[UNKNOWN, 0.0]] + [[c, -1.0] for c in characters]
        shell["truncation"] = shell["padding"] = None
        self.shell = Tokenizer.from_str(json.dumps(shell))
        self.search = lru_cache(maxsize=SEARCH_CACHE)(self._search)

    def __call__(self, texts: list[str]) -> list[list[int]]:
        return [self._ids(encoding) for encoding in self.shell.encode_batch(texts)]

    def _ids(self, encoding: Any) -> list[int]:
        """The shell's characters regrouped into its words, each searched; truncated like
        `tokenizers` truncates: the text's tokens first, then the special tokens around them."""
        head: list[int] = []
        body: list[int] = []
        tail: list[int] = []
        word: list[str] = []
        current = None
        for token, word_id, sequence in zip(
            encoding.tokens, encoding.word_ids, encoding.sequence_ids, strict=True
        ):
            if word_id != current and word:
                body.extend(self._word(word))
                word = []
            current = word_id
            if sequence is None:  # a special token the post-processor added
                (tail if body or word else head).append(self.added[token])
            elif word_id is None:  # an added token found in the text
                body.append(self.added[token])
            else:
                word.append(token)
        if word:
            body.extend(self._word(word))
        room = self.max_length - len(head) - len(tail)
        return head + body[:room] + tail

    def _word(self, characters: list[str]) -> list[int]:
        """A word's ids. No piece holds a character the vocabulary lacks, so the search splits
        there; runs of unknown tokens within a word are fused, as `tokenizers` fuses them."""
        ids: list[int] = []
        for unknown, run in itertools.groupby(characters, key=lambda token: token == UNKNOWN):
            ids.extend([self.unk_id] if unknown else self._text("".join(run)))
        return [
            token
            for index, token in enumerate(ids)
            if not (token == self.unk_id and index and ids[index - 1] == self.unk_id)
        ]

    def _text(self, text: str) -> tuple[int, ...]:
        if not self.split_words:
            return self.search(text)
        starts = [i for i, character in enumerate(text) if character == WORD_START and i]
        ids: tuple[int, ...] = ()
        for start, end in zip([0, *starts], [*starts, len(text)], strict=True):
            ids += self.search(text[start:end])
        return ids

    def _search(self, text: str) -> tuple[int, ...]:
        """The best-scoring pieces (Viterbi), ties to the first found; runs of unknown
        characters become one unknown token. The same search as `tokenizers`' Unigram."""
        size = len(text)
        best = [-math.inf] * (size + 1)
        best[0] = 0.0
        back: list[tuple[int, int] | None] = [None] * (size + 1)
        for start in range(size):
            base = best[start]
            single = False
            for end in range(start + 1, min(size, start + self.longest) + 1):
                piece = self.ids.get(text[start:end])
                if piece is None:
                    continue
                score = base + self.scores[piece]
                if back[end] is None or score > best[end]:
                    best[end], back[end] = score, (start, piece)
                single = single or end == start + 1
            if not single:
                score = base + self.unk_score
                if back[start + 1] is None or score > best[start + 1]:
                    best[start + 1], back[start + 1] = score, (start, self.unk_id)
        ids: list[int] = []
        end = size
        while end > 0:
            start, piece = back[end]
            if not (piece == self.unk_id and ids and ids[-1] == self.unk_id):
                ids.append(piece)
            end = start
        return tuple(reversed(ids))
