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
from bot.evaluation_set import calibration_data
from bot.exporting import Float32Reference
from bot.exporting import ServedSettings
from bot.exporting import choose_encoder
from bot.exporting import export_files
from bot.exporting import float32_encoder
from bot.exporting import no_export
from bot.indexing import matcher_for
from bot.matcher import Matcher
from bot.model_store import publish_version
from bot.models import ModelVersion
from bot.out_of_scope import approved_texts
from bot.versions import activate
from bot.versions import active_version
from bot.versions import models_dir
from bot.versions import next_version_name
from bot.versions import prune_versions
from bot.versions import write_metrics
from bot.versions import write_model_card
from training.recipes import FaqRetrievalSet
from training.recipes import Recipe
from training.recipes import train_recipe
from training.trainer import TrainingConfig
from training.trainer import TrainingResult

logger = logging.getLogger(__name__)
VERSION_METRICS = ("fine_tuned", "training", "eval", "eval_before", "promotion")
# The figures a retrain report shows before and after (CLI and admin alike), each
# cross-validated (`<key>_cv`, the headline) and in-sample.
COMPARED_METRICS = ("accuracy_at_1", "oos_recall", "overall_accuracy", "cost")
_EPSILON = 1e-9  # figures equal up to float noise count as equal


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


def _guard_figure(figures: dict[str, Any], key: str) -> tuple[str, float]:
    """The cross-validated figure, or the in-sample one where the file is too small for folds."""
    value = figures.get(f"{key}_cv")
    return (f"{key}_cv", value) if value is not None else (key, figures[key])


def _figures(
    matcher: Matcher | None, evaluation: EvaluationSet, wrong_cost: float
) -> dict[str, Any]:
    """A serving version's figures, calibrated as a candidate's are: like for like."""
    if matcher is None:
        return {}
    return calibrate_and_measure(calibration_data(matcher, evaluation), wrong_cost)[1]


def _id(version: ModelVersion | None) -> int | None:
    return version.id if version is not None else None


def _recheck_promotion(
    app: Flask,
    session: Session,
    current: ModelVersion | None,
    evaluation: EvaluationSet,
    record: dict[str, Any],
    force: bool,
) -> dict[str, Any]:
    """The promotion decision again, against the version active now rather than at the start
    (the job lock keeps other jobs out, not an admin's activation or rollback); returns the
    figures of the version now active."""
    wrong_cost = app.config["BOT_WRONG_ANSWER_COST"]
    matcher = matcher_for(session, current) if current is not None else None
    before = _figures(matcher, evaluation, wrong_cost)
    record["eval_before"] = before
    record["promotion"] = promotion_decision(
        before or None, record["eval"], app.config["BOT_PROMOTION_TOLERANCE"], force
    )
    record["promotion"]["rechecked_against"] = current.name if current is not None else None
    logger.info("active version changed during training: promotion re-checked")
    return before


