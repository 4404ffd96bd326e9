"""The one trainer every recipe goes through: batching, prompts, early stopping, the record.

A recipe builds a `TrainingJob` (model, data columns, loss, batch size, evaluation) and hands it
to `train_model`, so what is trained and recorded works the same way for all of them.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from training.base_model import load_sentence_transformer

if TYPE_CHECKING:  # torch and sentence-transformers load only when something is trained
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

logger = logging.getLogger(__name__)
MIN_BATCH = 2  # MNRL's in-batch negatives need a second row; a batch of one teaches nothing
LOSS_SAMPLE_ROWS = 64  # training rows the recorded loss before and after is measured on


@dataclass(frozen=True)
class TrainingConfig:
    """Defaults follow the FinBuddy card (batch 16, 5 epochs, lr 5e-5) plus warmup and a seed.

    `patience` is the number of evaluations without improvement before training stops early
    (0: never stop early, and keep no evaluator's best epoch).

    `freeze_embeddings` keeps the word-embedding table as it is. It is most of a multilingual
    model (e5-small: 96M of 118M parameters), and updating it every step (its gradient and
    AdamW's two moments, 1.1 GB) cost a sixth to a third of each step on 2 cores; on the
    FinBuddy evaluation file the figures did not get worse (acc@1 0.878 and overall 0.835
    either way, oos_recall 0.806 frozen vs 0.774).

    `trained_layers` (N > 0) trains only the top N transformer layers and freezes the rest with
    the embeddings, so the backward pass stops N layers from the top; 0 trains them all. The
    default 4 (of e5-small's 12) cut a FinBuddy retrain's training from 102 to 67 s, and over
    two seeds the cross-validated figures moved: overall 0.772 -> 0.809, cost 0.322 -> 0.260,
    oos_recall 0.972 -> 0.979, acc@1 0.850 -> 0.844 (README "Retraining speed").
    """

    epochs: float = 5
    batch_size: int = 16
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    seed: int = 42
    scale: float = 20.0
    max_steps: int = -1
    patience: int = 0
    freeze_embeddings: bool = True
    trained_layers: int = 4
    progress_bar: bool = True

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """An evaluator run before, after and (when stopping early) after every epoch."""

    evaluator: BaseEvaluator
    data: str  # what it measures, for the record: "the evaluation file", ...


@dataclass
class TrainingJob:
    """What a recipe hands to `train_model`: model, data columns, loss, batch and evaluation."""

    recipe: str
    model: SentenceTransformer
    columns: dict[str, list[Any]]
    loss: torch.nn.Module
    batch_size: int
    no_duplicates: bool = True
    evaluation: Evaluation | None = None
    dataset: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingResult:
    output_dir: str
    base_model: str
    n_pairs: int
    steps: int
    seconds: float
    device: str
    loss_before: float
    loss_after: float
    loss_rows: int = 0  # the training rows loss_before and loss_after are measured on
    step_losses: list[float] = field(default_factory=list)
    recipe: str = "mnrl"
    loss: str = "MultipleNegativesRankingLoss"
    loss_parameters: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 0
    batch_sampler: str = "no_duplicates"
    dataset: dict[str, Any] = field(default_factory=dict)
    evaluator: dict[str, Any] | None = None
    early_stopping: str = "off"
    epochs_trained: float = 0.0
    layers: dict[str, int] = field(default_factory=dict)  # transformer layers trained, of all

    def record(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """The `training` block of a version's metrics.json (the model card reads it)."""
        return {
            "recipe": self.recipe,
            "loss": self.loss,
            "loss_parameters": self.loss_parameters,
            "batch_sampler": self.batch_sampler,
            "n_pairs": self.n_pairs,
            "dataset": self.dataset,
            "steps": self.steps,
            "epochs_trained": self.epochs_trained,
            "layers": self.layers,
            "seconds": round(self.seconds, 2),
            "device": self.device,
            "loss_before": self.loss_before,
            "loss_after": self.loss_after,
            "loss_rows": self.loss_rows,
            "evaluator": self.evaluator,
            "early_stopping": self.early_stopping,
            "hyperparameters": {**hyperparameters, "effective_batch_size": self.batch_size},
        }


def fit_batch_size(requested: int, positives: list[str]) -> int:
    """Shrink the batch to the number of distinct positives, the most a no-duplicates batch holds.

    Tiny data (the 7-pair korean-formfield card) would otherwise ask for a batch of 16 that the
    sampler can never fill; fewer than two distinct positives leave MNRL nothing to contrast.
    """
    distinct = len(set(positives))
    if distinct < MIN_BATCH:
        raise ValueError(
            f"MNRL needs examples with at least {MIN_BATCH} different positives, found {distinct}"
        )
    return max(MIN_BATCH, min(requested, distinct))


def load_for_training(base_model: str, seed: int) -> SentenceTransformer:
    """Seed first: a plain encoder gets freshly built modules around it."""
    import torch

    torch.manual_seed(seed)
    return load_sentence_transformer(base_model)


def loss_sample(n_rows: int, seed: int) -> list[int]:
    """The training rows whose loss is recorded before and after training (seeded, in order).

    Measuring all of them took two forward passes over the whole training set, 15 s of a
    FinBuddy retrain (more with every pair added) for a figure nothing is decided on.
    """
    if n_rows <= LOSS_SAMPLE_ROWS:
        return list(range(n_rows))
    return sorted(random.Random(seed).sample(range(n_rows), LOSS_SAMPLE_ROWS))


def freeze_layers(encoder: torch.nn.Module, config: TrainingConfig) -> tuple[int, int]:
    """Freeze what `config` keeps as it is: the word-embedding table, and every layer below the
    top `trained_layers` together with the whole embeddings module. Returns (trained, all)
    transformer layers.

    Freezing layers only saves time when nothing below them trains: a trainable embedding
    LayerNorm would still pull the backward pass through every frozen layer.
    """
    if config.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if config.trained_layers <= 0:
        return (len(layers), len(layers)) if layers is not None else (0, 0)
    if layers is None:
        raise ValueError(
            f"--trained-layers needs a BERT-like encoder (encoder.layer); "
            f"{type(encoder).__name__} has none"
        )
    frozen = max(0, len(layers) - config.trained_layers)
    if frozen and not config.freeze_embeddings:
        raise ValueError(
            "--train-embeddings trains the bottom of the model, below the layers "
            f"--trained-layers {config.trained_layers} freezes: use one or the other"
        )
    if frozen:
        encoder.embeddings.requires_grad_(False)
        for layer in layers[:frozen]:
            layer.requires_grad_(False)
    return len(layers) - frozen, len(layers)


def _finite(value: Any) -> float | None:
    """metrics.json and the database store JSON, which has no NaN (Spearman of constant scores)."""
    number = float(value)
    return number if math.isfinite(number) else None


def _json_ready(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, default=str))


def train_model(
    job: TrainingJob,
    base_model: str,
    output_dir: str | Path,
    config: TrainingConfig,
    *,
    callbacks: list[Any] | None = None,
    started: float | None = None,
) -> TrainingResult:
    """Train and save `job.model` to `output_dir`; raise on any failure, touching nothing else.

    Every recipe comes through here, so batching, prompts, early stopping and what is recorded
    are the same for all of them. With an evaluation and `config.patience` > 0 the model is
    evaluated each epoch, the best epoch's weights are kept, and training stops after
    `patience` epochs without improvement.
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from transformers import EarlyStoppingCallback

    from training.batch_sampler import AtLeastTwoNoDuplicatesBatchSampler

    started = time.perf_counter() if started is None else started
    model = job.model
    trained_layers, all_layers = freeze_layers(model[0].auto_model, config)
    dataset = Dataset.from_dict(job.columns)
    loss_rows = loss_sample(len(dataset), config.seed)
    evaluator = job.evaluation.evaluator if job.evaluation else None
    metric = None
    before: dict[str, Any] = {}
    if evaluator is not None:
        before = evaluator(model)  # also names the evaluator's primary metric
        metric = f"eval_{evaluator.primary_metric}"
    stopping = (
        job.evaluation is not None
        and config.patience > 0
        and _finite(before[evaluator.primary_metric]) is not None
    )
    # Train on the text the model will see when serving: e5 models prefix "query: " by default.
    prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
    strategy = "epoch" if stopping else "no"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(Path(output_dir) / "checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=job.batch_size,
        per_device_eval_batch_size=job.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # transformers 5: a value below 1 is a ratio
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=(
            AtLeastTwoNoDuplicatesBatchSampler
            if job.no_duplicates
            else BatchSamplers.BATCH_SAMPLER
        ),
        eval_strategy=strategy,
        save_strategy=strategy,
        save_only_model=True,
        save_total_limit=1,
        load_best_model_at_end=stopping,
        metric_for_best_model=metric if stopping else None,
        greater_is_better=True if stopping else None,
        logging_steps=1,
        report_to="none",
        disable_tqdm=not config.progress_bar,
        dataloader_pin_memory=False,
        prompts=prompt,
    )
    trainer_callbacks = list(callbacks or [])
    if stopping:
        trainer_callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=dataset.select(loss_rows),
        loss=job.loss,
        evaluator=evaluator,
        callbacks=trainer_callbacks,
    )
    loss_before = trainer.evaluate()["eval_loss"]
    trainer.train()
    history = list(trainer.state.log_history)
    epochs_trained = float(trainer.state.epoch or 0.0)
    after = trainer.evaluate()
    model.save(str(output_dir))
    shutil.rmtree(Path(output_dir) / "checkpoints", ignore_errors=True)

    summary = None
    if job.evaluation is not None and metric is not None:
        per_epoch = [
            {"epoch": round(entry["epoch"], 2), "score": _finite(entry[metric])}
            for entry in history
            if metric in entry
        ]
        scored = [entry for entry in per_epoch if entry["score"] is not None]
        best = max(scored, key=lambda entry: entry["score"]) if stopping and scored else None
        summary = {
            "name": type(evaluator).__name__,
            "data": job.evaluation.data,
            "metric": evaluator.primary_metric,
            "before": _finite(before[evaluator.primary_metric]),
            "after": _finite(after[metric]),
            "per_epoch": per_epoch,
            "best_epoch": best["epoch"] if best else None,
        }
    result = TrainingResult(
        output_dir=str(output_dir),
        base_model=base_model,
        n_pairs=len(dataset),
        steps=trainer.state.global_step,
        seconds=time.perf_counter() - started,
        device=str(model.device),
        loss_before=float(loss_before),
        loss_after=float(after["eval_loss"]),
        loss_rows=len(loss_rows),
        step_losses=[entry["loss"] for entry in history if "loss" in entry],
        recipe=job.recipe,
        loss=type(job.loss).__name__,
        loss_parameters=_json_ready(job.loss.get_config_dict()),
        batch_size=job.batch_size,
        batch_sampler="no_duplicates" if job.no_duplicates else "batch_sampler",
        dataset=job.dataset,
        evaluator=summary,
        early_stopping=f"on {job.evaluation.data}" if stopping else "off",
        epochs_trained=round(epochs_trained, 2),
        layers={"trained": trained_layers, "of": all_layers},
    )
    logger.info(
        "%s: trained %s steps on %s in %.1fs: loss %.4f -> %.4f",
        result.recipe,
        result.steps,
        result.device,
        result.seconds,
        result.loss_before,
        result.loss_after,
    )
    return result
