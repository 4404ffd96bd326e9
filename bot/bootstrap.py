"""The first model version: the base model, indexed and calibrated, served before any retrain."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from bot.catalog import indexed_phrasings
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import calibrate_and_measure
from bot.evaluation_set import calibration_data
from bot.exporting import export_version
from bot.indexing import encoder_for
from bot.indexing import matcher_for
from bot.indexing import rebuild_index
from bot.matcher import Matcher
from bot.model_store import publish_version
from bot.models import ModelVersion
from bot.out_of_scope import approved_texts
from bot.versions import active_version
from bot.versions import models_dir
from bot.versions import next_version_name
from bot.versions import write_metrics
from bot.versions import write_model_card
from training.tabular import CsvValidationError

logger = logging.getLogger(__name__)

DEFAULT_SEMANTIC_WEIGHT = 0.5
DEFAULT_THRESHOLD = 0.5


def bootstrap_version(app: Flask, session: Session) -> ModelVersion | None:
    """First start: serve the base model, calibrated on the evaluation file when it fits."""
    phrasings = indexed_phrasings(session)
    if not phrasings:
        return None
    base_model = app.config["BOT_BASE_MODEL"]
    name = next_version_name(session, models_dir(app))
    session.commit()  # claimed: no write lock is held while the model is exported and indexed
    directory = models_dir(app) / name
    matcher = Matcher.build(
        encoder_for(base_model), phrasings, DEFAULT_SEMANTIC_WEIGHT, approved_texts(session)
    )
    weight, threshold, margin = DEFAULT_SEMANTIC_WEIGHT, DEFAULT_THRESHOLD, 0.0
    reject_margin = None
    figures: dict[str, Any] = {}
    eval_file = app.config["BOT_EVAL_FILE"]
    if eval_file and Path(eval_file).is_file():
        try:
            evaluation = EvaluationSet.load(session, eval_file)
            calibration, figures = calibrate_and_measure(
                calibration_data(matcher, evaluation), app.config["BOT_WRONG_ANSWER_COST"]
            )
            weight, threshold = calibration.semantic_weight, calibration.threshold
            reject_margin, margin = calibration.reject_margin, figures["margin"]
        except CsvValidationError as exc:
            logger.warning("not calibrating on %s: %s", eval_file, exc)
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "base_model": base_model,
        "fine_tuned": False,
        "eval_file": eval_file,
        "eval": figures,
    }
    record["serving"] = export_version(
        app, session, directory, base_model, weight, threshold, reject_margin
    )
    write_metrics(directory, record)
    write_model_card(directory, name, record)
    publish_version(app, name, directory)
    version = ModelVersion(
        name=name,
        path=str(directory),
        model_path=base_model,
        base_model=base_model,
        metrics={"eval": figures, "fine_tuned": False},
        threshold=threshold,
        semantic_weight=weight,
        margin=margin,
        reject_margin=reject_margin,
        active=True,
    )
    session.add(version)
    session.commit()
    logger.info("bootstrapped model version %s from %s", name, base_model)
    return version


def prepare_active_version(app: Flask, session: Session) -> ModelVersion | None:
    """Make sure there is an active version whose index matches the catalog (for `init`)."""
    version = active_version(session)
    if version is None:
        return bootstrap_version(app, session)
    matcher_for(session, version)  # builds and saves the index if the catalog changed
    return version


def refresh_index(app: Flask, session: Session) -> ModelVersion | None:
    """After FAQ changes: re-index the active version, or bootstrap the first one."""
    version = active_version(session)
    if version is None:
        return bootstrap_version(app, session)
    rebuild_index(session, version)
    return version
