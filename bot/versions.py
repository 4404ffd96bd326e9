"""The registry of model versions: rows, directories and the files that describe them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.models import ModelVersion
from bot.models import NameSequence


def models_dir(app: Flask) -> Path:
    return Path(app.instance_path) / "models"


def local_dir(app: Flask, version: ModelVersion) -> Path:
    """The version's folder on this host (the path stored in the database is the creating
    host's; every host keeps its copy under its own instance folder)."""
    return version_dir(models_dir(app), version.name)


def local_model(app: Flask, version: ModelVersion) -> str:
    """The version's model on this host: its own fine-tuned copy, or the base model it serves
    as it is (a name every host resolves itself)."""
    try:
        inside = Path(version.model_path).relative_to(version.path)
    except ValueError:
        return version.model_path
    return str(local_dir(app, version) / inside)


def active_version(session: Session) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))).first()


def served_threshold(config: Mapping[str, Any], version: ModelVersion | None) -> float:
    """The answer threshold in force: BOT_THRESHOLD overrides the version's calibrated one."""
    if config["BOT_THRESHOLD"] is not None:
        return float(config["BOT_THRESHOLD"])
    return version.threshold if version is not None else 1.0


def served_margin(config: Mapping[str, Any], version: ModelVersion) -> float:
    """The "did you mean" margin in force: BOT_AMBIGUITY_MARGIN overrides the calibrated one."""
    override = config["BOT_AMBIGUITY_MARGIN"]
    return version.margin if override is None else float(override)


def served_reject_margin(config: Mapping[str, Any], version: ModelVersion) -> float | None:
    """The reject margin in force: BOT_REJECT_MARGIN overrides the calibrated one."""
    override = config["BOT_REJECT_MARGIN"]
    return version.reject_margin if override is None else float(override)


def _version_number(name: str) -> int | None:
    return int(name[1:]) if name[:1] == "v" and name[1:].isdigit() else None


def next_version_name(session: Session, root: Path) -> str:
    """A name never given before, even to a deleted version; claimed in the caller's transaction.

    Above the stored sequence, every recorded name and every directory in `root` (an orphan
    left by a crash must not block the next version).
    """
    sequence = session.get(NameSequence, "model_version", with_for_update=True)
    if sequence is None:
        sequence = NameSequence(name="model_version", value=0)
        session.add(sequence)
    taken = [*session.scalars(select(ModelVersion.name))]
    taken += [entry.name for entry in root.iterdir()] if root.is_dir() else []
    numbers = [n for n in map(_version_number, taken) if n is not None]
    sequence.value = max([sequence.value or 0, *numbers]) + 1
    return f"v{sequence.value}"


def write_metrics(directory: Path, record: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))


def read_metrics(directory: Path) -> dict[str, Any]:
    path = directory / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def write_model_card(directory: Path, name: str, record: dict[str, Any]) -> None:
    from training.model_card import render_model_card

    (directory / "README.md").write_text(render_model_card(name, record), encoding="utf-8")


def find_version(session: Session, name: str) -> ModelVersion:
    version = session.scalars(select(ModelVersion).where(ModelVersion.name == name)).first()
    if version is None:
        known = ", ".join(session.scalars(select(ModelVersion.name).order_by(ModelVersion.id)))
        raise LookupError(f"no model version {name!r} (known: {known or 'none'})")
    return version


def activate(session: Session, version: ModelVersion) -> None:
    """Make `version` the only active one; running servers swap to it on their next message."""
    session.execute(update(ModelVersion).values(active=False))
    version.active = True
    session.commit()


def bump_index_revision(session: Session, version: ModelVersion) -> None:
    """Tell servers to reload the version's index and settings (counted in SQL, never lost)."""
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == version.id)
        .values(index_revision=ModelVersion.index_revision + 1)
    )
    session.commit()
    session.refresh(version)


def version_dir(root: Path, name: str) -> Path:
    """A version's directory: `root/name`, never anywhere else (a name with a path in it, or a
    path stored in the database, cannot make a deletion reach outside the models folder)."""
    path = (root / name).resolve()
    if path.parent != root.resolve():
        raise ValueError(f"{name!r} is not a model version name")
    return path


def delete_version(session: Session, version: ModelVersion, root: Path) -> None:
    """Remove an inactive version's row and directory; the active one is refused."""
    if version.active:
        raise ValueError(f"{version.name} is active: activate another version first")
    path = version_dir(root, version.name)
    session.delete(version)
    session.commit()
    shutil.rmtree(path, ignore_errors=True)


def orphan_dirs(session: Session, root: Path) -> list[Path]:
    """Version directories no database row knows: a crash between writing and recording a
    version, or a delete whose files outlived it."""
    known = set(session.scalars(select(ModelVersion.name)))
    found = root.iterdir() if root.is_dir() else []
    named = [p for p in found if p.is_dir() and _version_number(p.name) is not None]
    return [p for p in named if p.name not in known]


def prune_versions(session: Session, keep: int, root: Path) -> list[str]:
    """Delete the oldest inactive versions beyond `keep` in total (0 keeps everything)."""
    if keep <= 0:
        return []
    versions = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())))
    removed = []
    for version in versions[keep:]:
        if not version.active:
            removed.append(version.name)
            delete_version(session, version, root)
    return removed
