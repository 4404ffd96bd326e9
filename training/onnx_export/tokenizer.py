"""``tokenizer.json`` for serving, checked to give the ids sentence-transformers gives.

transformers' tokenizers are ``tokenizers`` tokenizers underneath (a model that ships only a
``vocab.txt`` gets one built when it is loaded), so the serving file is that tokenizer, saved
without padding; the runtime sets truncation from ``serving.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from training.errors import ExportError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def write_tokenizer(model: SentenceTransformer, path: Path) -> None:
    from tokenizers import Tokenizer

    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ExportError(f"{type(model.tokenizer).__name__} has no tokenizers tokenizer")
    tokenizer = Tokenizer.from_str(backend.to_str())  # a copy: the model's stays as it is
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.save(str(path))


def check_token_ids(
    model: SentenceTransformer, serving_ids: list[list[int]], texts: list[str]
) -> None:
    """Raise unless the serving tokenizer's ids are the model's own for every text."""
    prompt = model.prompts.get(model.default_prompt_name, "") if model.default_prompt_name else ""
    features = model.preprocess(texts, prompt=prompt or None)
    for row, (ids, mask, text) in enumerate(
        zip(features["input_ids"], features["attention_mask"], texts, strict=True)
    ):
        expected = ids[mask.bool()].tolist()
        if expected != serving_ids[row]:
            raise ExportError(
                f"the exported tokenizer splits {text!r} into {serving_ids[row]}, "
                f"the model's own into {expected}"
            )
