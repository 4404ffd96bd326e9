"""The transformer of a sentence-transformers model as ONNX, and what serving adds around it.

Only the transformer goes into the graph (token ids in, token embeddings out, dynamic batch
and sequence axes); the prompt, pooling and normalisation are cheap and live in numpy at serving
time, driven by ``serving.json``. Models with other modules (a Dense layer, weighted pooling,
pooling that leaves the prompt out) are refused, so they keep serving with torch.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from training.errors import ExportError
from training.onnx_export.config import POOLING_MODES
from training.onnx_export.config import ServingConfig

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "token_embeddings"


def serving_config(model: SentenceTransformer, source: str) -> ServingConfig:
    """What serving must do around the graph to reproduce `model.encode`; refuse the rest."""
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    modules = list(model)
    if not modules or not isinstance(modules[0], Transformer):
        raise ExportError("the first module is not a Transformer")
    if len(modules) < 2 or not isinstance(modules[1], Pooling):
        raise ExportError("the Transformer is not followed by a Pooling module")
    extra = [type(module).__name__ for module in modules[2:] if not isinstance(module, Normalize)]
    if extra:
        raise ExportError(f"modules after pooling are not supported: {', '.join(extra)}")
    pooling = modules[1]
    if pooling.pooling_mode not in POOLING_MODES:
        raise ExportError(f"pooling mode {pooling.pooling_mode!r} is not supported")
    prompt = model.prompts.get(model.default_prompt_name, "") if model.default_prompt_name else ""
    if prompt and not pooling.include_prompt:
        raise ExportError("pooling that leaves the prompt out is not supported")
    tokenizer = model.tokenizer
    return ServingConfig(
        source=source,
        prompt=prompt,
        max_seq_length=int(model.max_seq_length),
        pooling=pooling.pooling_mode,
        input_names=INPUT_NAMES,
        dimension=int(model.get_embedding_dimension()),
        pad_token_id=int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
    )


def export_transformer(model: SentenceTransformer, path: Path) -> None:
    """Write the transformer as float32 ONNX: token ids and mask in, token embeddings out."""
    import torch

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            output = self.transformer(input_ids=input_ids, attention_mask=attention_mask)
            return output.last_hidden_state

    example = model.tokenizer(["a", "a longer example"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "sequence"}
    wrapped = TokenEmbeddings(model[0].auto_model).eval()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter: deprecated in favour of the dynamo one (which needs
        # onnxscript) but exact for these encoders and faster to run; the tracer's notes about
        # shape-dependent branches concern decoder caches that an encoder never takes.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (example["input_ids"], example["attention_mask"]),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={**dict.fromkeys(INPUT_NAMES, axes), OUTPUT_NAME: axes},
            opset_version=OPSET,
            dynamo=False,
        )


def save_model(model: Any, path: Path) -> None:
    """Write an ONNX model with its weights in ``<name>.data`` beside it.

    ONNX Runtime maps such a file instead of reading the weights into the heap: a worker's
    int8 session holds about 60 MB instead of 180, loads without a 240 MB peak, and the
    workers of one host share the mapped pages.
    """
    import onnx

    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=f"{Path(path).name}.data",
        size_threshold=1024,
    )


def keep_weights_apart(path: Path) -> None:
    """Rewrite a single-file ONNX model (as `torch.onnx.export` writes it) as `save_model` does."""
    import onnx

    save_model(onnx.load(str(path)), path)
