"""``serving.json``: how to turn the ONNX transformer's output into sentence embeddings.

Written by the export, read by every web worker: plain JSON and no torch, so a worker knows
the prompt, the maximum length and the pooling sentence-transformers used when training.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

FORMAT = 3  # 2: weights in a .data file beside each model; 3: int8 calibrated (older: again)
CONFIG_FILE = "serving.json"
TOKENIZER_FILE = "tokenizer.json"
# The encoders a serving directory can hold, by the name BOT_ENCODER and `evaluate` use.
# onnx-int8: calibrated, products quantised per message where they stay close to float;
# onnx-int8-blocks: every product in 8-bit blocks (slower, closer to float).
MODEL_FILES = {
    "onnx": "model.onnx",
    "onnx-int8-blocks": "model.int8-blocks.onnx",
    "onnx-int8": "model.int8.onnx",
}
INT8_KINDS = ("onnx-int8", "onnx-int8-blocks")  # fastest first
# Quantise their inputs with one scale per run: a message's vector depends on what it is
# batched with (cosine 0.9995 at worst), so messages are encoded one a run, as served.
PER_RUN_SCALE_KINDS = ("onnx-int8",)
POOLING_MODES = ("mean", "cls", "max")


@dataclass(frozen=True)
class ServingConfig:
    """What sentence-transformers does around the transformer, and what the export found.

    `parity` holds the export's measurements against torch (cosine per encoder and the
    tokenizer check); `failed` names encoders whose file could not be made, with the reason.
    """

    source: str  # the model exported: a directory or an embedded: name
    prompt: str  # prepended to every text, e.g. e5's "query: "
    max_seq_length: int
    pooling: str  # one of POOLING_MODES
    input_names: tuple[str, ...]  # the ONNX graph's inputs, e.g. input_ids, attention_mask
    dimension: int
    pad_token_id: int
    parity: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def write(self, directory: Path) -> None:
        """Replace ``serving.json`` in one rename: a reader sees the old file or the new one."""
        handle, staging = tempfile.mkstemp(prefix=".serving-", dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(self.as_dict(), out, indent=2, ensure_ascii=False)
        os.replace(staging, Path(directory) / CONFIG_FILE)

    @classmethod
    def read(cls, directory: Path) -> ServingConfig | None:
        """The directory's config, or None when there is none of this format (export again)."""
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("format", None) != FORMAT:
            return None
        data["input_names"] = tuple(data["input_names"])
        return cls(**data)

    def available(self, directory: Path) -> list[str]:
        """The encoders whose ONNX file this directory holds, fastest last."""
        return [
            kind
            for kind, name in MODEL_FILES.items()
            if kind not in self.failed and (Path(directory) / name).is_file()
        ]
