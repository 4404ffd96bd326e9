"""Fine-tune an embedding model on (colloquial message, canonical question) pairs with MNRL."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import torch

from training.base_model import load_sentence_transformer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """Defaults follow the FinBuddy card (batch 16, 5 epochs, lr 5e-5) plus warmup and a seed."""

    epochs: float = 5
    batch_size: int = 16
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    seed: int = 42
    scale: float = 20.0
    max_steps: int = -1
    progress_bar: bool = True

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


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
    step_losses: list[float] = field(default_factory=list)


def fine_tune_mnrl(
    base_model: str,
    pairs: list[tuple[str, str]],
    output_dir: str | Path,
    config: TrainingConfig | None = None,
    *,
    callbacks: list[Any] | None = None,
) -> TrainingResult:
    """Train and save a model to `output_dir`; raise on any failure, leaving nothing else touched.

    Every positive is the canonical question of the pair's FAQ, so the no-duplicates batch
    sampler keeps two messages of one FAQ out of the same batch, where MNRL would otherwise treat
    the FAQ's own question as a negative (the FinBuddy recipe trained with that flaw).
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    config = config or TrainingConfig()
    if not pairs:
        raise ValueError("no training pairs: add training pairs or alternate questions first")
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    model = load_sentence_transformer(base_model)
    dataset = Dataset.from_dict(
        {"anchor": [anchor for anchor, _ in pairs], "positive": [pos for _, pos in pairs]}
    )
    loss = MultipleNegativesRankingLoss(model, scale=config.scale)
    # Train on the text the model will see when serving: e5 models prefix "query: " by default.
    prompt = model.prompts.get(model.default_prompt_name) if model.default_prompt_name else None
    args = SentenceTransformerTrainingArguments(
        output_dir=str(Path(output_dir) / "checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=1,
        report_to="none",
        disable_tqdm=not config.progress_bar,
        dataloader_pin_memory=False,
        prompts=prompt,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=dataset,
        loss=loss,
        callbacks=callbacks,
    )
    loss_before = trainer.evaluate()["eval_loss"]
    trainer.train()
    loss_after = trainer.evaluate()["eval_loss"]
    model.save(str(output_dir))
    shutil.rmtree(Path(output_dir) / "checkpoints", ignore_errors=True)
    step_losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    result = TrainingResult(
        output_dir=str(output_dir),
        base_model=base_model,
        n_pairs=len(pairs),
        steps=trainer.state.global_step,
        seconds=time.perf_counter() - started,
        device=str(model.device),
        loss_before=float(loss_before),
        loss_after=float(loss_after),
        step_losses=step_losses,
    )
    logger.info(
        "trained %s steps on %s in %.1fs: loss %.4f -> %.4f",
        result.steps,
        result.device,
        result.seconds,
        result.loss_before,
        result.loss_after,
    )
    return result
