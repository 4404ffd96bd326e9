"""`flask retrain`: fine-tune, measure, save, activate a new version; failure changes nothing."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from bot.catalog import indexed_phrasings
from bot.catalog import training_examples
from bot.encoders import SentenceEncoder
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import calibrate_and_measure
from bot.evaluation_set import measure
from bot.exporting import export_version
from bot.indexing import matcher_for
from bot.matcher import Matcher
from bot.models import ModelVersion
from bot.versions import activate
from bot.versions import active_version
from bot.versions import models_dir
from bot.versions import next_version_name
from bot.versions import prune_versions
from bot.versions import served_threshold
from bot.versions import write_metrics
from bot.versions import write_model_card
from training.recipes import FaqRetrievalSet
from training.recipes import Recipe
from training.recipes import train_recipe
from training.trainer import TrainingConfig
from training.trainer import TrainingResult

logger = logging.getLogger(__name__)
VERSION_METRICS = ("fine_tuned", "training", "eval", "eval_before", "promotion")
# The figures a retrain report shows before and after (CLI and admin alike).
COMPARED_METRICS = ("accuracy_at_1", "accuracy_at_3", "mrr", "oos_recall", "overall_accuracy")


class RetrainError(RuntimeError):
    """Retraining failed; the serving model and the database are as they were."""


@dataclass(frozen=True)
class RetrainReport:
    version_name: str
    training: TrainingResult
    before: dict[str, Any]
    after: dict[str, Any]
    seconds: float
    promotion: dict[str, Any]

    @property
    def activated(self) -> bool:
        return bool(self.promotion["activated"])

    def as_dict(self) -> dict[str, Any]:
        """What `retrain --json` prints and the admin's job record keeps."""
        return {
            "version": self.version_name,
            "seconds": round(self.seconds, 2),
            "recipe": self.training.recipe,
            "steps": self.training.steps,
            "device": self.training.device,
            "loss_before": self.training.loss_before,
            "loss_after": self.training.loss_after,
            "evaluator": self.training.evaluator,
            "early_stopping": self.training.early_stopping,
            "before": self.before,
            "after": self.after,
            "activated": self.activated,
            "promotion": self.promotion,
        }


def promotion_decision(
    active: dict[str, Any] | None, candidate: dict[str, Any], tolerance: float, force: bool
) -> dict[str, Any]:
    """Activate only a candidate that is not worse than the active version, unless forced.

    Both are scored the same way: weight and threshold calibrated on the same evaluation file.
    """
    candidate_score = candidate["overall_accuracy"]
    active_score = active["overall_accuracy"] if active else None
    not_worse = active_score is None or candidate_score >= active_score - tolerance
    if force and not not_worse:
        reason = "forced"
    elif active_score is None:
        reason = "no active version"
    elif not_worse:
        reason = "not worse than the active version"
    else:
        reason = "worse than the active version"
    return {
        "activated": bool(force or not_worse),
        "reason": reason,
        "metric": "overall_accuracy",
        "active": active_score,
        "candidate": candidate_score,
        "tolerance": tolerance,
        "forced": force,
    }


def retrain(
    app: Flask,
    session: Session,
    config: TrainingConfig | None = None,
    base_model: str | None = None,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    callbacks: list[Any] | None = None,
    recipe: Recipe | None = None,
) -> RetrainReport:
    """Train from the base model with `recipe`; activate the result if not worse.

    The default recipe (mnrl) trains on the database's pairs; every recipe's model is indexed,
    calibrated and judged on the FAQ evaluation file. The new version is always saved; `force`
    activates it even when it scores worse.

    `progress` is told each phase's name; `callbacks` (transformers TrainerCallbacks) see
    every training step. Both exist for the admin UI's progress display.
    """
    report_phase = progress or (lambda _phase: None)
    started = time.perf_counter()
    config = config or TrainingConfig()
    recipe = recipe or Recipe()
    base_model = base_model or app.config["BOT_BASE_MODEL"]
    eval_file = app.config["BOT_EVAL_FILE"]
    try:
        evaluation = EvaluationSet.load(session, eval_file)
        examples = training_examples(session)
        phrasings = indexed_phrasings(session)
        active = active_version(session)
        active_matcher = matcher_for(session, active) if active is not None else None
    except Exception as exc:
        raise RetrainError(f"cannot start retraining: {exc}") from exc
    before: dict[str, Any] = {}
    active_calibrated: dict[str, Any] | None = None
    report_phase("measuring the serving model")
    if active_matcher is not None:
        active_scores = evaluation.scores(active_matcher)
        before = measure(
            active_scores,
            evaluation.expected,
            active_matcher.semantic_weight,
            served_threshold(app.config, active),
        )
        active_calibrated = calibrate_and_measure(active_scores, evaluation.expected)[1]

    root = models_dir(app)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        report_phase("training")
        faq_set = FaqRetrievalSet(
            evaluation.texts, evaluation.expected, [(p.faq_id, p.text) for p in phrasings]
        )
        training = train_recipe(
            recipe,
            base_model,
            examples,
            staging / "model",
            config,
            faq_set=faq_set,
            callbacks=callbacks,
        )
        report_phase("building the index and calibrating")
        matcher = Matcher.build(SentenceEncoder(str(staging / "model")), phrasings)
        calibration, after = calibrate_and_measure(evaluation.scores(matcher), evaluation.expected)
        matcher.semantic_weight = calibration.semantic_weight
        matcher.save(staging / "index")
        name = next_version_name(session)
        directory = root / name
        record = {
            "base_model": base_model,
            "fine_tuned": True,
            "training": training.record(config.as_dict()),
            "eval_file": eval_file,
            "eval_before": before,
            "eval": after,
            "promotion": promotion_decision(
                active_calibrated, after, app.config["BOT_PROMOTION_TOLERANCE"], force
            ),
        }
        record["serving"] = export_version(
            app,
            session,
            staging,
            str(staging / "model"),
            calibration.semantic_weight,
            calibration.threshold,
        )
        write_metrics(staging, record)
        staging.rename(directory)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RetrainError(f"retraining failed, the serving model is unchanged: {exc}") from exc

    report_phase("activating")
    try:
        version = ModelVersion(
            name=name,
            path=str(directory),
            model_path=str(directory / "model"),
            base_model=base_model,
            metrics={key: record[key] for key in VERSION_METRICS},
            threshold=calibration.threshold,
            semantic_weight=calibration.semantic_weight,
            margin=after["margin"],
        )
        session.add(version)
        session.flush()
        if record["promotion"]["activated"]:
            activate(session, version)
        else:
            session.commit()
    except Exception as exc:
        session.rollback()
        shutil.rmtree(directory, ignore_errors=True)
        raise RetrainError(f"could not record the new version, nothing changed: {exc}") from exc
    write_model_card(directory, name, record)
    prune_versions(session, app.config["BOT_KEEP_VERSIONS"])
    logger.info("model version %s saved: %s", name, record["promotion"]["reason"])
    return RetrainReport(
        name, training, before, after, time.perf_counter() - started, record["promotion"]
    )
