"""`flask retrain`: fine-tune, evaluate, save and (if not worse) activate a new version."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.cli.output import score_text
from bot.db import get_session
from bot.retrain import COMPARED_METRICS
from bot.retrain import RetrainError
from bot.retrain import retrain
from training.recipes import LOSSES
from training.recipes import RECIPES
from training.recipes import prepare_recipe
from training.tabular import CsvValidationError
from training.trainer import TrainingConfig

DEFAULTS = TrainingConfig()

# Each option's name is the TrainingConfig field it sets.
HYPERPARAMETER_OPTIONS = (
    click.option("--epochs", type=float, default=DEFAULTS.epochs, show_default=True),
    click.option("--batch-size", type=int, default=DEFAULTS.batch_size, show_default=True),
    click.option(
        "--lr", "learning_rate", type=float, default=DEFAULTS.learning_rate, show_default=True
    ),
    click.option("--warmup-ratio", type=float, default=DEFAULTS.warmup_ratio, show_default=True),
    click.option(
        "--scale",
        type=float,
        default=DEFAULTS.scale,
        show_default=True,
        help="Similarity scale of MNRL (and CoSENT).",
    ),
    click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True),
    click.option("--max-steps", type=int, default=-1, help="Stop after N steps (quick runs)."),
    click.option(
        "--patience",
        type=click.IntRange(min=0),
        default=DEFAULTS.patience,
        show_default=True,
        help="Stop after N epochs without improvement and keep the best epoch (0: no early "
        "stopping; mnrl then leaves the evaluation file out of training).",
    ),
    click.option(
        "--freeze-embeddings/--train-embeddings",
        default=DEFAULTS.freeze_embeddings,
        show_default=True,
        help="Keep the word-embedding table as it is (faster, and no less accurate here).",
    ),
    click.option(
        "--progress/--no-progress", "progress_bar", default=True, help="Show a progress bar."
    ),
)


def hyperparameter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(HYPERPARAMETER_OPTIONS):
        command = option(command)
    return command


def describe(report: dict[str, Any]) -> list[str]:
    """The retrain report (RetrainReport.as_dict()) as lines for people."""
    promotion = report["promotion"]
    state = "is active" if report["activated"] else "was saved but NOT activated"
    lines = [
        f"Model version {report['version']} {state} ({report['seconds']:.1f}s).",
        f"Promotion guard: {promotion['reason']} (overall accuracy, calibrated: candidate "
        f"{score_text(promotion['candidate'])} vs active {score_text(promotion['active'])}, "
        f"tolerance {promotion['tolerance']}).",
    ]
    if not report["activated"]:
        lines.append(f"Use `flask model activate {report['version']}` or retrain --force.")
    lines.append(
        f"Training loss {report['loss_before']:.4f} -> {report['loss_after']:.4f} "
        f"over {report['steps']} steps on {report['device']}."
    )
    evaluator = report["evaluator"]
    if evaluator is not None:
        best = f" (best epoch {evaluator['best_epoch']})" if evaluator["best_epoch"] else ""
        lines.append(
            f"{evaluator['name']} on {evaluator['data']}: {evaluator['metric']} "
            f"{score_text(evaluator['before'])} -> {score_text(evaluator['after'])}{best}"
        )
    before, after = report["before"], report["after"]
    for key in COMPARED_METRICS:
        lines.append(f"  {key:<17} {score_text(before.get(key))} -> {after[key]:.3f}")
    lines.append(f"  threshold {after['threshold']:.3f}, weights {after['weights']}")
    return lines


@click.command("retrain")
@with_appcontext
@click.option(
    "--recipe",
    type=click.Choice(RECIPES),
    default="mnrl",
    show_default=True,
    help="mnrl: the database's pairs; cosine: a scored-pairs --data file; triplet: an "
    "anchor,positive,negative --data file.",
)
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Training CSV for --recipe cosine (sentence1,sentence2,score) or triplet.",
)
@click.option(
    "--loss",
    type=click.Choice(sorted({name for names in LOSSES.values() for name in names})),
    help="cosine recipe: cosine (CosineSimilarityLoss, default) or cosent (CoSENTLoss).",
)
@click.option(
    "--hard-negatives",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="mnrl recipe: add N mined negatives (other FAQs' questions) per pair.",
)
@hyperparameter_options
@click.option("--base-model", help="Override BOT_BASE_MODEL for this run.")
@click.option("--force", is_flag=True, help="Activate the new version even if it scores worse.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def retrain_command(
    recipe: str,
    data_file: str | None,
    loss: str | None,
    hard_negatives: int,
    base_model: str | None,
    force: bool,
    as_json: bool,
    **hyperparameters: Any,
) -> None:
    """Fine-tune with a recipe, evaluate, save and activate a new model version."""
    try:
        chosen = prepare_recipe(recipe, data_file, loss, hard_negatives)
    except (CsvValidationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    config = TrainingConfig(**hyperparameters)
    try:
        report = retrain(
            current_app, get_session(), config, base_model, force=force, recipe=chosen
        ).as_dict()
    except RetrainError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report))
        return
    for line in describe(report):
        click.echo(line)
