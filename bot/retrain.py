"""`flask retrain`: fine-tune, measure, save, activate a new version; failure changes nothing."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from bot.catalog import indexed_phrasings
from bot.catalog import training_examples
from bot.evaluation_set import EvaluationSet
from bot.evaluation_set import calibrate_and_measure
from bot.evaluation_set import measure
from bot.matcher import Matcher
from bot.matcher import SentenceEncoder
from bot.models import ModelVersion
from bot.serving import serving
from bot.versions import activate
from bot.versions import models_dir
from bot.versions import next_version_name
from bot.versions import write_metrics
from training.mnrl import TrainingConfig
from training.mnrl import TrainingResult
from training.mnrl import fine_tune_mnrl

logger = logging.getLogger(__name__)


class RetrainError(RuntimeError):
    """Retraining failed; the serving model and the database are as they were."""


@dataclass(frozen=True)
class RetrainReport:
    version_name: str
    training: TrainingResult
    before: dict[str, Any]
    after: dict[str, Any]
    seconds: float


def retrain(
    app: Flask, session, config: TrainingConfig | None = None, base_model: str | None = None
) -> RetrainReport:  # noqa: ANN001
    """Train from the base model on the database's pairs and activate the result."""
    started = time.perf_counter()
    config = config or TrainingConfig()
    base_model = base_model or app.config["BOT_BASE_MODEL"]
    eval_file = app.config["BOT_EVAL_FILE"]
    try:
        evaluation = EvaluationSet.load(session, eval_file)
        examples = training_examples(session)
        phrasings = indexed_phrasings(session)
        current = serving(app).current(session)
    except Exception as exc:
        raise RetrainError(f"cannot start retraining: {exc}") from exc
    before: dict[str, Any] = {}
    if current.matcher is not None:
        before = measure(
            evaluation.scores(current.matcher),
            evaluation.expected,
            current.matcher.semantic_weight,
            current.threshold,
        )

    root = models_dir(app)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        training = fine_tune_mnrl(base_model, examples, staging / "model", config)
        matcher = Matcher.build(SentenceEncoder(str(staging / "model")), phrasings)
        calibration, after = calibrate_and_measure(evaluation.scores(matcher), evaluation.expected)
        matcher.semantic_weight = calibration.semantic_weight
        matcher.save(staging / "index")
        name = next_version_name(session)
        directory = root / name
        record = {
            "base_model": base_model,
            "fine_tuned": True,
            "training": {
                "loss": "MultipleNegativesRankingLoss",
                "batch_sampler": "no_duplicates",
                "n_pairs": training.n_pairs,
                "steps": training.steps,
                "seconds": round(training.seconds, 2),
                "device": training.device,
                "loss_before": training.loss_before,
                "loss_after": training.loss_after,
                "hyperparameters": config.as_dict(),
            },
            "eval_file": eval_file,
            "eval_before": before,
            "eval": after,
        }
        write_metrics(staging, record)
        staging.rename(directory)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RetrainError(f"retraining failed, the serving model is unchanged: {exc}") from exc

    try:
        version = ModelVersion(
            name=name,
            path=str(directory),
            model_path=str(directory / "model"),
            base_model=base_model,
            metrics={k: record[k] for k in ("fine_tuned", "training", "eval", "eval_before")},
            threshold=calibration.threshold,
            semantic_weight=calibration.semantic_weight,
            margin=after["margin"],
        )
        session.add(version)
        session.flush()
        activate(session, version)
    except Exception as exc:
        session.rollback()
        shutil.rmtree(directory, ignore_errors=True)
        raise RetrainError(f"could not record the new version, nothing changed: {exc}") from exc
    logger.info("model version %s active", name)
    return RetrainReport(name, training, before, after, time.perf_counter() - started)
