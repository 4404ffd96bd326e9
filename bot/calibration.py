"""Re-fit the served version's fusion weight, threshold and margins without retraining."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import calibrate_and_measure
from bot.evaluation_set import calibration_data
from bot.indexing import matcher_for
from bot.models import ModelVersion
from bot.versions import active_version
from bot.versions import bump_index_revision
from bot.versions import local_dir
from bot.versions import read_metrics
from bot.versions import write_metrics


def recalibrate(app: Flask, session: Session) -> tuple[ModelVersion, dict[str, Any]]:
    """Re-fit weight, threshold, reject and ambiguity margins of the active version.

    On the evaluation file and the out-of-scope examples, as a retrain does. Cheap (one
    encoding pass, no training): use it after FAQs, examples or the evaluation file changed.
    """
    version = active_version(session)
    if version is None:
        raise LookupError("no model version yet: ask the bot something or retrain first")
    matcher = matcher_for(session, version)
    if matcher is None:
        raise LookupError("there are no active FAQs to calibrate on")
    evaluation = EvaluationSet.load(session, app.config["BOT_EVAL_FILE"])
    calibration, figures = calibrate_and_measure(
        calibration_data(matcher, evaluation), app.config["BOT_WRONG_ANSWER_COST"]
    )
    version.threshold = calibration.threshold
    version.semantic_weight = calibration.semantic_weight
    version.reject_margin = calibration.reject_margin
    version.margin = figures["margin"]
    version.metrics = {**version.metrics, "eval": figures}
    bump_index_revision(session, version)  # commits; servers reload and apply the new weight
    directory = local_dir(app, version)
    write_metrics(directory, {**read_metrics(directory), "eval": figures})
    return version, figures
