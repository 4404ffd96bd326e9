"""`flask retrain`: fine-tune, evaluate, save and (if not worse) activate a new version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask.cli import ScriptInfo
from flask.cli import pass_script_info

from bot.cli.output import score_text
from bot.db import new_session
from bot.jobs import JobBusy
from bot.jobs import enqueue
from bot.jobs import run_job
from bot.jobs import worker_name
from bot.models import RetrainJob
from bot.retrain import COMPARED_METRICS
from training.recipes import LOSSES
from training.recipes import RECIPES
from training.recipes import prepare_recipe
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
        "--trained-layers",
        type=click.IntRange(min=0),
        default=None,
        help=f"Train only the top N transformer layers, the rest and the embeddings frozen "
        f"(0: all).  [default: {DEFAULTS.trained_layers}; 0 with --train-embeddings]",
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
        f"Promotion guard: {promotion['reason']}.",
    ]
    for check in promotion["checks"]:
        rule = (
            "may not be higher"
            if not check["tolerance"] and check["metric"].startswith("cost")
            else f"may drop by at most {check['tolerance']:g}"
        )
        lines.append(
            f"  {check['metric']:<15} candidate {score_text(check['candidate'])} vs active "
            f"{score_text(check['active'])} ({rule}: {'ok' if check['passed'] else 'FAILED'})"
        )
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
    lines.append(f"  {'':<17} {'cross-validated':>16}   {'in-sample':>16}")
    for key in COMPARED_METRICS:
        cv = f"{score_text(before.get(f'{key}_cv'))} -> {score_text(after.get(f'{key}_cv'))}"
        in_sample = f"{score_text(before.get(key))} -> {score_text(after[key])}"
        lines.append(f"  {key:<17} {cv:>16}   {in_sample:>16}")
    lines.append(
        f"  threshold {after['threshold']:.3f}, reject margin "
        f"{score_text(after['reject_margin'])}, weights {after['weights']}"
    )
    return lines


@click.command("retrain")
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
@click.option(
    "--oos-negatives/--no-oos-negatives",
    default=None,
    help="mnrl recipe: the out-of-scope examples as extra negatives in every batch "
    "(default: on for mnrl).",
)
@hyperparameter_options
@click.option("--base-model", help="Override BOT_BASE_MODEL for this run.")
@click.option("--force", is_flag=True, help="Activate the new version even if it scores worse.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_script_info
def retrain_command(
    script: ScriptInfo,
    recipe: str,
    data_file: str | None,
    loss: str | None,
    hard_negatives: int,
    oos_negatives: bool | None,
    base_model: str | None,
    force: bool,
    as_json: bool,
    **hyperparameters: Any,
) -> None:
    """Fine-tune with a recipe, evaluate, save and activate a new model version.

    Runs here, in the foreground, as a job like the admin's: if another retraining job is
    running anywhere, it stops at once and says which.
    """
    try:
        # a bad file fails before a job is queued
        prepare_recipe(recipe, data_file, loss, hard_negatives, oos_negatives)
    except ValueError as exc:  # CsvValidationError too
        raise click.ClickException(str(exc)) from exc
    if hyperparameters["trained_layers"] is None:  # training the embeddings trains it all
        frozen_table = hyperparameters["freeze_embeddings"]
        hyperparameters["trained_layers"] = DEFAULTS.trained_layers if frozen_table else 0
    settings = {
        **TrainingConfig(**hyperparameters).as_dict(),
        "recipe": recipe,
        "data_file": str(Path(data_file).resolve()) if data_file else None,
        "loss": loss,
        "hard_negatives": hard_negatives,
        "oos_negatives": oos_negatives,
        "base_model": base_model,
        "force": force,
    }
    app = script.load_app()
    with new_session(app) as session:
        job = enqueue(session, settings, started_by=f"flask retrain ({worker_name()})")
    try:
        job = run_job(app, job.id)
    except JobBusy as exc:
        with new_session(app) as session:
            session.delete(session.get(RetrainJob, job.id))  # it never ran: leave no trace
            session.commit()
        raise click.ClickException(str(exc)) from exc
    if job.status != "succeeded":
        raise click.ClickException(job.error or "retraining failed")
    report = job.result
    if as_json:
        click.echo(json.dumps(report))
        return
    for line in describe(report):
        click.echo(line)
