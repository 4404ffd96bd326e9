"""Model versions on disk and in the database: bootstrap, index rebuilds, activation."""

from __future__ import annotations

import json
import logging
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.catalog import indexed_phrasings
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import calibrate_and_measure
from bot.matcher import Matcher
from bot.matcher import SentenceEncoder
from bot.models import ModelVersion
from training.tabular import CsvValidationError

logger = logging.getLogger(__name__)

DEFAULT_SEMANTIC_WEIGHT = 0.5
DEFAULT_THRESHOLD = 0.5


def models_dir(app: Flask) -> Path:
    return Path(app.instance_path) / "models"


@lru_cache(maxsize=4)
def encoder_for(model_path: str) -> SentenceEncoder:
    """Encoders are read-only at serving time, so one per model path is shared."""
    return SentenceEncoder(model_path)


def active_version(session: Session) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(ModelVersion.active.is_(True))).first()


def next_version_name(session: Session) -> str:
    names = session.scalars(select(ModelVersion.name)).all()
    numbers = [int(n[1:]) for n in names if n[:1] == "v" and n[1:].isdigit()]
    return f"v{max(numbers, default=0) + 1}"


def write_metrics(directory: Path, record: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))


def write_model_card(directory: Path, name: str, record: dict[str, Any]) -> None:
    from training.model_card import render_model_card

    (directory / "README.md").write_text(render_model_card(name, record), encoding="utf-8")


def find_version(session: Session, name: str) -> ModelVersion:
    version = session.scalars(select(ModelVersion).where(ModelVersion.name == name)).first()
    if version is None:
        known = ", ".join(session.scalars(select(ModelVersion.name).order_by(ModelVersion.id)))
        raise LookupError(f"no model version {name!r} (known: {known or 'none'})")
    return version


def delete_version(session: Session, version: ModelVersion) -> None:
    """Remove an inactive version's row and directory; the active one is refused."""
    if version.active:
        raise ValueError(f"{version.name} is active: activate another version first")
    path = Path(version.path)
    session.delete(version)
    session.commit()
    shutil.rmtree(path, ignore_errors=True)


def prune_versions(app: Flask, session: Session, keep: int) -> list[str]:
    """Delete the oldest inactive versions beyond `keep` in total (0 keeps everything)."""
    if keep <= 0:
        return []
    versions = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())))
    removed = []
    for version in versions[keep:]:
        if not version.active:
            removed.append(version.name)
            delete_version(session, version)
    return removed


def matcher_for(session: Session, version: ModelVersion) -> Matcher | None:
    """The version's saved index if still current, else a fresh one built and saved."""
    phrasings = indexed_phrasings(session)
    if not phrasings:
        return None
    encoder = encoder_for(version.model_path)
    index_dir = Path(version.path) / "index"
    matcher = Matcher.load(index_dir, encoder, phrasings, version.semantic_weight)
    if matcher is None:
        matcher = Matcher.build(encoder, phrasings, version.semantic_weight)
        matcher.save(index_dir)
    return matcher


def bootstrap_version(app: Flask, session: Session) -> ModelVersion | None:
    """First start: serve the base model, calibrated on the evaluation file when it fits."""
    phrasings = indexed_phrasings(session)
    if not phrasings:
        return None
    base_model = app.config["BOT_BASE_MODEL"]
    name = next_version_name(session)
    directory = models_dir(app) / name
    matcher = Matcher.build(encoder_for(base_model), phrasings, DEFAULT_SEMANTIC_WEIGHT)
    weight, threshold, margin = DEFAULT_SEMANTIC_WEIGHT, DEFAULT_THRESHOLD, 0.0
    figures: dict[str, Any] = {}
    eval_file = app.config.get("BOT_EVAL_FILE")
    if eval_file and Path(eval_file).is_file():
        try:
            evaluation = EvaluationSet.load(session, eval_file)
            calibration, figures = calibrate_and_measure(
                evaluation.scores(matcher), evaluation.expected
            )
            weight, threshold = calibration.semantic_weight, calibration.threshold
            margin = figures["margin"]
        except CsvValidationError as exc:
            logger.warning("not calibrating on %s: %s", eval_file, exc)
    matcher.semantic_weight = weight
    matcher.save(directory / "index")
    record = {
        "base_model": base_model,
        "fine_tuned": False,
        "eval_file": eval_file,
        "eval": figures,
    }
    write_metrics(directory, record)
    write_model_card(directory, name, record)
    version = ModelVersion(
        name=name,
        path=str(directory),
        model_path=base_model,
        base_model=base_model,
        metrics={"eval": figures, "fine_tuned": False},
        threshold=threshold,
        semantic_weight=weight,
        margin=margin,
        active=True,
    )
    session.add(version)
    session.commit()
    logger.info("bootstrapped model version %s from %s", name, base_model)
    return version


def activate(session: Session, version: ModelVersion) -> None:
    """Make `version` the only active one; running servers swap to it on their next message."""
    session.execute(update(ModelVersion).values(active=False))
    version.active = True
    session.commit()


def rebuild_index(app: Flask, session: Session) -> ModelVersion | None:
    """Re-index the active version after FAQ changes (no retraining); servers reload it."""
    version = active_version(session)
    if version is None:
        return bootstrap_version(app, session)
    phrasings = indexed_phrasings(session)
    if phrasings:
        encoder = encoder_for(version.model_path)
        Matcher.build(encoder, phrasings, version.semantic_weight).save(
            Path(version.path) / "index"
        )
    version.index_revision += 1
    session.commit()
    return version


def recalibrate(app: Flask, session: Session) -> tuple[ModelVersion, dict[str, Any]]:
    """Re-fit fusion weight and threshold of the active version on the evaluation file.

    Cheap (one encoding pass, no training): use it after FAQs or the evaluation file changed.
    """
    version = active_version(session)
    if version is None:
        raise LookupError("no model version yet: ask the bot something or retrain first")
    matcher = matcher_for(session, version)
    if matcher is None:
        raise LookupError("there are no active FAQs to calibrate on")
    evaluation = EvaluationSet.load(session, app.config["BOT_EVAL_FILE"])
    calibration, figures = calibrate_and_measure(evaluation.scores(matcher), evaluation.expected)
    version.threshold = calibration.threshold
    version.semantic_weight = calibration.semantic_weight
    version.margin = figures["margin"]
    version.metrics = {**version.metrics, "eval": figures}
    version.index_revision += 1  # servers reload and apply the new weight
    session.commit()
    metrics_path = Path(version.path) / "metrics.json"
    record = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    write_metrics(Path(version.path), {**record, "eval": figures})
    return version, figures