def promotion_decision(
    active: dict[str, Any] | None, candidate: dict[str, Any], tolerance: float, force: bool
) -> dict[str, Any]:
    """Activate a candidate only if it is not worse than the active version, unless forced.

    Not worse: its cross-validated mean cost is not higher, and its cross-validated
    out-of-scope recall is at most `tolerance` lower. Both versions are measured the same way:
    calibrated on the same evaluation file and out-of-scope examples.
    """
    cost_key, candidate_cost = _guard_figure(candidate, "cost")
    recall_key, candidate_recall = _guard_figure(candidate, "oos_recall")
    checks = []
    if active is not None:
        active_cost = _guard_figure(active, "cost")[1]
        active_recall = _guard_figure(active, "oos_recall")[1]
        checks = [
            {
                "metric": cost_key,
                "candidate": candidate_cost,
                "active": active_cost,
                "tolerance": 0.0,
                "passed": candidate_cost <= active_cost + _EPSILON,
                "failure": "costs more than the active version",
            },
            {
                "metric": recall_key,
                "candidate": candidate_recall,
                "active": active_recall,
                "tolerance": tolerance,
                "passed": candidate_recall >= active_recall - tolerance - _EPSILON,
                "failure": f"out-of-scope recall drops by more than {tolerance:g}",
            },
        ]
    failures = [check["failure"] for check in checks if not check["passed"]]
    if active is None:
        reason = "no active version"
    elif not failures:
        reason = "not worse than the active version"
    else:
        reason = ("forced, although it " if force else "") + " and ".join(failures)
    return {
        "activated": bool(force or not failures),
        "reason": reason,
        "metric": cost_key,
        "active": checks[0]["active"] if checks else None,
        "candidate": candidate_cost,
        "oos_recall": {
            "metric": recall_key,
            "active": checks[1]["active"] if checks else None,
            "candidate": candidate_recall,
        },
        "tolerance": tolerance,
        "checks": checks,
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

    The default recipe (mnrl) trains on the database's pairs, with the out-of-scope examples as
    extra negatives; every recipe's model is indexed (reject class included), calibrated and
    judged on the FAQ evaluation file and the out-of-scope examples, cross-validated. The new
    version is always saved; `force` activates it even when it scores worse.

    `progress` is told each phase's name; `callbacks` (transformers TrainerCallbacks) see
    every training step. Both exist for the admin UI's progress display.
    """
    report_phase = progress or (lambda _phase: None)
    started = time.perf_counter()
    config = config or TrainingConfig()
    recipe = recipe or Recipe()
    base_model = base_model or app.config["BOT_BASE_MODEL"]
    eval_file = app.config["BOT_EVAL_FILE"]
    wrong_cost = app.config["BOT_WRONG_ANSWER_COST"]
    try:
        evaluation = EvaluationSet.load(session, eval_file)
        examples = training_examples(session)
        phrasings = indexed_phrasings(session)
        out_of_scope = approved_texts(session)
        active = active_version(session)
        active_matcher = matcher_for(session, active) if active is not None else None
    except Exception as exc:
        raise RetrainError(f"cannot start retraining: {exc}") from exc
    report_phase("measuring the serving model")
    before = _figures(active_matcher, evaluation, wrong_cost)

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
            out_of_scope=out_of_scope,
        )
        report_phase("exporting for serving")
        model_dir = str(staging / "model")
        failure = export_files(staging, model_dir, evaluation, phrasings)
        onnx_float32 = float32_encoder(staging) if failure is None else None
        report_phase("building the index and calibrating")
        # The float32 export gives torch's embeddings (checked), faster: calibrate with it
        matcher = Matcher.build(
            onnx_float32 or SentenceEncoder(model_dir), phrasings, out_of_scope=out_of_scope
        )
        data = calibration_data(matcher, evaluation)
        calibration, after = calibrate_and_measure(data, wrong_cost)
        record = {
            "base_model": base_model,
            "fine_tuned": True,
            "training": training.record(config.as_dict()),
            "eval_file": eval_file,
            "eval_before": before,
            "eval": after,
            "promotion": promotion_decision(
                before or None, after, app.config["BOT_PROMOTION_TOLERANCE"], force
            ),
        }
        settings = ServedSettings(
            calibration.semantic_weight,
            calibration.threshold,
            calibration.reject_margin,
            wrong_cost,
        )
        record["serving"] = (
            no_export(failure)
            if failure is not None
            else choose_encoder(
                staging,
                phrasings,
                out_of_scope,
                evaluation,
                "",
                settings,
                float32=Float32Reference(matcher, data) if onnx_float32 is not None else None,
            )
        )
        write_metrics(staging, record)
        name = next_version_name(session, root)
        session.commit()  # the name is claimed now: no write lock is held while we go on
        directory = root / name
        staging.rename(directory)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RetrainError(f"retraining failed, the serving model is unchanged: {exc}") from exc

    report_phase("activating")
    try:
        current = active_version(session)
        if _id(current) != _id(active):  # activated or rolled back meanwhile: judge against it
            before = _recheck_promotion(app, session, current, evaluation, record, force)
            write_metrics(directory, record)
        write_model_card(directory, name, record)
        publish_version(app, name, directory)  # every host can fetch it before it is active
        version = ModelVersion(
            name=name,
            path=str(directory),
            model_path=str(directory / "model"),
            base_model=base_model,
            metrics={key: record[key] for key in VERSION_METRICS},
            threshold=calibration.threshold,
            semantic_weight=calibration.semantic_weight,
            margin=after["margin"],
            reject_margin=calibration.reject_margin,
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
    prune_versions(session, app.config["BOT_KEEP_VERSIONS"], root)
    logger.info("model version %s saved: %s", name, record["promotion"]["reason"])
    return RetrainReport(
        name, training, before, after, time.perf_counter() - started, record["promotion"]
    )
