"""Model versions where every host can read them: a shared directory or any fsspec URL.

Each host keeps its own copy of a version under its instance folder (`models/<name>/`) and
serves from that. With BOT_MODEL_STORE set, a version is published to the store when it is
made (its model, serving export, metrics and card; indexes are rebuilt per host from the
catalog, which every host shares through the database), and a host that must serve a version
it does not have fetches it first. A version counts as published only once its marker is
written, after every file, so a half-uploaded version is never fetched.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import fsspec
from filelock import FileLock
from flask import Flask

logger = logging.getLogger(__name__)

MARKER = "_published"
LOCAL_ONLY = ("index", "index-")  # rebuilt on every host, never published


class ModelStoreError(RuntimeError):
    """The store cannot give or take a version; the message says which and why."""


def _shared(path: Path) -> bool:
    """Whether a file or folder of a version directory belongs in the store."""
    return not path.name.startswith((".", *LOCAL_ONLY)) and path.name != MARKER


class ModelStore:
    """Publishes local version directories and fetches missing ones (all hosts, one store)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)

    def _remote(self, name: str, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), name, *parts])

    def has(self, name: str) -> bool:
        return bool(self.fs.exists(self._remote(name, MARKER)))

    def publish(self, name: str, local_dir: Path) -> None:
        """Upload every shared file of `local_dir`, then the marker that makes it visible."""
        for path in sorted(local_dir.rglob("*")):
            relative = path.relative_to(local_dir)
            if path.is_file() and all(_shared(Path(part)) for part in relative.parts):
                self.fs.makedirs(self._remote(name, *relative.parts[:-1]), exist_ok=True)
                self.fs.put_file(str(path), self._remote(name, *relative.parts))
        with self.fs.open(self._remote(name, MARKER), "w") as marker:
            marker.write(name)
        logger.info("model version %s published to %s", name, self.url)

    def fetch(self, name: str, local_dir: Path) -> Path:
        """Download a published version into `local_dir` (atomically: all of it or nothing)."""
        if not self.has(name):
            raise ModelStoreError(f"model version {name} is not in the store {self.url}")
        local_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".fetch-{name}-", dir=local_dir.parent))
        try:
            prefix = self._remote(name) + "/"
            for remote in self.fs.find(self._remote(name)):
                relative = remote[len(prefix) :] if remote.startswith(prefix) else None
                if not relative or relative == MARKER:
                    continue
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote, str(target))
            for leftover in local_dir.iterdir() if local_dir.is_dir() else []:
                if not _shared(leftover) and not (staging / leftover.name).exists():
                    leftover.rename(staging / leftover.name)  # keep this host's indexes
            if local_dir.exists():
                shutil.rmtree(local_dir)
            staging.rename(local_dir)
        except Exception as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ModelStoreError(f"could not fetch model version {name}: {exc}") from exc
        logger.info("model version %s fetched from %s", name, self.url)
        return local_dir

    def delete(self, name: str) -> None:
        if self.fs.exists(self._remote(name)):
            self.fs.rm(self._remote(name), recursive=True)


def model_store(app: Flask) -> ModelStore | None:
    """The store BOT_MODEL_STORE names (one per app), or None: this host's folder only."""
    url = app.config["BOT_MODEL_STORE"]
    if not url:
        return None
    if "model_store" not in app.extensions:
        app.extensions["model_store"] = ModelStore(url)
    return app.extensions["model_store"]


def publish_version(app: Flask, name: str, local_dir: Path) -> None:
    """Make a new version readable by every host, before any host is told it exists."""
    store = model_store(app)
    if store is not None:
        store.publish(name, local_dir)


def ensure_local(app: Flask, name: str, local_dir: Path) -> Path:
    """This host's copy of a version, fetched from the store the first time it is needed.

    One fetch per host at a time (a file lock beside the copy); without a store, a missing
    copy is an error that says what to configure.
    """
    if (local_dir / "metrics.json").is_file():
        return local_dir
    store = model_store(app)
    if store is None:
        raise ModelStoreError(
            f"model version {name} is not in {local_dir.parent} and no BOT_MODEL_STORE is set "
            "(hosts that share a database must share their model versions)"
        )
    local_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(local_dir.parent / f".{name}.fetch.lock")):
        if not (local_dir / "metrics.json").is_file():
            store.fetch(name, local_dir)
    return local_dir
