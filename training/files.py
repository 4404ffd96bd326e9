"""Directory writes that readers never see half done."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def replace_directory(new: Path, target: Path) -> None:
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


def match_modes(root: Path, file_mode: int) -> None:
    """Give every file the umask-derived mode of a plainly written one.

    Temporary files and directories (safetensors' writes, mkstemp, mkdtemp) are private (0600,
    0700), which a shared model cache, or workers running as another user, cannot read.
    """
    dir_mode = file_mode | (file_mode & 0o444) >> 2
    for path in root.rglob("*"):
        path.chmod(dir_mode if path.is_dir() else file_mode)
    root.chmod(dir_mode)
